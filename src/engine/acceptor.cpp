#include "engine/acceptor.hpp"

#include <liburing.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "engine/admission.hpp"
#include "engine/incoming.hpp"
#include "engine/listener.hpp"
#include "engine/operation.hpp"
#include "engine/uring_sqe.hpp"
#include "engine/uring_worker.hpp"
#include "log/event_log.hpp"
#include "log/log_sink.hpp"

namespace iocomp::engine {
namespace {

enum class AcceptorOp : std::uint64_t {
  accept = 1,
  signal = 2,
  worker_done = 3,
  backoff = 4,
  handed_off = 5,  // the source-side completion of a MSG_RING; IncomingConnection* in the rest
  cancel = 6,
};

std::uint64_t tag(AcceptorOp op) {
  return static_cast<std::uint64_t>(op);
}
std::uint64_t tag(AcceptorOp op, IncomingConnection* incoming) {
  return reinterpret_cast<std::uint64_t>(incoming) | static_cast<std::uint64_t>(op);
}

}  // namespace

struct Acceptor::Impl {
  int listen_fd;
  int signal_fd;
  int done_fd;
  std::vector<UringWorker*> workers;
  AdmissionControl& admission;
  AcceptorConfig config;
  log::LogSink* sink;
  io_uring ring{};
  signalfd_siginfo siginfo{};
  std::uint64_t done_count_buffer = 0;
  std::size_t workers_done = 0;
  std::size_t next_worker = 0;
  bool accepting = false;
  bool shutting_down = false;
  __kernel_timespec backoff{};
  std::uint64_t refused_total = 0;
  std::uint64_t refused_address = 0;
};

Acceptor::Acceptor(int listen_fd, int signal_fd, int workers_done_fd,
                   std::vector<UringWorker*> workers, AdmissionControl& admission,
                   const AcceptorConfig& config, log::LogSink* sink)
    : impl_(new Impl{listen_fd, signal_fd, workers_done_fd, std::move(workers), admission, config,
                     sink}) {
  // A large completion queue: a burst of connections ends a multishot accept when it is full.
  io_uring_params params{};
  params.flags = IORING_SETUP_CQSIZE;
  params.cq_entries = 4096;
  const int ret = io_uring_queue_init_params(64, &impl_->ring, &params);
  if (ret < 0) {
    delete impl_;
    throw std::runtime_error(fmt::format("io_uring_queue_init: {}", std::strerror(-ret)));
  }
}

Acceptor::~Acceptor() {
  io_uring_queue_exit(&impl_->ring);
  delete impl_;
}

void Acceptor::say(std::string_view line) {
  if (impl_->sink == nullptr) return;
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  char stamp[log::kTimestampLength];
  log::format_timestamp(now, stamp);
  try {
    impl_->sink->write_now(fmt::format("{} {}\n", std::string_view(stamp, sizeof stamp), line));
  } catch (const std::bad_alloc&) {
    // Out of memory: the line is lost, the acceptor goes on.
  }
}

void Acceptor::arm_accept() {
  io_uring_sqe* sqe = next_sqe(impl_->ring);
  io_uring_prep_multishot_accept(sqe, impl_->listen_fd, nullptr, nullptr,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, tag(AcceptorOp::accept));
  impl_->accepting = true;
}

void Acceptor::arm_signal_read() {
  io_uring_sqe* sqe = next_sqe(impl_->ring);
  io_uring_prep_read(sqe, impl_->signal_fd, &impl_->siginfo, sizeof impl_->siginfo, 0);
  io_uring_sqe_set_data64(sqe, tag(AcceptorOp::signal));
}

void Acceptor::arm_done_read() {
  io_uring_sqe* sqe = next_sqe(impl_->ring);
  io_uring_prep_read(sqe, impl_->done_fd, &impl_->done_count_buffer,
                     sizeof impl_->done_count_buffer, 0);
  io_uring_sqe_set_data64(sqe, tag(AcceptorOp::worker_done));
}

void Acceptor::on_accepted(int fd) {
  try {
    hand_off(fd);
  } catch (const std::bad_alloc&) {
    ::close(fd);  // out of memory: refuse this connection, keep serving the others
  }
}

void Acceptor::hand_off(int fd) {
  auto incoming = std::make_unique<IncomingConnection>();
  incoming->fd = fd;
  socklen_t len = sizeof incoming->peer;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&incoming->peer), &len) < 0) {
    ::close(fd);  // already reset by the peer
    return;
  }
  incoming->address_key = AdmissionControl::address_key(incoming->peer);
  const Admission verdict = impl_->admission.admit(incoming->address_key);
  if (verdict != Admission::admitted) {
    // Refuse at once: the accepted connections keep their service.
    ::close(fd);
    const bool total = verdict == Admission::too_many_connections;
    const std::uint64_t n = total ? impl_->refused_total++ : impl_->refused_address++;
    if (n % 1000 == 0) {
      say(fmt::format(
          "{} connection refused: {} ({} refused so far)", format_socket_address(&incoming->peer),
          total ? "--max-connections reached" : "--max-connections-per-ip reached", n + 1));
    }
    return;
  }
  UringWorker* target = impl_->workers[impl_->next_worker];
  impl_->next_worker = (impl_->next_worker + 1) % impl_->workers.size();
  io_uring_sqe* sqe = next_sqe(impl_->ring);
  IncomingConnection* handed = incoming.release();
  handed->published.store(true, std::memory_order_release);
  io_uring_prep_msg_ring(sqe, target->ring_fd(), 0, pack(OpKind::incoming, handed), 0);
  io_uring_sqe_set_data64(sqe, tag(AcceptorOp::handed_off, handed));
}

void Acceptor::begin_shutdown(int signo) {
  impl_->shutting_down = true;
  say(
      fmt::format("- received {}: no new connections; draining transfers for up to the drain "
                  "timeout",
                  signo == SIGTERM ? "SIGTERM" : "SIGINT"));
  if (impl_->accepting) {
    io_uring_sqe* sqe = next_sqe(impl_->ring);
    io_uring_prep_cancel64(sqe, tag(AcceptorOp::accept), 0);
    io_uring_sqe_set_data64(sqe, tag(AcceptorOp::cancel));
  }
  // Stop listening now, not at exit: a client connecting during the drain is refused at once
  // instead of waiting in the backlog for a server that will never accept it. shutdown() on a
  // listening socket (Linux) closes it for new connections although the ring still holds a
  // reference to the file until the cancelled accept completes.
  ::shutdown(impl_->listen_fd, SHUT_RDWR);
  for (UringWorker* w : impl_->workers) {
    io_uring_sqe* sqe = next_sqe(impl_->ring);
    io_uring_prep_msg_ring(sqe, w->ring_fd(), 0, pack(OpKind::stop), 0);
    io_uring_sqe_set_data64(sqe, tag(AcceptorOp::cancel));
  }
}

void Acceptor::run() {
  Impl& s = *impl_;
  arm_accept();
  arm_signal_read();
  arm_done_read();
  while (s.workers_done < s.workers.size()) {
    io_uring_submit_and_wait(&s.ring, 1);
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&s.ring, head, cqe) {
      ++seen;
      const auto op = static_cast<AcceptorOp>(cqe->user_data & 0x7);
      const int res = cqe->res;
      switch (op) {
        case AcceptorOp::accept:
          if (res >= 0) {
            if (s.shutting_down) {
              ::close(res);
            } else {
              on_accepted(res);
            }
          } else if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
            say(fmt::format("- accept: {}; pausing accepts for {} ms", std::strerror(-res),
                            s.config.accept_backoff_ms));
          }
          if (!(cqe->flags & IORING_CQE_F_MORE)) {
            s.accepting = false;
            if (!s.shutting_down && res >= 0) {
              // Ended with a connection: the completion queue filled up. Accept on at once.
              arm_accept();
            } else if (!s.shutting_down) {
              // The multishot accept ended on an error: re-arm after a pause, never in a loop.
              s.backoff.tv_sec = s.config.accept_backoff_ms / 1000;
              s.backoff.tv_nsec = (s.config.accept_backoff_ms % 1000) * 1000000L;
              io_uring_sqe* sqe = next_sqe(s.ring);
              io_uring_prep_timeout(sqe, &s.backoff, 0, 0);
              io_uring_sqe_set_data64(sqe, tag(AcceptorOp::backoff));
            }
          }
          break;
        case AcceptorOp::backoff:
          if (!s.shutting_down) arm_accept();
          break;
        case AcceptorOp::handed_off:
          if (res < 0) {
            // The worker never saw it: undo the admission here.
            std::unique_ptr<IncomingConnection> lost(object_of<IncomingConnection>(cqe->user_data));
            ::close(lost->fd);
            s.admission.release(lost->address_key);
          }
          break;
        case AcceptorOp::signal:
          if (res == static_cast<int>(sizeof s.siginfo)) {
            const int signo = static_cast<int>(s.siginfo.ssi_signo);
            if (signo == SIGHUP) {
              // Operators send it out of habit (logrotate, nginx -s reload): never fatal.
              say("- received SIGHUP: ignored (nothing to reload)");
              arm_signal_read();
              break;
            }
            if (s.shutting_down) {
              say("- second signal: exiting now");
              ::_exit(128 + signo);
            }
            begin_shutdown(signo);
          }
          arm_signal_read();
          break;
        case AcceptorOp::worker_done:
          if (res == static_cast<int>(sizeof s.done_count_buffer)) {
            s.workers_done += s.done_count_buffer;
          }
          if (s.workers_done < s.workers.size()) arm_done_read();
          break;
        case AcceptorOp::cancel:
          break;
      }
    }
    io_uring_cq_advance(&s.ring, seen);
  }
}

}  // namespace iocomp::engine
