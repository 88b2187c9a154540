#pragma once
// Creates the listening TCP socket.
#ifdef _WIN32
#include <winsock2.h>  // sockaddr_storage
#else
#include <sys/socket.h>
#endif
#include <cstdint>

#include <string>

namespace iocomp::core {

struct ListenSpec {
  std::string address;  // "" = all addresses (dual-stack [::] with a 0.0.0.0 fallback)
  std::uint16_t port = 8182;
  int backlog = 4096;
};

struct BoundListener {
  int fd = -1;
  std::string display;     // "0.0.0.0:8182", "[::]:8182"
  std::uint16_t port = 0;  // the real port (useful with port 0)
};

// Throws std::runtime_error with a readable message on failure.
BoundListener open_listener(const ListenSpec& spec);

// The address alone: "10.0.0.1" for IPv4 and IPv4-mapped IPv6, "::1" for IPv6.
std::string format_ip(const sockaddr_storage& address);

// "ip:port" for IPv4 and IPv4-mapped peers, "[ip]:port" for IPv6.
std::string format_socket_address(const void* sockaddr_storage_ptr);

}  // namespace iocomp::core
