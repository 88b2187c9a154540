#pragma once
// IP addresses as the PROXY stage compares them. Pure.
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace iocomp::proxy {

// 16 bytes: IPv6 as is, IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), so that one rule matches a
// client whether a socket reports it as 10.0.0.1 or (dual-stack) as ::ffff:10.0.0.1.
using IpAddress = std::array<std::uint8_t, 16>;

// A strict dotted quad: four decimal parts 0..255, no leading zeros (inet_aton would read
// "010" as octal), nothing before or after.
bool parse_ipv4(std::string_view text, in_addr& out);
// RFC 4291 text, an embedded IPv4 tail allowed, no zone index ("%eth0").
bool parse_ipv6(std::string_view text, in6_addr& out);

IpAddress mapped(const in_addr& address);
// AF_INET or AF_INET6 only.
std::optional<IpAddress> ip_of(const sockaddr_storage& address);
// The address of a peer as core::Channel::peer() shows it: "10.0.0.1:80", "[::1]:80".
std::optional<IpAddress> ip_of_peer_text(std::string_view peer);

}  // namespace iocomp::proxy
