#pragma once
// Writes log batches to a file descriptor from its own thread, so a slow terminal or a full
// pipe never stalls a worker. Past a bound of pending bytes, batches are dropped and counted.
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
  explicit LogSink(int fd, std::size_t max_pending_bytes = 8u << 20);
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

 private:
  void run();

  int fd_;
  std::size_t max_pending_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::string pending_;
  std::uint64_t dropped_ = 0;
  bool stop_ = false;
  bool finished_ = false;  // the writer has written everything and returned
  std::thread writer_;
};

}  // namespace iocomp::log
