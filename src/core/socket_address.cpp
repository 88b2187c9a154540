// Addresses as text for logs and admission keys, the same on Linux and Windows.
#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#endif

#include <cstdint>
#include <string>

#include <fmt/format.h>

#include "core/listener.hpp"

namespace iocomp::core {

std::string format_ip(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(address).sin_addr, text,
                sizeof text);
  } else if (address.ss_family == AF_INET6) {
    const in6_addr& in6 = reinterpret_cast<const sockaddr_in6&>(address).sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&in6)) {
      ::inet_ntop(AF_INET, &in6.s6_addr[12], text, sizeof text);
    } else {
      ::inet_ntop(AF_INET6, &in6, text, sizeof text);
    }
  }
  return text;
}

std::string format_socket_address(const void* storage_ptr) {
  const auto& storage = *static_cast<const sockaddr_storage*>(storage_ptr);
  if (storage.ss_family != AF_INET && storage.ss_family != AF_INET6) return "unknown";
  const std::string ip = format_ip(storage);
  const std::uint16_t port = ntohs(storage.ss_family == AF_INET
                                       ? reinterpret_cast<const sockaddr_in&>(storage).sin_port
                                       : reinterpret_cast<const sockaddr_in6&>(storage).sin6_port);
  // A ':' in the text means real IPv6 (not IPv4-mapped): bracket it so the port stays readable.
  return ip.find(':') != std::string::npos ? fmt::format("[{}]:{}", ip, port)
                                           : fmt::format("{}:{}", ip, port);
}

}  // namespace iocomp::core
