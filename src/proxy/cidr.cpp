#include "proxy/cidr.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace iocomp::proxy {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Decimal 0..max, no sign, no leading zero.
bool parse_prefix(std::string_view text, unsigned max, unsigned& out) {
  if (text.empty() || text.size() > 3 || (text[0] == '0' && text.size() > 1)) return false;
  unsigned value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > max) return false;
  out = value;
  return true;
}

// True when the first `prefix` bits of a and b agree.
bool same_prefix(const IpAddress& a, const IpAddress& b, unsigned prefix) {
  const unsigned whole = prefix / 8;
  if (std::memcmp(a.data(), b.data(), whole) != 0) return false;
  const unsigned rest = prefix % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

bool host_bits_zero(const IpAddress& ip, unsigned prefix) {
  for (unsigned bit = prefix; bit < 128; ++bit) {
    if ((ip[bit / 8] >> (7 - bit % 8)) & 1) return false;
  }
  return true;
}

std::optional<CidrBlock> parse_block(std::string_view text, std::string& error) {
  const std::size_t slash = text.find('/');
  const std::string_view address = text.substr(0, slash);
  CidrBlock block;
  in_addr in{};
  in6_addr in6{};
  if (parse_ipv4(address, in)) {
    block.ipv4 = true;
    block.network = mapped(in);
  } else if (parse_ipv6(address, in6)) {
    std::memcpy(block.network.data(), &in6, 16);
  } else {
    error = "'" + std::string(text) + "': not an IPv4 or IPv6 address";
    return std::nullopt;
  }
  const unsigned bits = block.ipv4 ? 32 : 128;
  unsigned prefix = bits;
  if (slash != std::string_view::npos && !parse_prefix(text.substr(slash + 1), bits, prefix)) {
    error = "'" + std::string(text) + "': the prefix length must be 0 to " + std::to_string(bits);
    return std::nullopt;
  }
  block.prefix = prefix + (128 - bits);
  if (!host_bits_zero(block.network, block.prefix)) {
    error = "'" + std::string(text) + "': address bits set beyond the /" + std::to_string(prefix) +
            " prefix";
    return std::nullopt;
  }
  return block;
}

}  // namespace

bool CidrBlock::contains(const IpAddress& ip) const {
  return same_prefix(network, ip, prefix);
}

std::string CidrBlock::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (ipv4) {
    ::inet_ntop(AF_INET, network.data() + 12, text, sizeof text);
    return std::string(text) + "/" + std::to_string(prefix - 96);
  }
  ::inet_ntop(AF_INET6, network.data(), text, sizeof text);
  return std::string(text) + "/" + std::to_string(prefix);
}

std::optional<CidrList> CidrList::parse(std::string_view text, std::string& error) {
  CidrList list;
  while (true) {
    const std::size_t comma = text.find(',');
    const std::string_view entry = trim(text.substr(0, comma));
    if (entry.empty()) {
      error = "empty entry in the address list";
      return std::nullopt;
    }
    std::optional<CidrBlock> block = parse_block(entry, error);
    if (!block) return std::nullopt;
    list.blocks_.push_back(*block);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return list;
}

bool CidrList::contains(const IpAddress& ip) const {
  for (const CidrBlock& block : blocks_) {
    if (block.contains(ip)) return true;
  }
  return false;
}

std::string CidrList::to_string() const {
  std::string out;
  for (const CidrBlock& block : blocks_) {
    if (!out.empty()) out += ", ";
    out += block.to_string();
  }
  return out;
}

}  // namespace iocomp::proxy
