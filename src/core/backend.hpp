#pragma once
// A server model behind one interface: the article's thread per connection and blocking pool,
// the readiness model (epoll) and the completion model (io_uring). The core accepts, admits and
// signals; a backend runs connections and their sessions with the same timeouts, drain and
// logging. Nothing here names a platform API.
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "core/channel.hpp"
#include "core/incoming.hpp"

#include "log/event_log.hpp"

namespace iocomp::core {

class AdmissionControl;

struct EngineConfig {
  unsigned workers = 1;                 // event-loop threads, or the pool's size (thread-pool)
  std::uint64_t send_chunk = 1u << 20;  // file bytes per connection per loop turn (fairness)
  unsigned recv_buffer_size = 4096;
  int header_timeout_ms = 10000;
  int idle_timeout_ms = 60000;
  int send_timeout_ms = 60000;
  int linger_timeout_ms = 2000;
  int drain_timeout_ms = 3000;
  int pace_ms = 100;  // TimerKind::pace: the wait between pieces of a rate-limited response
};

// Makes the session of a new connection; called on the thread that will run it, with the index
// of its worker (0 for the thread models' connection threads beyond the pool: see the backend),
// so the caller can give each worker its own lock-free state.
using SessionFactory = std::function<std::unique_ptr<SessionHandler>(
    Channel& channel, log::EventLog& log, int worker_index)>;

// Per-worker upkeep of state the sessions share (e.g. closing unused cached files), called on
// the worker's thread at the end of every loop turn with its index and the monotonic time; it
// must be cheap when there is nothing to do. Returns true while it has state that may expire
// later, which keeps the worker's timer tick running.
using Housekeeping = std::function<bool(int worker_index, std::int64_t now_ms)>;

struct BackendEnvironment {
  EngineConfig config;
  SessionFactory factory;
  Housekeeping housekeeping;  // may be empty
  AdmissionControl* admission = nullptr;
  // Where the workers' event and access logs go (a null sink: that log is off).
  log::LogTargets logs;
  int done_fd = -1;  // an eventfd the backend adds 1 to once it has fully stopped
};

class Backend {
 public:
  virtual ~Backend() = default;

  // The model's name as --model spells it.
  virtual std::string_view name() const = 0;
  // Starts the worker threads; returns once they can take connections. Throws
  // std::runtime_error when the model cannot run here.
  virtual void start() = 0;
  // Takes an accepted, admitted connection, on the acceptor's thread. From here the backend
  // owns it: it closes the socket and releases the admission slot when the connection ends, and
  // also when it cannot take it.
  virtual void adopt(std::unique_ptr<IncomingConnection> incoming) = 0;
  // After a batch of adopt() calls: a backend that batches its hand-offs sends them now.
  virtual void flush_adopted() {}
  // Begins the drain (first SIGINT/SIGTERM), on the acceptor's thread: idle sessions close,
  // transfers get drain_timeout_ms, then every connection is closed. Returns at once; done_fd
  // is written when all is over.
  virtual void stop() = 0;
  // Waits for the backend's threads; after done_fd was written.
  virtual void join() = 0;
  // Threads the model runs now (workers, pool threads, or connection threads).
  virtual std::size_t thread_count() const = 0;
};

}  // namespace iocomp::core
