#pragma once
// The readiness model (nginx, lighttpd) on epoll: one worker thread, one epoll instance, the
// connections handed to it. The kernel says a socket is ready; the worker then does the I/O
// itself (recv, sendmsg, sendfile) until the socket would block. Sockets are registered once,
// edge-triggered, so readiness is remembered per connection instead of being asked for again.
// Timers, deferred work, drain and the out-of-memory guard are the core's (core::LoopWorker);
// this file is only the epoll loop and the hand-off from the acceptor.
#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/incoming.hpp"
#include "core/loop_worker.hpp"

namespace iocomp::epoll {

class Connection;

class EpollWorker final : public core::LoopWorker {
 public:
  // Creates the epoll instance and the wake-up eventfd; throws std::runtime_error on failure.
  EpollWorker(int index, const core::BackendEnvironment& env);
  ~EpollWorker() override;

  // The acceptor's side (its thread only): queue a connection, then wake() once per batch.
  void post(std::unique_ptr<core::IncomingConnection> incoming);
  void wake();
  // Also the acceptor's: drain and stop.
  void post_stop();

  // The thread body: runs until the stop message arrived and every connection is gone.
  void run();

  // For the connections.
  char* recv_buffer() { return recv_buffer_.get(); }
  std::size_t recv_buffer_size() const { return env_.config.recv_buffer_size; }
  // Counts loop turns: a connection's send budget is per turn.
  std::uint64_t turn() const { return turn_; }
  void queue_read(Connection& c);
  // Cold reads: whether to ask the page cache before sendfile (--async-cold-reads and a kernel
  // with cachestat); connections waiting for a range to come in are on the warming list.
  bool async_cold_reads() const { return async_cold_reads_; }
  void queue_warm(Connection& c);
  // How long a connection waits for its range before reading it anyway, and how often the
  // worker looks while any waits.
  static constexpr std::int64_t kWarmWaitMs = 1000;
  static constexpr int kWarmPollMs = 1;

 protected:
  core::LoopConnection* make_connection(int fd, std::string peer, std::string address_key) override;
  void run_backend_deferred() override;
  bool backend_deferred_pending() const override { return !read_queue_.empty(); }

 private:
  void take_posted();
  void close_posted();

  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::unique_ptr<char[]> recv_buffer_;
  std::uint64_t turn_ = 0;

  // Connections with a receive to run at the end of the turn: asked for while the socket was
  // known readable (never read inside the session's own call), or cut off by the per-turn
  // read limit, or lingering with input to discard.
  core::DeferredList read_queue_;
  core::DeferredList warming_;
  bool async_cold_reads_;

  // The hand-off: filled by the acceptor, swapped out whole by the worker on a wake-up.
  std::mutex posted_mutex_;
  std::vector<std::unique_ptr<core::IncomingConnection>> posted_;
  std::atomic<bool> stop_posted_{false};

  // Timers are checked on a 100 ms tick while any is armed, not by a deadline per wait.
  static constexpr int kTickMs = 100;
  static constexpr int kMaxEvents = 256;
  epoll_event events_[kMaxEvents] = {};
};

}  // namespace iocomp::epoll
