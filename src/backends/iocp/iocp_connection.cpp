#include "backends/iocp/iocp_connection.hpp"

#include <cerrno>

#include "platform/windows/handles.hpp"

namespace iocomp::iocp {
namespace {

// TransmitFile sends at most 2,147,483,646 bytes per call.
constexpr std::uint64_t kMaxTransmit = 0x7ffffffe;

}  // namespace

Connection::Connection(IocpWorker& worker, SOCKET socket, std::string peer, std::string address_key)
    : core::LoopConnection(worker, std::move(peer), std::move(address_key)),
      iocp_(worker),
      socket_(socket),
      recv_buffer_(std::make_unique<char[]>(worker.config().recv_buffer_size)) {
  recv_op_.kind = OpKind::recv;
  recv_op_.owner = this;
  send_op_.owner = this;
  warm_op_.kind = OpKind::warm;
  warm_op_.owner = this;
}

Connection::~Connection() {
  // The session goes first: it may own files whose ranges were being sent.
  session_.reset();
  if (socket_ != INVALID_SOCKET) ::closesocket(socket_);
}

void Connection::post_failure(IoOperation& op, DWORD error) {
  op.submit_error = error;
  op.overlapped = {};
  if (!::PostQueuedCompletionStatus(
          iocp_.port(), 0, static_cast<ULONG_PTR>(CompletionKey::socket_io), &op.overlapped)) {
    // The port cannot take even that (out of memory): no completion will come, so the
    // operation is over now; the connection is aborted.
    --inflight_;
    if (&op == &recv_op_) recv_armed_ = false;
    hard_close();
  }
}

void Connection::receive() {
  if (state_ != State::open || recv_armed_) return;
  post_recv();
}

void Connection::post_recv() {
  WSABUF buffer{iocp_.config().recv_buffer_size, recv_buffer_.get()};
  DWORD flags = 0;
  recv_op_.overlapped = {};
  ++inflight_;
  recv_armed_ = true;
  if (::WSARecv(socket_, &buffer, 1, nullptr, &flags, &recv_op_.overlapped, nullptr) ==
      SOCKET_ERROR) {
    const int error = ::WSAGetLastError();
    if (error != WSA_IO_PENDING) post_failure(recv_op_, static_cast<DWORD>(error));
  }
  // Success at once still completes on the port (FILE_SKIP_COMPLETION_PORT_ON_SUCCESS is not
  // set): every result takes the one path through dispatch.
}

void Connection::on_recv_complete(DWORD error, DWORD bytes) {
  --inflight_;
  recv_armed_ = false;
  if (state_ == State::open && error == 0 && bytes > 0) {
    session_->on_receive({recv_buffer_.get(), bytes});
  } else if (state_ == State::lingering && error == 0 && bytes > 0) {
    post_recv();  // discard and keep reading until the peer closes or the timer fires
  } else if (state_ == State::open) {
    session_->on_receive_end(error == 0 ? 0 : errno_of_win32(error));
  } else if (state_ == State::lingering) {
    hard_close();  // the peer closed (0 bytes) or failed: the lingering close is over
  }
  maybe_release();
}

void Connection::send(std::string_view head, std::string_view body, core::FileRange file) {
  if (state_ != State::open) return;
  send_active_ = true;
  bufs_[0] = {static_cast<ULONG>(head.size()), const_cast<char*>(head.data())};
  bufs_[1] = {static_cast<ULONG>(body.size()), const_cast<char*>(body.data())};
  first_ = 0;
  file_ = file;
  bytes_sent_ = 0;
  worker_.arm_timer(*this, core::TimerClass::send);
  if (head.empty() && body.empty() && file.length == 0) {
    // Never complete inside the call that started the send: the session is still on the stack.
    defer_send();
    return;
  }
  send_next();
}

void Connection::send_next() {
  while (first_ < 2 && bufs_[first_].len == 0) ++first_;
  if (first_ < 2) {
    // Only the head is left and a file follows: it rides in TransmitFile's head buffer, so
    // head and body start in one operation (and, as with MSG_MORE, in the same segments).
    if (file_.length > 0 && first_ == 0 && bufs_[1].len == 0) {
      post_transmit(true);
    } else {
      post_send_bytes();
    }
  } else if (file_.length > 0) {
    post_transmit(false);
  } else {
    finish_send(0);
  }
}

void Connection::post_send_bytes() {
  send_op_.kind = OpKind::send;
  send_op_.overlapped = {};
  ++inflight_;
  if (::WSASend(socket_, &bufs_[first_], static_cast<DWORD>(2 - first_), nullptr, 0,
                &send_op_.overlapped, nullptr) == SOCKET_ERROR) {
    const int error = ::WSAGetLastError();
    if (error != WSA_IO_PENDING) post_failure(send_op_, static_cast<DWORD>(error));
  }
}

// The article's TransmitFile: the kernel reads the file and sends it, no copy through user
// space. At most send_chunk file bytes per call: each chunk's completion shows progress (the
// send timeout measures time without progress, as on Linux) and lets the worker take other
// completions between the chunks of a large file.
void Connection::post_transmit(bool with_head) {
  std::uint64_t chunk = iocp_.config().send_chunk;
  if (chunk > file_.length) chunk = file_.length;
  transmit_head_ = with_head ? bufs_[0].len : 0;
  if (chunk > kMaxTransmit - transmit_head_) chunk = kMaxTransmit - transmit_head_;
  transmit_file_ = static_cast<DWORD>(chunk);
  transmit_buffers_ = {};
  if (with_head) {
    transmit_buffers_.Head = bufs_[0].buf;
    transmit_buffers_.HeadLength = bufs_[0].len;
  }
  send_op_.kind = OpKind::transmit;
  send_op_.overlapped = {};
  send_op_.overlapped.Offset = static_cast<DWORD>(file_.offset);
  send_op_.overlapped.OffsetHigh = static_cast<DWORD>(file_.offset >> 32);
  ++inflight_;
  if (!iocp_.extensions().transmit_file(socket_, platform::handle_of(file_.fd), transmit_file_, 0,
                                        &send_op_.overlapped,
                                        with_head ? &transmit_buffers_ : nullptr, 0)) {
    const int error = ::WSAGetLastError();
    if (error != WSA_IO_PENDING && error != ERROR_IO_PENDING) {
      post_failure(send_op_, static_cast<DWORD>(error));
    }
  }
}

void Connection::warm(int, std::uint64_t, std::uint64_t) {
  if (state_ != State::open) return;
  ++inflight_;
  post_failure(warm_op_, 0);  // a completion with no error: on_warm_complete
}

void Connection::on_warm_complete() {
  --inflight_;
  if (state_ == State::open) session_->on_warmed();
  maybe_release();
}

void Connection::on_send_complete(const IoOperation& op, DWORD error, DWORD bytes) {
  --inflight_;
  if (state_ != State::open || !send_active_) {
    maybe_release();
    return;
  }
  if (error != 0) {
    finish_send(errno_of_win32(error));
    return;
  }
  bytes_sent_ += bytes;
  if (bytes > 0) worker_.arm_timer(*this, core::TimerClass::send);
  DWORD left = bytes;
  if (op.kind == OpKind::transmit) {
    // The count covers the head bytes first, then the file's.
    const DWORD head = left < transmit_head_ ? left : transmit_head_;
    bufs_[0].buf += head;
    bufs_[0].len -= head;
    left -= head;
    file_.offset += left;
    file_.length -= left;
    if (head == transmit_head_ && left == 0 && transmit_file_ > 0) {
      // Nothing of the range could be read: the file ends before it (it shrank).
      finish_send(core::kFileShrank);
      return;
    }
    // A short count resumes at the right offset; the next call tells a full socket from a
    // shrunk file.
  } else {
    // A short WSASend (rare, but allowed) resumes where it stopped, in either buffer.
    while (first_ < 2 && left > 0) {
      WSABUF& b = bufs_[first_];
      const DWORD n = left < b.len ? left : b.len;
      b.buf += n;
      b.len -= n;
      left -= n;
      if (b.len == 0) ++first_;
    }
  }
  send_next();
}

void Connection::resume_send() {
  if (state_ == State::open && send_active_) {
    send_next();
  } else {
    maybe_release();
  }
}

void Connection::finish_send(int error) {
  send_active_ = false;
  worker_.disarm_timer(*this);
  session_->on_sent(error, bytes_sent_);
}

void Connection::close() {
  if (state_ != State::open) return;
  if (send_active_) {
    hard_close();
    return;
  }
  // Lingering close: FIN after the response, then read and discard until the peer closes.
  // Closing with unread input would send RST and could destroy the response in flight.
  state_ = State::lingering;
  ::shutdown(socket_, SD_SEND);
  worker_.arm_timer(*this, core::TimerClass::linger);
  if (!recv_armed_) post_recv();
}

void Connection::hard_close() {
  if (state_ == State::closed) return;
  state_ = State::closed;
  send_active_ = false;
  worker_.disarm_timer(*this);
  // Every pending operation completes on the port as cancelled and drops its count; the socket
  // itself is closed with the object, once none is in flight.
  ::shutdown(socket_, SD_BOTH);
  ::CancelIoEx(reinterpret_cast<HANDLE>(socket_), nullptr);
  maybe_release();
}

}  // namespace iocomp::iocp
