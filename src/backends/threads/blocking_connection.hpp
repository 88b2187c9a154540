#pragma once
// The article's blocking models (Examples 3 and 4) serve a connection on one thread from accept
// to close. BlockingConnection is that thread's loop behind the core::Channel contract: the
// session asks (receive, send, set_timer, close), the loop performs it, waiting in poll() on the
// socket and the backend's stop eventfd, and calls the session back. The session runs unchanged
// on every model; only who waits differs (here: one thread per connection, blocked in poll).
#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/backend.hpp"
#include "core/channel.hpp"
#include "core/incoming.hpp"

namespace iocomp::log {
class EventLog;
class LogSink;
}  // namespace iocomp::log

namespace iocomp::threads {

// The backend-wide shutdown notice. An eventfd that is written once and never read stays
// readable, so one write wakes every thread blocked in poll(), however many there are.
class StopSignal {
 public:
  StopSignal();  // throws std::runtime_error when no eventfd can be made
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  void raise();
  bool raised() const { return raised_.load(std::memory_order_acquire); }
  // Monotonic ms of raise(): the drain deadline counts from here, not from when a thread noticed.
  std::int64_t raised_at_ms() const { return raised_at_ms_.load(std::memory_order_relaxed); }
  int fd() const { return fd_; }

 private:
  int fd_;
  std::atomic<bool> raised_{false};
  std::atomic<std::int64_t> raised_at_ms_{0};
};

// A line written at once with a timestamp, from a thread without an EventLog (the acceptor's).
void log_now(log::LogSink* sink, std::string_view line);

class BlockingConnection final : public core::Channel {
 public:
  // Takes the socket and its admission slot: both are given back by the destructor.
  BlockingConnection(const core::BackendEnvironment& env, const StopSignal& stop,
                     log::EventLog& log, std::unique_ptr<core::IncomingConnection> incoming);
  ~BlockingConnection() override;
  BlockingConnection(const BlockingConnection&) = delete;
  BlockingConnection& operator=(const BlockingConnection&) = delete;

  // Serves the connection on the calling thread until it is closed. worker_index goes to the
  // session factory (and to housekeeping when >= 0).
  void serve(int worker_index);

  // core::Channel
  void receive() override;
  void send(std::string_view head, std::string_view body, core::FileRange file) override;
  void close() override;
  void set_timer(core::TimerKind kind) override;
  // Nothing to bring in ahead: a read that waits for the disk blocks this connection's thread
  // only, which is the model. on_warmed comes on the next pass of the loop.
  void warm(int, std::uint64_t, std::uint64_t) override { warm_pending_ = state_ == State::open; }
  bool start_kernel_tls(std::string_view crypto_info) override;
  std::string_view peer() const override { return peer_; }
  bool draining() const override { return drain_seen_; }
  bool move_admission(std::string_view address_key) override;

 private:
  enum class State : std::uint8_t { open, lingering, closed };
  // The single timer slot, as in the event-loop models: a send's timer replaces the protocol
  // timer, the linger timer replaces both.
  enum class Timer : std::uint8_t { none, header, idle, send, linger, pace };

  // One pass: notices the stop, fires an expired timer, or performs one I/O step; waits in
  // poll() only when none of them had anything to do.
  void turn();
  bool notice_stop();
  bool fire_deadlines();
  void step_send();
  void step_receive();
  void wait();
  void finish_send(int error);
  void hard_close();
  void arm(Timer timer);
  std::int64_t duration_of(Timer timer) const;
  void upkeep();
  template <typename Work>
  void guarded(Work&& work);

  const core::BackendEnvironment& env_;
  const StopSignal& stop_;
  log::EventLog& log_;
  std::unique_ptr<core::IncomingConnection> incoming_;
  std::string peer_;
  std::unique_ptr<core::SessionHandler> session_;
  int worker_index_ = -1;

  State state_ = State::open;
  bool recv_wanted_ = false;
  // The last attempt said EAGAIN: wait in poll() before trying again.
  bool recv_blocked_ = false;
  bool send_blocked_ = false;
  // poll() said writable and the next send still said EAGAIN (TCP memory pressure does that):
  // the next wait sleeps briefly instead of spinning between poll and sendfile.
  bool writable_lied_ = false;
  bool woke_for_write_ = false;
  bool drain_seen_ = false;
  bool warm_pending_ = false;
  bool out_of_memory_ = false;
  std::int64_t now_ms_ = 0;
  std::int64_t drain_deadline_ms_ = 0;
  Timer timer_ = Timer::none;
  std::int64_t timer_deadline_ms_ = 0;
  bool housekeeping_pending_ = false;
  std::int64_t next_housekeeping_ms_ = 0;

  // Send state: valid while send_active_. iov_[iov_first_..] is what remains of head + body.
  bool send_active_ = false;
  iovec iov_[2] = {};
  int iov_first_ = 2;
  core::FileRange file_;
  std::uint64_t bytes_sent_ = 0;

  std::vector<char> buffer_;
};

}  // namespace iocomp::threads
