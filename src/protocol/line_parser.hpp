#pragma once
// The article's line protocol: a file name ended by LF or CRLF. Pure: bytes in, verdict out.
#include <cstddef>
#include <string_view>

namespace iocomp::protocol {

inline constexpr std::size_t kDefaultMaxLine = 1024;
inline constexpr std::string_view kTransmitError = "File transmit error!\r\n";

enum class LineStatus {
  complete,   // `name` holds the line without its LF / CRLF; `consumed` includes the ending
  need_more,  // no line end yet and still within the limit
  too_long,   // no line end within max_line bytes: answer the error and close
};

struct LineResult {
  LineStatus status = LineStatus::need_more;
  std::string_view name;
  std::size_t consumed = 0;
};

// Looks for the first line in `bytes`. max_line counts the name without its line ending.
LineResult parse_line(std::string_view bytes, std::size_t max_line = kDefaultMaxLine);

}  // namespace iocomp::protocol
