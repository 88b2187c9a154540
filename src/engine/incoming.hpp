#pragma once
// A connection accepted by the acceptor, on its way to a worker. Travels by pointer in the
// user_data of a MSG_RING completion; the receiving worker takes ownership.
#include <sys/socket.h>

#include <atomic>
#include <string>

namespace iocomp::engine {

struct alignas(16) IncomingConnection {
  int fd = -1;
  sockaddr_storage peer{};
  std::string address_key;  // the admission slot this connection holds
  // Published by the acceptor (release) and taken by the worker (acquire): the kernel's
  // MSG_RING orders the two in practice, but only an atomic makes that visible to the C++
  // memory model and to ThreadSanitizer.
  std::atomic<bool> published{false};
};

}  // namespace iocomp::engine
