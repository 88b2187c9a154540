#include "log/event_log.hpp"

#include <cstdio>
#include <cstring>

#include "log/log_sink.hpp"

namespace iocomp::log {

void format_timestamp(const timespec& t, char* out) {
  std::tm tm{};
  gmtime_r(&t.tv_sec, &tm);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(t.tv_nsec / 1000000) % 1000);
  std::memcpy(out, text, kTimestampLength);
}

void EventLog::set_time(const timespec& now) {
  now_ = now;
  if (sink_ == nullptr) return;
  if (now.tv_sec != stamped_second_) {
    format_timestamp(now, timestamp_);
    stamped_second_ = now.tv_sec;
  } else {
    const int ms = static_cast<int>(now.tv_nsec / 1000000) % 1000;
    timestamp_[20] = static_cast<char>('0' + ms / 100);
    timestamp_[21] = static_cast<char>('0' + ms / 10 % 10);
    timestamp_[22] = static_cast<char>('0' + ms % 10);
  }
}

void EventLog::flush() {
  if (!batch_.empty()) {
    sink_->submit(batch_);
    batch_.clear();
  }
  if (!access_batch_.empty()) {
    access_->submit(access_batch_);
    access_batch_.clear();
  }
}

}  // namespace iocomp::log
