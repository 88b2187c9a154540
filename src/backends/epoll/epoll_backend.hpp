#pragma once
// The readiness model as a core::Backend: N EpollWorkers, each on its own thread with its own
// epoll instance. Accepted connections reach a worker through a small locked queue that the
// worker swaps out whole, and one eventfd write per batch wakes it (the acceptor's lock is
// never held by a worker for more than a swap).
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "backends/epoll/epoll_worker.hpp"
#include "core/backend.hpp"

namespace iocomp::epoll {

class EpollBackend final : public core::Backend {
 public:
  explicit EpollBackend(const core::BackendEnvironment& env);
  ~EpollBackend() override;

  std::string_view name() const override { return "epoll"; }
  void start() override;
  void adopt(std::unique_ptr<core::IncomingConnection> incoming) override;
  void flush_adopted() override;
  void stop() override;
  void join() override;
  std::size_t thread_count() const override { return workers_.size(); }

 private:
  const core::BackendEnvironment& env_;
  std::vector<std::unique_ptr<EpollWorker>> workers_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> running_{0};
  // The acceptor's thread only: round-robin position, and which workers the batch fed.
  std::size_t next_worker_ = 0;
  std::vector<bool> fed_;
};

}  // namespace iocomp::epoll
