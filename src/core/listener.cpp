#include "core/listener.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace iocomp::core {
namespace {

[[noreturn]] void fail(const std::string& what, int err) {
  throw std::runtime_error(fmt::format("{}: {}", what, std::strerror(err)));
}

int bind_and_listen(const sockaddr* addr, socklen_t len, int family, bool dual_stack, int backlog,
                    int& err) {
  int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    err = errno;
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (family == AF_INET6) {
    const int v6only = dual_stack ? 0 : 1;
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
  }
  if (::bind(fd, addr, len) < 0 || ::listen(fd, backlog) < 0) {
    err = errno;
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

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

BoundListener open_listener(const ListenSpec& spec) {
  sockaddr_storage storage{};
  socklen_t len = 0;
  int err = 0;
  int fd = -1;
  if (spec.address.empty()) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_addr = in6addr_any;
    in6->sin6_port = htons(spec.port);
    fd = bind_and_listen(reinterpret_cast<sockaddr*>(in6), sizeof *in6, AF_INET6, true,
                         spec.backlog, err);
    if (fd < 0 && (err == EAFNOSUPPORT || err == EADDRNOTAVAIL)) {
      storage = {};
      auto* in = reinterpret_cast<sockaddr_in*>(&storage);
      in->sin_family = AF_INET;
      in->sin_addr.s_addr = htonl(INADDR_ANY);
      in->sin_port = htons(spec.port);
      fd = bind_and_listen(reinterpret_cast<sockaddr*>(in), sizeof *in, AF_INET, false,
                           spec.backlog, err);
    }
  } else {
    std::string host = spec.address;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    auto* in = reinterpret_cast<sockaddr_in*>(&storage);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
    if (::inet_pton(AF_INET, host.c_str(), &in->sin_addr) == 1) {
      in->sin_family = AF_INET;
      in->sin_port = htons(spec.port);
      len = sizeof *in;
    } else if (::inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons(spec.port);
      len = sizeof *in6;
    } else {
      throw std::runtime_error(
          fmt::format("--listen {}: not an IPv4 or IPv6 address", spec.address));
    }
    fd = bind_and_listen(reinterpret_cast<sockaddr*>(&storage), len, storage.ss_family, false,
                         spec.backlog, err);
  }
  if (fd < 0) {
    fail(
        fmt::format("cannot listen on {}:{}", spec.address.empty() ? "*" : spec.address, spec.port),
        err);
  }
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  BoundListener result;
  result.fd = fd;
  result.display = format_socket_address(&bound);
  result.port =
      ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                       : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  return result;
}

}  // namespace iocomp::core
