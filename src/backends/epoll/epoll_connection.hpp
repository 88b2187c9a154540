#pragma once
// The epoll worker's record of one accepted socket: what epoll last said about it (readiness is
// remembered, since an edge-triggered registration reports each change once), what the session
// asked for, and the send state (head bytes, then a file range by sendfile). Nothing is ever in
// flight in the kernel, so the connection is freed at the end of the turn in which it closed.
#include <sys/uio.h>

#include <cstdint>
#include <string>

#include "backends/epoll/epoll_worker.hpp"
#include "core/loop_worker.hpp"
#include "fs/page_cache.hpp"
#include "platform/socket.hpp"

namespace iocomp::epoll {

class Connection final : public core::LoopConnection {
 public:
  Connection(EpollWorker& worker, int fd, std::string peer, std::string address_key);
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
  bool releasable() const override {
    return state_ == State::closed && !queued_ && !read_link_.queued && !warm_link_.queued;
  }
  void resume_send() override;

  // An epoll event for this socket, from EpollWorker::run.
  void on_event(std::uint32_t events);
  // Deferred: a receive (or a lingering discard) queued by queue_read.
  void run_queued_read();
  // From the worker's warming list at the end of a turn: whether the range being brought in is
  // cached now (or waited for long enough); if so, goes on and returns true (off the list).
  bool poll_warm(std::int64_t now_ms);

  // This connection's node on the worker's read queue: the base's node may be on the
  // resume-send list at the same time.
  struct ReadLink : core::DeferredNode {
    Connection* self = nullptr;
    bool queued = false;
  };
  ReadLink& read_link() { return read_link_; }
  // ... and on the worker's warming list.
  struct WarmLink : core::DeferredNode {
    Connection* self = nullptr;
    bool queued = false;
  };
  WarmLink& warm_link() { return warm_link_; }

 private:
  enum class State : std::uint8_t { open, lingering, closed };

  void queue_read();
  void read_for_session();
  void discard_input();
  void pump();
  void send_file();
  // Readahead (posix_fadvise WILLNEED starts the disk reads without waiting for them), then the
  // worker looks with cachestat at the end of each turn, at most every millisecond, until the
  // range is in or kWarmWaitMs passed; the connection waits, the worker does not.
  void start_warm(int file_fd, std::uint64_t offset, std::uint64_t length);
  // The range reaches past the end of the file (it shrank): cut to it; true when what is left
  // is cached (or nothing is left).
  bool warm_range_past_end();
  void complete_send(int error);
  void finish_send(int error);

  EpollWorker& epoll_;
  int fd_;
  State state_ = State::open;
  ReadLink read_link_;
  WarmLink warm_link_;

  // Readiness, as epoll last reported it and the last call confirmed. Edge-triggered: after a
  // call says EAGAIN, only a new event sets these again.
  bool readable_ = false;
  bool writable_ = true;      // a fresh socket has an empty send buffer
  bool peer_shut_ = false;    // EPOLLRDHUP: a short read no longer means "drained"
  bool eof_ = false;          // a read returned 0: nothing is left unread
  bool recv_wanted_ = false;  // the session called receive()
  bool in_read_ = false;      // read_for_session is on the stack: it reads again itself

  // Send state: valid while send_active_. iov_[iov_first_..] is what remains of head + body.
  bool send_active_ = false;
  bool awaiting_writable_ = false;  // stopped at EAGAIN: the next EPOLLOUT resumes
  bool in_send_ = false;            // inside send(): a finished send is reported later
  bool result_pending_ = false;     // finished inside send(): resume_send reports it
  int result_ = 0;
  iovec iov_[2] = {};
  int iov_first_ = 0;
  core::FileRange file_;
  std::uint64_t budget_ = 0;  // file bytes this connection may still send in budget_turn_
  fs::WarmWindow warm_;       // how far file_ is known to be in the page cache

  // The range being brought in (while warm_link_.queued), for the send or for the session.
  bool warm_for_session_ = false;
  int warm_fd_ = -1;
  std::uint64_t warm_offset_ = 0;
  std::uint64_t warm_length_ = 0;
  std::uint64_t warm_end_ = 0;  // offset + length as asked (warm_length_ may be cut)
  std::int64_t warm_deadline_ms_ = 0;
  std::int64_t warm_next_check_ms_ = 0;
  std::uint64_t budget_turn_ = ~std::uint64_t{0};
};

}  // namespace iocomp::epoll
