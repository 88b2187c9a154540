#pragma once
// "512", "100k", "10m", "1g" (k = 1024, as nginx reads sizes): bytes, or nullopt when malformed
// or past 2^62. Pure.
#include <cstdint>
#include <optional>
#include <string_view>

namespace iocomp::util {

inline std::optional<std::uint64_t> parse_byte_size(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t multiplier = 1;
  switch (text.back()) {
    case 'k':
    case 'K':
      multiplier = std::uint64_t{1} << 10;
      break;
    case 'm':
    case 'M':
      multiplier = std::uint64_t{1} << 20;
      break;
    case 'g':
    case 'G':
      multiplier = std::uint64_t{1} << 30;
      break;
    default:
      break;
  }
  if (multiplier != 1) text.remove_suffix(1);
  if (text.empty() || text.size() > 19) return std::nullopt;
  std::uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  constexpr std::uint64_t kMax = std::uint64_t{1} << 62;
  if (value > kMax / multiplier) return std::nullopt;
  return value * multiplier;
}

}  // namespace iocomp::util
