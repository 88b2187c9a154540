#pragma once
// The sources allowed to send a PROXY header (--proxy-from): a list of address blocks. Pure.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/ip_address.hpp"

namespace iocomp::proxy {

struct CidrBlock {
  IpAddress network{};  // host bits zero; IPv4 blocks are IPv4-mapped
  unsigned prefix = 0;  // in bits of the 16-byte form: an IPv4 /8 is 96 + 8
  bool ipv4 = false;    // written as IPv4: shown that way

  bool contains(const IpAddress& ip) const;
  std::string to_string() const;  // "10.0.0.0/8", "::1/128"
};

class CidrList {
 public:
  // "10.0.0.0/8,192.168.1.7,::1/128": blocks separated by commas (spaces around them ignored);
  // an address without "/N" is that host alone. An IPv4 block also matches the IPv4-mapped
  // IPv6 form of its addresses; an IPv6 block like ::ffff:10.0.0.0/104 matches IPv4 clients.
  // Refused, with `error` set: an empty list or entry, a bad address or prefix, and host bits
  // set under the prefix (10.0.0.1/8 is a typo for 10.0.0.0/8 or 10.0.0.1/32).
  static std::optional<CidrList> parse(std::string_view text, std::string& error);

  bool contains(const IpAddress& ip) const;
  const std::vector<CidrBlock>& blocks() const { return blocks_; }
  std::string to_string() const;  // "127.0.0.0/8, ::1/128"

 private:
  std::vector<CidrBlock> blocks_;
};

}  // namespace iocomp::proxy
