#include "core/acceptor.hpp"

#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <exception>
#include <memory>
#include <new>

#include <fmt/format.h>

#include "core/admission.hpp"
#include "core/backend.hpp"
#include "core/incoming.hpp"
#include "core/listener.hpp"
#include "log/event_log.hpp"
#include "log/log_sink.hpp"
#include "util/monotonic_clock.hpp"

namespace iocomp::core {

Acceptor::Acceptor(int listen_fd, int signal_fd, int done_fd, Backend& backend,
                   AdmissionControl& admission, const AcceptorConfig& config, log::LogSink* sink)
    : listen_fd_(listen_fd),
      signal_fd_(signal_fd),
      done_fd_(done_fd),
      backend_(backend),
      admission_(admission),
      config_(config),
      sink_(sink) {}

void Acceptor::say(std::string_view line) {
  if (sink_ == nullptr) return;
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  char stamp[log::kTimestampLength];
  log::format_timestamp(now, stamp);
  try {
    sink_->write_now(fmt::format("{} {}\n", std::string_view(stamp, sizeof stamp), line));
  } catch (const std::bad_alloc&) {
    // Out of memory: the line is lost, the acceptor goes on.
  }
}

void Acceptor::accept_batch() {
  bool handed = false;
  for (int i = 0; i < config_.accept_batch; ++i) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EINTR || err == ECONNABORTED) continue;
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        counters_.accept_pauses.fetch_add(1, std::memory_order_relaxed);
        // Out of descriptors or memory: wait for some to be freed, never spin on accept.
        say(fmt::format("- accept: {}; pausing accepts for {} ms", std::strerror(err),
                        config_.accept_backoff_ms));
        paused_ = true;
        paused_until_ms_ = static_cast<long>(util::monotonic_ms()) + config_.accept_backoff_ms;
      }
      break;  // EAGAIN: the backlog is empty
    }
    counters_.accepted.fetch_add(1, std::memory_order_relaxed);
    try {
      auto incoming = std::make_unique<IncomingConnection>();
      incoming->fd = fd;
      incoming->peer = peer;
      incoming->address_key = AdmissionControl::address_key(peer);
      const Admission verdict = admission_.admit(incoming->address_key);
      if (verdict != Admission::admitted) {
        // Refuse at once: the accepted connections keep their service.
        ::close(fd);
        const bool total = verdict == Admission::too_many_connections;
        const std::uint64_t n =
            (total ? counters_.refused_max_connections : counters_.refused_per_address)
                .fetch_add(1, std::memory_order_relaxed);
        if (n % 1000 == 0) {
          say(fmt::format(
              "{} connection refused: {} ({} refused so far)", format_socket_address(&peer),
              total ? "--max-connections reached" : "--max-connections-per-ip reached", n + 1));
        }
        continue;
      }
      backend_.adopt(std::move(incoming));
      handed = true;
    } catch (const std::bad_alloc&) {
      ::close(fd);  // out of memory: refuse this connection, keep serving the others
      counters_.refused_out_of_memory.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (handed) backend_.flush_adopted();
}

void Acceptor::begin_shutdown(int signo) {
  shutting_down_ = true;
  say(fmt::format(
      "- received {}: no new connections; draining transfers for up to the drain timeout",
      signo == SIGTERM ? "SIGTERM" : "SIGINT"));
  // Stop listening now, not at exit: a client connecting during the drain is refused at once
  // instead of waiting in the backlog for a server that will never accept it (shutdown() on a
  // listening socket closes it for new connections on Linux).
  ::shutdown(listen_fd_, SHUT_RDWR);
  backend_.stop();
}

void Acceptor::on_signal(int signo) {
  if (signo == SIGHUP) {
    // logrotate's postrotate, systemctl reload: never fatal.
    std::string done;
    try {
      done = reload_ ? reload_() : std::string();
    } catch (const std::exception& e) {
      done = fmt::format("reload failed: {}", e.what());
    }
    say(fmt::format("- received SIGHUP: {}", done.empty() ? "nothing to reload" : done));
    return;
  }
  if (shutting_down_) {
    say("- second signal: exiting now");
    ::_exit(128 + signo);
  }
  begin_shutdown(signo);
}

void Acceptor::run() {
  for (;;) {
    pollfd fds[3] = {{signal_fd_, POLLIN, 0}, {done_fd_, POLLIN, 0}, {-1, POLLIN, 0}};
    int timeout = -1;
    if (!shutting_down_) {
      if (paused_) {
        const long left = paused_until_ms_ - static_cast<long>(util::monotonic_ms());
        if (left <= 0) {
          paused_ = false;
        } else {
          timeout = static_cast<int>(left);
        }
      }
      if (!paused_) fds[2].fd = listen_fd_;
    }
    const int ready = ::poll(fds, 3, timeout);
    if (ready < 0) continue;  // EINTR
    if ((fds[0].revents & POLLIN) != 0) {
      signalfd_siginfo info{};
      if (::read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
        on_signal(static_cast<int>(info.ssi_signo));
      }
    }
    if ((fds[1].revents & POLLIN) != 0) {
      std::uint64_t count = 0;
      if (::read(done_fd_, &count, sizeof count) == static_cast<ssize_t>(sizeof count)) return;
    }
    if (!shutting_down_ && (fds[2].revents & (POLLIN | POLLERR | POLLHUP)) != 0) accept_batch();
  }
}

}  // namespace iocomp::core
