#pragma once
// Per-worker event log: lines are formatted into a local batch and handed to a LogSink once per
// event-loop turn, so logging costs a memcpy per event and never a syscall on the hot path.
#include <ctime>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace iocomp::log {

class LogSink;

// "2026-11-23 18:40:01.123" (UTC), exactly 23 characters.
inline constexpr std::size_t kTimestampLength = 23;
void format_timestamp(const timespec& t, char* out);

class EventLog {
 public:
  // A null sink discards events (--quiet).
  explicit EventLog(LogSink* sink) : sink_(sink) {}

  bool enabled() const { return sink_ != nullptr; }
  // Takes the time shown on the following events; called once per loop turn.
  void set_time(const timespec& now);

  template <typename... Args>
  void event(std::string_view peer, fmt::format_string<Args...> format, Args&&... args) {
    if (sink_ == nullptr) return;
    batch_.append(timestamp_, kTimestampLength);
    batch_.push_back(' ');
    batch_.append(peer);
    batch_.push_back(' ');
    fmt::format_to(std::back_inserter(batch_), format, std::forward<Args>(args)...);
    batch_.push_back('\n');
  }

  // Hands the batch to the sink.
  void flush();

 private:
  LogSink* sink_;
  std::string batch_;
  time_t stamped_second_ = -1;
  char timestamp_[kTimestampLength + 1] = {};
};

}  // namespace iocomp::log
