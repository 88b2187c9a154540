#pragma once
// The completion model on Windows (the article's Example 5): one worker thread per completion
// port, waiting in GetQueuedCompletionStatusEx; the unit of work is one completion (a receive, a
// send, a TransmitFile chunk). One port per worker, not one shared by all (the article's): a
// connection's completions then always reach the same thread, so its session, its timers and
// the worker's lists need no lock, exactly as with one io_uring per worker on Linux. Timers,
// deferred work, drain and the out-of-memory guard are the core's (core::LoopWorker).
#include <mswsock.h>
#include <windows.h>
#include <winsock2.h>

#include <memory>

#include "core/loop_worker.hpp"

namespace iocomp::iocp {

// The Winsock extension functions, looked up once (WSAIoctl) as Microsoft recommends.
struct SocketExtensions {
  LPFN_ACCEPTEX accept_ex = nullptr;
  LPFN_GETACCEPTEXSOCKADDRS get_accept_ex_sockaddrs = nullptr;
  LPFN_TRANSMITFILE transmit_file = nullptr;
};
// Throws std::runtime_error when one is missing.
SocketExtensions load_socket_extensions(SOCKET any_socket);

class IocpWorker final : public core::LoopWorker {
 public:
  // Creates the worker's completion port; throws std::runtime_error when it cannot.
  IocpWorker(int index, const core::BackendEnvironment& env, const SocketExtensions& extensions);
  ~IocpWorker() override;

  HANDLE port() const { return port_; }
  const SocketExtensions& extensions() const { return extensions_; }
  // The thread body: runs until the stop message arrived and every connection is gone.
  void run();

 protected:
  core::LoopConnection* make_connection(int fd, std::string peer, std::string address_key) override;

 private:
  void dispatch(const OVERLAPPED_ENTRY& entry);

  HANDLE port_ = nullptr;
  SocketExtensions extensions_;
  // While timers are armed (or a drain runs) the wait ends after this long, and the core checks
  // the timer lists: no timer object per connection.
  static constexpr DWORD kTickMs = 100;
};

}  // namespace iocomp::iocp
