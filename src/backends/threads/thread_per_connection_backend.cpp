#include "backends/threads/thread_per_connection_backend.hpp"

#include <unistd.h>

#include <cstring>
#include <new>
#include <stdexcept>

#include <fmt/format.h>

#include "core/admission.hpp"
#include "core/listener.hpp"
#include "log/event_log.hpp"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define IOCOMP_SANITIZED_STACKS 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define IOCOMP_SANITIZED_STACKS 1
#endif

namespace iocomp::threads {
namespace {

// The default 8 MiB stack is address space, not memory, but with thousands of connection
// threads it is what runs out first. A session's deepest path (HTTP parsing, a listing, crypt
// with its scratch on the heap) uses well under 64 KiB; sanitizers' frames are several times
// larger.
#ifdef IOCOMP_SANITIZED_STACKS
constexpr std::size_t kStackBytes = std::size_t{2} << 20;
#else
constexpr std::size_t kStackBytes = std::size_t{256} << 10;
#endif

}  // namespace

struct ThreadPerConnectionBackend::Job {
  ThreadPerConnectionBackend* backend;
  std::unique_ptr<core::IncomingConnection> incoming;
};

ThreadPerConnectionBackend::ThreadPerConnectionBackend(const core::BackendEnvironment& env)
    : env_(env) {
  int err = ::pthread_attr_init(&attributes_);
  if (err == 0) err = ::pthread_attr_setstacksize(&attributes_, kStackBytes);
  if (err != 0) {
    throw std::runtime_error(fmt::format("pthread attributes: {}", std::strerror(err)));
  }
}

ThreadPerConnectionBackend::~ThreadPerConnectionBackend() {
  stop();  // a no-op after the drain; after an error it stops the threads instead of leaking
  join();
  ::pthread_attr_destroy(&attributes_);
}

void ThreadPerConnectionBackend::start() {
  // Nothing to create up front: a connection's thread starts when it is accepted.
}

void ThreadPerConnectionBackend::adopt(std::unique_ptr<core::IncomingConnection> incoming) {
  reap();
  {
    const std::lock_guard lock(mutex_);
    if (stopping_) {
      ::close(incoming->fd);
      env_.admission->release(incoming->address_key);
      return;
    }
    try {
      // Room for this thread's exit notice now: thread_exited() must not allocate.
      finished_.reserve(finished_.size() + running_ + 1);
    } catch (const std::bad_alloc&) {
      refuse(*incoming, ENOMEM);
      return;
    }
    ++running_;
    live_.fetch_add(1, std::memory_order_relaxed);
  }
  auto* job = new (std::nothrow) Job{this, nullptr};
  int err = ENOMEM;
  if (job != nullptr) {
    job->incoming = std::move(incoming);
    pthread_t thread;
    err = ::pthread_create(&thread, &attributes_, &ThreadPerConnectionBackend::thread_main, job);
    if (err == 0) return;
    incoming = std::move(job->incoming);
    delete job;
  }
  {
    const std::lock_guard lock(mutex_);
    --running_;
    live_.fetch_sub(1, std::memory_order_relaxed);
  }
  refuse(*incoming, err);
}

void ThreadPerConnectionBackend::refuse(core::IncomingConnection& incoming, int error) {
  // EAGAIN (RLIMIT_NPROC, threads-max, pid_max) or ENOMEM: the model's limit, made visible.
  // The first failure and then one in a thousand are logged, like the acceptor's refusals.
  ::close(incoming.fd);
  env_.admission->release(incoming.address_key);
  if (create_failures_++ % 1000 == 0) {
    try {
      log_now(env_.logs.events,
              fmt::format("{} connection closed: no thread for it: {} ({} so far, {} running)",
                          core::format_socket_address(&incoming.peer), std::strerror(error),
                          create_failures_, live_.load(std::memory_order_relaxed)));
    } catch (const std::bad_alloc&) {
    }
  }
}

void* ThreadPerConnectionBackend::thread_main(void* arg) {
  std::unique_ptr<Job> job(static_cast<Job*>(arg));
  ThreadPerConnectionBackend* backend = job->backend;
  backend->serve(std::move(job->incoming));
  job.reset();
  backend->thread_exited();
  return nullptr;
}

void ThreadPerConnectionBackend::serve(std::unique_ptr<core::IncomingConnection> incoming) {
  log::EventLog log(env_.logs);
  {
    BlockingConnection connection(env_, stop_signal_, log, std::move(incoming));
    connection.serve(-1);  // a session with its own cache: no other thread shares its state
  }
  log.flush();
}

void ThreadPerConnectionBackend::thread_exited() {
  const std::lock_guard lock(mutex_);
  finished_.push_back(::pthread_self());  // capacity reserved by adopt()
  --running_;
  live_.fetch_sub(1, std::memory_order_relaxed);
  if (running_ == 0) {
    if (stopping_ && !done_written_) {
      done_written_ = true;
      const std::uint64_t one = 1;
      [[maybe_unused]] const ssize_t n = ::write(env_.done_fd, &one, sizeof one);
    }
    all_exited_.notify_all();
  }
}

void ThreadPerConnectionBackend::reap() {
  // Under the lock: the threads listed have left thread_exited() and need nothing more from us
  // to return, so the joins are short and cannot wait for the lock themselves.
  const std::lock_guard lock(mutex_);
  for (const pthread_t thread : finished_) ::pthread_join(thread, nullptr);
  finished_.clear();
}

void ThreadPerConnectionBackend::stop() {
  {
    const std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    // Connections adopted before the stop are still running and will write done_fd when the
    // last exits; with none running, nobody else will.
    if (running_ == 0 && !done_written_) {
      done_written_ = true;
      const std::uint64_t one = 1;
      [[maybe_unused]] const ssize_t n = ::write(env_.done_fd, &one, sizeof one);
    }
  }
  stop_signal_.raise();
}

void ThreadPerConnectionBackend::join() {
  {
    std::unique_lock lock(mutex_);
    all_exited_.wait(lock, [this] { return running_ == 0; });
  }
  reap();
}

}  // namespace iocomp::threads
