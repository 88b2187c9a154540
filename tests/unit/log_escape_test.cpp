#include "log/escape.hpp"

#include <gtest/gtest.h>

#include <string>

#include <fmt/format.h>

namespace iocomp::log {
namespace {

using namespace std::string_literals;

TEST(LogEscapeTest, PlainTextIsKept) {
  EXPECT_EQ(escaped("sub dir/file-1.txt"), "sub dir/file-1.txt");
  EXPECT_EQ(escaped(""), "");
}

TEST(LogEscapeTest, ControlBytesAreEscaped) {
  EXPECT_EQ(escaped("a\x1b[2Jb"), "a\\x1b[2Jb");  // an ANSI clear-screen
  EXPECT_EQ(escaped("bell\x07"), "bell\\x07");
  EXPECT_EQ(escaped("x\r\n2026-01-01 forged line"), "x\\x0d\\x0a2026-01-01 forged line");
  EXPECT_EQ(escaped("\t"), "\\x09");
  EXPECT_EQ(escaped("del\x7f"), "del\\x7f");
  EXPECT_EQ(escaped("nul\0x"s), "nul\\x00x");
}

TEST(LogEscapeTest, QuoteAndBackslashAreEscapedSoThatEscapesAreUnambiguous) {
  EXPECT_EQ(escaped("\"q\""), "\\x22q\\x22");
  EXPECT_EQ(escaped("a\\x41"), "a\\x5cx41");
}

TEST(LogEscapeTest, ValidUtf8IsKept) {
  EXPECT_EQ(escaped("caf\xc3\xa9"), "caf\xc3\xa9");                            // é
  EXPECT_EQ(escaped("\xe6\x97\xa5\xe6\x9c\xac"), "\xe6\x97\xa5\xe6\x9c\xac");  // 日本
  EXPECT_EQ(escaped("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");                  // U+1F600
  EXPECT_EQ(escaped("\xc2\xa0"), "\xc2\xa0");  // U+00A0, first past C1
}

TEST(LogEscapeTest, InvalidUtf8IsEscapedBytewise) {
  EXPECT_EQ(escaped("\xff"), "\\xff");
  EXPECT_EQ(escaped("a\xc3"), "a\\xc3");                           // truncated sequence
  EXPECT_EQ(escaped("\xc3("), "\\xc3(");                           // bad continuation
  EXPECT_EQ(escaped("\xc0\xaf"), "\\xc0\\xaf");                    // overlong '/'
  EXPECT_EQ(escaped("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");           // overlong '/'
  EXPECT_EQ(escaped("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // surrogate U+D800
  EXPECT_EQ(escaped("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // past U+10FFFF
  EXPECT_EQ(escaped("\x80"), "\\x80");                             // lone continuation
}

TEST(LogEscapeTest, C1ControlsAreEscaped) {
  EXPECT_EQ(escaped("\xc2\x9b"
                    "31m"),
            "\\xc2\\x9b31m");                    // U+009B, CSI
  EXPECT_EQ(escaped("\xc2\x85"), "\\xc2\\x85");  // U+0085, NEL
}

TEST(LogEscapeTest, EveryByteValueLeavesOnlySafeOutput) {
  for (int c = 0; c < 256; ++c) {
    const std::string out = escaped(std::string(1, static_cast<char>(c)) + "z");
    for (char o : out) {
      const auto u = static_cast<unsigned char>(o);
      EXPECT_TRUE(u >= 0x20 && u != 0x7f) << c;
    }
  }
}

TEST(LogEscapeTest, FormatterEscapes) {
  EXPECT_EQ(fmt::format("request {} done", Untrusted{"a\nb"}), "request a\\x0ab done");
  EXPECT_EQ(fmt::format("{}{}", Untrusted{"\x1b"}, Untrusted{"ok"}), "\\x1bok");
}

}  // namespace
}  // namespace iocomp::log
