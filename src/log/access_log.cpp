#include "log/access_log.hpp"

#include <cstdio>

#include <fmt/format.h>

#include "log/escape.hpp"

namespace iocomp::log {
namespace {

constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// gmtime_r once per second and thread: a busy worker formats many lines in the same second.
const std::tm& utc(time_t seconds) {
  thread_local time_t cached = -1;
  thread_local std::tm tm{};
  if (seconds != cached) {
    gmtime_r(&seconds, &tm);
    cached = seconds;
  }
  return tm;
}

void append_or_dash(std::string& out, std::string_view text) {
  if (text.empty()) {
    out.push_back('-');
  } else {
    append_escaped(out, text);
  }
}

// A JSON string of the escaped text: after append_escaped the only backslashes are those of
// its \xHH escapes, and quotes and controls are gone, so doubling the backslashes is enough.
void append_json(std::string& out, std::string_view text) {
  thread_local std::string escaped_text;
  escaped_text.clear();
  append_escaped(escaped_text, text);
  out.push_back('"');
  for (const char c : escaped_text) {
    if (c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

void append_json_or_null(std::string& out, std::string_view text) {
  if (text.empty()) {
    out += "null";
  } else {
    append_json(out, text);
  }
}

// " [30/Nov/2026:16:30:00 +0000] \"", formatted once per second and thread.
std::string_view combined_time(time_t seconds) {
  thread_local time_t cached = -1;
  thread_local std::string text;
  if (seconds != cached) {
    const std::tm& tm = utc(seconds);
    text =
        fmt::format(" [{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000] \"", tm.tm_mday,
                    kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached = seconds;
  }
  return text;
}

void append_combined(std::string& out, const RequestRecord& r) {
  append_escaped(out, peer_address(r.peer));
  out += " - ";
  append_or_dash(out, r.user);
  out += combined_time(r.time.tv_sec);
  if (r.protocol == RequestProtocol::http && !r.method.empty()) {
    append_escaped(out, r.method);
    out.push_back(' ');
    append_escaped(out, r.target);
    fmt::format_to(std::back_inserter(out), " HTTP/1.{}", r.http_minor);
  } else {
    append_escaped(out, r.target);
  }
  fmt::format_to(std::back_inserter(out), "\" {} ", r.status);
  if (r.body_bytes == 0) {
    out.push_back('-');
  } else {
    fmt::format_to(std::back_inserter(out), "{}", r.body_bytes);
  }
  out += " \"";
  append_or_dash(out, r.referer);
  out += "\" \"";
  append_or_dash(out, r.user_agent);
  out += "\"\n";
}

void append_json_line(std::string& out, const RequestRecord& r) {
  const std::tm& tm = utc(r.time.tv_sec);
  fmt::format_to(std::back_inserter(out),
                 "{{\"time\":\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z\",\"client\":",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 static_cast<int>(r.time.tv_nsec / 1000000) % 1000);
  append_json(out, peer_address(r.peer));
  const std::string_view port = peer_port(r.peer);
  out += ",\"port\":";
  out += port.empty() ? std::string_view("null") : port;
  if (r.protocol == RequestProtocol::http && r.method.empty()) {
    // A request that could not be parsed: the target is the raw request line.
    out += ",\"protocol\":\"http\",\"method\":null,\"target\":";
    append_json(out, r.target);
    out += ",\"version\":null";
  } else if (r.protocol == RequestProtocol::http) {
    out += ",\"protocol\":\"http\",\"method\":";
    append_json(out, r.method);
    out += ",\"target\":";
    append_json(out, r.target);
    fmt::format_to(std::back_inserter(out), ",\"version\":\"HTTP/1.{}\"", r.http_minor);
  } else {
    out += ",\"protocol\":\"line\",\"method\":null,\"target\":";
    append_json(out, r.target);
    out += ",\"version\":null";
  }
  fmt::format_to(std::back_inserter(out),
                 ",\"status\":{},\"bytes_sent\":{},\"body_bytes\":{},\"duration_ms\":{}.{:03}"
                 ",\"user\":",
                 r.status, r.bytes_sent, r.body_bytes, r.duration_us / 1000, r.duration_us % 1000);
  append_json_or_null(out, r.user);
  out += ",\"user_agent\":";
  append_json_or_null(out, r.user_agent);
  out += ",\"referer\":";
  append_json_or_null(out, r.referer);
  out += ",\"ended\":\"";
  out += request_end_name(r.end);
  out += "\"}\n";
}

}  // namespace

std::string_view request_end_name(RequestEnd end) {
  switch (end) {
    case RequestEnd::complete:
      return "complete";
    case RequestEnd::client_gone:
      return "client_gone";
    case RequestEnd::send_timeout:
      return "send_timeout";
    case RequestEnd::file_shrank:
      return "file_shrank";
    case RequestEnd::failed:
      return "failed";
  }
  return "unknown";
}

std::string_view peer_address(std::string_view peer) {
  if (!peer.empty() && peer.front() == '[') {
    const std::size_t close = peer.find(']');
    return close == std::string_view::npos ? peer : peer.substr(1, close - 1);
  }
  const std::size_t colon = peer.rfind(':');
  return colon == std::string_view::npos ? peer : peer.substr(0, colon);
}

std::string_view peer_port(std::string_view peer) {
  const std::size_t colon = peer.rfind(':');
  if (colon == std::string_view::npos) return {};
  if (!peer.empty() && peer.front() == '[' && peer.find(']') > colon) return {};
  const std::string_view port = peer.substr(colon + 1);
  if (port.empty() || port.size() > 5) return {};
  for (const char c : port) {
    if (c < '0' || c > '9') return {};
  }
  return port;
}

void append_access_line(std::string& out, const RequestRecord& record, AccessFormat format) {
  if (format == AccessFormat::json) {
    append_json_line(out, record);
  } else {
    append_combined(out, record);
  }
}

}  // namespace iocomp::log
