#include "backends/epoll/epoll_connection.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "fs/page_cache.hpp"

namespace iocomp::epoll {
namespace {

// Reads per connection per turn before the others get their turn (nginx reads until EAGAIN;
// a cap keeps one client streaming a large request body from holding the worker).
constexpr int kReadsPerTurn = 16;

// The most one sendfile call moves (the kernel caps it there anyway).
constexpr std::uint64_t kMaxSendfile = 0x7ffff000;

// Resets a flag when the scope ends, also by an exception (bad_alloc from a session).
struct FlagScope {
  bool& flag;
  explicit FlagScope(bool& f) : flag(f) { flag = true; }
  ~FlagScope() { flag = false; }
  FlagScope(const FlagScope&) = delete;
  FlagScope& operator=(const FlagScope&) = delete;
};

}  // namespace

Connection::Connection(EpollWorker& worker, int fd, std::string peer, std::string address_key)
    : core::LoopConnection(worker, std::move(peer), std::move(address_key)),
      epoll_(worker),
      fd_(fd) {
  read_link_.self = this;
  warm_link_.self = this;
}

Connection::~Connection() {
  // The session goes first: it may own files whose ranges were being sent.
  session_.reset();
  // Closing the last reference removes the socket from the epoll set: no EPOLL_CTL_DEL needed.
  if (fd_ >= 0) ::close(fd_);
}

void Connection::queue_read() {
  if (read_link_.queued) return;
  read_link_.queued = true;
  epoll_.queue_read(*this);
}

void Connection::run_queued_read() {
  read_link_.queued = false;
  if (state_ == State::open) {
    read_for_session();
  } else if (state_ == State::lingering) {
    discard_input();
  }
  maybe_release();
}

void Connection::on_event(std::uint32_t events) {
  if ((events & (EPOLLERR | EPOLLHUP)) != 0) {
    // The next call on the socket reports the error or the end: let whatever waits make it.
    readable_ = true;
    writable_ = true;
  }
  if ((events & EPOLLRDHUP) != 0) peer_shut_ = true;
  if ((events & (EPOLLIN | EPOLLRDHUP)) != 0) readable_ = true;
  if ((events & EPOLLOUT) != 0) writable_ = true;

  if (readable_) {
    if (state_ == State::open && recv_wanted_) {
      read_for_session();
    } else if (state_ == State::lingering) {
      discard_input();
    }
  }
  // Every wakeup of the socket reports EPOLLOUT while it is writable: only a send stopped at
  // EAGAIN resumes on it.
  if (writable_ && awaiting_writable_ && state_ == State::open && send_active_) {
    awaiting_writable_ = false;
    pump();
  }
  maybe_release();
}

void Connection::receive() {
  if (state_ != State::open) return;
  recv_wanted_ = true;
  // Data that arrived while nobody asked raised no new edge: read it, but at the end of the
  // turn, never inside the session's call. Inside read_for_session its loop reads on.
  if (readable_ && !in_read_) queue_read();
}

void Connection::read_for_session() {
  const FlagScope reading(in_read_);
  char* const buffer = epoll_.recv_buffer();
  const std::size_t size = epoll_.recv_buffer_size();
  int reads = 0;
  while (state_ == State::open && recv_wanted_ && readable_) {
    if (reads++ == kReadsPerTurn) {
      queue_read();
      return;
    }
    const ssize_t n = ::recv(fd_, buffer, size, 0);
    if (n > 0) {
      // A short read emptied the socket: more data raises a new edge. After EPOLLRDHUP the
      // pending end raises none, so the next read must be made to see it (nginx does the same).
      if (static_cast<std::size_t>(n) < size && !peer_shut_) readable_ = false;
      recv_wanted_ = false;
      session_->on_receive({buffer, static_cast<std::size_t>(n)});
    } else if (n == 0) {
      eof_ = true;
      recv_wanted_ = false;
      session_->on_receive_end(0);
    } else if (errno == EAGAIN) {
      readable_ = false;
    } else if (errno != EINTR) {
      recv_wanted_ = false;
      session_->on_receive_end(-errno);
    }
  }
}

void Connection::discard_input() {
  char* const buffer = epoll_.recv_buffer();
  const std::size_t size = epoll_.recv_buffer_size();
  for (int reads = 0; state_ == State::lingering && readable_; ++reads) {
    if (reads == kReadsPerTurn) {
      queue_read();
      return;
    }
    // MSG_TRUNC: TCP drops the bytes without copying them out.
    const ssize_t n = ::recv(fd_, buffer, size, MSG_TRUNC);
    if (n > 0) {
      if (static_cast<std::size_t>(n) < size && !peer_shut_) readable_ = false;
    } else if (n < 0 && errno == EAGAIN) {
      readable_ = false;
    } else if (n == 0 || errno != EINTR) {
      hard_close();  // the peer closed (or failed): the lingering close is over
    }
  }
}

void Connection::send(std::string_view head, std::string_view body, core::FileRange file) {
  if (state_ != State::open) return;
  send_active_ = true;
  result_pending_ = false;
  iov_[0] = {const_cast<char*>(head.data()), head.size()};
  iov_[1] = {const_cast<char*>(body.data()), body.size()};
  iov_first_ = 0;
  file_ = file;
  warm_.reset(file.offset);
  bytes_sent_ = 0;
  worker_.arm_timer(*this, core::TimerClass::send);
  // Written now, while the response is hot in the cache (nginx writes from the handler too);
  // only the report of the end waits for the end of the turn.
  const FlagScope sending(in_send_);
  if (writable_) {
    pump();
  } else {
    awaiting_writable_ = true;
  }
}

void Connection::pump() {
  for (;;) {
    while (iov_first_ < 2 && iov_[iov_first_].iov_len == 0) ++iov_first_;
    if (iov_first_ == 2) break;
    // MSG_MORE holds the bytes back so that they leave in the same segment as the file's start.
    const int flags = MSG_NOSIGNAL | (file_.length > 0 ? MSG_MORE : 0);
    ssize_t n;
    if (iov_first_ == 1 || iov_[1].iov_len == 0) {
      // One buffer: a plain send is cheaper than sendmsg.
      n = ::send(fd_, iov_[iov_first_].iov_base, iov_[iov_first_].iov_len, flags);
    } else {
      msghdr msg{};
      msg.msg_iov = &iov_[iov_first_];
      msg.msg_iovlen = static_cast<std::size_t>(2 - iov_first_);
      n = ::sendmsg(fd_, &msg, flags);
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        writable_ = false;
        awaiting_writable_ = true;
        return;
      }
      complete_send(-errno);
      return;
    }
    bytes_sent_ += static_cast<std::uint64_t>(n);
    if (n > 0) worker_.arm_timer(*this, core::TimerClass::send);
    // Advance over what was sent (a short send can end anywhere in either buffer); a short
    // send is followed by another call, which says EAGAIN if the socket is really full.
    auto left = static_cast<std::size_t>(n);
    while (iov_first_ < 2 && left > 0) {
      iovec& v = iov_[iov_first_];
      const std::size_t step = left < v.iov_len ? left : v.iov_len;
      v.iov_base = static_cast<char*>(v.iov_base) + step;
      v.iov_len -= step;
      left -= step;
      if (v.iov_len == 0) ++iov_first_;
    }
  }
  send_file();
}

// The TransmitFile of the article, readiness-driven as nginx does it: sendfile until the socket
// is full (EAGAIN), then wait for its next EPOLLOUT edge. At most send_chunk file bytes per
// connection per loop turn, so one large download cannot starve the worker's other clients.
void Connection::send_file() {
  if (budget_turn_ != epoll_.turn()) {
    budget_turn_ = epoll_.turn();
    budget_ = worker_.config().send_chunk;
  }
  while (file_.length > 0) {
    if (budget_ == 0) {
      defer_send();  // the rest in the next turn, after the other connections' events
      return;
    }
    std::uint64_t want = file_.length < budget_ ? file_.length : budget_;
    if (want > kMaxSendfile) want = kMaxSendfile;
    // sendfile of pages not in the page cache reads the disk on this thread, and every other
    // connection of the worker waits: ask first (one cachestat per chunk), read ahead if not.
    if (epoll_.async_cold_reads() && !warm_.cached(file_.fd, file_.offset, want)) {
      start_warm(file_.fd, file_.offset, want < fs::kWarmBytes ? want : fs::kWarmBytes);
      return;
    }
    auto offset = static_cast<off_t>(file_.offset);
    const ssize_t n = ::sendfile(fd_, file_.fd, &offset, static_cast<std::size_t>(want));
    if (n > 0) {
      const auto sent = static_cast<std::uint64_t>(n);
      file_.offset += sent;
      file_.length -= sent;
      bytes_sent_ += sent;
      budget_ -= sent < budget_ ? sent : budget_;
      worker_.arm_timer(*this, core::TimerClass::send);
      // A short count means a full socket or the end of a file that shrank; only the next call
      // tells which (EAGAIN or 0). Waiting for EPOLLOUT on a short count at end of file would
      // wait for an edge that never comes: the socket is not full, so draining it raises none,
      // and the client would see no end until --send-timeout.
      continue;
    }
    if (n == 0) {
      complete_send(core::kFileShrank);
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      writable_ = false;
      awaiting_writable_ = true;
      return;
    }
    complete_send(-errno);
    return;
  }
  complete_send(0);
}

void Connection::warm(int fd, std::uint64_t offset, std::uint64_t length) {
  // One at a time (the contract): a second ask while one waits is answered by that one.
  if (state_ != State::open || warm_link_.queued) return;
  warm_for_session_ = true;
  start_warm(fd, offset, length < fs::kWarmBytes ? length : fs::kWarmBytes);
}

void Connection::start_warm(int file_fd, std::uint64_t offset, std::uint64_t length) {
  // Only a hint: when it fails, the read that follows the wait reads the disk itself.
  if (length > 0) {
    ::posix_fadvise(file_fd, static_cast<off_t>(offset), static_cast<off_t>(length),
                    POSIX_FADV_WILLNEED);
  }
  warm_fd_ = file_fd;
  warm_offset_ = offset;
  warm_length_ = length;
  warm_end_ = offset + length;
  warm_deadline_ms_ = worker_.now_ms() + EpollWorker::kWarmWaitMs;
  warm_next_check_ms_ = worker_.now_ms();  // the reads may be done by the end of this turn
  warm_link_.queued = true;
  epoll_.queue_warm(*this);
}

bool Connection::warm_range_past_end() {
  // Pages past the end of a file that shrank are never cached: the range is cut to the file's
  // size, and an empty one is done (the read or sendfile that follows reports the end).
  struct stat st {};
  if (::fstat(warm_fd_, &st) != 0) return true;
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size >= warm_offset_ + warm_length_) return false;
  warm_length_ = size > warm_offset_ ? size - warm_offset_ : 0;
  return warm_length_ == 0 || fs::range_cached(warm_fd_, warm_offset_, warm_length_);
}

bool Connection::poll_warm(std::int64_t now_ms) {
  if (state_ == State::open && now_ms < warm_deadline_ms_) {
    if (now_ms < warm_next_check_ms_) return false;
    warm_next_check_ms_ = now_ms + EpollWorker::kWarmPollMs;
    if (!fs::range_cached(warm_fd_, warm_offset_, warm_length_) && !warm_range_past_end()) {
      return false;
    }
  }
  // In, or waited long enough (the read that follows then waits for the rest), or closed.
  warm_link_.queued = false;
  if (state_ == State::open) {
    if (warm_for_session_) {
      warm_for_session_ = false;
      session_->on_warmed();
    } else if (send_active_) {
      warm_.brought_in(warm_end_);  // no second look at this range (even if it was cut)
      pump();
    }
  }
  maybe_release();
  return true;
}

void Connection::complete_send(int error) {
  if (in_send_) {
    // Never report inside the call that started the send: the session is still on the stack.
    result_pending_ = true;
    result_ = error;
    defer_send();
    return;
  }
  finish_send(error);
}

void Connection::resume_send() {
  if (state_ != State::open || !send_active_) {
    maybe_release();
    return;
  }
  if (result_pending_) {
    result_pending_ = false;
    finish_send(result_);
  } else {
    pump();  // the send that yielded its turn
  }
  maybe_release();
}

void Connection::finish_send(int error) {
  send_active_ = false;
  awaiting_writable_ = false;
  worker_.disarm_timer(*this);
  session_->on_sent(error, bytes_sent_);
}

void Connection::close() {
  if (state_ != State::open) return;
  if (send_active_ || eof_) {
    // Mid-transfer: abort. After the peer's end: nothing unread is left to turn the close into
    // a reset, so there is nothing to linger for.
    hard_close();
    return;
  }
  // Lingering close: send FIN after the queued response, then read and discard until the peer
  // closes. Closing with unread input would send RST and could destroy the response in flight.
  state_ = State::lingering;
  recv_wanted_ = false;
  ::shutdown(fd_, SHUT_WR);
  worker_.arm_timer(*this, core::TimerClass::linger);
  if (readable_) queue_read();
}

void Connection::hard_close() {
  if (state_ == State::closed) return;
  state_ = State::closed;
  send_active_ = false;
  awaiting_writable_ = false;
  result_pending_ = false;
  recv_wanted_ = false;
  worker_.disarm_timer(*this);
  // Nothing is in flight in the kernel: the socket can go now (and leaves the epoll set with
  // it). The object waits for the end of the turn, when no callback is on the stack.
  ::close(fd_);
  fd_ = -1;
  maybe_release();
}

}  // namespace iocomp::epoll
