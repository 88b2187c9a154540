#pragma once
// Writes log batches to a file descriptor from its own thread, so a slow terminal or a full
// pipe never stalls a worker. Past a bound of pending bytes, batches are dropped and counted.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace iocomp::log {

class LogSink {
 public:
  // Batches that arrive within `max_delay` of each other are written together once this much
  // is pending.
  static constexpr std::size_t kWriteBytes = 64 * 1024;

  // Writes to `fd`; with `owns_fd` it closes it (and the descriptors given to replace_fd).
  // max_delay 0: the writer wakes for every batch (the event log: lines appear at once). Above
  // 0: lines wait up to max_delay, or until kWriteBytes are pending (the access log, like
  // nginx's access_log buffer=64k flush=...: a write and a wake-up per 64 KiB instead of one per
  // worker loop turn).
  explicit LogSink(int fd, std::size_t max_pending_bytes = 8u << 20, bool owns_fd = false,
                   std::chrono::milliseconds max_delay = std::chrono::milliseconds(0));
  // Flushes what is pending, waiting at most ~2 s for a blocked output (a pipe nobody reads):
  // past that the writer is abandoned to the process exit rather than hanging shutdown.
  ~LogSink();
  LogSink(const LogSink&) = delete;
  LogSink& operator=(const LogSink&) = delete;

  void submit(std::string_view batch);
  // Queues one line like submit(), but never drops it for the size bound (start-up and
  // shutdown messages). Never blocks on the output.
  void write_now(std::string_view line);
  std::uint64_t dropped_bytes() const;

  // Writes what comes after this call to `fd` (a log file opened again after a rotation); the
  // writer closes the old descriptor when it has written what was queued before. Takes `fd`.
  void replace_fd(int fd);

  // Opens `path` for appending (created 0640), close-on-exec; throws std::runtime_error.
  static int open_file(const std::string& path);

 private:
  void run();

  int fd_;  // the writer's; next_fd_ takes its place at the writer's next turn
  bool owns_fd_;
  std::chrono::milliseconds max_delay_;
  int next_fd_ = -1;
  std::size_t max_pending_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::string pending_;
  std::string before_reopen_;  // queued before replace_fd: for the old descriptor
  std::uint64_t dropped_ = 0;
  bool stop_ = false;
  bool finished_ = false;  // the writer has written everything and returned
  std::thread writer_;
};

}  // namespace iocomp::log
