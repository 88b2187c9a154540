// libFuzzer harness for the line protocol parser. Any invariant violation aborts.
//
// Input layout: byte 0 selects max_line, byte 1 seeds the split points; the rest is the byte
// stream a client sends on one connection.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "fuzz_support.hpp"
#include "protocol/line_parser.hpp"

namespace {

using iocomp::protocol::LineResult;
using iocomp::protocol::LineStatus;
using iocomp::protocol::parse_line;

std::size_t choose_max_line(std::uint8_t selector) {
  // Small limits reach the boundary with short inputs; the top values use the default.
  return selector >= 0xf0 ? iocomp::protocol::kDefaultMaxLine : selector % 40;
}

void check_complete(const LineResult& r, std::string_view buffer, std::size_t max_line) {
  FUZZ_CHECK(r.consumed > 0 && r.consumed <= buffer.size());
  FUZZ_CHECK(buffer[r.consumed - 1] == '\n');
  // The line ends at the first LF.
  FUZZ_CHECK(buffer.find('\n') == r.consumed - 1);
  FUZZ_CHECK(r.name.data() == buffer.data() || r.name.empty());
  FUZZ_CHECK(r.name.size() <= max_line);
  const std::size_t ending = r.consumed - r.name.size();
  FUZZ_CHECK(ending == 1 || (ending == 2 && buffer[r.consumed - 2] == '\r'));
  // CRLF is stripped whole: a name never ends in the CR of the line ending.
  FUZZ_CHECK(ending == 2 || r.consumed < 2 || buffer[r.consumed - 2] != '\r');
  FUZZ_CHECK(r.name == buffer.substr(0, r.name.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t max_line = choose_max_line(data[0]);
  iocomp::fuzz::Splitter splitter(data[1], 256);
  const std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);

  std::size_t offset = 0;
  std::size_t received = 0;
  while (offset < stream.size()) {
    received = std::min(stream.size(), received + splitter.next_chunk());
    const std::string_view buffer = stream.substr(offset, received - offset);
    const LineResult result = parse_line(buffer, max_line);
    FUZZ_CHECK(result.consumed <= buffer.size());

    const std::string_view all = stream.substr(offset);
    const LineResult later = parse_line(all, max_line);

    switch (result.status) {
      case LineStatus::need_more:
        FUZZ_CHECK(result.consumed == 0 && result.name.empty());
        FUZZ_CHECK(buffer.find('\n') == std::string_view::npos);
        // Still within the limit: a CR may be the first half of the line ending.
        FUZZ_CHECK(buffer.size() <= max_line + 1);
        if (received == stream.size()) return 0;
        break;
      case LineStatus::too_long:
        FUZZ_CHECK(result.consumed == 0);
        // A verdict of too_long must not depend on how the bytes were split.
        FUZZ_CHECK(later.status == LineStatus::too_long);
        return 0;
      case LineStatus::complete: {
        check_complete(result, buffer, max_line);
        FUZZ_CHECK(later.status == LineStatus::complete && later.consumed == result.consumed &&
                   later.name == result.name && later.name.data() == result.name.data());
        const LineResult exact = parse_line(buffer.substr(0, result.consumed), max_line);
        FUZZ_CHECK(exact.status == LineStatus::complete && exact.consumed == result.consumed);
        const LineResult shorter = parse_line(buffer.substr(0, result.consumed - 1), max_line);
        FUZZ_CHECK(shorter.status == LineStatus::need_more);
        offset += result.consumed;
        received = std::max(received, offset);
        break;
      }
    }
  }
  return 0;
}
