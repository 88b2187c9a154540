#pragma once
// Range header evaluation (RFC 9110 section 14). Pure.
#include <cstdint>
#include <string_view>
#include <vector>

namespace iocomp::http {

struct ByteRange {
  std::uint64_t first = 0;  // inclusive
  std::uint64_t last = 0;   // inclusive
  std::uint64_t length() const { return last - first + 1; }
};

enum class RangeOutcome {
  full,           // no Range, unparsable Range or not "bytes=": send 200 with the whole body
  partial,        // send 206 with `ranges` (one: plain 206, several: multipart/byteranges)
  unsatisfiable,  // send 416 with Content-Range: bytes */size
};

struct RangeSet {
  RangeOutcome outcome = RangeOutcome::full;
  std::vector<ByteRange> ranges;  // sorted and coalesced when overlapping or adjacent
};

// Supports "bytes=a-b", "a-", "-n" and comma-separated lists. More than max_ranges ranges
// yields `full` (a defence against many-small-ranges abuse).
RangeSet evaluate_range(std::string_view header, std::uint64_t size, std::size_t max_ranges = 16);

}  // namespace iocomp::http
