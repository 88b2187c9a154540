#include "http/range.hpp"

#include <algorithm>
#include <optional>

#include "http/field_list.hpp"

namespace iocomp::http {
namespace {

bool equals_ci(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

// Saturates instead of failing: a position beyond 2^64 is still a well-formed position, just
// one past the end of any file.
std::optional<std::uint64_t> parse_position(std::string_view digits) {
  if (digits.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    value = value > (UINT64_MAX - digit) / 10 ? UINT64_MAX : value * 10 + digit;
  }
  return value;
}

struct Spec {
  bool valid = false;
  bool satisfiable = false;
  ByteRange range;
};

Spec parse_spec(std::string_view text, std::uint64_t size) {
  Spec spec;
  const std::size_t dash = text.find('-');
  if (dash == std::string_view::npos) return spec;
  const std::string_view first_text = trim_ows(text.substr(0, dash));
  const std::string_view last_text = trim_ows(text.substr(dash + 1));

  if (first_text.empty()) {  // suffix-range "-n": the last n bytes
    const auto suffix = parse_position(last_text);
    if (!suffix) return spec;
    spec.valid = true;
    if (*suffix == 0 || size == 0) return spec;
    spec.satisfiable = true;
    spec.range.first = *suffix >= size ? 0 : size - *suffix;
    spec.range.last = size - 1;
    return spec;
  }

  const auto first = parse_position(first_text);
  if (!first) return spec;
  std::uint64_t last = UINT64_MAX;
  if (!last_text.empty()) {
    const auto parsed = parse_position(last_text);
    if (!parsed || *parsed < *first) return spec;
    last = *parsed;
  }
  spec.valid = true;
  if (*first >= size) return spec;
  spec.satisfiable = true;
  spec.range.first = *first;
  spec.range.last = std::min(last, size - 1);
  return spec;
}

}  // namespace

RangeSet evaluate_range(std::string_view header, std::uint64_t size, std::size_t max_ranges) {
  const RangeSet full;
  header = trim_ows(header);
  const std::size_t equals = header.find('=');
  if (equals == std::string_view::npos || !equals_ci(trim_ows(header.substr(0, equals)), "bytes")) {
    return full;
  }

  RangeSet result;
  std::string_view list = header.substr(equals + 1);
  std::size_t spec_count = 0;
  while (true) {
    const std::size_t comma = list.find(',');
    // RFC 9110 5.6.1: empty list elements are tolerated.
    if (const std::string_view element = trim_ows(list.substr(0, comma)); !element.empty()) {
      if (++spec_count > max_ranges) return full;
      const Spec spec = parse_spec(element, size);
      if (!spec.valid) return full;
      if (spec.satisfiable) result.ranges.push_back(spec.range);
    }
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  if (spec_count == 0) return full;
  if (result.ranges.empty()) {
    result.outcome = RangeOutcome::unsatisfiable;
    return result;
  }

  std::sort(result.ranges.begin(), result.ranges.end(),
            [](const ByteRange& a, const ByteRange& b) { return a.first < b.first; });
  std::size_t merged = 0;
  for (std::size_t i = 1; i < result.ranges.size(); ++i) {
    ByteRange& current = result.ranges[merged];
    const ByteRange& next = result.ranges[i];
    // last < size <= UINT64_MAX, so last + 1 cannot overflow.
    if (next.first <= current.last + 1) {
      current.last = std::max(current.last, next.last);
    } else {
      result.ranges[++merged] = next;
    }
  }
  result.ranges.resize(merged + 1);
  result.outcome = RangeOutcome::partial;
  return result;
}

}  // namespace iocomp::http
