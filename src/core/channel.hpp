#pragma once
// The contract between a server model (a backend: io_uring, epoll, threads) and a connection's
// protocol state machine (a session). The backend owns sockets and in-flight operations; the
// session owns protocol state and decides what to read, what to send and when to close. Every
// backend honours the same promises, so one session serves them all.
#include <cstdint>
#include <string_view>

namespace iocomp::core {

// A byte range of an open file, sent zero-copy after the head bytes of a send.
struct FileRange {
  int fd = -1;  // borrowed: must stay open until SessionHandler::on_sent
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

// header: --header-timeout; idle: --idle-timeout; pace: a short wait (EngineConfig::pace_ms)
// before the next piece of a rate-limited response.
enum class TimerKind : std::uint8_t { none, header, idle, pace };

// Result codes beyond -errno that on_sent may report.
inline constexpr int kFileShrank = -100000;  // the file ended before `length` bytes were sent

class SessionHandler {
 public:
  virtual ~SessionHandler() = default;
  // The connection is accepted and ready; the session typically calls receive() here.
  virtual void on_open() = 0;
  // Bytes received after Channel::receive(); valid only during the call.
  virtual void on_receive(std::string_view bytes) = 0;
  // The peer closed (error 0) or the receive failed (-errno). The session should close.
  virtual void on_receive_end(int error) = 0;
  // The send started by Channel::send finished: error 0, or -errno / kFileShrank / -ETIMEDOUT.
  // `bytes` counts head and file bytes written to the socket.
  virtual void on_sent(int error, std::uint64_t bytes) = 0;
  // A timer set with Channel::set_timer expired.
  virtual void on_timeout(TimerKind kind) = 0;
  // The range given to Channel::warm is in the page cache now (or the engine could not bring it
  // in: the caller's read then blocks, or fails and says why).
  virtual void on_warmed() = 0;
  // The server is shutting down: an idle session closes now, a busy one after its send.
  virtual void on_drain() = 0;
};

class Channel {
 public:
  virtual ~Channel() = default;
  // Asks for one batch of bytes; SessionHandler::on_receive or on_receive_end follows.
  // A no-op when a receive is already pending.
  virtual void receive() = 0;
  // Sends `head`, then `body` (bytes held elsewhere, e.g. a cached file: not copied), then
  // `file`. All must stay valid until on_sent. One send at a time. on_sent is never called from
  // inside send() itself. Head and body leave in one operation.
  virtual void send(std::string_view head, std::string_view body, FileRange file) = 0;
  // Brings [offset, offset + length) of `fd` into the page cache without making the worker wait
  // for the disk, then calls SessionHandler::on_warmed (never from inside this call). For a
  // session that reads file bytes itself (the TLS stage encrypts them in user space) and found
  // them not cached: its read after on_warmed copies from memory. One at a time, never during a
  // send; `fd` stays open until on_warmed. The blocking models answer at once: there a disk
  // read stalls only the connection's own thread.
  virtual void warm(int fd, std::uint64_t offset, std::uint64_t length) = 0;
  // Kernel TLS: from now on the kernel encrypts what this connection sends, file ranges included
  // (setsockopt TCP_ULP "tls", then SOL_TLS/TLS_TX with `crypto_info`, a block of
  // <linux/tls.h>). For the TLS stage, between sends, once every byte it encrypted itself is on
  // the wire. False when the kernel or the model cannot: then nothing changed.
  virtual bool start_kernel_tls(std::string_view crypto_info) = 0;
  // Closes after flushing what was sent (FIN, then a short lingering read); idempotent.
  virtual void close() = 0;
  // Arms the single per-connection protocol timer (replacing any armed one); none disarms.
  virtual void set_timer(TimerKind kind) = 0;
  // "ip:port" of the peer, "[v6]:port" for IPv6.
  virtual std::string_view peer() const = 0;
  virtual bool draining() const = 0;
  // The connection serves another client than its TCP peer (a PROXY header named it): its
  // admission slot moves to that client's address key (AdmissionControl::address_key), under
  // --max-connections-per-ip. False when that client is at its limit: the connection keeps its
  // slot and the caller closes it.
  virtual bool move_admission(std::string_view address_key) = 0;
};

}  // namespace iocomp::core
