#include "log/log_sink.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <new>

namespace iocomp::log {
namespace {

void write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere to log to: drop rather than spin
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

LogSink::LogSink(int fd, std::size_t max_pending_bytes)
    : fd_(fd), max_pending_(max_pending_bytes), writer_([this] { run(); }) {}

LogSink::~LogSink() {
  std::unique_lock lock(mutex_);
  stop_ = true;
  wake_.notify_all();
  if (wake_.wait_for(lock, std::chrono::seconds(2), [this] { return finished_; })) {
    lock.unlock();
    writer_.join();
  } else {
    writer_.detach();  // blocked writing to an output nobody reads: the exit ends it
  }
}

void LogSink::submit(std::string_view batch) {
  bool was_empty;
  {
    std::lock_guard lock(mutex_);
    if (pending_.size() + batch.size() > max_pending_) {
      dropped_ += batch.size();
      return;
    }
    was_empty = pending_.empty();
    try {
      pending_.append(batch);
    } catch (const std::bad_alloc&) {
      dropped_ += batch.size();  // out of memory: lose log lines, not the process
      return;
    }
  }
  if (was_empty) wake_.notify_all();
}

void LogSink::write_now(std::string_view line) {
  {
    std::lock_guard lock(mutex_);
    try {
      pending_.append(line);
    } catch (const std::bad_alloc&) {
      dropped_ += line.size();
      return;
    }
  }
  wake_.notify_all();
}

std::uint64_t LogSink::dropped_bytes() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

void LogSink::run() {
  std::string writing;
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || !pending_.empty(); });
    if (pending_.empty() && stop_) {
      finished_ = true;
      wake_.notify_all();
      return;
    }
    writing.swap(pending_);
    lock.unlock();
    write_all(fd_, writing);
    writing.clear();
    lock.lock();
  }
}

}  // namespace iocomp::log
