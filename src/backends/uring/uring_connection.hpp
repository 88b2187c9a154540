#pragma once
// The io_uring worker's record of one accepted socket: the in-flight operations on it and the
// send state (head bytes, then a file range by sendfile). Lifetime: freed by its worker only
// when no operation is in flight and no callback is on the stack, so a completion can never
// reach freed memory.
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <string>

#include "backends/uring/uring_worker.hpp"
#include "core/loop_worker.hpp"
#include "fs/page_cache.hpp"
#include "platform/socket.hpp"

namespace iocomp::uring {

class alignas(16) Connection final : public core::LoopConnection {
 public:
  Connection(UringWorker& worker, int fd, std::string peer, std::string address_key);
  ~Connection() override;

  // core::Channel
  void receive() override;
  void send(std::string_view head, std::string_view body, core::FileRange file) override;
  void close() override;
  void warm(int fd, std::uint64_t offset, std::uint64_t length) override;
  bool start_kernel_tls(std::string_view crypto_info) override {
    return state_ == State::open && !send_active_ &&
           platform::start_kernel_tls_tx(fd_, crypto_info);
  }

  // core::LoopConnection
  void hard_close() override;
  bool is_open() const override { return state_ == State::open; }
  bool releasable() const override { return state_ == State::closed && inflight_ == 0 && !queued_; }
  void resume_send() override;

  // Completions, decoded by UringWorker::dispatch.
  void on_recv_complete(int res, unsigned flags);
  void on_send_complete(int res);
  void on_poll_out_complete(int res, unsigned flags);
  void on_warm_complete(int res);
  // Deferred: a receive that found no provided buffer.
  void retry_recv();

 private:
  enum class State : std::uint8_t { open, lingering, closed };

  void submit_recv();
  void submit_send_bytes(bool poll_first);
  void wait_writable();
  void cancel_poll_out();
  void send_file();
  // Brings up to `length` bytes (at most fs::kWarmBytes) of `file_fd` from `offset` into the page
  // cache; the completion goes on with the send (send_file) or tells the session (warm()).
  void submit_warm(int file_fd, std::uint64_t offset, std::uint64_t length);
  void finish_send(int error);

  UringWorker& ring_;
  int fd_;
  State state_ = State::open;
  std::uint16_t inflight_ = 0;
  bool recv_armed_ = false;
  bool send_active_ = false;
  // Waiting for a full socket to drain, edge-triggered as nginx does with EPOLLET: one multishot
  // POLLOUT per file transfer reports each time the socket becomes writable; after sendfile
  // says EAGAIN we wait for the next such report. Re-arming a one-shot poll instead would
  // complete at once whenever poll says writable but the send cannot proceed (it happens under
  // TCP memory pressure, when thousands of transfers end at once): a sendfile/poll spin.
  bool poll_armed_ = false;       // the multishot poll is in flight
  bool poll_cancelling_ = false;  // and a cancellation of it has been submitted
  bool awaiting_writable_ = false;
  bool warm_for_session_ = false;  // the warm in flight was asked by Channel::warm

  // Send state: valid while send_active_. iov_[iov_first_..] is what remains of head + body.
  iovec iov_[2] = {};
  int iov_first_ = 0;
  msghdr msg_{};
  core::FileRange file_;
  fs::WarmWindow warm_;            // how far file_ is known to be in the page cache
  std::uint64_t warm_length_ = 0;  // of the range being brought in
};

}  // namespace iocomp::uring
