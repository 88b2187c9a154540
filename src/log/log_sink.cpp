#include "log/log_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <new>
#include <stdexcept>

#include <fmt/format.h>

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

LogSink::LogSink(int fd, std::size_t max_pending_bytes, bool owns_fd,
                 std::chrono::milliseconds max_delay)
    : fd_(fd),
      owns_fd_(owns_fd),
      max_delay_(max_delay),
      max_pending_(max_pending_bytes),
      writer_([this] { run(); }) {}

int LogSink::open_file(const std::string& path) {
#ifdef _WIN32
  // (--access-log is refused on Windows; this keeps the module portable.)
  const int fd = ::_open(path.c_str(), _O_WRONLY | _O_APPEND | _O_CREAT | _O_BINARY, 0640);
#else
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
#endif
  if (fd < 0) throw std::runtime_error(fmt::format("{}: {}", path, std::strerror(errno)));
  return fd;
}

void LogSink::replace_fd(int fd) {
  std::lock_guard lock(mutex_);
  if (next_fd_ >= 0) ::close(next_fd_);  // two reopens before the writer's turn: the last wins
  next_fd_ = fd;
  // What was queued before the reopen still goes to the old file; what comes after, to the new.
  before_reopen_.append(pending_);
  pending_.clear();
  // The writer takes it on its next turn; a turn with nothing to write takes it too.
  wake_.notify_all();
}

LogSink::~LogSink() {
  std::unique_lock lock(mutex_);
  stop_ = true;
  wake_.notify_all();
  if (wake_.wait_for(lock, std::chrono::seconds(2), [this] { return finished_; })) {
    lock.unlock();
    writer_.join();
    if (next_fd_ >= 0) ::close(next_fd_);
    if (owns_fd_) ::close(fd_);
  } else {
    writer_.detach();  // blocked writing to an output nobody reads: the exit ends it
  }
}

void LogSink::submit(std::string_view batch) {
  bool wake;
  {
    std::lock_guard lock(mutex_);
    if (pending_.size() + batch.size() > max_pending_) {
      dropped_ += batch.size();
      return;
    }
    const std::size_t before = pending_.size();
    try {
      pending_.append(batch);
    } catch (const std::bad_alloc&) {
      dropped_ += batch.size();  // out of memory: lose log lines, not the process
      return;
    }
    // The first batch starts the writer's delay; with a delay, a full buffer ends it early.
    wake = before == 0 ||
           (max_delay_.count() != 0 && before < kWriteBytes && pending_.size() >= kWriteBytes);
  }
  if (wake) wake_.notify_all();
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
    if (max_delay_.count() == 0) {
      wake_.wait(lock, [this] { return stop_ || !pending_.empty() || next_fd_ >= 0; });
    } else {
      // Sleeps until a full buffer, a reopen or the stop; else writes what came after max_delay.
      wake_.wait(lock, [this] { return stop_ || !pending_.empty() || next_fd_ >= 0; });
      wake_.wait_for(lock, max_delay_,
                     [this] { return stop_ || next_fd_ >= 0 || pending_.size() >= kWriteBytes; });
    }
    if (next_fd_ >= 0) {
      const int old_fd = fd_;
      fd_ = next_fd_;
      next_fd_ = -1;
      writing.swap(before_reopen_);
      lock.unlock();
      write_all(old_fd, writing);
      writing.clear();
      if (owns_fd_) ::close(old_fd);
      lock.lock();
      continue;
    }
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
