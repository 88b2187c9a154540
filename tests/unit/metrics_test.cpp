// The metrics: a request record moves the right counters, and the Prometheus rendering is
// well-formed (the integration test parses it with the Prometheus client's own parser).
#include "metrics/metrics.hpp"

#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>

#include "server/status_line.hpp"

namespace iocomp::metrics {
namespace {

log::RequestRecord record(log::RequestProtocol protocol, int status, std::uint64_t bytes,
                          std::uint64_t us, log::RequestEnd end = log::RequestEnd::complete) {
  log::RequestRecord r;
  r.protocol = protocol;
  r.status = status;
  r.bytes_sent = bytes;
  r.duration_us = us;
  r.end = end;
  return r;
}

// name{labels} -> value, for the samples of a rendering.
std::map<std::string, std::string> samples(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    const std::size_t space = line.rfind(' ');
    out[line.substr(0, space)] = line.substr(space + 1);
  }
  return out;
}

TEST(Metrics, RecordCountsByProtocolStatusClassBytesAndDuration) {
  WorkerMetrics worker;
  worker.record(record(log::RequestProtocol::http, 200, 1000, 50));
  worker.record(record(log::RequestProtocol::http, 206, 500, 300));
  worker.record(record(log::RequestProtocol::line, 404, 22, 100));  // on the bound: le=100us
  worker.record(
      record(log::RequestProtocol::http, 200, 7, 90000000, log::RequestEnd::send_timeout));
  Snapshot s;
  s.add_worker(worker);
  EXPECT_EQ(s.requests[1][1], 3u);
  EXPECT_EQ(s.requests[0][3], 1u);
  EXPECT_EQ(s.bytes_sent, 1529u);
  EXPECT_EQ(s.duration[0], 2u);                     // 50 and 100 us
  EXPECT_EQ(s.duration[2], 1u);                     // 300 us: le=500us
  EXPECT_EQ(s.duration[kDurationBuckets - 1], 1u);  // 90 s: +Inf
  EXPECT_EQ(s.errors[static_cast<std::size_t>(ErrorKind::send_timeout)], 1u);
}

TEST(Metrics, SnapshotSumsWorkers) {
  WorkerMetrics a;
  WorkerMetrics b;
  a.connections.add(3);
  b.connections.add(2);
  b.connections.add(-1);
  a.error(ErrorKind::header_timeout);
  b.error(ErrorKind::header_timeout);
  Snapshot s;
  s.add_worker(a);
  s.add_worker(b);
  ASSERT_EQ(s.worker_connections.size(), 2u);
  EXPECT_EQ(s.worker_connections[0], 3);
  EXPECT_EQ(s.worker_connections[1], 1);
  EXPECT_EQ(s.errors[static_cast<std::size_t>(ErrorKind::header_timeout)], 2u);
}

TEST(Metrics, RenderingHasTypedFamiliesAndCumulativeBuckets) {
  WorkerMetrics worker;
  worker.record(record(log::RequestProtocol::http, 200, 10, 50));
  worker.record(record(log::RequestProtocol::http, 200, 10, 2000));
  worker.record(record(log::RequestProtocol::http, 500, 10, 120000000));
  Snapshot s;
  s.version = "1.2.3";
  s.model = "com\"pletion";
  s.connections_open = 4;
  s.refused = {{"max_connections", 9}};
  s.add_worker(worker);
  s.has_thread_slot = true;
  s.add_worker(WorkerMetrics{});
  std::string text;
  render_prometheus(s, text);
  const auto m = samples(text);
  EXPECT_EQ(m.at("iocomp_build_info{version=\"1.2.3\",model=\"com\\\"pletion\"}"), "1");
  EXPECT_EQ(m.at("iocomp_connections_open"), "4");
  EXPECT_EQ(m.at("iocomp_connections_refused_total{reason=\"max_connections\"}"), "9");
  EXPECT_EQ(m.at("iocomp_worker_connections{worker=\"0\"}"), "0");
  EXPECT_EQ(m.at("iocomp_worker_connections{worker=\"threads\"}"), "0");
  EXPECT_EQ(m.at("iocomp_requests_total{protocol=\"http\",status=\"2xx\"}"), "2");
  EXPECT_EQ(m.at("iocomp_requests_total{protocol=\"http\",status=\"5xx\"}"), "1");
  EXPECT_EQ(m.at("iocomp_request_duration_seconds_bucket{le=\"0.000100\"}"), "1");
  EXPECT_EQ(m.at("iocomp_request_duration_seconds_bucket{le=\"0.002500\"}"), "2");
  EXPECT_EQ(m.at("iocomp_request_duration_seconds_bucket{le=\"60.000000\"}"), "2");
  EXPECT_EQ(m.at("iocomp_request_duration_seconds_bucket{le=\"+Inf\"}"), "3");
  EXPECT_EQ(m.at("iocomp_request_duration_seconds_count"), "3");
  EXPECT_EQ(m.at("iocomp_request_duration_seconds_sum"), "120.002050");
  // Every sample's family has a TYPE line before it.
  std::istringstream lines(text);
  std::string line;
  std::string typed;
  while (std::getline(lines, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      typed = line.substr(7, line.find(' ', 7) - 7);
    } else if (!line.empty() && line[0] != '#') {
      EXPECT_EQ(line.rfind(typed, 0), 0u) << line << " after TYPE " << typed;
    }
  }
}

TEST(Metrics, ProcessFiguresAreRead) {
  Snapshot s;
  read_process_figures(s);
  EXPECT_GT(s.process_resident_bytes, 0u);
  EXPECT_GT(s.process_open_fds, 0u);
  EXPECT_GE(s.process_threads, 1u);
  EXPECT_GT(s.process_start_time_seconds, 1.7e9);
}

TEST(StatusLine, ShowsRatesBetweenTwoSnapshots) {
  Snapshot before;
  Snapshot now;
  now.connections_open = 12;
  now.requests[1][1] = 300;
  before.requests[1][1] = 100;
  now.bytes_sent = 5000000;
  before.bytes_sent = 1000000;
  now.errors[0] = 2;
  EXPECT_EQ(server::status_text(now, before, 2.0),
            "iocomp  12 connections  100 req/s  2.0 MB/s  300 requests  2 errors");
}

}  // namespace
}  // namespace iocomp::metrics
