#pragma once
// HAProxy's PROXY protocol header (v1 text and v2 binary), which a layer-4 balancer sends at
// the start of a connection to say whom it relays. Pure: bytes in, verdict out, no I/O, no
// allocation. The spec is haproxy's doc/proxy-protocol.txt.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace iocomp::proxy {

// v1: "PROXY TCP4 1.2.3.4 5.6.7.8 1234 80\r\n", at most 107 bytes with the CRLF.
inline constexpr std::size_t kV1MaxBytes = 107;
// v2: 12-byte signature, version and command, family and transport, 16-bit length.
inline constexpr std::size_t kV2FixedBytes = 16;
// The default cap on a whole v2 header: addresses (36 bytes for IPv6) plus room for the TLVs a
// balancer may add (HAProxy's ALPN, authority, unique-id, SSL details: a few hundred bytes).
// The protocol allows 16 + 65535; a connection is never made to buffer that much.
inline constexpr std::size_t kDefaultMaxV2Bytes = 1024;

enum class Status : std::uint8_t {
  need_more,  // a prefix of a header that could still be valid
  invalid,    // no header can start with these bytes: `error` says why
  complete,   // a whole header: `consumed` bytes of it
};

enum class Command : std::uint8_t {
  proxy,  // relayed for a client: the addresses say who (unless family is unknown)
  local,  // the balancer's own connection (a health check): use the real peer
};

enum class Family : std::uint8_t {
  unknown,  // v1 UNKNOWN, v2 UNSPEC or AF_UNIX: no usable address, use the real peer
  inet,
  inet6,
};

struct Header {
  Status status = Status::need_more;
  std::string_view error;    // when invalid: a static description, never client bytes
  std::size_t consumed = 0;  // when complete: the header's bytes, which the session never sees
  int version = 0;           // 1 or 2 once known
  Command command = Command::proxy;
  Family family = Family::unknown;
  // When family is inet or inet6: sockaddr_in / sockaddr_in6 with the port (network order).
  sockaddr_storage source{};
  sockaddr_storage destination{};
};

struct Limits {
  std::size_t max_v2_bytes = kDefaultMaxV2Bytes;  // whole v2 header, at least 16 + 36
};

// Looks at the first bytes of a connection. Call again with the same prefix plus what arrived
// after need_more. Decided as early as the bytes allow: bytes that differ from both signatures
// are invalid at once, and a v2 length over the cap is invalid as soon as it is read. Once
// invalid or complete for some bytes, the verdict (and `consumed`) is the same for any longer
// input that starts with them.
Header parse_header(std::string_view bytes, const Limits& limits = {});

}  // namespace iocomp::proxy
