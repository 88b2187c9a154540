#include "protocol/line_parser.hpp"

#include <cstring>

namespace iocomp::protocol {

LineResult parse_line(std::string_view bytes, std::size_t max_line) {
  // Only the first max_line + 2 bytes can hold a legal line end ("name\r\n").
  const std::size_t window = bytes.size() < max_line + 2 ? bytes.size() : max_line + 2;
  const void* lf = std::memchr(bytes.data(), '\n', window);
  if (lf == nullptr) {
    // Still legal: up to max_line bytes, or max_line bytes and the CR of a CRLF.
    const bool can_end =
        bytes.size() <= max_line || (bytes.size() == max_line + 1 && bytes.back() == '\r');
    return {can_end ? LineStatus::need_more : LineStatus::too_long, {}, 0};
  }
  std::size_t end = static_cast<const char*>(lf) - bytes.data();
  const std::size_t consumed = end + 1;
  if (end > 0 && bytes[end - 1] == '\r') --end;
  if (end > max_line) return {LineStatus::too_long, {}, 0};
  return {LineStatus::complete, bytes.substr(0, end), consumed};
}

}  // namespace iocomp::protocol
