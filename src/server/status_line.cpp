#include "server/status_line.hpp"

#include <unistd.h>

#include <fmt/format.h>

namespace iocomp::server {
namespace {

std::uint64_t total_requests(const metrics::Snapshot& s) {
  std::uint64_t n = 0;
  for (const auto& protocol : s.requests) {
    for (const std::uint64_t count : protocol) n += count;
  }
  return n;
}

std::uint64_t total_errors(const metrics::Snapshot& s) {
  std::uint64_t n = 0;
  for (const std::uint64_t count : s.errors) n += count;
  return n;
}

void write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n <= 0) return;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

std::string status_text(const metrics::Snapshot& now, const metrics::Snapshot& before,
                        double seconds) {
  if (seconds <= 0) seconds = 1;
  const std::uint64_t requests = total_requests(now);
  const std::uint64_t previous = total_requests(before);
  const double rate = static_cast<double>(requests >= previous ? requests - previous : 0) / seconds;
  const std::uint64_t bytes =
      now.bytes_sent >= before.bytes_sent ? now.bytes_sent - before.bytes_sent : 0;
  const double mbps = static_cast<double>(bytes) / 1e6 / seconds;
  return fmt::format("iocomp  {} connections  {:.0f} req/s  {:.1f} MB/s  {} requests  {} errors",
                     now.connections_open, rate, mbps, requests, total_errors(now));
}

StatusLine::StatusLine(int fd, std::function<metrics::Snapshot()> snapshot,
                       std::chrono::milliseconds period)
    : fd_(fd), snapshot_(std::move(snapshot)), period_(period), thread_([this] { run(); }) {}

StatusLine::~StatusLine() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void StatusLine::run() {
  using Clock = std::chrono::steady_clock;
  metrics::Snapshot before = snapshot_();
  auto before_time = Clock::now();
  std::unique_lock lock(mutex_);
  bool drawn = false;
  while (!wake_.wait_for(lock, period_, [this] { return stop_; })) {
    lock.unlock();
    metrics::Snapshot now = snapshot_();
    const auto now_time = Clock::now();
    const double seconds = std::chrono::duration<double>(now_time - before_time).count();
    // Carriage return and erase-line: the line is redrawn in place.
    write_all(fd_, "\r\x1b[K" + status_text(now, before, seconds));
    drawn = true;
    before = std::move(now);
    before_time = now_time;
    lock.lock();
  }
  if (drawn) write_all(fd_, "\n");
}

}  // namespace iocomp::server
