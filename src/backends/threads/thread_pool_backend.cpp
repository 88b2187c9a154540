#include "backends/threads/thread_pool_backend.hpp"

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <new>

#include <fmt/format.h>

#include "core/admission.hpp"
#include "core/listener.hpp"
#include "log/event_log.hpp"
#include "util/monotonic_clock.hpp"

namespace iocomp::threads {
namespace {

// An idle pool thread wakes this often for its housekeeping (closing unused cached files).
constexpr auto kIdleWake = std::chrono::milliseconds(100);

void stamp(log::EventLog& log) {
  timespec wall{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &wall);
  log.set_time(wall);
}

}  // namespace

ThreadPoolBackend::ThreadPoolBackend(const core::BackendEnvironment& env) : env_(env) {}

ThreadPoolBackend::~ThreadPoolBackend() {
  bool started;
  {
    const std::lock_guard lock(mutex_);
    started = !threads_.empty() && !stopping_;
  }
  if (started) stop();  // an error unwound the server before the drain: stop, never detach
  join();
}

void ThreadPoolBackend::start() {
  const unsigned count = env_.config.workers;
  {
    const std::lock_guard lock(mutex_);
    running_ = count;
  }
  threads_.reserve(count);
  for (unsigned i = 0; i < count; ++i) {
    threads_.emplace_back([this, i] { run(static_cast<int>(i)); });
  }
}

void ThreadPoolBackend::adopt(std::unique_ptr<core::IncomingConnection> incoming) {
  try {
    {
      const std::lock_guard lock(mutex_);
      if (!stopping_) {
        // The slot first: if the queue cannot grow, the connection is still ours to close.
        queue_.push_back({nullptr, util::monotonic_ms()});
        queue_.back().incoming = std::move(incoming);
      }
    }
    if (incoming == nullptr) {
      ready_.notify_one();
      return;
    }
  } catch (const std::bad_alloc&) {
    // The queue could not grow: refuse this connection (below), keep the others.
  }
  ::close(incoming->fd);
  env_.admission->release(incoming->address_key);
}

void ThreadPoolBackend::stop() {
  std::deque<Queued> refused;
  {
    const std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    refused.swap(queue_);
  }
  stop_signal_.raise();  // wakes the busy threads out of poll(): their sessions drain
  ready_.notify_all();   // and the idle ones out of the queue's wait
  for (Queued& q : refused) {
    ::close(q.incoming->fd);
    env_.admission->release(q.incoming->address_key);
  }
  if (!refused.empty()) {
    log_now(env_.logs.events,
            fmt::format("- {} queued connection(s) closed at shutdown before a pool "
                        "thread was free",
                        refused.size()));
  }
}

void ThreadPoolBackend::join() {
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void ThreadPoolBackend::run(int index) {
  log::EventLog log(env_.logs);
  for (;;) {
    Queued next{nullptr, 0};
    {
      std::unique_lock lock(mutex_);
      ready_.wait_for(lock, kIdleWake, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) break;
      if (!queue_.empty()) {
        next = std::move(queue_.front());
        queue_.pop_front();
      }
    }
    if (next.incoming != nullptr) {
      stamp(log);
      const std::int64_t waited = util::monotonic_ms() - next.queued_at_ms;
      try {
        if (waited > env_.config.header_timeout_ms) {
          // Its client has waited as long as a request head may take: serving it now would
          // only start the clock again. This is where the pool's limit shows.
          log.event(core::format_socket_address(&next.incoming->peer),
                    "closed: waited {} ms in the queue for a pool thread (all {} busy), longer "
                    "than the header timeout",
                    waited, env_.config.workers);
          ::close(next.incoming->fd);
          env_.admission->release(next.incoming->address_key);
        } else {
          if (waited > 0) {
            log.event(core::format_socket_address(&next.incoming->peer),
                      "waited {} ms in the queue for a pool thread", waited);
          }
          BlockingConnection connection(env_, stop_signal_, log, std::move(next.incoming));
          connection.serve(index);
        }
      } catch (const std::bad_alloc&) {
        // Only the log line can fail before the connection owns the socket.
        if (next.incoming != nullptr) {
          ::close(next.incoming->fd);
          env_.admission->release(next.incoming->address_key);
        }
      }
    }
    if (env_.housekeeping) env_.housekeeping(index, util::monotonic_ms());
    log.flush();
  }
  log.flush();
  thread_exited();
}

void ThreadPoolBackend::thread_exited() {
  bool last;
  {
    const std::lock_guard lock(mutex_);
    last = --running_ == 0;
  }
  if (last) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(env_.done_fd, &one, sizeof one);
  }
}

}  // namespace iocomp::threads
