#include "backends/threads/blocking_connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <limits>
#include <new>
#include <stdexcept>

#include <fmt/format.h>

#include "core/admission.hpp"
#include "core/listener.hpp"
#include "log/event_log.hpp"
#include "log/log_sink.hpp"
#include "platform/socket.hpp"
#include "util/monotonic_clock.hpp"

namespace iocomp::threads {
namespace {

// How often a connection's thread runs its worker's housekeeping while that has work pending,
// the event-loop models' tick.
constexpr std::int64_t kHousekeepingMs = 100;
// The pause after poll() reported a socket writable that the send then found full.
constexpr std::int64_t kWritableRetryMs = 10;

}  // namespace

StopSignal::StopSignal() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (fd_ < 0) throw std::runtime_error(fmt::format("eventfd: {}", std::strerror(errno)));
}

StopSignal::~StopSignal() {
  ::close(fd_);
}

void StopSignal::raise() {
  raised_at_ms_.store(util::monotonic_ms(), std::memory_order_relaxed);
  raised_.store(true, std::memory_order_release);
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(fd_, &one, sizeof one);
}

void log_now(log::LogSink* sink, std::string_view line) {
  if (sink == nullptr) return;
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  char stamp[log::kTimestampLength];
  log::format_timestamp(now, stamp);
  try {
    sink->write_now(fmt::format("{} {}\n", std::string_view(stamp, sizeof stamp), line));
  } catch (const std::bad_alloc&) {
    // Out of memory: the line is lost, the server goes on.
  }
}

BlockingConnection::BlockingConnection(const core::BackendEnvironment& env, const StopSignal& stop,
                                       log::EventLog& log,
                                       std::unique_ptr<core::IncomingConnection> incoming)
    : env_(env), stop_(stop), log_(log), incoming_(std::move(incoming)) {
  try {
    peer_ = core::format_socket_address(&incoming_->peer);
  } catch (const std::bad_alloc&) {
    // Never thrown from here: the socket must reach the destructor. serve() fails the same way
    // a moment later and drops the connection.
  }
}

BlockingConnection::~BlockingConnection() {
  // The session goes first: it may own files whose ranges were being sent, and it logs the
  // connection's end.
  session_.reset();
  log_.flush();
  ::close(incoming_->fd);
  env_.admission->release(incoming_->address_key);
}

template <typename Work>
void BlockingConnection::guarded(Work&& work) {
  try {
    work();
  } catch (const std::bad_alloc&) {
    // Out of memory: this connection is dropped, the thread and the process go on.
    out_of_memory_ = true;
    hard_close();
  }
}

void BlockingConnection::serve(int worker_index) {
  worker_index_ = worker_index;
  now_ms_ = util::monotonic_ms();
  timespec wall{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &wall);
  log_.set_time(wall);
  const int one = 1;
  ::setsockopt(incoming_->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  guarded([&] {
    buffer_.resize(env_.config.recv_buffer_size);
    session_ = env_.factory(*this, log_, worker_index_);
    session_->on_open();
  });
  upkeep();
  while (state_ != State::closed) {
    turn();
    upkeep();
  }
}

void BlockingConnection::upkeep() {
  if (out_of_memory_) {
    out_of_memory_ = false;
    try {
      // The event-loop models' wording, so one pattern finds these lines for every model.
      log_.event(peer_, "error: out of memory: 1 connection(s) dropped");
    } catch (const std::bad_alloc&) {
    }
  }
  if (worker_index_ >= 0 && env_.housekeeping && now_ms_ >= next_housekeeping_ms_) {
    housekeeping_pending_ = env_.housekeeping(worker_index_, now_ms_);
    next_housekeeping_ms_ = now_ms_ + kHousekeepingMs;
  }
  log_.flush();
}

void BlockingConnection::turn() {
  now_ms_ = util::monotonic_ms();
  timespec wall{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &wall);
  log_.set_time(wall);
  if (notice_stop() || fire_deadlines()) return;
  if (warm_pending_) {
    warm_pending_ = false;
    if (state_ == State::open) guarded([this] { session_->on_warmed(); });
    return;
  }
  const auto reading = [this] {
    return (state_ == State::open && recv_wanted_) || state_ == State::lingering;
  };
  const bool can_send = send_active_ && !send_blocked_;
  const bool can_receive = reading() && !recv_blocked_;
  if (!can_send && !can_receive) {
    wait();
    return;
  }
  if (can_send) step_send();
  // The send's callback may have closed the connection or asked for input: look again.
  if (reading() && !recv_blocked_) step_receive();
}

bool BlockingConnection::notice_stop() {
  if (drain_seen_ || !stop_.raised()) return false;
  drain_seen_ = true;
  drain_deadline_ms_ = stop_.raised_at_ms() + env_.config.drain_timeout_ms;
  if (state_ == State::open) {
    guarded([this] { session_->on_drain(); });
  } else {
    hard_close();  // a lingering close is not worth waiting for at shutdown
  }
  return true;
}

bool BlockingConnection::fire_deadlines() {
  if (drain_seen_ && now_ms_ >= drain_deadline_ms_) {
    hard_close();
    return true;
  }
  if (timer_ == Timer::none || now_ms_ < timer_deadline_ms_) return false;
  const Timer expired = timer_;
  timer_ = Timer::none;
  switch (expired) {
    case Timer::header:
      guarded([this] { session_->on_timeout(core::TimerKind::header); });
      break;
    case Timer::idle:
      guarded([this] { session_->on_timeout(core::TimerKind::idle); });
      break;
    case Timer::pace:
      guarded([this] { session_->on_timeout(core::TimerKind::pace); });
      break;
    case Timer::send: {
      // No progress for --send-timeout: the client stopped reading. Abort, then tell.
      const std::uint64_t sent = bytes_sent_;
      hard_close();
      guarded([this, sent] { session_->on_sent(-ETIMEDOUT, sent); });
      break;
    }
    case Timer::linger:
    case Timer::none:
      hard_close();
      break;
  }
  return true;
}

void BlockingConnection::receive() {
  if (state_ == State::open) recv_wanted_ = true;
}

void BlockingConnection::step_receive() {
  const ssize_t n = ::recv(incoming_->fd, buffer_.data(), buffer_.size(), 0);
  const int err = n < 0 ? errno : 0;
  if (n < 0 && err == EINTR) return;
  if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK)) {
    recv_blocked_ = true;
    return;
  }
  if (state_ == State::lingering) {
    // Read and discard until the peer closes (or fails): then the lingering close is over.
    if (n <= 0) hard_close();
    return;
  }
  recv_wanted_ = false;
  if (n > 0) {
    guarded([&] { session_->on_receive({buffer_.data(), static_cast<std::size_t>(n)}); });
  } else {
    guarded([&] { session_->on_receive_end(-err); });
  }
}

void BlockingConnection::send(std::string_view head, std::string_view body, core::FileRange file) {
  if (state_ != State::open) return;
  send_active_ = true;
  send_blocked_ = false;
  woke_for_write_ = false;
  writable_lied_ = false;
  iov_[0] = {const_cast<char*>(head.data()), head.size()};
  iov_[1] = {const_cast<char*>(body.data()), body.size()};
  iov_first_ = 0;
  while (iov_first_ < 2 && iov_[iov_first_].iov_len == 0) ++iov_first_;
  file_ = file;
  bytes_sent_ = 0;
  // The work happens in the loop, never here: on_sent must not run inside send().
  arm(Timer::send);
}

// One system call per pass, so the stop and the deadlines are looked at between any two: the
// head and body with sendmsg, then the file range with sendfile (the article's TransmitFile),
// at most send_chunk bytes per call.
void BlockingConnection::step_send() {
  ssize_t n;
  bool file_step = false;
  if (iov_first_ < 2) {
    msghdr msg{};
    msg.msg_iov = &iov_[iov_first_];
    msg.msg_iovlen = static_cast<std::size_t>(2 - iov_first_);
    // MSG_MORE holds the bytes back so that they leave in the same segment as the file's start.
    n = ::sendmsg(incoming_->fd, &msg, MSG_NOSIGNAL | (file_.length > 0 ? MSG_MORE : 0));
  } else if (file_.length > 0) {
    file_step = true;
    std::uint64_t want =
        file_.length < env_.config.send_chunk ? file_.length : env_.config.send_chunk;
    if (want > INT_MAX) want = INT_MAX;
    auto offset = static_cast<off_t>(file_.offset);
    n = ::sendfile(incoming_->fd, file_.fd, &offset, static_cast<std::size_t>(want));
    // 0 with bytes still wanted: the file ended early. Not a full socket (that is EAGAIN), and
    // waiting would wait forever.
    if (n == 0) {
      finish_send(core::kFileShrank);
      return;
    }
  } else {
    finish_send(0);
    return;
  }
  if (n < 0) {
    const int err = errno;
    if (err == EINTR) return;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      send_blocked_ = true;
      writable_lied_ = woke_for_write_;
      woke_for_write_ = false;
      return;
    }
    finish_send(-err);
    return;
  }
  woke_for_write_ = false;
  const auto sent = static_cast<std::uint64_t>(n);
  bytes_sent_ += sent;
  if (sent > 0) arm(Timer::send);  // the send timeout measures a stall, not the whole transfer
  if (file_step) {
    // A short count means a full socket or a file that shrank: the next call tells which.
    file_.offset += sent;
    file_.length -= sent;
    return;
  }
  auto left = static_cast<std::size_t>(n);
  while (iov_first_ < 2 && left > 0) {
    iovec& v = iov_[iov_first_];
    const std::size_t step = left < v.iov_len ? left : v.iov_len;
    v.iov_base = static_cast<char*>(v.iov_base) + step;
    v.iov_len -= step;
    left -= step;
    if (v.iov_len == 0) ++iov_first_;
  }
  while (iov_first_ < 2 && iov_[iov_first_].iov_len == 0) ++iov_first_;
}

void BlockingConnection::finish_send(int error) {
  send_active_ = false;
  timer_ = Timer::none;
  guarded([&] { session_->on_sent(error, bytes_sent_); });
}

void BlockingConnection::wait() {
  short events = 0;
  if ((state_ == State::open && recv_wanted_) || state_ == State::lingering) events |= POLLIN;
  std::int64_t deadline = std::numeric_limits<std::int64_t>::max();
  if (send_active_) {
    if (writable_lied_) {
      writable_lied_ = false;
      deadline = now_ms_ + kWritableRetryMs;
      send_blocked_ = false;  // retried after the pause
    } else {
      events |= POLLOUT;
    }
  }
  if (timer_ != Timer::none && timer_deadline_ms_ < deadline) deadline = timer_deadline_ms_;
  if (drain_seen_ && drain_deadline_ms_ < deadline) deadline = drain_deadline_ms_;
  if (housekeeping_pending_ && next_housekeeping_ms_ < deadline) deadline = next_housekeeping_ms_;
  int timeout = -1;
  if (deadline != std::numeric_limits<std::int64_t>::max()) {
    const std::int64_t left = deadline - now_ms_;
    timeout = left <= 0 ? 0 : static_cast<int>(left < INT_MAX ? left : INT_MAX);
  }
  // A socket with nothing asked of it stays out of the set: POLLHUP and POLLERR are reported
  // whatever the events, and would wake this thread again and again.
  pollfd fds[2] = {{events != 0 ? incoming_->fd : -1, events, 0},
                   {drain_seen_ ? -1 : stop_.fd(), POLLIN, 0}};
  if (::poll(fds, 2, timeout) <= 0) return;  // a deadline, or EINTR: the next pass decides
  const short got = fds[0].revents;
  if ((got & (POLLIN | POLLERR | POLLHUP)) != 0) recv_blocked_ = false;
  if ((got & (POLLOUT | POLLERR | POLLHUP)) != 0 && send_active_) {
    send_blocked_ = false;
    woke_for_write_ = true;
  }
}

void BlockingConnection::close() {
  if (state_ != State::open) return;
  if (send_active_) {
    hard_close();
    return;
  }
  // Lingering close: send FIN after the response, then read and discard until the peer
  // closes. Closing with unread input would send RST and could destroy the response in flight.
  state_ = State::lingering;
  recv_wanted_ = false;
  ::shutdown(incoming_->fd, SHUT_WR);
  arm(Timer::linger);
}

void BlockingConnection::hard_close() {
  if (state_ == State::closed) return;
  state_ = State::closed;
  send_active_ = false;
  recv_wanted_ = false;
  timer_ = Timer::none;
  ::shutdown(incoming_->fd, SHUT_RDWR);
}

bool BlockingConnection::start_kernel_tls(std::string_view crypto_info) {
  return state_ == State::open && !send_active_ &&
         platform::start_kernel_tls_tx(incoming_->fd, crypto_info);
}

bool BlockingConnection::move_admission(std::string_view address_key) {
  std::string key(address_key);  // may throw: before anything changed
  if (env_.admission->rekey(incoming_->address_key, key) != core::Admission::admitted) {
    return false;
  }
  incoming_->address_key.swap(key);
  return true;
}

void BlockingConnection::set_timer(core::TimerKind kind) {
  if (state_ != State::open) return;
  switch (kind) {
    case core::TimerKind::none:
      timer_ = Timer::none;
      break;
    case core::TimerKind::header:
      arm(Timer::header);
      break;
    case core::TimerKind::idle:
      arm(Timer::idle);
      break;
    case core::TimerKind::pace:
      arm(Timer::pace);
      break;
  }
}

void BlockingConnection::arm(Timer timer) {
  timer_ = timer;
  timer_deadline_ms_ = now_ms_ + duration_of(timer);
}

std::int64_t BlockingConnection::duration_of(Timer timer) const {
  const core::EngineConfig& c = env_.config;
  switch (timer) {
    case Timer::header:
      return c.header_timeout_ms;
    case Timer::idle:
      return c.idle_timeout_ms;
    case Timer::send:
      return c.send_timeout_ms;
    case Timer::linger:
      return c.linger_timeout_ms;
    case Timer::pace:
      return c.pace_ms;
    case Timer::none:
      break;
  }
  return 0;
}

}  // namespace iocomp::threads
