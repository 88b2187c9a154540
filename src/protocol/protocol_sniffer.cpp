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

}  // namespace

Protocol sniff_protocol(std::string_view first_bytes, std::size_t limit) {
  // A request line of `limit` bytes still needs its CRLF.
  const std::size_t window = first_bytes.size() < limit + 2 ? first_bytes.size() : limit + 2;
  const void* lf = std::memchr(first_bytes.data(), '\n', window);
  if (lf == nullptr) {
    const bool plausible = could_be_request_line(first_bytes.substr(0, window), false);
    if (!plausible) return Protocol::line;
    // Over the limit and still shaped like a request line: HTTP, so that the answer is a 414.
    return window >= limit + 2 ? Protocol::http : Protocol::undecided;
  }
  std::string_view line = first_bytes.substr(0, static_cast<const char*>(lf) - first_bytes.data());
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return could_be_request_line(line, true) ? Protocol::http : Protocol::line;
}

}  // namespace iocomp::protocol
