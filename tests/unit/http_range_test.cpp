#include "http/range.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace iocomp::http {
namespace {

using Pairs = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

Pairs pairs(const RangeSet& set) {
  Pairs out;
  for (const ByteRange& r : set.ranges) out.emplace_back(r.first, r.last);
  return out;
}

void expect_partial(std::string_view header, std::uint64_t size, const Pairs& expected,
                    std::size_t max_ranges = 16) {
  const RangeSet set = evaluate_range(header, size, max_ranges);
  EXPECT_EQ(set.outcome, RangeOutcome::partial) << header << " size " << size;
  EXPECT_EQ(pairs(set), expected) << header << " size " << size;
}

void expect_outcome(std::string_view header, std::uint64_t size, RangeOutcome outcome,
                    std::size_t max_ranges = 16) {
  const RangeSet set = evaluate_range(header, size, max_ranges);
  EXPECT_EQ(set.outcome, outcome) << header << " size " << size;
  if (outcome != RangeOutcome::partial) {
    EXPECT_TRUE(set.ranges.empty()) << header;
  }
}

TEST(HttpRange, SingleRanges) {
  expect_partial("bytes=0-0", 10, {{0, 0}});
  expect_partial("bytes=0-9", 10, {{0, 9}});
  expect_partial("bytes=2-5", 10, {{2, 5}});
  expect_partial("bytes=9-9", 10, {{9, 9}});
  expect_partial("bytes=3-", 10, {{3, 9}});
  expect_partial("bytes=0-", 10, {{0, 9}});
  expect_partial("bytes=-1", 10, {{9, 9}});
  expect_partial("bytes=-3", 10, {{7, 9}});
  expect_partial("bytes=-10", 10, {{0, 9}});
  EXPECT_EQ(evaluate_range("bytes=2-5", 10).ranges.at(0).length(), 4u);
}

TEST(HttpRange, Clamping) {
  expect_partial("bytes=5-100", 10, {{5, 9}});
  expect_partial("bytes=0-18446744073709551615", 10, {{0, 9}});
  expect_partial("bytes=0-99999999999999999999999999", 10, {{0, 9}});
  expect_partial("bytes=-11", 10, {{0, 9}});
  expect_partial("bytes=-99999999999999999999999999", 10, {{0, 9}});
  expect_partial("bytes=0-", UINT64_MAX, {{0, UINT64_MAX - 1}});
}

TEST(HttpRange, Unsatisfiable) {
  expect_outcome("bytes=10-", 10, RangeOutcome::unsatisfiable);
  expect_outcome("bytes=10-20", 10, RangeOutcome::unsatisfiable);
  expect_outcome("bytes=99999999999999999999999-", 10, RangeOutcome::unsatisfiable);
  expect_outcome("bytes=-0", 10, RangeOutcome::unsatisfiable);
  expect_outcome("bytes=-0", 0, RangeOutcome::unsatisfiable);
  expect_outcome("bytes=10-11, 20-, -0", 10, RangeOutcome::unsatisfiable);
  // Size 0: nothing can be satisfied.
  expect_outcome("bytes=0-", 0, RangeOutcome::unsatisfiable);
  expect_outcome("bytes=0-0", 0, RangeOutcome::unsatisfiable);
  expect_outcome("bytes=-5", 0, RangeOutcome::unsatisfiable);
}

TEST(HttpRange, UnsatisfiablePartsAreDroppedWhenOthersSatisfy) {
  expect_partial("bytes=20-30, 1-2", 10, {{1, 2}});
  expect_partial("bytes=-0, 0-0", 10, {{0, 0}});
}

TEST(HttpRange, MultipleRangesSortedAndCoalesced) {
  expect_partial("bytes=0-1, 4-5", 10, {{0, 1}, {4, 5}});
  expect_partial("bytes=4-5,0-1", 10, {{0, 1}, {4, 5}});
  // Overlapping.
  expect_partial("bytes=0-5, 3-8", 10, {{0, 8}});
  // Adjacent.
  expect_partial("bytes=0-1,2-3", 10, {{0, 3}});
  // Contained.
  expect_partial("bytes=0-9,2-3", 10, {{0, 9}});
  // Chains.
  expect_partial("bytes=6-7,0-1,2-3,4-5", 10, {{0, 7}});
  // Suffix merged with an open range.
  expect_partial("bytes=-2,5-", 10, {{5, 9}});
  expect_partial("bytes=-2,0-0", 10, {{0, 0}, {8, 9}});
  // Duplicates.
  expect_partial("bytes=1-1,1-1,1-1", 10, {{1, 1}});
  // Gap of one byte is not adjacent.
  expect_partial("bytes=0-1,3-4", 10, {{0, 1}, {3, 4}});
  // Clamped ranges merge too.
  expect_partial("bytes=8-100,9-", 10, {{8, 9}});
}

TEST(HttpRange, Whitespace) {
  expect_partial("bytes=0-1 , 4-5", 10, {{0, 1}, {4, 5}});
  expect_partial("  bytes = 0 - 1 ,\t4-5\t", 10, {{0, 1}, {4, 5}});
  expect_partial("bytes= -3", 10, {{7, 9}});
  expect_partial("bytes=3 -", 10, {{3, 9}});
  // Empty list elements are tolerated.
  expect_partial("bytes=,0-1,,", 10, {{0, 1}});
}

TEST(HttpRange, UnitIsCaseInsensitive) {
  expect_partial("Bytes=0-1", 10, {{0, 1}});
  expect_partial("BYTES=0-1", 10, {{0, 1}});
}

TEST(HttpRange, InvalidSyntaxMeansFull) {
  const char* const cases[] = {
      "",
      "bytes",
      "bytes=",
      "bytes=,",
      "bytes=-",
      "bytes=a-b",
      "bytes=1",
      "bytes=5-4",
      "bytes=1-2-3",
      "bytes=--1",
      "bytes=+1-2",
      "bytes=1-+2",
      "bytes=0x1-",
      "bytes=1 2-3",
      "bytes=0-1,x",
      "bytes=0-1,5-4",
      "bytes=-1-2",
      "bytes=0-1;",
      "items=0-1",
      "bytes0-1",
      "byte=0-1",
      "bytesx=0-1",
      "=0-1",
      "bytes=0-1,-",
      "bytes=\xff-1",
  };
  for (const char* c : cases) expect_outcome(c, 10, RangeOutcome::full);
  // Even when the file is empty.
  expect_outcome("bytes=5-4", 0, RangeOutcome::full);
  expect_outcome("", 0, RangeOutcome::full);
}

TEST(HttpRange, MaxRanges) {
  std::string header = "bytes=";
  for (int i = 0; i < 16; ++i) {
    if (i != 0) header += ",";
    header += std::to_string(i * 2) + "-" + std::to_string(i * 2);
  }
  EXPECT_EQ(evaluate_range(header, 100).outcome, RangeOutcome::partial);
  EXPECT_EQ(evaluate_range(header, 100).ranges.size(), 16u);
  expect_outcome(header + ",40-40", 100, RangeOutcome::full);
  // Counted before coalescing: many overlapping ranges are still many.
  expect_outcome("bytes=0-1,0-1,0-1", 100, RangeOutcome::full, 2);
  expect_partial("bytes=0-1,0-1", 100, {{0, 1}}, 2);
  expect_outcome("bytes=0-1", 100, RangeOutcome::full, 0);
  // Empty elements do not count.
  expect_partial("bytes=0-1,,,,", 100, {{0, 1}}, 1);
}

}  // namespace
}  // namespace iocomp::http
