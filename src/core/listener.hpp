#pragma once
// Creates the listening TCP socket, or takes the one a service manager passed (socket activation).
#ifdef _WIN32
#include <winsock2.h>  // sockaddr_storage
#else
#include <sys/socket.h>
#endif
#include <cstdint>

#include <optional>
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
  bool activated = false;  // passed by a service manager (socket activation), not bound here
};

// Throws std::runtime_error with a readable message on failure.
BoundListener open_listener(const ListenSpec& spec);

// The first descriptor of socket activation (sd_listen_fds(3)): systemd passes sockets from 3 on.
inline constexpr int kFirstActivatedFd = 3;

// How many sockets a service manager passed to process `self`, from the values of LISTEN_PID and
// LISTEN_FDS (nullptr when unset): 0 when either is unset or LISTEN_PID names another process
// (the variables were inherited from a parent). Throws std::runtime_error when a value is not a
// number.
int activated_socket_count(const char* listen_pid, const char* listen_fds, long self);

// Socket activation without libsystemd: when LISTEN_PID is this process and LISTEN_FDS is 1,
// adopts descriptor 3 (adopt_listener); std::nullopt when no socket was passed to this process.
// Removes LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES from the environment in every case, so that
// they do not describe descriptors this process no longer holds. Throws std::runtime_error for
// more than one socket (iocomp serves one: use a single ListenStream=) or a bad descriptor.
std::optional<BoundListener> take_activated_listener();

// Takes `fd` as the listening socket when it is a listening TCP socket (SO_ACCEPTCONN, SO_TYPE
// SOCK_STREAM, IPv4 or IPv6), non-blocking and close-on-exec like open_listener's. Throws
// std::runtime_error, leaving `fd` open, when it is anything else.
BoundListener adopt_listener(int fd);

// The address alone: "10.0.0.1" for IPv4 and IPv4-mapped IPv6, "::1" for IPv6.
std::string format_ip(const sockaddr_storage& address);

// "ip:port" for IPv4 and IPv4-mapped peers, "[ip]:port" for IPv6.
std::string format_socket_address(const void* sockaddr_storage_ptr);

}  // namespace iocomp::core
