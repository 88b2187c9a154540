#include "proxy/ip_address.hpp"

#include <arpa/inet.h>

#include <cstring>

#include "util/ascii.hpp"

namespace iocomp::proxy {
namespace {

using util::is_digit;
using util::is_hex;

}  // namespace

bool parse_ipv4(std::string_view text, in_addr& out) {
  unsigned char bytes[4];
  std::size_t i = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (i >= text.size() || text[i] != '.') return false;
      ++i;
    }
    const std::size_t start = i;
    unsigned value = 0;
    while (i < text.size() && is_digit(text[i]) && i - start < 3) {
      value = value * 10 + static_cast<unsigned>(text[i] - '0');
      ++i;
    }
    const std::size_t digits = i - start;
    if (digits == 0 || value > 255 || (digits > 1 && text[start] == '0')) return false;
    bytes[part] = static_cast<unsigned char>(value);
  }
  if (i != text.size()) return false;
  std::memcpy(&out, bytes, 4);
  return true;
}

bool parse_ipv6(std::string_view text, in6_addr& out) {
  char buffer[INET6_ADDRSTRLEN];
  if (text.empty() || text.size() >= sizeof buffer) return false;
  for (const char c : text) {
    if (!is_hex(c) && c != ':' && c != '.') return false;
  }
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  return ::inet_pton(AF_INET6, buffer, &out) == 1;
}

IpAddress mapped(const in_addr& address) {
  IpAddress ip{};
  ip[10] = 0xff;
  ip[11] = 0xff;
  std::memcpy(ip.data() + 12, &address, 4);
  return ip;
}

std::optional<IpAddress> ip_of(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) {
    return mapped(reinterpret_cast<const sockaddr_in&>(address).sin_addr);
  }
  if (address.ss_family == AF_INET6) {
    IpAddress ip{};
    std::memcpy(ip.data(), &reinterpret_cast<const sockaddr_in6&>(address).sin6_addr, 16);
    return ip;
  }
  return std::nullopt;
}

std::optional<IpAddress> ip_of_peer_text(std::string_view peer) {
  const std::size_t colon = peer.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = peer.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    in6_addr in6{};
    if (!parse_ipv6(host.substr(1, host.size() - 2), in6)) return std::nullopt;
    IpAddress ip{};
    std::memcpy(ip.data(), &in6, 16);
    return ip;
  }
  in_addr in{};
  if (!parse_ipv4(host, in)) return std::nullopt;
  return mapped(in);
}

}  // namespace iocomp::proxy
