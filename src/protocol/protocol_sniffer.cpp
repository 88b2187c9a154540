#include "protocol/protocol_sniffer.hpp"

#include <cstring>

namespace iocomp::protocol {
namespace {

// Methods are tokens; in practice upper-case letters, digits, '-' and '_' ("M-SEARCH").
bool is_method_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// Checks the prefix seen so far against "METHOD SP target SP HTTP/". Returns false as soon as
// the prefix can no longer be a request line.
bool could_be_request_line(std::string_view line, bool complete) {
  std::size_t i = 0;
  while (i < line.size() && is_method_char(line[i])) ++i;
  if (i == line.size()) return !complete && i <= 16;
  if (i == 0 || i > 16 || line[i] != ' ' || line[0] < 'A' || line[0] > 'Z') return false;
  const std::size_t target_start = ++i;
  while (i < line.size() && line[i] != ' ') {
    if (static_cast<unsigned char>(line[i]) < 0x20) return false;
    ++i;
  }
  if (i == line.size()) return !complete;
  if (i == target_start) return false;
  constexpr std::string_view kVersion = "HTTP/";
  const std::string_view rest = line.substr(i + 1);
  const std::size_t n = rest.size() < kVersion.size() ? rest.size() : kVersion.size();
  if (rest.substr(0, n) != kVersion.substr(0, n)) return false;
  return !complete || rest.size() >= kVersion.size();
}

// "METHOD SP": whatever follows, the line may still end in " HTTP/1.1".
bool starts_with_method(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && is_method_char(line[i])) ++i;
  return i > 0 && i <= 16 && i < line.size() && line[i] == ' ' && line[0] >= 'A' && line[0] <= 'Z';
}

// A request line with bytes the HTTP parser refuses (a NUL or a control byte in the target, a
// space inside it) is still a request line: it gets a 400, not a line-protocol answer per
// header line.
bool ends_with_http1_version(std::string_view line) {
  return line.ends_with(" HTTP/1.1") || line.ends_with(" HTTP/1.0");
}

// Bytes of empty lines (LF or CRLF) at the front: RFC 9112 2.2 lets a server ignore them before
// a request line, so they do not decide the protocol.
std::size_t empty_lines_prefix(std::string_view bytes) {
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    if (bytes[pos] == '\n') {
      ++pos;
    } else if (bytes[pos] == '\r' && pos + 1 < bytes.size() && bytes[pos + 1] == '\n') {
      pos += 2;
    } else {
      break;
    }
  }
  return pos;
}

}  // namespace

Protocol sniff_protocol(std::string_view first_bytes, std::size_t limit) {
  const std::size_t skipped = empty_lines_prefix(first_bytes);
  // Empty lines alone decide nothing yet, within a bound; the line protocol, if it is chosen,
  // still answers each of them.
  if (skipped >= limit) return Protocol::line;
  first_bytes.remove_prefix(skipped);
  if (first_bytes.empty() || first_bytes == "\r") return Protocol::undecided;
  // A request line of `limit` bytes still needs its CRLF.
  const std::size_t window = first_bytes.size() < limit + 2 ? first_bytes.size() : limit + 2;
  const void* lf = std::memchr(first_bytes.data(), '\n', window);
  if (lf == nullptr) {
    const std::string_view seen = first_bytes.substr(0, window);
    const bool plausible = could_be_request_line(seen, false) || starts_with_method(seen);
    if (!plausible) return Protocol::line;
    // Over the limit and still shaped like a request line: HTTP, so that the answer is a 414.
    return window >= limit + 2 ? Protocol::http : Protocol::undecided;
  }
  std::string_view line = first_bytes.substr(0, static_cast<const char*>(lf) - first_bytes.data());
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (could_be_request_line(line, true)) return Protocol::http;
  return starts_with_method(line) && ends_with_http1_version(line) ? Protocol::http
                                                                   : Protocol::line;
}

}  // namespace iocomp::protocol
