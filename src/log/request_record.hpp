#pragma once
// One record per request, filled once by the session when the request ends, read by the access
// log and the metrics. Views point into the session's own storage and are valid only during the
// call that receives the record.
#include <cstdint>
#include <ctime>
#include <string_view>

namespace iocomp::log {

enum class RequestProtocol : std::uint8_t { line, http };

// How the request ended.
enum class RequestEnd : std::uint8_t {
  complete,      // every byte of the response was handed to the kernel
  client_gone,   // the send failed: the client reset or closed the connection
  send_timeout,  // the client stopped reading for --send-timeout
  file_shrank,   // the file got shorter during the transfer
  failed,        // the server could not produce the body (e.g. a listing read failed)
};
inline constexpr int kRequestEndCount = 5;

std::string_view request_end_name(RequestEnd end);

struct RequestRecord {
  timespec time{};        // wall clock when the request was read
  std::string_view peer;  // "ip:port", "[v6]:port"
  RequestProtocol protocol = RequestProtocol::http;
  // HTTP: the request line's parts (a request that could not be parsed: `method` empty and
  // `target` the raw request line); the line protocol: `target` is the name, `method` empty.
  std::string_view method;
  std::string_view target;
  int http_minor = 1;
  int status = 0;                // the line protocol: 200 sent, 404 refused
  std::uint64_t bytes_sent = 0;  // head and body bytes written to the socket
  std::uint64_t body_bytes = 0;  // bytes_sent without the response head
  std::uint64_t duration_us = 0;
  std::string_view user;  // authenticated user, empty when none
  std::string_view user_agent;
  std::string_view referer;
  RequestEnd end = RequestEnd::complete;
};

}  // namespace iocomp::log
