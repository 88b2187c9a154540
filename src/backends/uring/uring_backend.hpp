#pragma once
// The completion model as a core::Backend: N UringWorkers, each on its own thread with its own
// ring. Accepted connections and the stop message reach a worker's ring as IORING_OP_MSG_RING
// messages sent from a small ring of the acceptor's thread, so no queue or lock is shared.
#include <liburing.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "backends/uring/uring_worker.hpp"
#include "core/backend.hpp"

namespace iocomp::uring {

class UringBackend final : public core::Backend {
 public:
  explicit UringBackend(const core::BackendEnvironment& env);
  ~UringBackend() override;

  std::string_view name() const override { return "completion"; }
  void start() override;
  void adopt(std::unique_ptr<core::IncomingConnection> incoming) override;
  void flush_adopted() override;
  void stop() override;
  void join() override;
  std::size_t thread_count() const override { return workers_.size(); }

 private:
  // Reaps the hand-off ring's completions: a message that did not arrive is undone here.
  void reap();

  const core::BackendEnvironment& env_;
  std::vector<std::unique_ptr<UringWorker>> workers_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> running_{0};
  io_uring handoff_{};  // used by the acceptor's thread only
  std::size_t next_worker_ = 0;
};

}  // namespace iocomp::uring
