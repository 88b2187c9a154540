#pragma once
// A connection accepted by the acceptor, on its way to a backend's worker (for io_uring by
// pointer in the user_data of a MSG_RING completion); the receiving worker takes ownership.
#ifdef _WIN32
#include <winsock2.h>  // sockaddr_storage
#else
#include <sys/socket.h>
#endif

#include <atomic>
#include <string>

namespace iocomp::core {

struct alignas(16) IncomingConnection {
  int fd = -1;
  sockaddr_storage peer{};
  std::string address_key;  // the admission slot this connection holds
  // Published by the acceptor (release) and taken by the worker (acquire): a hand-off through
  // the kernel (MSG_RING) orders the two in practice, but only an atomic makes that visible to
  // the C++ memory model and to ThreadSanitizer.
  std::atomic<bool> published{false};
};

}  // namespace iocomp::core
