#pragma once
// The access log's line formats, pure: one line per request record, in the combined log format
// of Apache and nginx, or as a JSON object per line. Every client-controlled field is escaped as
// the event log escapes it (log/escape.hpp), so a line can neither be forged nor split.
#include <ctime>
#include <string>
#include <string_view>

#include "log/request_record.hpp"

namespace iocomp::log {

enum class AccessFormat : std::uint8_t { combined, json };

// Appends one line (with its '\n'):
// combined: 203.0.113.7 - alice [01/Dec/2026:18:30:00 +0000] "GET /a.iso HTTP/1.1" 200 1048576
//           "https://example.org/" "curl/8.0"
//   The line protocol's request is the name it sent: "a.iso". `-` stands for an empty field,
//   as Apache writes it; %b (body bytes) is "-" when no body byte was sent.
// json: {"time":"2026-12-01T18:30:00.123Z","client":"203.0.113.7","port":4242,...}
void append_access_line(std::string& out, const RequestRecord& record, AccessFormat format);

// The address part of "ip:port" / "[v6]:port" ("203.0.113.7", "::1"), and the port.
std::string_view peer_address(std::string_view peer);
std::string_view peer_port(std::string_view peer);

}  // namespace iocomp::log
