#include "backends/iocp/iocp_worker.hpp"

#include <winternl.h>

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

#include <fmt/format.h>

#include "backends/iocp/iocp_connection.hpp"
#include "core/incoming.hpp"
#include "platform/socket.hpp"
#include "platform/windows/text.hpp"

namespace iocomp::iocp {
namespace {

template <typename Function>
Function load_extension(SOCKET socket, GUID id, const char* name) {
  Function function = nullptr;
  DWORD bytes = 0;
  if (::WSAIoctl(socket, SIO_GET_EXTENSION_FUNCTION_POINTER, &id, sizeof id, &function,
                 sizeof function, &bytes, nullptr, nullptr) == SOCKET_ERROR ||
      function == nullptr) {
    throw std::runtime_error(
        fmt::format("{}: {}", name, platform::win32_message(::WSAGetLastError())));
  }
  return function;
}

}  // namespace

int errno_of_win32(DWORD error) {
  switch (error) {
    case ERROR_NETNAME_DELETED:  // how a reset connection completes on a port
    case WSAECONNRESET:
      return -ECONNRESET;
    case ERROR_CONNECTION_ABORTED:
    case WSAECONNABORTED:
      return -ECONNABORTED;
    case ERROR_OPERATION_ABORTED:  // cancelled (CancelIoEx): the connection is being closed
      return -ECANCELED;
    case WSAESHUTDOWN:
    case ERROR_BROKEN_PIPE:
      return -EPIPE;
    case WSAENOBUFS:
    case ERROR_NOT_ENOUGH_MEMORY:
      return -ENOMEM;
    default:
      return -EIO;
  }
}

SocketExtensions load_socket_extensions(SOCKET any_socket) {
  SocketExtensions e;
  e.accept_ex = load_extension<LPFN_ACCEPTEX>(any_socket, WSAID_ACCEPTEX, "AcceptEx");
  e.get_accept_ex_sockaddrs = load_extension<LPFN_GETACCEPTEXSOCKADDRS>(
      any_socket, WSAID_GETACCEPTEXSOCKADDRS, "GetAcceptExSockaddrs");
  e.transmit_file =
      load_extension<LPFN_TRANSMITFILE>(any_socket, WSAID_TRANSMITFILE, "TransmitFile");
  return e;
}

IocpWorker::IocpWorker(int index, const core::BackendEnvironment& env,
                       const SocketExtensions& extensions)
    : core::LoopWorker(index, env), extensions_(extensions) {
  // One thread waits on this port, so one may run at a time.
  port_ = ::CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 1);
  if (port_ == nullptr) {
    throw std::runtime_error(
        fmt::format("CreateIoCompletionPort: {}", platform::win32_message(::GetLastError())));
  }
}

IocpWorker::~IocpWorker() {
  // The base destructor frees the connections left: closing their sockets needs no port.
  ::CloseHandle(port_);
}

core::LoopConnection* IocpWorker::make_connection(int fd, std::string peer,
                                                  std::string address_key) {
  return new Connection(*this, platform::to_socket(fd), std::move(peer), std::move(address_key));
}

void IocpWorker::dispatch(const OVERLAPPED_ENTRY& entry) {
  switch (static_cast<CompletionKey>(entry.lpCompletionKey)) {
    case CompletionKey::socket_io: {
      // The same cast as CONTAINING_RECORD: the OVERLAPPED is the record's first member.
      auto* op = reinterpret_cast<IoOperation*>(entry.lpOverlapped);
      Connection* c = op->owner;
      // A failed operation's NTSTATUS is in its OVERLAPPED's Internal (an IO_STATUS_BLOCK
      // underneath); a failure to start is in submit_error.
      DWORD error = op->submit_error;
      op->submit_error = 0;
      const auto status = static_cast<NTSTATUS>(op->overlapped.Internal);
      if (error == 0 && status != 0) {
        error = ::RtlNtStatusToDosError(status);
        if (error == 0) error = ERROR_GEN_FAILURE;
      }
      const DWORD bytes = entry.dwNumberOfBytesTransferred;
      if (op->kind == OpKind::recv) {
        guarded(c, [&] { c->on_recv_complete(error, bytes); });
      } else if (op->kind == OpKind::warm) {
        guarded(c, [&] { c->on_warm_complete(); });
      } else {
        guarded(c, [&] { c->on_send_complete(*op, error, bytes); });
      }
      break;
    }
    case CompletionKey::incoming: {
      std::unique_ptr<core::IncomingConnection> incoming(
          reinterpret_cast<core::IncomingConnection*>(entry.lpOverlapped));
      if (!incoming->published.load(std::memory_order_acquire)) std::abort();  // cannot happen
      adopt(std::move(incoming));
      break;
    }
    case CompletionKey::stop:
      request_stop();
      break;
  }
}

void IocpWorker::run() {
  OVERLAPPED_ENTRY entries[64];
  begin_turn();
  for (;;) {
    if (finished()) break;
    const DWORD timeout = has_deferred_work() ? 0 : wants_tick() ? kTickMs : INFINITE;
    ULONG count = 0;
    if (!::GetQueuedCompletionStatusEx(port_, entries, 64, &count, timeout, FALSE)) {
      const DWORD error = ::GetLastError();
      count = 0;
      if (error != WAIT_TIMEOUT) {
        log_.event("-", "worker {}: GetQueuedCompletionStatusEx failed: {}", index(),
                   platform::win32_message(error));
      }
    }
    begin_turn();
    for (ULONG i = 0; i < count; ++i) dispatch(entries[i]);
    end_turn();
  }
  log_.flush();
}

}  // namespace iocomp::iocp
