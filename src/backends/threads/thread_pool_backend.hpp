#pragma once
// The article's Example 4: a pool of blocking threads created up front. Each takes the next
// accepted connection from a queue and serves it to its end (BlockingConnection), then takes the
// next. A thread serves one client at a time, so while every thread is busy new connections wait
// in the queue: the model's limit, logged as it happens.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "backends/threads/blocking_connection.hpp"
#include "core/backend.hpp"

namespace iocomp::threads {

class ThreadPoolBackend final : public core::Backend {
 public:
  explicit ThreadPoolBackend(const core::BackendEnvironment& env);
  ~ThreadPoolBackend() override;

  std::string_view name() const override { return "thread-pool"; }
  void start() override;
  void adopt(std::unique_ptr<core::IncomingConnection> incoming) override;
  void stop() override;
  void join() override;
  std::size_t thread_count() const override { return threads_.size(); }

 private:
  struct Queued {
    std::unique_ptr<core::IncomingConnection> incoming;
    std::int64_t queued_at_ms;
  };

  void run(int index);
  void thread_exited();

  const core::BackendEnvironment& env_;
  StopSignal stop_signal_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Queued> queue_;  // guarded by mutex_
  bool stopping_ = false;     // guarded by mutex_
  unsigned running_ = 0;      // guarded by mutex_
  std::vector<std::thread> threads_;
};

}  // namespace iocomp::threads
