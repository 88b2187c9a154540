#include "backends/epoll/epoll_worker.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>

#include <fmt/format.h>

#include "backends/epoll/epoll_connection.hpp"
#include "core/admission.hpp"
#include "fs/page_cache.hpp"

namespace iocomp::epoll {
namespace {

[[noreturn]] void fail(const char* what, int err) {
  throw std::runtime_error(fmt::format("{}: {}", what, std::strerror(err)));
}

}  // namespace

EpollWorker::EpollWorker(int index, const core::BackendEnvironment& env)
    : core::LoopWorker(index, env),
      recv_buffer_(std::make_unique<char[]>(env.config.recv_buffer_size)),
      async_cold_reads_(env.config.async_cold_reads && fs::page_cache_probe_available()) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) fail("epoll_create1", errno);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    const int err = errno;
    ::close(epoll_fd_);
    fail("eventfd", err);
  }
  // Level-triggered and read on every wake-up; data.ptr null tells it from the connections.
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) < 0) {
    const int err = errno;
    ::close(wake_fd_);
    ::close(epoll_fd_);
    fail("epoll_ctl", err);
  }
  posted_.reserve(64);
}

EpollWorker::~EpollWorker() {
  // The base destructor frees the connections left (after a drain deadline); their sockets
  // leave the epoll set as they close. Connections posted after the loop ended never started.
  close_posted();
  ::close(wake_fd_);
  ::close(epoll_fd_);
}

void EpollWorker::post(std::unique_ptr<core::IncomingConnection> incoming) {
  std::lock_guard lock(posted_mutex_);
  try {
    posted_.push_back(std::move(incoming));
  } catch (const std::bad_alloc&) {
    // The backend owns it from adopt() on: refuse it here (push_back left it untouched).
    ::close(incoming->fd);
    env_.admission->release(incoming->address_key);
  }
}

void EpollWorker::wake() {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void EpollWorker::post_stop() {
  stop_posted_.store(true, std::memory_order_release);
  wake();
}

void EpollWorker::close_posted() {
  std::lock_guard lock(posted_mutex_);
  for (auto& incoming : posted_) {
    ::close(incoming->fd);
    env_.admission->release(incoming->address_key);
  }
  posted_.clear();
}

void EpollWorker::take_posted() {
  std::uint64_t count;
  [[maybe_unused]] const ssize_t n = ::read(wake_fd_, &count, sizeof count);
  // The flag first: a stop seen here was posted after every connection posted before it, so
  // the swap below takes them all.
  const bool stop = stop_posted_.load(std::memory_order_acquire);
  std::vector<std::unique_ptr<core::IncomingConnection>> taken;
  {
    std::lock_guard lock(posted_mutex_);
    taken.swap(posted_);
    // Keeps the acceptor's next pushes off the allocator while it holds the lock. Out of
    // memory it stays empty: push_back allocates then and copes.
    try {
      posted_.reserve(taken.capacity());
    } catch (const std::bad_alloc&) {
    }
  }
  for (auto& incoming : taken) adopt(std::move(incoming));
  if (stop) request_stop();
}

void EpollWorker::queue_read(Connection& c) {
  read_queue_.push(&c.read_link());
}

void EpollWorker::queue_warm(Connection& c) {
  warming_.push(&c.warm_link());
}

core::LoopConnection* EpollWorker::make_connection(int fd, std::string peer,
                                                   std::string address_key) {
  auto* c = new Connection(*this, fd, std::move(peer), std::move(address_key));
  // Once per connection, for its whole life (nginx does the same): edge-triggered, so a
  // request costs no epoll_ctl, and readiness is tracked by the connection.
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = c;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) < 0) {
    const int err = errno;
    // Closed before its session opens: the session sees a dead channel and the connection is
    // freed at the end of the turn, its admission slot with it.
    c->hard_close();
    try {
      log_.event(c->peer(), "error: epoll_ctl: {}", std::strerror(err));
    } catch (const std::bad_alloc&) {
    }
  }
  return c;
}

void EpollWorker::run_backend_deferred() {
  for (core::DeferredNode* node = read_queue_.take_all(); node != nullptr;) {
    core::DeferredNode* next = node->deferred_next;
    Connection* c = static_cast<Connection::ReadLink*>(node)->self;
    guarded(c, [c] { c->run_queued_read(); });
    node = next;
  }
  // Taken whole: the connections still waiting go back on the list.
  for (core::DeferredNode* node = warming_.take_all(); node != nullptr;) {
    core::DeferredNode* next = node->deferred_next;
    Connection* c = static_cast<Connection::WarmLink*>(node)->self;
    bool done = true;
    guarded(c, [&] { done = c->poll_warm(now_ms()); });
    if (!done) warming_.push(node);
    node = next;
  }
}

void EpollWorker::run() {
  begin_turn();
  while (!finished()) {
    const int timeout = has_deferred_work() ? 0
                        : !warming_.empty() ? kWarmPollMs
                        : wants_tick()      ? kTickMs
                                            : -1;
    const int n = ::epoll_wait(epoll_fd_, events_, kMaxEvents, timeout);
    if (n < 0 && errno != EINTR) {
      log_.event("-", "worker {}: epoll_wait failed: {}", index(), std::strerror(errno));
    }
    begin_turn();
    ++turn_;
    for (int i = 0; i < n; ++i) {
      void* const ptr = events_[i].data.ptr;
      if (ptr == nullptr) {
        take_posted();
        continue;
      }
      auto* c = static_cast<Connection*>(ptr);
      const std::uint32_t events = events_[i].events;
      guarded(c, [c, events] { c->on_event(events); });
    }
    end_turn();
  }
  log_.flush();
}

}  // namespace iocomp::epoll
