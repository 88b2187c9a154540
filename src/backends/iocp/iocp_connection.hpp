#pragma once
// The IOCP worker's record of one accepted socket: its two overlapped operations (a receive;
// a send or a TransmitFile) and the send state. Freed by its worker only when no operation is
// in flight and no callback is on the stack: a cancelled operation still completes on the port,
// so a completion can never reach freed memory.
#include <winsock2.h>

#include <cstdint>
#include <memory>
#include <string>

#include "backends/iocp/iocp_operation.hpp"
#include "backends/iocp/iocp_worker.hpp"
#include "core/loop_worker.hpp"

namespace iocomp::iocp {

class Connection final : public core::LoopConnection {
 public:
  Connection(IocpWorker& worker, SOCKET socket, std::string peer, std::string address_key);
  ~Connection() override;

  // core::Channel
  void receive() override;
  void send(std::string_view head, std::string_view body, core::FileRange file) override;
  void close() override;
  // Windows has no page-cache probe here and serves no TLS (the one caller): nothing is read
  // ahead; on_warmed arrives as a completion posted to the port.
  void warm(int fd, std::uint64_t offset, std::uint64_t length) override;
  bool start_kernel_tls(std::string_view) override { return false; }  // no kernel TLS here

  // core::LoopConnection
  void hard_close() override;
  bool is_open() const override { return state_ == State::open; }
  bool releasable() const override { return state_ == State::closed && inflight_ == 0 && !queued_; }
  void resume_send() override;

  // Completions, decoded by IocpWorker::dispatch. `error` is a Win32 error (0: success).
  void on_recv_complete(DWORD error, DWORD bytes);
  void on_send_complete(const IoOperation& op, DWORD error, DWORD bytes);
  void on_warm_complete();

 private:
  enum class State : std::uint8_t { open, lingering, closed };

  void post_recv();
  // Starts the next step of the send: the bytes left, then the file range; ends the send when
  // nothing is left.
  void send_next();
  void post_send_bytes();
  void post_transmit(bool with_head);
  // Reports a call that failed to start as a completion of `op` (see IoOperation).
  void post_failure(IoOperation& op, DWORD error);
  void finish_send(int error);

  IocpWorker& iocp_;
  SOCKET socket_;
  State state_ = State::open;
  std::uint8_t inflight_ = 0;  // at most the receive, one send and one warm
  bool recv_armed_ = false;
  bool send_active_ = false;
  IoOperation recv_op_;
  IoOperation send_op_;
  IoOperation warm_op_;
  // A posted WSARecv owns its buffer until it completes, so each connection has one.
  std::unique_ptr<char[]> recv_buffer_;

  // Send state, valid while send_active_: head and body bytes left in bufs_[first_..], then the
  // file range left.
  WSABUF bufs_[2] = {};
  int first_ = 0;
  core::FileRange file_;
  TRANSMIT_FILE_BUFFERS transmit_buffers_{};
  DWORD transmit_head_ = 0;  // head bytes the TransmitFile in flight carries
  DWORD transmit_file_ = 0;  // file bytes it was asked for
};

}  // namespace iocomp::iocp
