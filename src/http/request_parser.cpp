#include "http/request_parser.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "http/field_list.hpp"

namespace iocomp::http {
namespace {

// Character classes as lookup tables: the parser touches every byte of every request head.
enum CharClass : std::uint8_t {
  kTchar = 1,       // RFC 9110 token character
  kTargetChar = 2,  // visible, non-space; obs-text tolerated because clients send raw UTF-8
  kValueChar = 4,   // field-vchar / SP / HTAB / obs-text
};

constexpr std::array<std::uint8_t, 256> make_char_table() {
  std::array<std::uint8_t, 256> table{};
  for (int c = 0; c < 256; ++c) {
    std::uint8_t cls = 0;
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    constexpr std::string_view kTokenPunct = "!#$%&'*+-.^_`|~";
    if (alnum || kTokenPunct.find(static_cast<char>(c)) != std::string_view::npos) cls |= kTchar;
    if (c > 0x20 && c != 0x7f) cls |= kTargetChar;
    if (c >= 0x20 && c != 0x7f) cls |= kValueChar;
    if (c == '\t') cls |= kValueChar;
    table[static_cast<std::size_t>(c)] = cls;
  }
  return table;
}

constexpr std::array<std::uint8_t, 256> kCharTable = make_char_table();

inline bool has_class(char c, CharClass cls) {
  return (kCharTable[static_cast<unsigned char>(c)] & cls) != 0;
}

// `lower` must be lowercase. Only used on validated token characters, for which OR-ing in the
// ASCII case bit is an exact case fold (no non-letter token char maps onto a letter).
inline bool token_equals(std::string_view token, std::string_view lower) {
  if (token.size() != lower.size()) return false;
  for (std::size_t i = 0; i < token.size(); ++i) {
    if ((static_cast<unsigned char>(token[i]) | 0x20) != static_cast<unsigned char>(lower[i])) {
      return false;
    }
  }
  return true;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!has_class(c, kTchar)) return false;
  }
  return true;
}

ParseResult error(int status) {
  ParseResult result;
  result.status = ParseStatus::error;
  result.error_status = status;
  return result;
}

enum HeaderBit : std::uint32_t {
  kSeenHost = 1u << 0,
  kSeenRange = 1u << 1,
  kSeenIfRange = 1u << 2,
  kSeenIfNoneMatch = 1u << 3,
  kSeenIfModifiedSince = 1u << 4,
  kSeenIfMatch = 1u << 5,
  kSeenIfUnmodifiedSince = 1u << 6,
  kSeenTransferEncoding = 1u << 7,
  kSeenContentLength = 1u << 8,
  kSeenOrigin = 1u << 9,
  kSeenAuthorization = 1u << 10,
};

struct HeadState {
  std::uint32_t seen = 0;
  bool connection_close = false;
  bool connection_keep_alive = false;
};

// Returns 0 on success, else the error status.
int parse_request_line(std::string_view line, Request& out) {
  std::size_t i = 0;
  while (i < line.size() && has_class(line[i], kTchar)) ++i;
  if (i == 0 || i >= line.size() || line[i] != ' ') return 400;
  out.method = line.substr(0, i);
  if (out.method == "GET") {
    out.method_kind = Method::get;
  } else if (out.method == "HEAD") {
    out.method_kind = Method::head;
  } else if (out.method == "OPTIONS") {
    out.method_kind = Method::options;
  }

  const std::size_t target_begin = ++i;
  while (i < line.size() && has_class(line[i], kTargetChar)) ++i;
  if (i == target_begin || i >= line.size() || line[i] != ' ') return 400;
  out.target = line.substr(target_begin, i - target_begin);

  const std::string_view version = line.substr(i + 1);
  constexpr std::string_view kPrefix = "HTTP/";
  if (version.size() != kPrefix.size() + 3 || version.substr(0, kPrefix.size()) != kPrefix) {
    return 400;
  }
  const char major = version[5];
  const char minor = version[7];
  const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  if (!is_digit(major) || version[6] != '.' || !is_digit(minor)) return 400;
  if (major != '1' || (minor != '0' && minor != '1')) return 505;
  out.version_minor = minor - '0';
  return 0;
}

int parse_content_length(std::string_view value, Request& out, HeadState& state) {
  if (value.empty()) return 400;
  std::uint64_t n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return 400;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (n > (UINT64_MAX - digit) / 10) return 400;
    n = n * 10 + digit;
  }
  if ((state.seen & kSeenContentLength) != 0 && out.content_length != n) return 400;
  state.seen |= kSeenContentLength;
  out.content_length = n;
  return 0;
}

int parse_transfer_encoding(std::string_view value, Request& out, HeadState& state) {
  // Several TE lines would have to be recombined to find the final coding; such requests are
  // not worth the ambiguity on a download server.
  if ((state.seen & kSeenTransferEncoding) != 0) return 400;
  state.seen |= kSeenTransferEncoding;
  std::string_view final_coding;
  bool chunked_not_final = false;
  bool malformed = false;
  for_each_list_element(value, [&](std::string_view coding) {
    std::size_t name_end = 0;
    while (name_end < coding.size() && has_class(coding[name_end], kTchar)) ++name_end;
    if (name_end == 0) {
      malformed = true;
      return false;
    }
    if (!final_coding.empty() && token_equals(final_coding, "chunked")) chunked_not_final = true;
    final_coding = coding;
    return true;
  });
  // RFC 9112 6.3: chunked anywhere but last makes the body length undeterminable.
  if (malformed || final_coding.empty() || chunked_not_final) return 400;
  if (!token_equals(final_coding, "chunked")) return 501;
  out.transfer_encoding = value;
  return 0;
}

void parse_connection(std::string_view value, HeadState& state) {
  for_each_list_element(value, [&](std::string_view option) {
    if (is_token(option)) {
      if (token_equals(option, "close")) state.connection_close = true;
      if (token_equals(option, "keep-alive")) state.connection_keep_alive = true;
    }
    return true;
  });
}

// Singleton fields: a second occurrence is rejected rather than guessing which one the client
// meant (the views cannot be recombined without allocating).
int store_once(std::string_view value, std::string_view& field, HeaderBit bit, HeadState& state) {
  if ((state.seen & bit) != 0) return 400;
  state.seen |= bit;
  field = value;
  return 0;
}

// For fields whose repetition is legal (lists, or informational ones): the first one counts.
int store_first(std::string_view value, std::string_view& field) {
  if (field.data() == nullptr) field = value;
  return 0;
}

int parse_header_line(std::string_view line, Request& out, HeadState& state) {
  std::size_t colon = 0;
  while (colon < line.size() && has_class(line[colon], kTchar)) ++colon;
  // Also rejects obs-fold (leading SP/HTAB) and whitespace before the colon.
  if (colon == 0 || colon >= line.size() || line[colon] != ':') return 400;
  const std::string_view name = line.substr(0, colon);
  const std::string_view raw_value = line.substr(colon + 1);
  for (char c : raw_value) {
    if (!has_class(c, kValueChar)) return 400;
  }
  const std::string_view value = trim_ows(raw_value);

  switch (name.size()) {
    case 4:
      if (token_equals(name, "host")) return store_once(value, out.host, kSeenHost, state);
      break;
    case 6:
      if (token_equals(name, "accept")) return store_first(value, out.accept);
      if (token_equals(name, "origin")) return store_once(value, out.origin, kSeenOrigin, state);
      break;
    case 7:
      if (token_equals(name, "referer")) return store_first(value, out.referer);
      break;
    case 5:
      if (token_equals(name, "range")) return store_once(value, out.range, kSeenRange, state);
      break;
    case 8:
      if (token_equals(name, "if-range")) {
        return store_once(value, out.if_range, kSeenIfRange, state);
      }
      if (token_equals(name, "if-match")) {
        return store_once(value, out.if_match, kSeenIfMatch, state);
      }
      break;
    case 10:
      if (token_equals(name, "connection")) parse_connection(value, state);
      if (token_equals(name, "user-agent")) return store_first(value, out.user_agent);
      break;
    case 13:
      if (token_equals(name, "authorization")) {
        return store_once(value, out.authorization, kSeenAuthorization, state);
      }
      if (token_equals(name, "if-none-match")) {
        return store_once(value, out.if_none_match, kSeenIfNoneMatch, state);
      }
      break;
    case 14:
      if (token_equals(name, "content-length")) return parse_content_length(value, out, state);
      break;
    case 15:
      if (token_equals(name, "accept-encoding")) return store_first(value, out.accept_encoding);
      break;
    case 17:
      if (token_equals(name, "if-modified-since")) {
        return store_once(value, out.if_modified_since, kSeenIfModifiedSince, state);
      }
      if (token_equals(name, "transfer-encoding")) {
        return parse_transfer_encoding(value, out, state);
      }
      break;
    case 19:
      if (token_equals(name, "if-unmodified-since")) {
        return store_once(value, out.if_unmodified_since, kSeenIfUnmodifiedSince, state);
      }
      break;
    case 29:
      if (token_equals(name, "access-control-request-method")) {
        return store_first(value, out.access_control_request_method);
      }
      break;
    case 30:
      if (token_equals(name, "access-control-request-headers")) {
        return store_first(value, out.access_control_request_headers);
      }
      break;
    default:
      break;
  }
  return 0;
}

}  // namespace

// Every check is made on a complete line, in order, and a limit is checked before the syntax of
// the line it concerns; the incomplete tail is only checked against limits that it already
// exceeds. Hence an error reported for a prefix is the error reported for any extension of it.
ParseResult parse_request(std::string_view bytes, const ParserLimits& limits, Request& out) {
  out = Request{};
  // Nothing past max_header_bytes can belong to an acceptable head, so never look there.
  const std::size_t window = std::min(bytes.size(), limits.max_header_bytes);
  const char* const base = bytes.data();
  const auto incomplete = [&]() {
    return bytes.size() > limits.max_header_bytes ? error(431) : ParseResult{};
  };
  const auto find_newline = [&](std::size_t from) -> std::size_t {
    if (from >= window) return std::string_view::npos;
    const void* hit = std::memchr(base + from, '\n', window - from);
    return hit == nullptr ? std::string_view::npos
                          : static_cast<std::size_t>(static_cast<const char*>(hit) - base);
  };
  const auto content_end = [&](std::size_t from, std::size_t newline) {
    return newline > from && base[newline - 1] == '\r' ? newline - 1 : newline;
  };

  // RFC 9112 2.2: ignore empty lines before the request line (some clients send a stray CRLF
  // after a body).
  std::size_t pos = 0;
  while (pos < window) {
    if (base[pos] == '\n') {
      ++pos;
    } else if (base[pos] == '\r' && pos + 1 < window && base[pos + 1] == '\n') {
      pos += 2;
    } else {
      break;
    }
  }

  std::size_t newline = find_newline(pos);
  if (newline == std::string_view::npos) {
    std::size_t line_bytes = window - pos;
    if (line_bytes > 0 && base[window - 1] == '\r') --line_bytes;  // may be half of a CRLF
    if (line_bytes > limits.max_request_line) return error(414);
    return incomplete();
  }
  const std::size_t line_end = content_end(pos, newline);
  if (line_end - pos > limits.max_request_line) return error(414);
  if (const int status = parse_request_line(bytes.substr(pos, line_end - pos), out); status != 0) {
    return error(status);
  }
  pos = newline + 1;

  HeadState state;
  std::size_t header_count = 0;
  while (true) {
    newline = find_newline(pos);
    if (newline == std::string_view::npos) {
      // A tail other than "" or "\r" can only end up as one more header line.
      const std::size_t tail = window - pos;
      const bool tail_is_header = tail > 1 || (tail == 1 && base[pos] != '\r');
      if (tail_is_header && header_count >= limits.max_header_count) return error(431);
      return incomplete();
    }
    const std::size_t end = content_end(pos, newline);
    if (end == pos) break;  // the blank line
    if (++header_count > limits.max_header_count) return error(431);
    if (const int status = parse_header_line(bytes.substr(pos, end - pos), out, state);
        status != 0) {
      return error(status);
    }
    pos = newline + 1;
  }

  if ((state.seen & kSeenTransferEncoding) != 0 && (state.seen & kSeenContentLength) != 0) {
    return error(400);  // RFC 9112 6.3: a smuggling vector
  }
  out.has_host = (state.seen & kSeenHost) != 0;
  if (state.connection_close) {
    out.keep_alive = false;
  } else {
    out.keep_alive = out.version_minor >= 1 || state.connection_keep_alive;
  }

  ParseResult result;
  result.status = ParseStatus::complete;
  result.consumed = newline + 1;
  return result;
}

}  // namespace iocomp::http
