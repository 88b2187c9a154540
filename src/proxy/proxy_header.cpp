#include "proxy/proxy_header.hpp"

#include <arpa/inet.h>

#include <cstring>

#include "proxy/ip_address.hpp"
#include "util/ascii.hpp"

namespace iocomp::proxy {
namespace {

constexpr std::string_view kV1Signature = "PROXY ";
constexpr std::string_view kV2Signature{"\r\n\r\n\0\r\nQUIT\n", 12};

// The address block of a v2 header for each family, before any TLV.
constexpr std::size_t kV2Inet = 12;   // 2 x 4 address bytes, 2 x 2 port bytes
constexpr std::size_t kV2Inet6 = 36;  // 2 x 16, 2 x 2
constexpr std::size_t kV2Unix = 216;  // 2 x 108

Header invalid(std::string_view why) {
  Header h;
  h.status = Status::invalid;
  h.error = why;
  return h;
}

using util::is_digit;
using util::is_hex;

// A v1 port: decimal 0..65535, no sign, no leading zero (only "0" itself starts with one).
bool parse_port(std::string_view text, std::uint16_t& port) {
  if (text.empty() || text.size() > 5 || (text[0] == '0' && text.size() > 1)) return false;
  std::uint32_t value = 0;
  for (const char c : text) {
    if (!is_digit(c)) return false;
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

void set_inet(sockaddr_storage& storage, const in_addr& address, std::uint16_t port_host) {
  storage = {};
  auto& in = reinterpret_cast<sockaddr_in&>(storage);
  in.sin_family = AF_INET;
  in.sin_addr = address;
  in.sin_port = htons(port_host);
}

void set_inet6(sockaddr_storage& storage, const in6_addr& address, std::uint16_t port_host) {
  storage = {};
  auto& in6 = reinterpret_cast<sockaddr_in6&>(storage);
  in6.sin6_family = AF_INET6;
  in6.sin6_addr = address;
  in6.sin6_port = htons(port_host);
}

// Splits "a b c d" at single spaces into exactly `count` non-empty fields.
bool split_fields(std::string_view text, std::string_view* fields, int count) {
  for (int i = 0; i < count; ++i) {
    const std::size_t space = text.find(' ');
    const bool last = i == count - 1;
    if (last != (space == std::string_view::npos)) return false;
    fields[i] = last ? text : text.substr(0, space);
    if (fields[i].empty()) return false;
    if (!last) text.remove_prefix(space + 1);
  }
  return true;
}

// A whole v1 line without its CRLF, starting with "PROXY ".
Header parse_v1_line(std::string_view line, std::size_t consumed) {
  Header h;
  h.version = 1;
  h.consumed = consumed;
  if (line.find('\r') != std::string_view::npos) return invalid("PROXY v1: CR without LF");
  std::string_view rest = line.substr(kV1Signature.size());
  if (rest.starts_with("UNKNOWN")) {
    // The spec: a receiver ignores whatever follows UNKNOWN up to the CRLF.
    if (rest.size() > 7 && rest[7] != ' ') return invalid("PROXY v1: unknown protocol");
    h.status = Status::complete;
    return h;
  }
  const bool v4 = rest.starts_with("TCP4 ");
  if (!v4 && !rest.starts_with("TCP6 ")) return invalid("PROXY v1: unknown protocol");
  rest.remove_prefix(5);
  std::string_view fields[4];
  if (!split_fields(rest, fields, 4)) {
    return invalid("PROXY v1: expected source, destination, source port, destination port");
  }
  std::uint16_t sport = 0;
  std::uint16_t dport = 0;
  if (!parse_port(fields[2], sport) || !parse_port(fields[3], dport)) {
    return invalid("PROXY v1: bad port");
  }
  if (v4) {
    in_addr src{};
    in_addr dst{};
    if (!parse_ipv4(fields[0], src) || !parse_ipv4(fields[1], dst)) {
      return invalid("PROXY v1: bad IPv4 address");
    }
    set_inet(h.source, src, sport);
    set_inet(h.destination, dst, dport);
    h.family = Family::inet;
  } else {
    in6_addr src{};
    in6_addr dst{};
    if (!parse_ipv6(fields[0], src) || !parse_ipv6(fields[1], dst)) {
      return invalid("PROXY v1: bad IPv6 address");
    }
    set_inet6(h.source, src, sport);
    set_inet6(h.destination, dst, dport);
    h.family = Family::inet6;
  }
  h.status = Status::complete;
  return h;
}

// What a v1 line can hold before its CRLF, checked on a prefix so that a wrong protocol word
// or a stray byte is refused at once, not after 107 bytes or the header timeout. Each check
// fails for every longer input too: a refused prefix stays refused.
Header check_v1_prefix(std::string_view bytes) {
  const std::string_view rest = bytes.substr(kV1Signature.size());
  for (const std::string_view word :
       {std::string_view("TCP4 "), std::string_view("TCP6 "), std::string_view("UNKNOWN")}) {
    const std::size_t n = rest.size() < word.size() ? rest.size() : word.size();
    if (rest.substr(0, n) != word.substr(0, n)) continue;
    if (word == "UNKNOWN") {
      if (rest.size() > 7 && rest[7] != ' ' && rest[7] != '\r') {
        return invalid("PROXY v1: unknown protocol");
      }
    } else {
      for (std::size_t i = n; i < rest.size(); ++i) {
        const char c = rest[i];
        if (!is_hex(c) && c != '.' && c != ':' && c != ' ' && c != '\r') {
          return invalid("PROXY v1: unexpected byte in the address fields");
        }
      }
    }
    // A CR not followed by LF (an LF would have ended the line before this check).
    const std::size_t cr = rest.find('\r');
    if (cr != std::string_view::npos && cr + 1 < rest.size()) {
      return invalid("PROXY v1: CR without LF");
    }
    return {};  // need_more
  }
  return invalid("PROXY v1: unknown protocol");
}

Header parse_v1(std::string_view bytes) {
  const std::size_t window = bytes.size() < kV1MaxBytes ? bytes.size() : kV1MaxBytes;
  const std::size_t lf = bytes.substr(0, window).find('\n');
  if (lf == std::string_view::npos) {
    if (bytes.size() >= kV1MaxBytes) return invalid("PROXY v1: no CRLF within 107 bytes");
    return check_v1_prefix(bytes);
  }
  if (lf == 0 || bytes[lf - 1] != '\r') return invalid("PROXY v1: LF without CR");
  return parse_v1_line(bytes.substr(0, lf - 1), lf + 1);
}

std::uint16_t read_be16(const unsigned char* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

// TLVs (type, 16-bit length, value) must fill the rest of the header exactly.
bool tlvs_well_formed(const unsigned char* p, std::size_t size) {
  while (size > 0) {
    if (size < 3) return false;
    const std::size_t length = read_be16(p + 1);
    if (length > size - 3) return false;
    p += 3 + length;
    size -= 3 + length;
  }
  return true;
}

Header parse_v2(std::string_view bytes, const Limits& limits) {
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  Header h;
  h.version = 2;
  // Each field is judged as soon as it has arrived.
  if (bytes.size() > 12) {
    if ((b[12] >> 4) != 2) return invalid("PROXY v2: version is not 2");
    const unsigned command = b[12] & 0x0f;
    if (command > 1) return invalid("PROXY v2: unknown command");
    h.command = command == 0 ? Command::local : Command::proxy;
  }
  std::size_t address_bytes = 0;
  if (bytes.size() > 13 && h.command == Command::proxy) {
    // The LOCAL command discards the whole block, family included (the spec): not checked.
    switch (b[13]) {
      case 0x00:  // UNSPEC: the address block, if any, is ignored
        break;
      case 0x11:
        h.family = Family::inet;
        address_bytes = kV2Inet;
        break;
      case 0x21:
        h.family = Family::inet6;
        address_bytes = kV2Inet6;
        break;
      case 0x31:  // AF_UNIX: no address a TCP server can use
        address_bytes = kV2Unix;
        break;
      case 0x12:
      case 0x22:
      case 0x32:
        return invalid("PROXY v2: datagram transport on a stream connection");
      default:
        return invalid("PROXY v2: unknown address family or transport");
    }
  }
  if (bytes.size() < kV2FixedBytes) return h;  // need_more
  const std::size_t length = read_be16(b + 14);
  const std::size_t total = kV2FixedBytes + length;
  if (total > limits.max_v2_bytes) return invalid("PROXY v2: header longer than allowed");
  if (length < address_bytes) return invalid("PROXY v2: too short for its addresses");
  if (bytes.size() < total) return h;  // need_more
  const unsigned char* block = b + kV2FixedBytes;
  if (h.command == Command::proxy && b[13] != 0x00 &&
      !tlvs_well_formed(block + address_bytes, length - address_bytes)) {
    return invalid("PROXY v2: malformed TLV");
  }
  if (h.family == Family::inet) {
    in_addr src{};
    in_addr dst{};
    std::memcpy(&src, block, 4);
    std::memcpy(&dst, block + 4, 4);
    set_inet(h.source, src, read_be16(block + 8));
    set_inet(h.destination, dst, read_be16(block + 10));
  } else if (h.family == Family::inet6) {
    in6_addr src{};
    in6_addr dst{};
    std::memcpy(&src, block, 16);
    std::memcpy(&dst, block + 16, 16);
    set_inet6(h.source, src, read_be16(block + 32));
    set_inet6(h.destination, dst, read_be16(block + 34));
  }
  h.status = Status::complete;
  h.consumed = total;
  return h;
}

// True when `bytes` and `signature` agree on their common length.
bool starts_like(std::string_view bytes, std::string_view signature) {
  const std::size_t n = bytes.size() < signature.size() ? bytes.size() : signature.size();
  return bytes.substr(0, n) == signature.substr(0, n);
}

}  // namespace

Header parse_header(std::string_view bytes, const Limits& limits) {
  if (bytes.empty()) return {};
  if (starts_like(bytes, kV2Signature)) {
    if (bytes.size() < kV2Signature.size()) return {};
    return parse_v2(bytes, limits);
  }
  if (starts_like(bytes, kV1Signature)) {
    if (bytes.size() < kV1Signature.size()) return {};
    return parse_v1(bytes);
  }
  return invalid("no header: the first bytes are not a PROXY header");
}

}  // namespace iocomp::proxy
