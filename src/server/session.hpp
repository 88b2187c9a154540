#pragma once
// A connection's protocol state machine: the one place where a backend (bytes in, sends out,
// timers) meets the protocols (line protocol, HTTP/1.1). The first line decides the protocol.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/authenticator.hpp"
#include "core/channel.hpp"
#include "fs/file_root.hpp"
#include "fs/open_file_cache.hpp"
#include "http/cors.hpp"
#include "http/mime_types.hpp"
#include "http/request_parser.hpp"
#include "log/event_log.hpp"
#include "log/request_record.hpp"
#include "metrics/metrics.hpp"
#include "protocol/protocol_sniffer.hpp"
#include "server/http_responder.hpp"
#include "server/server_config.hpp"

namespace iocomp::server {

// Shared, read-only after start-up: one per server, used by every session on every worker.
struct SessionContext {
  const ServerConfig& config;
  const fs::FileRoot& root;
  const http::MimeTypes& mime;
  http::ParserLimits http_limits;
  http::CorsPolicy cors;
};

class Session final : public core::SessionHandler {
 public:
  // Request bodies up to this size are read and discarded to keep the connection; larger ones
  // (and chunked ones) are answered with "Connection: close".
  static constexpr std::uint64_t kMaxDrainedBody = 65536;
  // A rate-limited response may send this much of its rate at once (the engine's pace period).
  static constexpr int kPaceBurstMs = 100;

  // `authenticator`: the worker's, nullptr when authentication is off. `metrics`: the worker's
  // slot (nullptr: counted nowhere, e.g. in tests).
  Session(core::Channel& channel, log::EventLog& log, const SessionContext& context,
          fs::OpenFileCache& cache, auth::Authenticator* authenticator = nullptr,
          metrics::WorkerMetrics* metrics = nullptr);
  ~Session() override;

  void on_open() override;
  void on_receive(std::string_view bytes) override;
  void on_receive_end(int error) override;
  void on_sent(int error, std::uint64_t bytes) override;
  void on_timeout(core::TimerKind kind) override;
  void on_drain() override;
  // A session sends file ranges through the engine (sendfile): it never asks Channel::warm.
  void on_warmed() override {}

 private:
  // Handles complete requests at the front of input_ until one starts a send or more bytes are
  // needed; then asks for input or closes.
  void process();
  // Each returns the bytes consumed from `input`, 0 when it needs more.
  std::size_t handle_line(std::string_view input);
  std::size_t handle_http(std::string_view input);
  // True when this request is the last --max-requests-per-connection allows.
  bool last_request_allowed() const;
  // Consumes up to `available` bytes of a request body being discarded; returns how many.
  std::size_t skip_body(std::size_t available);
  // Remembers what the request record needs of a request being answered (the strings only when
  // the access log is on: the request's bytes are gone by the time the response ends).
  void note_request(const http::Request* request, std::string_view name);
  void start_response();
  // Bytes a rate-limited response may send now (--rate-limit): what the rate allows since the
  // response began, plus a burst of one pace period, less what was sent.
  std::uint64_t pace_allowance() const;
  // Fills the request record of the response that just ended and hands it to the access log and
  // the metrics: the one place a request is accounted for.
  void finish_request(int error);
  void send_part();
  // Sends the next piece of response_.source (framed as a chunk when the response is chunked);
  // false when nothing is left to send, with `error` set when the source failed.
  bool send_body_piece(int& error);
  // `reason` is a string literal, shown in the "closed" event.
  void close(std::string_view reason);

  core::Channel& channel_;
  log::EventLog& log_;
  metrics::WorkerMetrics& metrics_;
  const SessionContext& context_;
  fs::OpenFileCache& cache_;
  const HttpResponder responder_;

  protocol::Protocol protocol_ = protocol::Protocol::undecided;
  std::string input_;
  std::uint64_t body_to_discard_ = 0;  // request body bytes still to skip (HTTP)
  bool sending_ = false;
  bool header_timer_running_ = false;
  bool closing_ = false;
  bool peer_closed_ = false;  // the client's end of stream arrived; answer what is left, close
  std::string_view close_reason_;
  std::uint64_t requests_ = 0;

  Response response_;
  std::size_t part_index_ = 0;
  std::uint64_t part_offset_ = 0;  // payload bytes of the current part already sent (paced)
  std::uint64_t in_flight_ = 0;    // payload bytes of the send in flight
  std::uint64_t paced_sent_ = 0;   // payload bytes of this response sent so far
  std::int64_t pace_start_ms_ = 0;
  // The piece of a streamed body in flight: chunk-size line, then data and framing.
  std::string piece_head_;
  std::string piece_body_;
  bool source_done_ = false;
  std::uint64_t response_bytes_ = 0;
  std::chrono::steady_clock::time_point started_;

  // The request being answered, for its record.
  int record_http_minor_ = 1;
  timespec record_time_{};
  std::size_t response_head_bytes_ = 0;
  std::string record_method_;
  std::string record_target_;
  std::string record_user_agent_;
  std::string record_referer_;
};

}  // namespace iocomp::server
