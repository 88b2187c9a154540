#pragma once
// Per-worker event log: lines are formatted into a local batch and handed to a LogSink once per
// event-loop turn, so logging costs a memcpy per event and never a syscall on the hot path.
#include <ctime>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "log/access_log.hpp"
#include "log/request_record.hpp"

namespace iocomp::log {

class LogSink;

// Where a worker's logs go: the events (the article's log, lines with ip:port) and the access
// log (one line per request). A null sink turns that log off.
struct LogTargets {
  LogSink* events = nullptr;
  LogSink* access = nullptr;
  AccessFormat access_format = AccessFormat::combined;
};

// "2026-11-23 18:40:01.123" (UTC), exactly 23 characters.
inline constexpr std::size_t kTimestampLength = 23;
void format_timestamp(const timespec& t, char* out);

class EventLog {
 public:
  // A null sink discards events (--quiet).
  explicit EventLog(LogSink* sink) : sink_(sink) {}
  explicit EventLog(const LogTargets& targets)
      : sink_(targets.events), access_(targets.access), access_format_(targets.access_format) {}

  bool enabled() const { return sink_ != nullptr; }
  bool access_enabled() const { return access_ != nullptr; }
  // Takes the time shown on the following events and access lines; called once per loop turn.
  void set_time(const timespec& now);
  // The wall-clock time of this loop turn (as given to set_time).
  const timespec& now() const { return now_; }

  // Appends the access log's line for a finished request.
  void access(const RequestRecord& record) {
    if (access_ != nullptr) append_access_line(access_batch_, record, access_format_);
  }

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

  // Hands the batches to the sinks.
  void flush();

 private:
  LogSink* sink_;
  LogSink* access_ = nullptr;
  AccessFormat access_format_ = AccessFormat::combined;
  std::string batch_;
  std::string access_batch_;
  timespec now_{};
  time_t stamped_second_ = -1;
  char timestamp_[kTimestampLength + 1] = {};
};

}  // namespace iocomp::log
