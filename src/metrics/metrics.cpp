#include "metrics/metrics.hpp"

#ifndef _WIN32
#include <dirent.h>
#include <unistd.h>
#endif

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace iocomp::metrics {
namespace {

constexpr std::string_view kProtocolNames[kProtocols] = {"line", "http"};
constexpr std::string_view kClassNames[kStatusClasses] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

std::size_t status_class(int status) {
  if (status < 100) return 4;  // not a status a client saw: counted as a server error
  const auto index = static_cast<std::size_t>(status / 100 - 1);
  return index < kStatusClasses ? index : 4;
}

std::size_t duration_bucket(std::uint64_t us) {
  std::size_t i = 0;
  while (i < kDurationBoundsUs.size() && us > kDurationBoundsUs[i]) ++i;
  return i;
}

// Label values are ours, but escape them as the format asks anyway.
void append_label_value(std::string& out, std::string_view value) {
  for (const char c : value) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

template <typename T>
void sample(std::string& out, std::string_view name, T value) {
  fmt::format_to(std::back_inserter(out), "{} {}\n", name, value);
}

// A seconds value with microsecond precision, as Prometheus expects floats.
std::string seconds(std::uint64_t us) {
  return fmt::format("{}.{:06}", us / 1000000, us % 1000000);
}

}  // namespace

std::string_view error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::malformed_request:
      return "malformed_request";
    case ErrorKind::line_too_long:
      return "line_too_long";
    case ErrorKind::header_timeout:
      return "header_timeout";
    case ErrorKind::receive_error:
      return "receive_error";
    case ErrorKind::client_gone:
      return "client_gone";
    case ErrorKind::send_timeout:
      return "send_timeout";
    case ErrorKind::file_shrank:
      return "file_shrank";
    case ErrorKind::body_failed:
      return "body_failed";
  }
  return "unknown";
}

void WorkerMetrics::record(const log::RequestRecord& r) {
  const std::size_t protocol = r.protocol == log::RequestProtocol::http ? 1 : 0;
  requests[protocol][status_class(r.status)].add();
  bytes_sent.add(r.bytes_sent);
  duration[duration_bucket(r.duration_us)].add();
  duration_sum_us.add(r.duration_us);
  switch (r.end) {
    case log::RequestEnd::complete:
      break;
    case log::RequestEnd::client_gone:
      error(ErrorKind::client_gone);
      break;
    case log::RequestEnd::send_timeout:
      error(ErrorKind::send_timeout);
      break;
    case log::RequestEnd::file_shrank:
      error(ErrorKind::file_shrank);
      break;
    case log::RequestEnd::failed:
      error(ErrorKind::body_failed);
      break;
  }
}

void Snapshot::add_worker(const WorkerMetrics& worker) {
  worker_connections.push_back(worker.connections.get());
  keep_alive_timeouts += worker.keep_alive_timeouts.get();
  for (std::size_t p = 0; p < kProtocols; ++p) {
    for (std::size_t c = 0; c < kStatusClasses; ++c) requests[p][c] += worker.requests[p][c].get();
  }
  bytes_sent += worker.bytes_sent.get();
  for (std::size_t b = 0; b < kDurationBuckets; ++b) duration[b] += worker.duration[b].get();
  duration_sum_us += worker.duration_sum_us.get();
  for (std::size_t e = 0; e < kErrorKinds; ++e) errors[e] += worker.errors[e].get();
}

void render_prometheus(const Snapshot& s, std::string& out) {
  auto it = std::back_inserter(out);
  header(out, "iocomp_build_info", "gauge", "Version and server model of this iocomp.");
  out += "iocomp_build_info{version=\"";
  append_label_value(out, s.version);
  out += "\",model=\"";
  append_label_value(out, s.model);
  out += "\"} 1\n";

  header(out, "iocomp_connections_open", "gauge", "Connections open now.");
  sample(out, "iocomp_connections_open", s.connections_open);
  header(out, "iocomp_connections_accepted_total", "counter",
         "Connections accepted (before admission).");
  sample(out, "iocomp_connections_accepted_total", s.connections_accepted);
  header(out, "iocomp_connections_refused_total", "counter",
         "Connections closed without being served, by reason.");
  for (const auto& [reason, count] : s.refused) {
    out += "iocomp_connections_refused_total{reason=\"";
    append_label_value(out, reason);
    fmt::format_to(it, "\"}} {}\n", count);
  }
  if (!s.proxy_headers.empty()) {
    header(out, "iocomp_proxy_headers_total", "counter",
           "Connections served after a PROXY protocol header, by kind (refused ones are in "
           "iocomp_connections_refused_total, reason proxy_*).");
    for (const auto& [kind, count] : s.proxy_headers) {
      out += "iocomp_proxy_headers_total{kind=\"";
      append_label_value(out, kind);
      fmt::format_to(it, "\"}} {}\n", count);
    }
  }
  header(out, "iocomp_worker_connections", "gauge",
         "Connections open now, per worker (\"threads\": the connection threads of "
         "thread-per-connection).");
  for (std::size_t i = 0; i < s.worker_connections.size(); ++i) {
    const bool threads = s.has_thread_slot && i + 1 == s.worker_connections.size();
    if (threads) {
      fmt::format_to(it, "iocomp_worker_connections{{worker=\"threads\"}} {}\n",
                     s.worker_connections[i]);
    } else {
      fmt::format_to(it, "iocomp_worker_connections{{worker=\"{}\"}} {}\n", i,
                     s.worker_connections[i]);
    }
  }
  header(out, "iocomp_keepalive_timeouts_total", "counter",
         "Idle keep-alive connections closed at --idle-timeout.");
  sample(out, "iocomp_keepalive_timeouts_total", s.keep_alive_timeouts);

  header(out, "iocomp_requests_total", "counter",
         "Requests answered, by protocol and status class.");
  for (std::size_t p = 0; p < kProtocols; ++p) {
    for (std::size_t c = 0; c < kStatusClasses; ++c) {
      fmt::format_to(it, "iocomp_requests_total{{protocol=\"{}\",status=\"{}\"}} {}\n",
                     kProtocolNames[p], kClassNames[c], s.requests[p][c]);
    }
  }
  header(out, "iocomp_sent_bytes_total", "counter", "Bytes of responses written to sockets.");
  sample(out, "iocomp_sent_bytes_total", s.bytes_sent);

  header(out, "iocomp_request_duration_seconds", "histogram",
         "Time from reading a request to handing its last byte to the kernel.");
  std::uint64_t cumulative = 0;
  for (std::size_t b = 0; b < kDurationBuckets; ++b) {
    cumulative += s.duration[b];
    if (b < kDurationBoundsUs.size()) {
      fmt::format_to(it, "iocomp_request_duration_seconds_bucket{{le=\"{}\"}} {}\n",
                     seconds(kDurationBoundsUs[b]), cumulative);
    } else {
      fmt::format_to(it, "iocomp_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\n", cumulative);
    }
  }
  sample(out, "iocomp_request_duration_seconds_sum", seconds(s.duration_sum_us));
  sample(out, "iocomp_request_duration_seconds_count", cumulative);

  header(out, "iocomp_errors_total", "counter", "Errors, by kind.");
  for (std::size_t e = 0; e < kErrorKinds; ++e) {
    fmt::format_to(it, "iocomp_errors_total{{kind=\"{}\"}} {}\n",
                   error_kind_name(static_cast<ErrorKind>(e)), s.errors[e]);
  }
  header(out, "iocomp_file_cache_hits_total", "counter",
         "File lookups answered by the open-file cache.");
  sample(out, "iocomp_file_cache_hits_total", s.cache_hits);
  header(out, "iocomp_file_cache_misses_total", "counter",
         "File lookups that went to the file system.");
  sample(out, "iocomp_file_cache_misses_total", s.cache_misses);
  header(out, "iocomp_log_dropped_bytes_total", "counter",
         "Log bytes dropped because the output could not keep up, by log.");
  fmt::format_to(it, "iocomp_log_dropped_bytes_total{{log=\"events\"}} {}\n", s.log_dropped_bytes);
  fmt::format_to(it, "iocomp_log_dropped_bytes_total{{log=\"access\"}} {}\n",
                 s.access_log_dropped_bytes);

  header(out, "process_cpu_seconds_total", "counter", "User and system CPU time spent.");
  sample(out, "process_cpu_seconds_total", fmt::format("{:.2f}", s.process_cpu_seconds));
  header(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  sample(out, "process_resident_memory_bytes", s.process_resident_bytes);
  header(out, "process_open_fds", "gauge", "Open file descriptors.");
  sample(out, "process_open_fds", s.process_open_fds);
  header(out, "process_threads", "gauge", "Threads of the process.");
  sample(out, "process_threads", s.process_threads);
  header(out, "process_start_time_seconds", "gauge",
         "Start time of the process since the Unix epoch in seconds.");
  sample(out, "process_start_time_seconds", fmt::format("{:.2f}", s.process_start_time_seconds));
}

#ifdef _WIN32
void read_process_figures(Snapshot&) {}  // no /proc (and no --admin) on Windows
#else
void read_process_figures(Snapshot& s) {
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const long page = ::sysconf(_SC_PAGESIZE);
  if (std::FILE* f = std::fopen("/proc/self/stat", "re")) {
    char buffer[1024];
    const std::size_t n = std::fread(buffer, 1, sizeof buffer - 1, f);
    std::fclose(f);
    buffer[n] = '\0';
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    if (const char* p = std::strrchr(buffer, ')')) {
      std::istringstream fields(p + 2);
      std::string field;
      unsigned long long utime = 0;
      unsigned long long stime = 0;
      unsigned long long threads = 0;
      unsigned long long start = 0;
      for (int index = 3; fields >> field; ++index) {  // field 3 is the state
        if (index == 14) utime = std::stoull(field);
        if (index == 15) stime = std::stoull(field);
        if (index == 20) threads = std::stoull(field);
        if (index == 22) {
          start = std::stoull(field);
          break;
        }
      }
      if (ticks > 0) {
        s.process_cpu_seconds = static_cast<double>(utime + stime) / ticks;
        std::ifstream stat("/proc/stat");
        std::string key;
        unsigned long long boot = 0;
        while (stat >> key) {
          if (key == "btime") {
            stat >> boot;
            break;
          }
          stat.ignore(1 << 20, '\n');
        }
        s.process_start_time_seconds =
            static_cast<double>(boot) + static_cast<double>(start) / ticks;
      }
      s.process_threads = threads;
    }
  }
  if (std::FILE* f = std::fopen("/proc/self/statm", "re")) {
    unsigned long long size = 0;
    unsigned long long resident = 0;
    if (std::fscanf(f, "%llu %llu", &size, &resident) == 2 && page > 0) {
      s.process_resident_bytes = resident * static_cast<unsigned long long>(page);
    }
    std::fclose(f);
  }
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    std::uint64_t count = 0;
    while (const dirent* entry = ::readdir(dir)) {
      if (entry->d_name[0] != '.') ++count;
    }
    ::closedir(dir);
    s.process_open_fds = count > 0 ? count - 1 : 0;  // less the descriptor of the listing itself
  }
}
#endif

}  // namespace iocomp::metrics
