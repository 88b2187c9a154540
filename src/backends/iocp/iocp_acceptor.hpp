#pragma once
// The article's main thread on Windows: accepts with AcceptEx on a completion port of its own
// (a few accepts always posted, so connections arriving together wait for no system call),
// admits each connection (the core's AdmissionControl), hands it to the backend, and turns
// Ctrl+C into the same orderly shutdown as SIGINT on Linux. core::Acceptor (poll, signalfd,
// accept4) is its Linux counterpart.
#include <windows.h>
#include <winsock2.h>

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "backends/iocp/iocp_worker.hpp"

namespace iocomp::log {
class LogSink;
}

namespace iocomp::core {
class AdmissionControl;
class Backend;
}  // namespace iocomp::core

namespace iocomp::iocp {

struct AcceptorConfig {
  int posted_accepts = 16;      // AcceptEx calls kept pending
  int accept_backoff_ms = 100;  // pause after running out of sockets or memory
  int drain_timeout_ms = 3000;  // how long a console close waits for the drain
};

class IocpAcceptor {
 public:
  // Creates the port, associates `listen_socket` with it and installs the console control
  // handler (one acceptor per process). Throws std::runtime_error.
  IocpAcceptor(SOCKET listen_socket, const SocketExtensions& extensions,
               core::AdmissionControl& admission, const AcceptorConfig& config, log::LogSink* sink);
  ~IocpAcceptor();
  IocpAcceptor(const IocpAcceptor&) = delete;
  IocpAcceptor& operator=(const IocpAcceptor&) = delete;

  // Accepts until the backend has stopped after the first Ctrl+C (or Ctrl+Break, or the console
  // closing). A second one ends the process at once with status 130, as SIGINT does on Linux.
  void run(core::Backend& backend);
  // From any thread, once: the backend has stopped (IocpBackend's on_stopped).
  void notify_stopped();

 private:
  struct Slot;  // one posted AcceptEx: its OVERLAPPED, socket and address buffer

  void post_accept(Slot& slot);
  void on_accept(Slot& slot, DWORD error);
  void on_control(DWORD control);
  void begin_shutdown(DWORD control);
  void say(std::string_view line);

  SOCKET listen_socket_;
  int family_ = AF_INET6;
  SocketExtensions extensions_;
  core::AdmissionControl& admission_;
  AcceptorConfig config_;
  log::LogSink* sink_;
  HANDLE port_ = nullptr;
  core::Backend* backend_ = nullptr;
  std::vector<std::unique_ptr<Slot>> slots_;
  int pending_ = 0;
  bool shutting_down_ = false;
  bool stopped_ = false;
  std::int64_t paused_until_ms_ = 0;  // slots not posted wait until then
  unsigned long refused_total_ = 0;
  unsigned long refused_address_ = 0;
};

}  // namespace iocomp::iocp
