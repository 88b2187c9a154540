#include "log/escape.hpp"

#include <cstdint>

namespace iocomp::log {
namespace {

void append_hex(std::string& out, unsigned char byte) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('\\');
  out.push_back('x');
  out.push_back(kHex[byte >> 4]);
  out.push_back(kHex[byte & 0x0f]);
}

bool is_plain_ascii(unsigned char c) {
  return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

// Length of the valid UTF-8 sequence at the start of `s` (2 to 4), or 0 when it is not one.
// RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF.
std::size_t utf8_sequence_length(std::string_view s, std::uint32_t& code_point) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  std::size_t length;
  std::uint32_t min;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    length = 2;
    code_point = b0 & 0x1fu;
    min = 0x80;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    length = 3;
    code_point = b0 & 0x0fu;
    min = 0x800;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    length = 4;
    code_point = b0 & 0x07u;
    min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < length) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if ((b & 0xc0) != 0x80) return 0;
    code_point = (code_point << 6) | (b & 0x3fu);
  }
  if (code_point < min || code_point > 0x10ffff) return 0;
  if (code_point >= 0xd800 && code_point <= 0xdfff) return 0;
  return length;
}

}  // namespace

void append_escaped(std::string& out, std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t plain = i;
    while (plain < text.size() && is_plain_ascii(static_cast<unsigned char>(text[plain]))) {
      ++plain;
    }
    out.append(text.substr(i, plain - i));
    i = plain;
    if (i == text.size()) break;
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80) {
      append_hex(out, byte);
      ++i;
      continue;
    }
    std::uint32_t code_point = 0;
    const std::size_t length = utf8_sequence_length(text.substr(i), code_point);
    if (length == 0 || code_point <= 0x9f) {  // invalid, or a C1 control
      const std::size_t bad = length == 0 ? 1 : length;
      for (std::size_t k = 0; k < bad; ++k)
        append_hex(out, static_cast<unsigned char>(text[i + k]));
      i += bad;
      continue;
    }
    out.append(text.substr(i, length));
    i += length;
  }
}

std::string escaped(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  append_escaped(out, text);
  return out;
}

}  // namespace iocomp::log
