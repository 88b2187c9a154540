#pragma once
// The engine's record of one accepted socket: the Channel a session talks to, the in-flight
// operations on the socket, and the send state (head bytes, then a file range by sendfile).
// Lifetime: freed by its worker only when no operation is in flight and no callback is on the
// stack, so a completion can never reach freed memory.
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string>

#include "engine/channel.hpp"
#include "engine/uring_worker.hpp"

namespace iocomp::engine {

class alignas(16) Connection final : public Channel {
 public:
  Connection(UringWorker& worker, int fd, std::string peer, std::string address_key);
  ~Connection() override;

  // Channel
  void receive() override;
  void send(std::string_view head, std::string_view body, FileRange file) override;
  void close() override;
  void set_timer(TimerKind kind) override;
  std::string_view peer() const override { return peer_; }
  bool draining() const override { return worker_.draining_; }

  void start(std::unique_ptr<SessionHandler> session);
  SessionHandler& session() { return *session_; }

  // Completions, decoded by UringWorker::dispatch.
  void on_recv_complete(int res, unsigned flags);
  void on_send_complete(int res);
  void on_poll_out_complete(int res, unsigned flags);

  // Deferred work from the worker's end-of-turn lists.
  void resume_send();
  void retry_recv();
  // Expired timer of the given class.
  void on_timer(UringWorker::TimerClass cls);
  // Abortive close: shut the socket down both ways; in-flight operations complete and free us.
  void hard_close();
  bool releasable() const { return state_ == State::closed && inflight_ == 0 && !queued_; }

 private:
  friend class UringWorker;
  enum class State : std::uint8_t { open, lingering, closed };

  void submit_recv();
  void submit_send_bytes(bool poll_first);
  void wait_writable();
  void cancel_poll_out();
  void send_file();
  void finish_send(int error);
  void maybe_release();

  UringWorker& worker_;
  int fd_;
  std::string peer_;
  std::string address_key_;  // admission slot, released by the worker when this is freed
  std::unique_ptr<SessionHandler> session_;
  State state_ = State::open;
  std::uint16_t inflight_ = 0;
  bool recv_armed_ = false;
  bool send_active_ = false;
  bool queued_ = false;  // on one of the worker's deferred lists
  // Waiting for a full socket to drain, edge-triggered as nginx does with EPOLLET: one multishot
  // POLLOUT per file transfer reports each time the socket becomes writable; after sendfile
  // says EAGAIN we wait for the next such report. Re-arming a one-shot poll instead would
  // complete at once whenever poll says writable but the send cannot proceed (it happens under
  // TCP memory pressure, when thousands of transfers end at once): a sendfile/poll spin.
  bool poll_armed_ = false;       // the multishot poll is in flight
  bool poll_cancelling_ = false;  // and a cancellation of it has been submitted
  bool awaiting_writable_ = false;

  // Send state: valid while send_active_. iov_[iov_first_..] is what remains of head + body.
  iovec iov_[2] = {};
  int iov_first_ = 0;
  msghdr msg_{};
  FileRange file_;
  std::uint64_t bytes_sent_ = 0;

  // Worker bookkeeping: list of all connections and the timer list this one is on.
  Connection* prev_ = nullptr;
  Connection* next_ = nullptr;
  Connection* deferred_next_ = nullptr;  // on one of the worker's deferred lists
  Connection* timer_prev_ = nullptr;
  Connection* timer_next_ = nullptr;
  UringWorker::TimerClass timer_class_ = UringWorker::TimerClass::none;
  std::int64_t deadline_ms_ = 0;
};

}  // namespace iocomp::engine
