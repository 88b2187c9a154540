#include "core/listener.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string_view>

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

// The display name and the real port of a bound socket.
BoundListener describe(int fd) {
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

// A decimal number that fills `text`; LISTEN_PID=12x is not process 12.
long parse_number(const char* name, const char* text) {
  const std::string_view view(text);
  long value = 0;
  const auto [end, ec] = std::from_chars(view.data(), view.data() + view.size(), value);
  if (view.empty() || ec != std::errc{} || end != view.data() + view.size() || value < 0) {
    throw std::runtime_error(
        fmt::format("socket activation: {}=\"{}\" is not a number", name, view));
  }
  return value;
}

int socket_option(int fd, int option, const char* name) {
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd, SOL_SOCKET, option, &value, &len) < 0) {
    fail(fmt::format("socket activation: descriptor {} is not a socket ({})", fd, name), errno);
  }
  return value;
}

}  // namespace

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
  return describe(fd);
}

int activated_socket_count(const char* listen_pid, const char* listen_fds, long self) {
  if (listen_pid == nullptr || listen_fds == nullptr) return 0;
  if (parse_number("LISTEN_PID", listen_pid) != self) return 0;
  const long count = parse_number("LISTEN_FDS", listen_fds);
  if (count > 1024) {
    throw std::runtime_error(fmt::format("socket activation: LISTEN_FDS={} is too many", count));
  }
  return static_cast<int>(count);
}

std::optional<BoundListener> take_activated_listener() {
  const char* pid = std::getenv("LISTEN_PID");
  const char* fds = std::getenv("LISTEN_FDS");
  const std::string pid_text = pid != nullptr ? pid : "";
  const std::string fds_text = fds != nullptr ? fds : "";
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  const int count = activated_socket_count(pid != nullptr ? pid_text.c_str() : nullptr,
                                           fds != nullptr ? fds_text.c_str() : nullptr,
                                           static_cast<long>(::getpid()));
  if (count == 0) return std::nullopt;
  if (count > 1) {
    throw std::runtime_error(fmt::format(
        "socket activation: {} sockets passed (LISTEN_FDS), iocomp serves one: use a single "
        "ListenStream=",
        count));
  }
  return adopt_listener(kFirstActivatedFd);
}

BoundListener adopt_listener(int fd) {
  if (socket_option(fd, SO_TYPE, "SO_TYPE") != SOCK_STREAM) {
    throw std::runtime_error(
        fmt::format("socket activation: descriptor {} is not a stream socket", fd));
  }
  const int family = socket_option(fd, SO_DOMAIN, "SO_DOMAIN");
  if (family != AF_INET && family != AF_INET6) {
    throw std::runtime_error(fmt::format(
        "socket activation: descriptor {} is not a TCP/IP socket (family {})", fd, family));
  }
  if (socket_option(fd, SO_ACCEPTCONN, "SO_ACCEPTCONN") == 0) {
    throw std::runtime_error(fmt::format("socket activation: descriptor {} is not listening", fd));
  }
  // The service manager's socket may block and is inheritable (it had to survive exec): make it
  // behave like a socket from open_listener.
  const int status = ::fcntl(fd, F_GETFL);
  const int descriptor = ::fcntl(fd, F_GETFD);
  if (status < 0 || descriptor < 0 || ::fcntl(fd, F_SETFL, status | O_NONBLOCK) < 0 ||
      ::fcntl(fd, F_SETFD, descriptor | FD_CLOEXEC) < 0) {
    fail(fmt::format("socket activation: descriptor {}", fd), errno);
  }
  BoundListener result = describe(fd);
  result.activated = true;
  return result;
}

}  // namespace iocomp::core
