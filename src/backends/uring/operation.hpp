#pragma once
// What an in-flight io_uring operation is: its kind packed into the low bits of user_data, and
// for connection operations the connection pointer in the rest (the IOCP completion key +
// OVERLAPPED pair of the article). Completions are decoded in exactly one place:
// UringWorker::dispatch.
#include <cstdint>

namespace iocomp::uring {

enum class OpKind : std::uint64_t {
  warm = 0,      // connection: a read that brings a file range into the page cache
  recv = 1,      // connection: one receive into a provided buffer
  send = 2,      // connection: head bytes
  poll_out = 3,  // connection: multishot POLLOUT, the socket became writable again
  incoming = 4,  // message from the acceptor: an IncomingConnection* in the rest
  stop = 5,      // message from the acceptor: drain and stop
  tick = 6,      // the worker's timer tick
  cancel = 7,    // a cancellation request (its own completion carries nothing to act on)
};

inline constexpr std::uint64_t kKindMask = 0x7;

template <typename T>
std::uint64_t pack(OpKind kind, T* object) {
  static_assert(alignof(T) >= 8, "the low 3 bits of the pointer carry the kind");
  return reinterpret_cast<std::uint64_t>(object) | static_cast<std::uint64_t>(kind);
}
inline std::uint64_t pack(OpKind kind) {
  return static_cast<std::uint64_t>(kind);
}
inline OpKind kind_of(std::uint64_t user_data) {
  return static_cast<OpKind>(user_data & kKindMask);
}
template <typename T>
T* object_of(std::uint64_t user_data) {
  return reinterpret_cast<T*>(user_data & ~kKindMask);
}

}  // namespace iocomp::uring
