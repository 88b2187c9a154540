#pragma once
// The article's main thread, for every model: accepts connections, admits them (total and
// per-address caps), hands each to the backend, and turns signals into an orderly shutdown.
// One poll() over three descriptors: the listening socket, a signalfd, and the eventfd the
// backend writes when it has stopped. Accepting is not the hot path of a download server (a
// connection carries many requests), so it is done once here rather than in each model.
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace iocomp::log {
class LogSink;
}

namespace iocomp::core {

class AdmissionControl;
class Backend;

struct AcceptorConfig {
  int accept_backoff_ms = 100;  // pause after EMFILE / ENFILE / ENOMEM instead of spinning
  int accept_batch = 64;        // connections accepted per wakeup before the hand-off is flushed
};

// What the acceptor saw, for the metrics (read from another thread).
struct AcceptorCounters {
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> refused_max_connections{0};
  std::atomic<std::uint64_t> refused_per_address{0};
  std::atomic<std::uint64_t> refused_out_of_memory{0};
  std::atomic<std::uint64_t> accept_pauses{0};  // EMFILE, ENFILE, ENOBUFS, ENOMEM
};

// Called on SIGHUP, on the acceptor's thread: reopens log files, reloads certificates. Returns
// the lines to log (what was done, or why not).
using ReloadHook = std::function<std::string()>;

class Acceptor {
 public:
  // signal_fd: a signalfd for SIGINT, SIGTERM and SIGHUP (blocked in every thread).
  // done_fd: the eventfd given to the backend (BackendEnvironment::done_fd).
  Acceptor(int listen_fd, int signal_fd, int done_fd, Backend& backend, AdmissionControl& admission,
           const AcceptorConfig& config, log::LogSink* sink);

  // Returns when the backend has stopped after the first SIGINT/SIGTERM. A second one ends the
  // process at once with status 128 + signal number. SIGHUP runs the reload hook.
  void run();

  void set_reload_hook(ReloadHook hook) { reload_ = std::move(hook); }
  const AcceptorCounters& counters() const { return counters_; }
  // True from the first SIGINT/SIGTERM (any thread may ask: /healthz).
  bool shutting_down() const { return shutting_down_.load(std::memory_order_relaxed); }

 private:
  void accept_batch();
  void on_signal(int signo);
  void begin_shutdown(int signo);
  void say(std::string_view line);

  int listen_fd_;
  int signal_fd_;
  int done_fd_;
  Backend& backend_;
  AdmissionControl& admission_;
  AcceptorConfig config_;
  log::LogSink* sink_;
  std::atomic<bool> shutting_down_{false};
  bool paused_ = false;
  long paused_until_ms_ = 0;
  AcceptorCounters counters_;
  ReloadHook reload_;
};

}  // namespace iocomp::core
