#pragma once
// The completion model on Windows as a core::Backend: N IocpWorkers, each on its own thread
// with its own completion port. The acceptor hands a connection over by associating its socket
// with the chosen worker's port and posting the IncomingConnection to that port
// (PostQueuedCompletionStatus); stop() posts one stop message to every worker (the article
// posted one Quit for all its workers, so all but one never saw it).
#include <windows.h>
#include <winsock2.h>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "backends/iocp/iocp_worker.hpp"
#include "core/backend.hpp"

namespace iocomp::iocp {

class IocpBackend final : public core::Backend {
 public:
  // `on_stopped` runs on the last worker thread to finish, once every connection is gone.
  IocpBackend(const core::BackendEnvironment& env, const SocketExtensions& extensions,
              std::function<void()> on_stopped);
  ~IocpBackend() override;

  std::string_view name() const override { return "completion"; }
  void start() override;
  void adopt(std::unique_ptr<core::IncomingConnection> incoming) override;
  void stop() override;
  void join() override;
  std::size_t thread_count() const override { return workers_.size(); }

 private:
  const core::BackendEnvironment& env_;
  std::function<void()> on_stopped_;
  std::vector<std::unique_ptr<IocpWorker>> workers_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> running_{0};
  std::size_t next_worker_ = 0;
};

}  // namespace iocomp::iocp
