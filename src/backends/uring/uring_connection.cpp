#include "backends/uring/uring_connection.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "backends/uring/operation.hpp"
#include "fs/page_cache.hpp"

namespace iocomp::uring {

Connection::Connection(UringWorker& worker, int fd, std::string peer, std::string address_key)
    : core::LoopConnection(worker, std::move(peer), std::move(address_key)),
      ring_(worker),
      fd_(fd) {}

Connection::~Connection() {
  // The session goes first: it may own files whose ranges were being sent.
  session_.reset();
  if (fd_ >= 0) ::close(fd_);
}

void Connection::receive() {
  if (state_ != State::open || recv_armed_ || queued_) return;
  submit_recv();
}

void Connection::submit_recv() {
  io_uring_sqe* sqe = ring_.get_sqe();
  io_uring_prep_recv(sqe, fd_, nullptr, ring_.recv_buffer_size(), 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = 0;
  io_uring_sqe_set_data64(sqe, pack(OpKind::recv, this));
  ++inflight_;
  recv_armed_ = true;
}

void Connection::on_recv_complete(int res, unsigned flags) {
  --inflight_;
  recv_armed_ = false;
  const bool has_buffer = (flags & IORING_CQE_F_BUFFER) != 0;
  const auto buffer_id = static_cast<unsigned short>(flags >> IORING_CQE_BUFFER_SHIFT);

  // The buffer goes back to the ring whatever happens below (the session may throw bad_alloc).
  struct Recycle {
    UringWorker& worker;
    bool active;
    unsigned short id;
    ~Recycle() {
      if (active) worker.recycle_buffer(id);
    }
  } recycle{ring_, has_buffer, buffer_id};
  if (state_ == State::open && res > 0) {
    session_->on_receive({ring_.buffer_data(buffer_id), static_cast<std::size_t>(res)});
  } else if (state_ == State::lingering && res > 0) {
    submit_recv();  // discard and keep reading until the peer closes or the timer fires
  } else if (state_ == State::open && (res == -ENOBUFS || res == -EAGAIN || res == -EINTR)) {
    // Every provided buffer is in use: try again once this turn's completions returned some.
    queued_ = true;
    ring_.queue_retry_recv(*this);
  } else if (state_ == State::open) {
    session_->on_receive_end(res);
  } else if (state_ == State::lingering) {
    hard_close();  // the peer closed (res 0) or failed: the lingering close is over
  }
  maybe_release();
}

void Connection::retry_recv() {
  queued_ = false;
  if (state_ == State::open) {
    submit_recv();
  } else {
    maybe_release();
  }
}

void Connection::send(std::string_view head, std::string_view body, core::FileRange file) {
  if (state_ != State::open) return;
  send_active_ = true;
  iov_[0] = {const_cast<char*>(head.data()), head.size()};
  iov_[1] = {const_cast<char*>(body.data()), body.size()};
  iov_first_ = head.empty() ? 1 : 0;
  file_ = file;
  warm_.reset(file.offset);
  bytes_sent_ = 0;
  worker_.arm_timer(*this, core::TimerClass::send);
  if (!head.empty() || !body.empty()) {
    submit_send_bytes(false);
  } else {
    // Never complete inside the call that started the send: the session is still on the stack.
    defer_send();
  }
}

void Connection::submit_send_bytes(bool poll_first) {
  while (iov_first_ < 2 && iov_[iov_first_].iov_len == 0) ++iov_first_;
  io_uring_sqe* sqe = ring_.get_sqe();
  // MSG_MORE holds the bytes back so that they leave in the same segment as the file's start.
  const int flags = MSG_NOSIGNAL | (file_.length > 0 ? MSG_MORE : 0);
  if (iov_first_ == 1 || iov_[1].iov_len == 0) {
    // One buffer: a plain send is cheaper than sendmsg.
    io_uring_prep_send(sqe, fd_, iov_[iov_first_].iov_base, iov_[iov_first_].iov_len, flags);
  } else {
    msg_ = {};
    msg_.msg_iov = &iov_[iov_first_];
    msg_.msg_iovlen = static_cast<std::size_t>(2 - iov_first_);
    io_uring_prep_sendmsg(sqe, fd_, &msg_, flags);
  }
  if (poll_first) sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
  io_uring_sqe_set_data64(sqe, pack(OpKind::send, this));
  ++inflight_;
}

void Connection::on_send_complete(int res) {
  --inflight_;
  if (state_ != State::open || !send_active_) {
    maybe_release();
    return;
  }
  if (res == -EAGAIN || res == -EINTR) {
    submit_send_bytes(true);
    return;
  }
  if (res < 0) {
    finish_send(res);
    return;
  }
  bytes_sent_ += static_cast<std::uint64_t>(res);
  if (res > 0) worker_.arm_timer(*this, core::TimerClass::send);
  // Advance over what was sent (a short send can end anywhere in either buffer).
  auto left = static_cast<std::size_t>(res);
  while (iov_first_ < 2 && left > 0) {
    iovec& v = iov_[iov_first_];
    const std::size_t n = left < v.iov_len ? left : v.iov_len;
    v.iov_base = static_cast<char*>(v.iov_base) + n;
    v.iov_len -= n;
    left -= n;
    if (v.iov_len == 0) ++iov_first_;
  }
  while (iov_first_ < 2 && iov_[iov_first_].iov_len == 0) ++iov_first_;
  if (iov_first_ < 2) {
    submit_send_bytes(false);
  } else {
    send_file();
  }
}

void Connection::wait_writable() {
  awaiting_writable_ = true;
  if (poll_armed_) return;  // the armed poll reports the next time the socket drains
  io_uring_sqe* sqe = ring_.get_sqe();
  io_uring_prep_poll_multishot(sqe, fd_, POLLOUT);
  io_uring_sqe_set_data64(sqe, pack(OpKind::poll_out, this));
  ++inflight_;
  poll_armed_ = true;
}

void Connection::cancel_poll_out() {
  if (!poll_armed_ || poll_cancelling_) return;
  io_uring_sqe* sqe = ring_.get_sqe();
  io_uring_prep_cancel64(sqe, pack(OpKind::poll_out, this), 0);
  io_uring_sqe_set_data64(sqe, pack(OpKind::cancel));
  poll_cancelling_ = true;
}

void Connection::on_poll_out_complete(int /*res*/, unsigned flags) {
  if ((flags & IORING_CQE_F_MORE) == 0) {  // the multishot poll has ended
    --inflight_;
    poll_armed_ = false;
    poll_cancelling_ = false;
  }
  if (state_ != State::open || !send_active_ || !awaiting_writable_) {
    // A report nobody waits for: the transfer is over (finish_send and hard_close cancelled the
    // poll) or the socket drained again before we filled it.
    maybe_release();
    return;
  }
  awaiting_writable_ = false;
  // Writable, or the poll ended (cancelled for an earlier transfer, or failed: res < 0). Either
  // way sendfile tells: it makes progress, reports the socket's error, or says EAGAIN and we
  // wait again (arming a new poll if this one has ended).
  send_file();
}

// The TransmitFile of the article: sendfile moves page-cache pages to the socket without a copy
// through user space. The socket is non-blocking; when it is full we wait until it drains
// (wait_writable). At most send_chunk bytes go per turn so one large download cannot starve the
// other connections of this worker.
void Connection::send_file() {
  std::uint64_t budget = worker_.config().send_chunk;
  while (file_.length > 0) {
    if (budget == 0) {
      defer_send();
      return;
    }
    const std::uint64_t want64 = file_.length < budget ? file_.length : budget;
    const auto want = static_cast<std::size_t>(want64 < INT_MAX ? want64 : INT_MAX);
    // sendfile of pages not in the page cache reads the disk on this thread, and every other
    // connection of the worker waits: ask first (one cachestat per chunk), read in the
    // background if needed.
    if (ring_.async_cold_reads() && !warm_.cached(file_.fd, file_.offset, want)) {
      submit_warm(file_.fd, file_.offset, want);
      return;
    }
    auto offset = static_cast<off_t>(file_.offset);
    const ssize_t n = ::sendfile(fd_, file_.fd, &offset, want);
    if (n > 0) {
      const auto sent = static_cast<std::uint64_t>(n);
      file_.offset += sent;
      file_.length -= sent;
      bytes_sent_ += sent;
      budget -= sent < budget ? sent : budget;
      worker_.arm_timer(*this, core::TimerClass::send);
      // A short count means a full socket or the end of a file that shrank; only the next call
      // tells which (EAGAIN or 0). Waiting for writability on a short count at end of file
      // would wait for an edge that never comes: the socket is not full, so draining it wakes
      // nobody, and the client would see no EOF until --send-timeout.
      continue;
    }
    if (n == 0) {
      finish_send(core::kFileShrank);
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      wait_writable();
      return;
    }
    finish_send(-errno);
    return;
  }
  finish_send(0);
}

void Connection::warm(int fd, std::uint64_t offset, std::uint64_t length) {
  if (state_ != State::open) return;
  warm_for_session_ = true;
  if (length > 0) {
    submit_warm(fd, offset, length);
    return;
  }
  // Nothing to bring in: a no-op completes it, on a later turn, as any other warm.
  io_uring_sqe* sqe = ring_.get_sqe();
  io_uring_prep_nop(sqe);
  io_uring_sqe_set_data64(sqe, pack(OpKind::warm, this));
  ++inflight_;
}

void Connection::submit_warm(int file_fd, std::uint64_t offset, std::uint64_t length) {
  const std::uint64_t n = length < fs::kWarmBytes ? length : fs::kWarmBytes;
  // Two linked operations, no data copied: WILLNEED starts the disk reads of the whole range (on
  // an io-wq thread: submitting them may block), then a one-byte read of the range's last page
  // completes once that page is in, the last of the range to arrive; the worker waits for
  // neither. Its completion continues the transfer.
  io_uring_sqe* advise = ring_.get_sqe();
  io_uring_sqe* read = ring_.get_sqe();
  io_uring_prep_fadvise(advise, file_fd, offset, static_cast<off_t>(n), POSIX_FADV_WILLNEED);
  advise->flags |= IOSQE_IO_LINK;
  io_uring_sqe_set_data64(advise, pack(OpKind::cancel));  // its completion: nothing to act on
  io_uring_prep_read(read, file_fd, ring_.warm_buffer(), 1, offset + n - 1);
  io_uring_sqe_set_data64(read, pack(OpKind::warm, this));
  ++inflight_;
  warm_length_ = n;
}

void Connection::on_warm_complete(int res) {
  --inflight_;
  if (warm_for_session_) {
    warm_for_session_ = false;
    if (state_ == State::open) session_->on_warmed();
    maybe_release();
    return;
  }
  if (state_ != State::open || !send_active_) {
    maybe_release();
    return;
  }
  // Cached now (or the advice or the read failed, or the file ended: sendfile will say so).
  // Either way, no second look at this range.
  warm_.brought_in(file_.offset + (res > 0 ? warm_length_ : file_.length));
  send_file();
}

void Connection::resume_send() {
  if (state_ == State::open && send_active_) {
    send_file();
  } else {
    maybe_release();
  }
}

void Connection::finish_send(int error) {
  send_active_ = false;
  awaiting_writable_ = false;
  cancel_poll_out();
  worker_.disarm_timer(*this);
  session_->on_sent(error, bytes_sent_);
}

void Connection::close() {
  if (state_ != State::open) return;
  if (send_active_) {
    hard_close();
    return;
  }
  // Lingering close: send FIN after the queued response, then read and discard until the peer
  // closes. Closing with unread input would send RST and could destroy the response in flight.
  state_ = State::lingering;
  ::shutdown(fd_, SHUT_WR);
  worker_.arm_timer(*this, core::TimerClass::linger);
  if (!recv_armed_ && !queued_) submit_recv();
}

void Connection::hard_close() {
  if (state_ == State::closed) return;
  state_ = State::closed;
  send_active_ = false;
  awaiting_writable_ = false;
  worker_.disarm_timer(*this);
  // Wakes the pending receive and send; each completes and drops its reference. The multishot
  // poll would keep reporting a dead socket: it is cancelled.
  cancel_poll_out();
  ::shutdown(fd_, SHUT_RDWR);
  maybe_release();
}

}  // namespace iocomp::uring
