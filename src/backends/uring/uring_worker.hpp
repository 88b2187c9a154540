#pragma once
// The completion model (the article's Example 5) on io_uring: one worker thread, one ring, the
// connections handed to it. Workers wait for completions, and the unit of work is one
// completion (a receive, a send, a socket turning writable), never one client. A private ring
// per worker keeps locks off the hot path. Timers, deferred work, drain and the out-of-memory
// guard are the core's (core::LoopWorker); this file is only the ring.
#include <liburing.h>

#include <cstdint>
#include <memory>

#include "core/loop_worker.hpp"

namespace iocomp::uring {

class Connection;

struct RingConfig {
  unsigned ring_entries = 1024;
  unsigned recv_buffer_count = 256;  // provided buffers shared by this worker's connections
};

class UringWorker final : public core::LoopWorker {
 public:
  // Sets up the ring; throws std::runtime_error when io_uring is unavailable.
  UringWorker(int index, const core::BackendEnvironment& env, const RingConfig& ring_config = {});
  ~UringWorker() override;

  int ring_fd() const { return ring_.ring_fd; }

  // Called first on the worker's own thread: makes that thread the ring's single issuer.
  // Messages (new connections, stop) may be sent to ring_fd() only after this returns.
  void enable();
  // The thread body: runs until a stop message arrives and every connection is gone.
  void run();

  io_uring_sqe* get_sqe();
  unsigned recv_buffer_size() const { return env_.config.recv_buffer_size; }
  void recycle_buffer(unsigned short buffer_id);
  const char* buffer_data(unsigned short buffer_id) const;
  void queue_retry_recv(Connection& c);

  // Cold reads: whether to check the page cache before sendfile; at most fs::kWarmBytes are
  // brought in at a time, and the one-byte reads that wait for them land in warm_buffer (a page
  // shared by the worker's connections: the byte is never looked at).
  bool async_cold_reads() const { return async_cold_reads_; }
  char* warm_buffer();

 protected:
  core::LoopConnection* make_connection(int fd, std::string peer, std::string address_key) override;
  void run_backend_deferred() override;
  bool backend_deferred_pending() const override { return !retry_recv_.empty(); }

 private:
  void dispatch(const io_uring_cqe& cqe);
  void arm_tick();

  RingConfig ring_config_;
  io_uring ring_{};

  // Provided-buffer ring for receives: idle connections hold no buffer.
  io_uring_buf_ring* buf_ring_ = nullptr;
  std::size_t buf_ring_bytes_ = 0;
  char* buffers_ = nullptr;

  // Receives that found no provided buffer, retried once this turn's completions returned some.
  core::DeferredList retry_recv_;

  // Timers are checked on a tick (an IORING_OP_TIMEOUT kept in flight while any timer is
  // armed) rather than by a timeout on every io_uring_enter, which would start and cancel a
  // kernel hrtimer per loop turn.
  static constexpr int kTickMs = 100;
  __kernel_timespec tick_interval_{0, kTickMs * 1000000LL};
  bool tick_armed_ = false;

  bool async_cold_reads_;
  char* warm_buffer_ = nullptr;
};

}  // namespace iocomp::uring
