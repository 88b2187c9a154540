#pragma once
// An in-memory engine for unit tests of a protocol state machine (a SessionHandler): no socket,
// no ring, no thread, no clock. The test plays the engine and the client: it delivers the
// client's bytes, completes or fails the outstanding send, ends the stream, fires the armed
// timer, starts a drain; the channel records what the handler asks for and collects every byte
// "sent" (head, body, and the file range read with pread) into one string.
//
// The contract of engine/channel.hpp is checked as the handler calls in (one send at a time,
// nothing after close, head and body unchanged until on_sent, a file range inside its file, no
// engine event delivered from inside a handler call), and so is the server's timer policy (no
// protocol timer set during a send, an armed header or idle timer never re-armed: either would
// let a trickling client live forever). A broken rule is a GoogleTest failure (ADD_FAILURE)
// naming it, and the call is otherwise carried out, so the test goes on and shows what followed.
// Misusing the fixture itself (delivering bytes no receive asked for, calling into a closed
// connection) fails the test the same way and is ignored.
//
// Typical use, with `session` a SessionHandler built on `channel`:
//   channel.attach(session);
//   channel.open();
//   channel.deliver("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
//   channel.complete_sends();
//   EXPECT_EQ(channel.take_output(), ...);
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/channel.hpp"

namespace iocomp::test_support {

class MemoryChannel final : public core::Channel {
 public:
  // What Channel::send was asked to send; the views point into the handler's buffers.
  struct Send {
    std::string_view head;
    std::string_view body;
    core::FileRange file;
    std::string copy;  // head + body when send() was called: they must not change until on_sent
    std::uint64_t size() const { return head.size() + body.size() + file.length; }
  };

  // What Channel::warm was asked to bring into the page cache.
  struct Warm {
    int fd = -1;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
  };

  explicit MemoryChannel(std::string peer = "192.0.2.7:50123") : peer_(std::move(peer)) {}

  // The handler driven by the engine calls below; it must outlive them.
  void attach(core::SessionHandler& handler) { handler_ = &handler; }

  // --- The engine and the client ----------------------------------------------------------
  void open();
  // One on_receive with exactly these bytes (in a buffer freed after the call, so a view kept
  // by the handler is caught by ASan). A receive must be pending.
  void deliver(std::string_view bytes);
  // deliver() in pieces of `chunk` bytes, completing any send the handler starts in between so
  // that the next receive can be asked for (as a client streaming a pipeline would see it).
  void deliver_in_chunks(std::string_view bytes, std::size_t chunk);
  // The client closed its side (0) or the receive failed (-errno). A receive must be pending.
  void end_stream(int error = 0);
  // Completes the outstanding send in full: its bytes join output().
  void complete_send();
  // Fails the outstanding send with -errno, kFileShrank or -ETIMEDOUT after `bytes` of it
  // reached the client (those join output()).
  void fail_send(int error, std::uint64_t bytes = 0);
  // Completes sends until none is outstanding (a multi-part response, a pipeline); returns how
  // many were completed.
  std::size_t complete_sends();
  // The armed protocol timer expires: it is disarmed, then on_timeout.
  void fire_timer();
  // The server starts shutting down: draining() becomes true, then on_drain.
  void drain();
  // The range of the outstanding warm is in (nothing is read here): on_warmed.
  void complete_warm();

  // --- What the handler asked for ---------------------------------------------------------
  bool receive_pending() const { return receive_pending_; }
  const std::optional<Send>& pending_send() const { return send_; }
  const std::optional<Warm>& pending_warm() const { return warm_; }
  std::size_t warms_asked() const { return warms_asked_; }
  bool closed() const { return closed_; }
  // The protocol timer armed now; none while a send is outstanding (the engine's send timer
  // holds the slot then).
  core::TimerKind timer() const { return timer_; }
  // Every set_timer call, in order, on the open connection.
  const std::vector<core::TimerKind>& timer_calls() const { return timer_calls_; }
  std::size_t sends_started() const { return sends_started_; }
  // Every byte completed sends carried, in order.
  const std::string& output() const { return output_; }
  // output(), then forgets it: the bytes sent since the previous take_output().
  std::string take_output();
  // Every key move_admission() was asked for, in order; what it answers (default: admitted).
  const std::vector<std::string>& admission_moves() const { return admission_moves_; }
  void set_admission_result(bool admitted) { admission_result_ = admitted; }
  // What start_kernel_tls was given (empty: never called) and what it answers.
  const std::string& kernel_tls_info() const { return kernel_tls_info_; }
  void set_kernel_tls_result(bool accepted) { kernel_tls_result_ = accepted; }

  // core::Channel
  void receive() override;
  void send(std::string_view head, std::string_view body, core::FileRange file) override;
  void close() override;
  void set_timer(core::TimerKind kind) override;
  void warm(int fd, std::uint64_t offset, std::uint64_t length) override;
  // Records the block and answers set_kernel_tls_result (default: false, as without a tls ULP).
  bool start_kernel_tls(std::string_view crypto_info) override;
  std::string_view peer() const override { return peer_; }
  bool draining() const override { return draining_; }
  bool move_admission(std::string_view address_key) override;

 private:
  // False (and a test failure) when the engine may not call the handler now.
  bool may_call(const char* what);
  template <typename Fn>
  void call(Fn&& fn);

  std::string peer_;
  core::SessionHandler* handler_ = nullptr;
  bool in_handler_ = false;
  bool opened_ = false;
  bool receive_pending_ = false;
  bool closed_ = false;
  bool draining_ = false;
  core::TimerKind timer_ = core::TimerKind::none;
  std::vector<core::TimerKind> timer_calls_;
  std::optional<Send> send_;
  std::optional<Warm> warm_;
  std::size_t warms_asked_ = 0;
  std::size_t sends_started_ = 0;
  std::string output_;
  std::vector<std::string> admission_moves_;
  bool admission_result_ = true;
  std::string kernel_tls_info_;
  bool kernel_tls_result_ = false;
};

}  // namespace iocomp::test_support
