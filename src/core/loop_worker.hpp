#pragma once
// What the two event-loop models (io_uring completions, epoll readiness) share, written once:
// the worker's connections, their timers, work deferred to the end of a loop turn, the drain,
// the out-of-memory guard and the per-worker housekeeping. A backend's worker derives from
// LoopWorker and adds only its own I/O: how it waits, submits and dispatches (Redis keeps its
// loop in ae.c the same way, with a few functions per backend).
#include <cstdint>
#include <memory>
#include <string>

#include "core/backend.hpp"
#include "core/channel.hpp"
#include "core/deferred_list.hpp"
#include "core/timer_lists.hpp"
#include "log/event_log.hpp"

namespace iocomp::core {

class LoopWorker;

// A connection of an event-loop worker: the Channel a session talks to plus the worker's
// bookkeeping. Freed by its worker only at the end of a turn, once releasable(): no operation
// in flight and no callback on the stack.
class LoopConnection : public Channel, public TimerNode, public DeferredNode {
 public:
  LoopConnection(LoopWorker& worker, std::string peer, std::string address_key);
  ~LoopConnection() override;

  std::string_view peer() const override { return peer_; }
  bool draining() const override;
  void set_timer(TimerKind kind) override;
  bool move_admission(std::string_view address_key) override;

  void start(std::unique_ptr<SessionHandler> session);
  SessionHandler& session() { return *session_; }

  // Abortive close: shut the socket down both ways; what is in flight completes and frees us.
  virtual void hard_close() = 0;
  // Neither lingering nor closed: a drain reaches it through its session.
  virtual bool is_open() const = 0;
  virtual bool releasable() const = 0;
  // An expired timer of this class: the protocol timers go to the session; a send timer aborts
  // the transfer (the client stopped reading) and then reports it; a linger timer ends the
  // lingering close.
  void on_timer(TimerClass cls);
  // Deferred work: a file send that yielded its turn resumes here.
  virtual void resume_send() = 0;

 protected:
  // Queues this connection to be freed at the end of the turn when it is releasable.
  void maybe_release();
  // Queues resume_send() for the end of the turn (a send yielding to other connections, or a
  // completion that must not run inside the session's call).
  void defer_send();

  LoopWorker& worker_;
  std::string peer_;
  std::unique_ptr<SessionHandler> session_;
  bool queued_ = false;           // on one of the worker's deferred lists
  std::uint64_t bytes_sent_ = 0;  // of the send in progress: what a send timeout reports

 private:
  friend class LoopWorker;
  std::string address_key_;  // admission slot, released by the worker when this is freed
  LoopConnection* prev_ = nullptr;
  LoopConnection* next_ = nullptr;
};

class LoopWorker {
 public:
  LoopWorker(int index, const BackendEnvironment& env);
  virtual ~LoopWorker();
  LoopWorker(const LoopWorker&) = delete;
  LoopWorker& operator=(const LoopWorker&) = delete;

  int index() const { return index_; }
  bool draining() const { return draining_; }
  const EngineConfig& config() const { return env_.config; }
  std::int64_t now_ms() const { return now_ms_; }
  AdmissionControl& admission() const { return *env_.admission; }

  void arm_timer(LoopConnection& c, TimerClass cls) { timers_.arm(c, cls, now_ms_); }
  void disarm_timer(LoopConnection& c) { timers_.disarm(c); }
  void queue_release(LoopConnection& c) { release_.push(&c); }
  void queue_resume_send(LoopConnection& c) { resume_send_.push(&c); }

 protected:
  // Makes the backend's connection object for an accepted socket (may throw bad_alloc).
  virtual LoopConnection* make_connection(int fd, std::string peer, std::string address_key) = 0;
  // A backend's own deferred lists, run after the sends that yielded.
  virtual void run_backend_deferred() {}

  // Takes a connection from the acceptor: sets TCP_NODELAY, creates it and starts its session.
  void adopt(std::unique_ptr<IncomingConnection> incoming);
  // The stop message: drain (sessions close when idle; hard close at the drain deadline).
  void begin_drain();
  // Once per loop turn, after the completions or events: reads the clock (call first),
  void begin_turn();
  // ... and after dispatching: timers, drain deadline, housekeeping, deferred work, log flush.
  void end_turn();
  // Runs `work` for `c`; out of memory drops that connection, not the process.
  template <typename Work>
  void guarded(LoopConnection* c, Work&& work) {
    try {
      work();
    } catch (const std::bad_alloc&) {
      ++out_of_memory_drops_;
      c->hard_close();
    }
  }
  // True while the loop must wake on a tick: timers armed, a drain running, housekeeping.
  bool wants_tick() const { return timers_.pending() || draining_ || housekeeping_pending_; }
  // Deferred work is waiting: the loop must not sleep.
  bool has_deferred_work() const { return !resume_send_.empty() || backend_deferred_pending(); }
  virtual bool backend_deferred_pending() const { return false; }
  // The stop message arrived and every connection is gone: the loop may return.
  bool finished() const { return stop_requested_ && connections_ == nullptr; }
  void request_stop() {
    stop_requested_ = true;
    begin_drain();
  }

  log::EventLog log_;
  const BackendEnvironment& env_;

 private:
  void link(LoopConnection& c);
  void unlink(LoopConnection& c);
  void free_connection(LoopConnection* c);

  int index_;
  LoopConnection* connections_ = nullptr;  // intrusive list of every live connection
  TimerLists timers_;
  DeferredList resume_send_;
  DeferredList release_;
  std::int64_t now_ms_ = 0;
  std::uint64_t out_of_memory_drops_ = 0;
  bool housekeeping_pending_ = false;
  bool draining_ = false;
  std::int64_t drain_deadline_ms_ = 0;
  bool stop_requested_ = false;
};

}  // namespace iocomp::core
