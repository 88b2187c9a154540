#pragma once
// The article's main thread: accepts connections and hands each to a worker, and turns SIGINT /
// SIGTERM into an orderly shutdown. It runs its own small ring: a multishot accept, a signalfd
// read, and an eventfd read that counts workers that have finished draining. New sockets reach
// a worker's ring as IORING_OP_MSG_RING messages, so no queue or lock is shared.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace iocomp::log {
class LogSink;
}

namespace iocomp::engine {

class UringWorker;

class AdmissionControl;

struct AcceptorConfig {
  int accept_backoff_ms = 100;  // pause after EMFILE / ENFILE instead of spinning
};

class Acceptor {
 public:
  // signal_fd: a signalfd for SIGINT and SIGTERM (blocked in every thread).
  // workers_done_fd: an eventfd every worker adds 1 to when it has stopped.
  Acceptor(int listen_fd, int signal_fd, int workers_done_fd, std::vector<UringWorker*> workers,
           AdmissionControl& admission, const AcceptorConfig& config, log::LogSink* sink);
  ~Acceptor();
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  // Returns when every worker has stopped after the first signal. A second signal ends the
  // process at once with status 128 + signal number.
  void run();

 private:
  void arm_accept();
  void arm_signal_read();
  void arm_done_read();
  void on_accepted(int fd);
  void hand_off(int fd);
  void begin_shutdown(int signo);
  void say(std::string_view line);

  struct Impl;
  Impl* impl_;
};

}  // namespace iocomp::engine
