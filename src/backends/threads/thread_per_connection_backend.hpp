#pragma once
// The article's Example 3: accept, start a thread for the connection, let it serve its client to
// the end and exit. Nothing is shared between connections: each session gets its own file cache
// (worker_index -1). The number of threads is bounded by --max-connections (admission).
#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "backends/threads/blocking_connection.hpp"
#include "core/backend.hpp"

namespace iocomp::threads {

class ThreadPerConnectionBackend final : public core::Backend {
 public:
  explicit ThreadPerConnectionBackend(const core::BackendEnvironment& env);
  ~ThreadPerConnectionBackend() override;

  std::string_view name() const override { return "thread-per-connection"; }
  void start() override;
  void adopt(std::unique_ptr<core::IncomingConnection> incoming) override;
  void stop() override;
  void join() override;
  std::size_t thread_count() const override { return live_.load(std::memory_order_relaxed); }

 private:
  struct Job;
  static void* thread_main(void* job);
  void serve(std::unique_ptr<core::IncomingConnection> incoming);
  // Called by each connection thread as its last act.
  void thread_exited();
  // Joins the threads that have announced their exit (the acceptor's thread, between accepts),
  // so their stacks do not pile up until shutdown.
  void reap();
  void refuse(core::IncomingConnection& incoming, int error);

  const core::BackendEnvironment& env_;
  StopSignal stop_signal_;
  pthread_attr_t attributes_{};
  std::mutex mutex_;
  std::condition_variable all_exited_;
  bool stopping_ = false;            // guarded by mutex_
  bool done_written_ = false;        // guarded by mutex_
  std::size_t running_ = 0;          // guarded by mutex_: threads created and not yet exited
  std::vector<pthread_t> finished_;  // guarded by mutex_: exited (or exiting), not yet joined
  std::atomic<std::size_t> live_{0};
  std::uint64_t create_failures_ = 0;  // the acceptor's thread only
};

}  // namespace iocomp::threads
