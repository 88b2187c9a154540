#pragma once
// What a completion on a worker's port is: the article's completion key + OVERLAPPED pair.
// The key says who sent it (a socket operation, a connection handed over by the acceptor, the
// stop message); for socket operations the OVERLAPPED is the first member of an IoOperation,
// which names the operation and its connection. Decoded in exactly one place:
// IocpWorker::dispatch.
#include <windows.h>
#include <winsock2.h>

#include <cstdint>

namespace iocomp::iocp {

class Connection;

enum class CompletionKey : ULONG_PTR {
  socket_io = 1,  // an operation on a connection's socket: lpOverlapped is an IoOperation
  incoming = 2,   // from the acceptor: lpOverlapped is a core::IncomingConnection*
  stop = 3,       // from IocpBackend::stop: drain and stop (one per worker)
};

enum class OpKind : std::uint8_t {
  recv,      // WSARecv into the connection's buffer
  send,      // WSASend of head and body bytes
  transmit,  // TransmitFile of a file range, with the head bytes in its TRANSMIT_FILE_BUFFERS
  warm,      // Channel::warm answered through the port (nothing is read ahead here)
};

struct IoOperation {
  OVERLAPPED overlapped{};  // first: a completion's lpOverlapped is this record's address
  OpKind kind = OpKind::recv;
  Connection* owner = nullptr;
  // A call that failed without starting reports through the port too (PostQueuedCompletionStatus),
  // so its failure reaches the session from the loop, never inside the session's own call.
  DWORD submit_error = 0;
};

// The Win32 error as the -errno a SessionHandler expects.
int errno_of_win32(DWORD error);

}  // namespace iocomp::iocp
