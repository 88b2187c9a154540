#pragma once
// One worker: one thread, one io_uring, the connections handed to it. The article's "worker
// waiting on the completion port", with a private ring so that no lock sits on the hot path.
#include <liburing.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "engine/channel.hpp"
#include "log/event_log.hpp"

namespace iocomp::log {
class LogSink;
}

namespace iocomp::engine {

class AdmissionControl;
class Connection;
struct IncomingConnection;

struct WorkerConfig {
  unsigned ring_entries = 1024;
  unsigned recv_buffer_count = 256;  // provided buffers shared by this worker's connections
  unsigned recv_buffer_size = 4096;
  std::uint64_t send_chunk = 1u << 20;  // file bytes per connection per loop turn (fairness)
  int header_timeout_ms = 10000;
  int idle_timeout_ms = 60000;
  int send_timeout_ms = 60000;
  int linger_timeout_ms = 2000;
  int drain_timeout_ms = 3000;
};

// Makes the session of a new connection; called on the worker's thread with its index, so the
// caller can give each worker its own (lock-free) state.
using SessionFactory = std::function<std::unique_ptr<SessionHandler>(
    Channel& channel, log::EventLog& log, int worker_index)>;

// Per-worker upkeep of state the sessions share (e.g. closing unused cached files), called on
// the worker's thread at the end of every loop turn with its index and the monotonic time; it
// must be cheap when there is nothing to do. Returns true while it has state that may expire
// later, which keeps the worker's timer tick running.
using Housekeeping = std::function<bool(int worker_index, std::int64_t now_ms)>;

class UringWorker {
 public:
  // Sets up the ring; throws std::runtime_error when io_uring is unavailable.
  UringWorker(int index, const WorkerConfig& config, SessionFactory factory,
              AdmissionControl& admission, log::LogSink* sink, Housekeeping housekeeping = {});
  ~UringWorker();
  UringWorker(const UringWorker&) = delete;
  UringWorker& operator=(const UringWorker&) = delete;

  int ring_fd() const { return ring_.ring_fd; }
  int index() const { return index_; }

  // Called first on the worker's own thread: makes that thread the ring's single issuer.
  // Messages (new connections, stop) may be sent to ring_fd() only after this returns.
  void enable();
  // The thread body: runs until a stop message arrives and every connection is gone.
  void run();

 private:
  friend class Connection;
  enum class TimerClass : std::uint8_t { none, header, idle, send, linger, count };
  struct TimerList {
    Connection* head = nullptr;
    Connection* tail = nullptr;
    int duration_ms = 0;
  };

  io_uring_sqe* get_sqe();
  void dispatch(const io_uring_cqe& cqe);
  void adopt(IncomingConnection* incoming);
  template <typename Work>
  void for_connection(Connection* c, Work&& work);
  void begin_drain();
  void run_deferred();
  void expire_timers();
  bool timers_pending() const;
  void arm_tick();

  void arm_timer(Connection& c, TimerClass cls);
  void disarm_timer(Connection& c);

  void recycle_buffer(unsigned short buffer_id);
  const char* buffer_data(unsigned short buffer_id) const;

  void link(Connection& c);
  void unlink(Connection& c);

  int index_;
  WorkerConfig config_;
  SessionFactory factory_;
  Housekeeping housekeeping_;
  bool housekeeping_pending_ = false;
  AdmissionControl& admission_;
  log::EventLog log_;
  io_uring ring_{};

  // Provided-buffer ring for receives: idle connections hold no buffer.
  io_uring_buf_ring* buf_ring_ = nullptr;
  std::size_t buf_ring_bytes_ = 0;
  char* buffers_ = nullptr;

  Connection* connections_ = nullptr;  // intrusive list of every live connection
  TimerList timers_[static_cast<int>(TimerClass::count)];
  std::int64_t now_ms_ = 0;

  // Work deferred to the end of a loop turn: connections whose file send yielded, receives
  // that found no provided buffer, and connections to free once no callback is on the stack.
  // Intrusive FIFO lists (through Connection::deferred_next_; a connection is on at most one,
  // guarded by its queued_ flag): queuing allocates nothing, so closing a connection works even
  // when memory has run out.
  struct DeferredList {
    Connection* head = nullptr;
    Connection* tail = nullptr;
    bool empty() const { return head == nullptr; }
    void push(Connection* c);
    Connection* take_all();  // the chain, oldest first; the list is left empty
  };
  DeferredList resume_send_;
  DeferredList retry_recv_;
  DeferredList release_;

  // Timers are checked on a tick (an IORING_OP_TIMEOUT kept in flight while any timer is
  // armed) rather than by a timeout on every io_uring_enter, which would start and cancel a
  // kernel hrtimer per loop turn.
  static constexpr int kTickMs = 100;
  __kernel_timespec tick_interval_{0, kTickMs * 1000000LL};
  bool tick_armed_ = false;

  std::uint64_t out_of_memory_drops_ = 0;
  bool draining_ = false;
  std::int64_t drain_deadline_ms_ = 0;
  bool stop_requested_ = false;
};

}  // namespace iocomp::engine
