#pragma once
// A live status line on a terminal (--quiet with standard output a TTY): connections,
// requests/s, MB/s and errors, redrawn in place once a second.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "metrics/metrics.hpp"

namespace iocomp::server {

// The text of the line (no terminal control), from two snapshots `seconds` apart. Pure.
std::string status_text(const metrics::Snapshot& now, const metrics::Snapshot& before,
                        double seconds);

class StatusLine {
 public:
  // Draws on `fd` every `period` from a thread of its own until destroyed; then ends the line.
  StatusLine(int fd, std::function<metrics::Snapshot()> snapshot,
             std::chrono::milliseconds period = std::chrono::milliseconds(1000));
  ~StatusLine();
  StatusLine(const StatusLine&) = delete;
  StatusLine& operator=(const StatusLine&) = delete;

 private:
  void run();

  int fd_;
  std::function<metrics::Snapshot()> snapshot_;
  std::chrono::milliseconds period_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace iocomp::server
