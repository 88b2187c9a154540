#pragma once
// Validators and conditional requests (RFC 9110 section 13). Pure.
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "http/request_parser.hpp"

namespace iocomp::http {

struct Validators {
  std::string_view etag;  // strong, quoted: "\"...\""
  std::time_t last_modified = 0;
  // The response's Date: a one-second Last-Modified is a strong validator only once that second
  // is over (RFC 9110 8.8.2.2), else two changes within it would share one date.
  std::time_t date = 0;
};

// Strong ETag from inode, size and modification time in nanoseconds: "\"ino-size-mtime\"" in hex.
std::string make_etag(std::uint64_t inode, std::uint64_t size, std::int64_t mtime_ns);

enum class Precondition { proceed, not_modified, failed };  // 200/206, 304, 412

// Evaluates If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since in RFC 9110 order
// for a GET or HEAD. If-None-Match wins over If-Modified-Since.
Precondition evaluate_preconditions(const Request& request, const Validators& validators);

// If-Range: true when a partial response is allowed (header empty, or it matches the strong
// ETag, or it is a date equal to Last-Modified when Last-Modified is at least a second older
// than Date: RFC 9110 13.1.5). A weak or stale validator gives false (send 200).
bool if_range_allows_partial(std::string_view if_range, const Validators& validators);

}  // namespace iocomp::http
