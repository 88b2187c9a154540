#include "protocol/line_parser.hpp"

#include <gtest/gtest.h>

#include <string>

namespace iocomp::protocol {
namespace {

TEST(LineParser, LfAndCrlfEndings) {
  LineResult r = parse_line("a.txt\n");
  EXPECT_EQ(r.status, LineStatus::complete);
  EXPECT_EQ(r.name, "a.txt");
  EXPECT_EQ(r.consumed, 6u);

  r = parse_line("dir/b.bin\r\n");
  EXPECT_EQ(r.status, LineStatus::complete);
  EXPECT_EQ(r.name, "dir/b.bin");
  EXPECT_EQ(r.consumed, 11u);
}

TEST(LineParser, NeedsMoreUntilLineEnd) {
  const std::string line = "some file.bin\r\n";
  for (std::size_t n = 0; n < line.size(); ++n) {
    EXPECT_EQ(parse_line(line.substr(0, n)).status, LineStatus::need_more) << n;
  }
  EXPECT_EQ(parse_line(line).name, "some file.bin");
}

TEST(LineParser, SplitCrLfKeepsWaiting) {
  // A CR alone is part of a name until its LF arrives.
  EXPECT_EQ(parse_line("a.txt\r").status, LineStatus::need_more);
  EXPECT_EQ(parse_line("a.txt\r\n").name, "a.txt");
}

TEST(LineParser, PipelinedNamesComeOneAtATime) {
  std::string_view in = "one\ntwo\r\nthree\n";
  LineResult r = parse_line(in);
  EXPECT_EQ(r.name, "one");
  in.remove_prefix(r.consumed);
  r = parse_line(in);
  EXPECT_EQ(r.name, "two");
  in.remove_prefix(r.consumed);
  r = parse_line(in);
  EXPECT_EQ(r.name, "three");
  in.remove_prefix(r.consumed);
  EXPECT_TRUE(in.empty());
}

TEST(LineParser, EmptyLineIsAnEmptyName) {
  const LineResult r = parse_line("\r\nx\n");
  EXPECT_EQ(r.status, LineStatus::complete);
  EXPECT_EQ(r.name, "");
  EXPECT_EQ(r.consumed, 2u);
}

TEST(LineParser, SpacesAreKept) {
  EXPECT_EQ(parse_line(" a b \n").name, " a b ");
}

TEST(LineParser, LimitBoundary) {
  const std::string at_limit(16, 'x');
  EXPECT_EQ(parse_line(at_limit + "\n", 16).status, LineStatus::complete);
  EXPECT_EQ(parse_line(at_limit + "\r\n", 16).status, LineStatus::complete);
  EXPECT_EQ(parse_line(at_limit, 16).status, LineStatus::need_more);
  EXPECT_EQ(parse_line(at_limit + "\r", 16).status, LineStatus::need_more);

  const std::string over(17, 'x');
  EXPECT_EQ(parse_line(over + "\n", 16).status, LineStatus::too_long);
  EXPECT_EQ(parse_line(over + "\r\n", 16).status, LineStatus::too_long);
  EXPECT_EQ(parse_line(std::string(18, 'x'), 16).status, LineStatus::too_long);
  EXPECT_EQ(parse_line(std::string(5000, 'x')).status, LineStatus::too_long);
}

TEST(LineParser, BinaryBytesAreOpaque) {
  const std::string with_nul("a\0b\n", 4);
  const LineResult r = parse_line(with_nul);
  EXPECT_EQ(r.status, LineStatus::complete);
  EXPECT_EQ(r.name.size(), 3u);
}

}  // namespace
}  // namespace iocomp::protocol
