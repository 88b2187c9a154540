// core/listener.hpp on Windows (winsock): the listening socket is overlapped, for AcceptEx on
// a completion port, and exclusive (SO_EXCLUSIVEADDRUSE): SO_REUSEADDR on Windows would let
// another process bind the same port and steal connections, and "address in use" must mean it.
#include "core/listener.hpp"

#include <winsock2.h>
#include <ws2tcpip.h>

#include <stdexcept>

#include <fmt/format.h>

#include "platform/socket.hpp"
#include "platform/windows/text.hpp"

namespace iocomp::core {
namespace {

SOCKET bind_and_listen(const sockaddr* addr, int len, int family, bool dual_stack, int backlog,
                       int& err) {
  const SOCKET s = ::WSASocketW(family, SOCK_STREAM, IPPROTO_TCP, nullptr, 0,
                                WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET) {
    err = ::WSAGetLastError();
    return INVALID_SOCKET;
  }
  const int one = 1;
  bool ok = ::setsockopt(s, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, reinterpret_cast<const char*>(&one),
                         sizeof one) == 0;
  if (ok && family == AF_INET6) {
    const int v6only = dual_stack ? 0 : 1;
    ok = ::setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, reinterpret_cast<const char*>(&v6only),
                      sizeof v6only) == 0;
  }
  if (!ok || ::bind(s, addr, len) != 0 || ::listen(s, backlog) != 0) {
    err = ::WSAGetLastError();
    ::closesocket(s);
    return INVALID_SOCKET;
  }
  return s;
}

}  // namespace

BoundListener open_listener(const ListenSpec& spec) {
  sockaddr_storage storage{};
  int err = 0;
  SOCKET s = INVALID_SOCKET;
  if (spec.address.empty()) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_addr = in6addr_any;
    in6->sin6_port = htons(spec.port);
    s = bind_and_listen(reinterpret_cast<sockaddr*>(in6), sizeof *in6, AF_INET6, true, spec.backlog,
                        err);
    if (s == INVALID_SOCKET && (err == WSAEAFNOSUPPORT || err == WSAEADDRNOTAVAIL)) {
      storage = {};
      auto* in = reinterpret_cast<sockaddr_in*>(&storage);
      in->sin_family = AF_INET;
      in->sin_addr.s_addr = htonl(INADDR_ANY);
      in->sin_port = htons(spec.port);
      s = bind_and_listen(reinterpret_cast<sockaddr*>(in), sizeof *in, AF_INET, false, spec.backlog,
                          err);
    }
  } else {
    std::string host = spec.address;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    auto* in = reinterpret_cast<sockaddr_in*>(&storage);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
    int len = 0;
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
    s = bind_and_listen(reinterpret_cast<sockaddr*>(&storage), len, storage.ss_family, false,
                        spec.backlog, err);
  }
  if (s == INVALID_SOCKET) {
    throw std::runtime_error(fmt::format(
        "cannot listen on {}:{}: {}", spec.address.empty() ? "*" : spec.address, spec.port,
        err == WSAEADDRINUSE ? std::string("Address already in use")
                             : platform::win32_message(static_cast<DWORD>(err))));
  }
  sockaddr_storage bound{};
  int bound_len = sizeof bound;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  BoundListener result;
  result.fd = platform::from_socket(s);
  result.display = format_socket_address(&bound);
  result.port =
      ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                       : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  return result;
}

}  // namespace iocomp::core
