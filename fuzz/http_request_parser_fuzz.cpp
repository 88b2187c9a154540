// libFuzzer harness for the HTTP request-head parser and the pure functions that consume its
// output (path decoding, Range, preconditions). Any invariant violation aborts.
//
// Input layout: byte 0 seeds the split points, byte 1 selects parser limits and the file size
// used for Range evaluation; the rest is the byte stream a client sends on one connection.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "fuzz_support.hpp"
#include "http/conditional.hpp"
#include "http/percent_decode.hpp"
#include "http/range.hpp"
#include "http/request_parser.hpp"

namespace {

using namespace iocomp::http;

ParserLimits choose_limits(std::uint8_t selector) {
  ParserLimits limits;
  if ((selector & 1) != 0) {
    // Small limits so the fuzzer reaches 414 and 431 boundaries with short inputs.
    limits.max_request_line = 8 + (selector >> 1) % 48;
    limits.max_header_bytes = 16 + (selector >> 2) % 96;
    limits.max_header_count = (selector >> 4) % 6;
  }
  return limits;
}

std::uint64_t choose_size(std::uint8_t selector, std::uint8_t seed) {
  switch (selector >> 6) {
    case 0:
      return seed % 4;  // includes the empty file
    case 1:
      return seed * 37u;
    case 2:
      return std::uint64_t{1} << (seed % 64);
    default:
      return UINT64_MAX - seed;
  }
}

bool within(std::string_view view, std::string_view buffer) {
  if (view.empty()) return true;
  return view.data() >= buffer.data() && view.data() + view.size() <= buffer.data() + buffer.size();
}

// Views are compared by position relative to their buffers, so results from two buffers that
// share a prefix compare equal only when they point at the same bytes of the stream.
bool same_view(std::string_view a, std::string_view a_base, std::string_view b,
               std::string_view b_base) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return a.data() - a_base.data() == b.data() - b_base.data() && a == b;
}

bool same_request(const Request& a, std::string_view a_base, const Request& b,
                  std::string_view b_base) {
  return same_view(a.method, a_base, b.method, b_base) && a.method_kind == b.method_kind &&
         same_view(a.target, a_base, b.target, b_base) && a.version_minor == b.version_minor &&
         same_view(a.host, a_base, b.host, b_base) && same_view(a.range, a_base, b.range, b_base) &&
         same_view(a.if_range, a_base, b.if_range, b_base) &&
         same_view(a.if_none_match, a_base, b.if_none_match, b_base) &&
         same_view(a.if_modified_since, a_base, b.if_modified_since, b_base) &&
         same_view(a.if_match, a_base, b.if_match, b_base) &&
         same_view(a.if_unmodified_since, a_base, b.if_unmodified_since, b_base) &&
         same_view(a.transfer_encoding, a_base, b.transfer_encoding, b_base) &&
         a.content_length == b.content_length && a.keep_alive == b.keep_alive;
}

bool is_parser_error(int status) {
  return status == 400 || status == 414 || status == 431 || status == 501 || status == 505;
}

void check_request_views(const Request& r, std::string_view head) {
  FUZZ_CHECK(!r.method.empty() && within(r.method, head));
  FUZZ_CHECK(!r.target.empty() && within(r.target, head));
  FUZZ_CHECK(r.version_minor == 0 || r.version_minor == 1);
  FUZZ_CHECK(r.method_kind != Method::get || r.method == "GET");
  FUZZ_CHECK(r.method_kind != Method::head || r.method == "HEAD");
  for (std::string_view v : {r.host, r.range, r.if_range, r.if_none_match, r.if_modified_since,
                             r.if_match, r.if_unmodified_since, r.transfer_encoding}) {
    FUZZ_CHECK(within(v, head));
    FUZZ_CHECK(v.find('\n') == std::string_view::npos && v.find('\r') == std::string_view::npos);
    if (!v.empty()) {
      FUZZ_CHECK(v.front() != ' ' && v.front() != '\t' && v.back() != ' ' && v.back() != '\t');
    }
  }
  FUZZ_CHECK(r.target.find(' ') == std::string_view::npos);
  FUZZ_CHECK(!(r.content_length && !r.transfer_encoding.empty()));
}

void check_decoded_path(std::string_view target) {
  const auto decoded = decode_request_path(target);
  if (const int* status = std::get_if<int>(&decoded)) {
    FUZZ_CHECK(*status == 400);
    return;
  }
  const std::string& rel = std::get<DecodedPath>(decoded).relative;
  FUZZ_CHECK(rel.empty() || (rel.front() != '/' && rel.back() != '/'));
  FUZZ_CHECK(rel.find("//") == std::string::npos);
  for (char c : rel) {
    const auto byte = static_cast<unsigned char>(c);
    FUZZ_CHECK(byte >= 0x20 && byte != 0x7f && c != '\\');
  }
  // No "." or ".." segment survives normalization.
  std::string_view rest = rel;
  while (!rest.empty()) {
    const std::size_t slash = rest.find('/');
    const std::string_view segment = rest.substr(0, slash);
    FUZZ_CHECK(segment != "." && segment != ".." && !segment.empty());
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  }
}

void check_range(std::string_view header, std::uint64_t size) {
  constexpr std::size_t kMaxRanges = 16;
  const RangeSet set = evaluate_range(header, size, kMaxRanges);
  if (set.outcome != RangeOutcome::partial) {
    FUZZ_CHECK(set.ranges.empty());
    return;
  }
  FUZZ_CHECK(!set.ranges.empty() && set.ranges.size() <= kMaxRanges);
  for (std::size_t i = 0; i < set.ranges.size(); ++i) {
    const ByteRange& r = set.ranges[i];
    FUZZ_CHECK(r.first <= r.last && r.last < size);
    // Sorted, and neither overlapping nor adjacent.
    if (i > 0) FUZZ_CHECK(set.ranges[i - 1].last + 1 < r.first);
  }
}

void check_conditionals(const Request& request, std::uint64_t size) {
  const std::string etag = make_etag(size, size >> 3, static_cast<std::int64_t>(size * 7));
  const auto modified = static_cast<std::time_t>(size % 4102444800u);
  const Validators validators{etag, modified, modified + static_cast<std::time_t>(size % 3) - 1};
  const Precondition p = evaluate_preconditions(request, validators);
  FUZZ_CHECK(p == Precondition::proceed || p == Precondition::not_modified ||
             p == Precondition::failed);
  if (request.if_match.empty() && request.if_unmodified_since.empty()) {
    FUZZ_CHECK(p != Precondition::failed || request.method_kind == Method::other);
  }
  const bool partial_allowed = if_range_allows_partial(request.if_range, validators);
  if (request.if_range.empty()) FUZZ_CHECK(partial_allowed);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  iocomp::fuzz::Splitter splitter(data[0], 512);
  const ParserLimits limits = choose_limits(data[1]);
  const std::uint64_t file_size = choose_size(data[1], data[0]);
  const std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);

  // Replays one connection: bytes arrive in chunks, every complete head is consumed.
  std::size_t offset = 0;
  std::size_t received = 0;
  while (offset < stream.size()) {
    received = std::min(stream.size(), received + splitter.next_chunk());
    const std::string_view buffer = stream.substr(offset, received - offset);
    Request request;
    const ParseResult result = parse_request(buffer, limits, request);
    FUZZ_CHECK(result.consumed <= buffer.size());

    // Everything the client will ever send on this connection.
    const std::string_view all = stream.substr(offset);
    Request later;
    const ParseResult later_result = parse_request(all, limits, later);

    switch (result.status) {
      case ParseStatus::need_more:
        FUZZ_CHECK(result.consumed == 0 && result.error_status == 0);
        FUZZ_CHECK(buffer.size() <= limits.max_header_bytes);
        if (received == stream.size()) return 0;  // the client stopped mid-head
        break;
      case ParseStatus::error:
        FUZZ_CHECK(is_parser_error(result.error_status));
        // More bytes never turn an error into something else.
        FUZZ_CHECK(later_result.status == ParseStatus::error &&
                   later_result.error_status == result.error_status);
        return 0;
      case ParseStatus::complete: {
        FUZZ_CHECK(result.consumed > 0 && result.error_status == 0);
        FUZZ_CHECK(result.consumed <= limits.max_header_bytes);
        FUZZ_CHECK(buffer[result.consumed - 1] == '\n');
        const std::string_view head = buffer.substr(0, result.consumed);
        check_request_views(request, head);
        // Same verdict from a larger buffer and from exactly the head.
        FUZZ_CHECK(later_result.status == ParseStatus::complete &&
                   later_result.consumed == result.consumed);
        FUZZ_CHECK(same_request(request, buffer, later, all));
        Request exact;
        const ParseResult exact_result = parse_request(head, limits, exact);
        FUZZ_CHECK(exact_result.status == ParseStatus::complete &&
                   exact_result.consumed == result.consumed);
        FUZZ_CHECK(same_request(request, buffer, exact, head));
        // Every shorter prefix of the head is incomplete.
        if (result.consumed > 1) {
          Request shorter;
          const ParseResult shorter_result =
              parse_request(head.substr(0, result.consumed - 1), limits, shorter);
          FUZZ_CHECK(shorter_result.status == ParseStatus::need_more);
        }

        check_decoded_path(request.target);
        check_range(request.range, file_size);
        check_conditionals(request, file_size);
        offset += result.consumed;
        received = std::max(received, offset);
        break;
      }
    }
  }
  return 0;
}
