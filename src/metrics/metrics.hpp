#pragma once
// The server's counters, and their rendering in the Prometheus text format. A worker updates
// its own cache-line-aligned slot with relaxed atomic adds (a few per request, never a lock);
// a scrape sums the slots. The only per-request entry point is WorkerMetrics::record, fed by the
// same request record as the access log.
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "log/request_record.hpp"

namespace iocomp::metrics {

class Counter {
 public:
  void add(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void add(std::int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::int64_t get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

// Upper bounds of the request-duration histogram, in microseconds (100 µs to 60 s).
inline constexpr std::array<std::uint64_t, 18> kDurationBoundsUs = {
    100,    250,    500,    1000,    2500,    5000,    10000,    25000,    50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000, 60000000};
inline constexpr std::size_t kDurationBuckets = kDurationBoundsUs.size() + 1;  // + the +Inf one

// Things that went wrong, by kind (iocomp_errors_total{kind}).
enum class ErrorKind : std::uint8_t {
  malformed_request,  // a request that could not be parsed (400, 414, 431, 501, 505)
  line_too_long,      // the line protocol: a name over --max-line
  header_timeout,     // no complete request within --header-timeout
  receive_error,      // the receive failed (e.g. reset by the peer)
  client_gone,        // a send failed: the client went away mid-response
  send_timeout,       // the client stopped reading for --send-timeout
  file_shrank,        // a file got shorter while it was sent
  body_failed,        // a streamed body (listing) could not be completed
};
inline constexpr std::size_t kErrorKinds = 8;
std::string_view error_kind_name(ErrorKind kind);

inline constexpr std::size_t kProtocols = 2;      // line, http
inline constexpr std::size_t kStatusClasses = 5;  // 1xx .. 5xx

struct alignas(64) WorkerMetrics {
  Gauge connections;  // open connections run by this worker
  Counter keep_alive_timeouts;
  std::array<std::array<Counter, kStatusClasses>, kProtocols> requests;
  Counter bytes_sent;
  std::array<Counter, kDurationBuckets> duration;  // per bucket, not cumulative
  Counter duration_sum_us;
  std::array<Counter, kErrorKinds> errors;

  // The one place a finished request updates the metrics.
  void record(const log::RequestRecord& record);
  void error(ErrorKind kind) { errors[static_cast<std::size_t>(kind)].add(); }
};

// Everything a scrape shows, gathered from the counters and from the core (admission, acceptor,
// log sinks), then rendered by render_prometheus. Plain numbers: the renderer is pure.
struct Snapshot {
  std::string version;
  std::string model;
  std::uint64_t connections_open = 0;
  std::uint64_t connections_accepted = 0;
  // iocomp_connections_refused_total{reason}: reason name and count.
  std::vector<std::pair<std::string, std::uint64_t>> refused;
  // --proxy-protocol: connections served after a header, by kind (empty when off).
  std::vector<std::pair<std::string, std::uint64_t>> proxy_headers;
  std::vector<std::int64_t> worker_connections;  // one per worker; the last may be "threads"
  bool has_thread_slot = false;  // the last worker_connections entry is connection threads'
  std::uint64_t keep_alive_timeouts = 0;
  std::array<std::array<std::uint64_t, kStatusClasses>, kProtocols> requests{};
  std::uint64_t bytes_sent = 0;
  std::array<std::uint64_t, kDurationBuckets> duration{};
  std::uint64_t duration_sum_us = 0;
  std::array<std::uint64_t, kErrorKinds> errors{};
  std::uint64_t cache_hits = 0;
  std::uint64_t cache_misses = 0;
  std::uint64_t log_dropped_bytes = 0;
  std::uint64_t access_log_dropped_bytes = 0;
  // Process figures from /proc (0 when unknown).
  double process_cpu_seconds = 0;
  std::uint64_t process_resident_bytes = 0;
  std::uint64_t process_open_fds = 0;
  std::uint64_t process_threads = 0;
  double process_start_time_seconds = 0;

  // Sums the workers' slots into this snapshot.
  void add_worker(const WorkerMetrics& worker);
};

// The Prometheus text exposition format (version 0.0.4), HELP and TYPE lines included.
void render_prometheus(const Snapshot& snapshot, std::string& out);

// Reads this process's CPU time, resident memory, open descriptors, threads and start time.
void read_process_figures(Snapshot& snapshot);

}  // namespace iocomp::metrics
