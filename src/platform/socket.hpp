#pragma once
// The few socket calls the portable core makes, for POSIX and Windows (winsock). A socket is an
// int in the core (IncomingConnection::fd): on Windows a SOCKET is a kernel handle, and Windows
// documents handles as 32-bit significant (64-bit processes share them with 32-bit ones by
// truncation and sign extension), so the int holds it without loss; -1 is INVALID_SOCKET.
#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

#include <string_view>

namespace iocomp::platform {

#ifdef _WIN32
inline SOCKET to_socket(int fd) {
  return static_cast<SOCKET>(static_cast<INT_PTR>(fd));  // sign-extends -1 to INVALID_SOCKET
}
inline int from_socket(SOCKET s) {
  return static_cast<int>(static_cast<INT_PTR>(s));
}
#endif

inline void close_socket(int fd) {
#ifdef _WIN32
  ::closesocket(to_socket(fd));
#else
  ::close(fd);
#endif
}

// Small responses leave at once instead of waiting for the peer's ACK (Nagle).
inline void set_tcp_nodelay(int fd) {
  const int one = 1;
#ifdef _WIN32
  ::setsockopt(to_socket(fd), IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&one),
               sizeof one);
#else
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
#endif
}

// Kernel TLS transmit (Channel::start_kernel_tls): attaches the "tls" upper-layer protocol, then
// gives it the keys (`crypto_info`, a block of <linux/tls.h>). False when the kernel has no tls
// ULP or refuses the keys: the socket then sends what it is given, as before. Windows: false.
inline bool start_kernel_tls_tx(int fd, std::string_view crypto_info) {
#ifdef _WIN32
  (void)fd;
  (void)crypto_info;
  return false;
#else
  if (::setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof "tls") != 0) return false;
  return ::setsockopt(fd, SOL_TLS, TLS_TX, crypto_info.data(),
                      static_cast<socklen_t>(crypto_info.size())) == 0;
#endif
}

}  // namespace iocomp::platform
