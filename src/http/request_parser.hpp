#pragma once
// Incremental HTTP/1.x request-head parser. Pure: bytes in, verdict out. No I/O, no allocation.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace iocomp::http {

enum class Method { get, head, options, other };

struct ParserLimits {
  std::size_t max_request_line = 8192;   // bytes in "METHOD target HTTP/1.1", else 414
  std::size_t max_header_bytes = 16384;  // whole head including request line, else 431
  std::size_t max_header_count = 100;    // else 431
};

// Views point into the buffer given to parse_request and live as long as it does.
struct Request {
  std::string_view method;
  Method method_kind = Method::other;
  std::string_view target;  // raw request-target as sent
  int version_minor = 1;    // HTTP/1.<minor>; only major version 1 is accepted
  std::string_view host;
  bool has_host = false;  // a Host field was present (HTTP/1.1 requires one: RFC 9112 3.2)
  std::string_view range;
  std::string_view if_range;
  std::string_view if_none_match;
  std::string_view if_modified_since;
  std::string_view if_match;
  std::string_view if_unmodified_since;
  std::string_view transfer_encoding;
  // List-valued fields that may legally repeat keep their first occurrence.
  std::string_view accept;
  std::string_view accept_encoding;
  std::string_view origin;
  std::string_view authorization;
  std::string_view access_control_request_method;
  std::string_view access_control_request_headers;
  std::string_view user_agent;
  std::string_view referer;
  std::optional<std::uint64_t> content_length;
  bool keep_alive = true;  // from version and Connection (close / keep-alive tokens)
};

enum class ParseStatus { complete, need_more, error };

struct ParseResult {
  ParseStatus status = ParseStatus::need_more;
  std::size_t consumed = 0;  // bytes of the head (through the blank line) when complete
  int error_status = 0;      // when error: 400, 414, 431, 501 or 505
};

// Parses one request head from the start of `bytes`. Call again with more bytes after
// need_more (the same prefix plus what arrived). Accepts CRLF and bare LF line ends.
// Errors: malformed syntax 400; request line over the limit 414; head over the limit or too
// many headers 431; Transfer-Encoding other than chunked 501; HTTP version not 1.x 505;
// duplicate or invalid Content-Length 400; both Content-Length and Transfer-Encoding 400.
ParseResult parse_request(std::string_view bytes, const ParserLimits& limits, Request& out);

}  // namespace iocomp::http
