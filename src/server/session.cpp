#include "server/session.hpp"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <new>
#include <variant>

#include "log/escape.hpp"
#include "protocol/line_parser.hpp"
#include "util/monotonic_clock.hpp"

namespace iocomp::server {
namespace {

std::string_view describe_error(int error) {
  if (error == core::kFileShrank) return "file shrank during the transfer";
  if (error == -ETIMEDOUT) return "send timeout: the client stopped reading";
  return std::strerror(-error);
}

log::RequestEnd request_end(int error) {
  if (error == 0) return log::RequestEnd::complete;
  if (error == core::kFileShrank) return log::RequestEnd::file_shrank;
  if (error == -ETIMEDOUT) return log::RequestEnd::send_timeout;
  if (error == -EIO) return log::RequestEnd::failed;
  return log::RequestEnd::client_gone;
}

// Where a session without a worker slot counts (tests, tools).
metrics::WorkerMetrics& unattached_metrics() {
  static metrics::WorkerMetrics metrics;
  return metrics;
}

}  // namespace

Session::Session(core::Channel& channel, log::EventLog& log, const SessionContext& context,
                 fs::OpenFileCache& cache, auth::Authenticator* authenticator,
                 metrics::WorkerMetrics* metrics)
    : channel_(channel),
      log_(log),
      metrics_(metrics != nullptr ? *metrics : unattached_metrics()),
      context_(context),
      cache_(cache),
      responder_(context.root, cache, context.mime, context.cors, authenticator,
                 context.config.max_listing_entries) {
  metrics_.connections.add(1);
}

Session::~Session() {
  metrics_.connections.add(-1);
  try {
    log_.event(channel_.peer(), "closed ({}) after {} requests",
               close_reason_.empty() ? std::string_view("connection ended") : close_reason_,
               requests_);
  } catch (const std::bad_alloc&) {
    // Out of memory: the connection goes without its log line.
  }
}

void Session::on_open() {
  log_.event(channel_.peer(), "accepted");
  channel_.set_timer(core::TimerKind::header);
  header_timer_running_ = true;
  channel_.receive();
}

std::size_t Session::skip_body(std::size_t available) {
  const std::size_t skip = available < body_to_discard_ ? available : body_to_discard_;
  body_to_discard_ -= skip;
  return skip;
}

void Session::on_receive(std::string_view bytes) {
  bytes.remove_prefix(skip_body(bytes.size()));
  input_.append(bytes);
  process();
}

void Session::process() {
  const ServerConfig& config = context_.config;
  while (!sending_ && !closing_ && !input_.empty() && body_to_discard_ == 0) {
    if (protocol_ == protocol::Protocol::undecided) {
      protocol_ = protocol::sniff_protocol(input_, config.max_request_line);
      if (protocol_ == protocol::Protocol::undecided) break;
    }
    const std::size_t used =
        protocol_ == protocol::Protocol::line ? handle_line(input_) : handle_http(input_);
    if (used == 0) break;
    input_.erase(0, used);
    input_.erase(0, skip_body(input_.size()));
  }
  if (sending_ || closing_) return;
  if (peer_closed_) {
    close("client closed");
    return;
  }
  if (channel_.draining() && input_.empty()) {
    close("server shutting down");
    return;
  }
  // The header timer runs from the first byte of a request (or from accept) to the end of its
  // head and body: bytes trickling in do not re-arm it, so a slowloris client is cut at
  // --header-timeout.
  if (input_.empty() && requests_ > 0 && body_to_discard_ == 0) {
    channel_.set_timer(core::TimerKind::idle);
    header_timer_running_ = false;
  } else if (!header_timer_running_) {
    channel_.set_timer(core::TimerKind::header);
    header_timer_running_ = true;
  }
  channel_.receive();
}

bool Session::last_request_allowed() const {
  const std::uint64_t limit = context_.config.max_requests_per_connection;
  return limit != 0 && requests_ >= limit;
}

std::size_t Session::handle_line(std::string_view input) {
  if (!context_.config.auth_file.empty()) {  // the line protocol cannot carry credentials
    log_.event(channel_.peer(), "error: line protocol refused: authentication required");
    ++requests_;
    response_.clear();
    response_.close = true;
    response_.status = 401;
    response_.detail = "(authentication required)";
    note_request(nullptr, {});
    response_.bytes().assign(
        "Authentication required: this server needs HTTP with a user name and password\r\n");
    start_response();
    return input.size();
  }
  const protocol::LineResult line = protocol::parse_line(input, context_.config.max_line);
  if (line.status == protocol::LineStatus::need_more) return 0;
  ++requests_;
  response_.clear();
  response_.close = last_request_allowed();
  if (line.status == protocol::LineStatus::too_long) {
    log_.event(channel_.peer(), "error: name longer than {} bytes", context_.config.max_line);
    metrics_.error(metrics::ErrorKind::line_too_long);
    note_request(nullptr, input.substr(0, context_.config.max_line));
    response_.close = true;
    response_.status = 400;
    response_.detail = "(line too long)";
    response_.bytes().assign(protocol::kTransmitError);
    start_response();
    return input.size();
  }
  log_.event(channel_.peer(), "request {}", log::Untrusted{line.name});
  note_request(nullptr, line.name);
  response_.detail.assign(line.name);
  response_.cache_key.assign(line.name);
  auto opened = cache_.open(line.name, util::monotonic_ms());
  if (auto* file = std::get_if<std::shared_ptr<const fs::CachedFile>>(&opened)) {
    response_.file = std::move(*file);
    response_.body_bytes = response_.file->file.size();
    response_.append_file_range(0, response_.file->file.size());
    if (response_.parts.empty()) response_.bytes();  // an empty file: one empty send
  } else {
    const auto* error = std::get_if<fs::FileError>(&opened);
    const std::string_view why = error != nullptr ? fs::describe(*error) : "is a directory";
    log_.event(channel_.peer(), "error: {}: {}", log::Untrusted{line.name}, why);
    response_.status = 404;
    response_.bytes().assign(protocol::kTransmitError);
  }
  start_response();
  return line.consumed;
}

std::size_t Session::handle_http(std::string_view input) {
  http::Request request;
  const http::ParseResult parsed = http::parse_request(input, context_.http_limits, request);
  if (parsed.status == http::ParseStatus::need_more) return 0;
  ++requests_;
  if (parsed.status == http::ParseStatus::error) {
    log_.event(channel_.peer(), "error: malformed HTTP request ({})", parsed.error_status);
    metrics_.error(metrics::ErrorKind::malformed_request);
    // The record shows what came as the request line (cut at the limit), raw.
    std::string_view line = input.substr(0, input.find('\n'));
    if (line.size() > context_.config.max_request_line) {
      line = line.substr(0, context_.config.max_request_line);
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    note_request(nullptr, line);
    HttpResponder::respond_error(parsed.error_status, response_);
    start_response();
    return input.size();
  }
  log_.event(channel_.peer(), "request {} {}", log::Untrusted{request.method},
             log::Untrusted{request.target});
  note_request(&request, {});
  // A request body is skipped so the next request can be read, unless it is chunked (we do not
  // decode it) or large: then the response says "Connection: close" and the connection closes.
  const std::uint64_t body = request.content_length.value_or(0);
  const bool body_forces_close = !request.transfer_encoding.empty() || body > kMaxDrainedBody;
  const bool keep_alive = !channel_.draining() && !last_request_allowed() && !body_forces_close;
  responder_.respond(request, keep_alive, util::monotonic_ms(), response_);
  if (!body_forces_close) body_to_discard_ = body;
  start_response();
  return parsed.consumed;
}

void Session::note_request(const http::Request* request, std::string_view name) {
  record_time_ = log_.now();
  record_http_minor_ = request != nullptr ? request->version_minor : 1;
  if (!log_.access_enabled()) return;
  if (request != nullptr) {
    record_method_.assign(request->method);
    record_target_.assign(request->target);
    record_user_agent_.assign(request->user_agent);
    record_referer_.assign(request->referer);
  } else {
    record_method_.clear();
    record_target_.assign(name);
    record_user_agent_.clear();
    record_referer_.clear();
  }
}

void Session::finish_request(int error) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - started_)
                      .count();
  log::RequestRecord record;
  record.time = record_time_;
  record.peer = channel_.peer();
  record.protocol = protocol_ == protocol::Protocol::http ? log::RequestProtocol::http
                                                          : log::RequestProtocol::line;
  record.method = record_method_;
  record.target = record_target_;
  record.http_minor = record_http_minor_;
  record.status = response_.status;
  record.bytes_sent = response_bytes_;
  record.body_bytes =
      response_bytes_ > response_head_bytes_ ? response_bytes_ - response_head_bytes_ : 0;
  record.duration_us = us > 0 ? static_cast<std::uint64_t>(us) : 0;
  record.user = response_.user;
  record.user_agent = record_user_agent_;
  record.referer = record_referer_;
  record.end = request_end(error);
  metrics_.record(record);
  log_.access(record);
}

void Session::start_response() {
  sending_ = true;
  response_head_bytes_ = 0;
  if (protocol_ == protocol::Protocol::http && !response_.parts.empty()) {
    const std::string& first = response_.parts.front().bytes;
    const std::size_t end = first.find("\r\n\r\n");
    if (end != std::string::npos) response_head_bytes_ = end + 4;
  }
  header_timer_running_ = false;  // the backend's send timer takes the connection's timer slot
  part_index_ = 0;
  part_offset_ = 0;
  in_flight_ = 0;
  paced_sent_ = 0;
  if (context_.config.rate_limit != 0) pace_start_ms_ = util::monotonic_ms();
  source_done_ = false;
  response_bytes_ = 0;
  started_ = std::chrono::steady_clock::now();
  send_part();
}

std::uint64_t Session::pace_allowance() const {
  const std::uint64_t rate = context_.config.rate_limit;
  const std::int64_t elapsed_ms = util::monotonic_ms() - pace_start_ms_;
  const std::uint64_t burst = rate * static_cast<std::uint64_t>(kPaceBurstMs) / 1000 + 1;
  const std::uint64_t budget =
      rate / 1000 * static_cast<std::uint64_t>(elapsed_ms > 0 ? elapsed_ms : 0) +
      rate % 1000 * static_cast<std::uint64_t>(elapsed_ms > 0 ? elapsed_ms : 0) / 1000 + burst;
  return budget > paced_sent_ ? budget - paced_sent_ : 0;
}

void Session::send_part() {
  const ResponsePart& part = response_.parts[part_index_];
  std::uint64_t count = part.body.size() + part.file_length - part_offset_;
  if (context_.config.rate_limit != 0 && count > 0) {
    // Paced like nginx's limit_rate: send what the rate allows, then wait on the engine's
    // pace timer; no thread waits, and the connection's send timer runs only while sending.
    const std::uint64_t allowed = pace_allowance();
    if (allowed == 0) {
      channel_.set_timer(core::TimerKind::pace);
      return;
    }
    if (allowed < count) count = allowed;
  }
  const std::string_view head =
      part_offset_ == 0 ? std::string_view(part.bytes) : std::string_view();
  std::string_view body;
  std::uint64_t from = part_offset_;
  std::uint64_t left = count;
  if (from < part.body.size()) {
    body = part.body.substr(
        static_cast<std::size_t>(from),
        static_cast<std::size_t>(std::min<std::uint64_t>(left, part.body.size() - from)));
    left -= body.size();
    from = 0;
  } else {
    from -= part.body.size();
  }
  core::FileRange range;
  if (left > 0) range = {response_.file->file.fd(), part.file_offset + from, left};
  in_flight_ = count;
  channel_.send(head, body, range);
}

bool Session::send_body_piece(int& error) {
  if (response_.source == nullptr || source_done_) return false;
  piece_head_.clear();
  piece_body_.clear();
  const BodySource::Status status = response_.source->next(piece_body_);
  if (status == BodySource::Status::failed) {
    error = -EIO;
    return false;
  }
  source_done_ = status == BodySource::Status::done;
  if (response_.chunked) {
    // A zero-length chunk would end the body: a piece without bytes is sent as nothing at all.
    if (!piece_body_.empty()) {
      static constexpr char kHex[] = "0123456789abcdef";
      char digits[16];
      std::size_t n = 0;
      for (std::size_t size = piece_body_.size(); size != 0; size >>= 4) {
        digits[n++] = kHex[size & 15];
      }
      while (n > 0) piece_head_.push_back(digits[--n]);
      piece_head_.append("\r\n");
      piece_body_.append("\r\n");
    }
    if (source_done_) piece_body_.append("0\r\n\r\n");
  }
  if (source_done_ && piece_body_.empty()) return false;
  // An empty send (the source only did work) completes on a later loop turn: the worker serves
  // its other connections in between.
  channel_.send(piece_head_, piece_body_, {});
  return true;
}

void Session::on_sent(int error, std::uint64_t bytes) {
  response_bytes_ += bytes;
  if (error == 0 && part_index_ < response_.parts.size()) {
    part_offset_ += in_flight_;
    paced_sent_ += in_flight_;
    in_flight_ = 0;
    const ResponsePart& part = response_.parts[part_index_];
    if (part_offset_ < part.body.size() + part.file_length) {
      send_part();  // a rate-limited part goes on
      return;
    }
    part_offset_ = 0;
    if (++part_index_ < response_.parts.size()) {
      send_part();
      return;
    }
  }
  if (error == 0 && send_body_piece(error)) return;
  if (response_.source != nullptr) {
    // Up to a piece (about 32 KiB) per connection: not worth keeping while the connection idles.
    std::string().swap(piece_head_);
    std::string().swap(piece_body_);
  }
  sending_ = false;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started_)
                      .count();
  finish_request(error);
  if (error != 0) {
    log_.event(channel_.peer(), "error: transfer of {} aborted after {} bytes: {}",
               log::Untrusted{response_.detail}, response_bytes_, describe_error(error));
    if (error == core::kFileShrank) cache_.invalidate(response_.cache_key);
    response_.clear();
    close("transfer aborted");
    return;
  }
  if (protocol_ == protocol::Protocol::http && !response_.user.empty()) {
    log_.event(channel_.peer(), "transfer finished: {} {} (user {}), {} bytes in {} ms",
               response_.status, log::Untrusted{response_.detail}, log::Untrusted{response_.user},
               response_bytes_, ms);
  } else if (protocol_ == protocol::Protocol::http) {
    log_.event(channel_.peer(), "transfer finished: {} {}, {} bytes in {} ms", response_.status,
               log::Untrusted{response_.detail}, response_bytes_, ms);
  } else {
    log_.event(channel_.peer(), "transfer finished: {}, {} bytes in {} ms",
               log::Untrusted{response_.detail}, response_bytes_, ms);
  }
  const bool close_now = response_.close;
  response_.clear();
  if (close_now) {
    close("response requires close");
    return;
  }
  process();
}

void Session::on_receive_end(int error) {
  if (error == 0 && protocol_ == protocol::Protocol::undecided && !input_.empty()) {
    // The stream ended while empty lines kept the protocol open: they were the line
    // protocol's (HTTP has no request there), so they get its answers before the close.
    protocol_ = protocol::Protocol::line;
    peer_closed_ = true;
    process();
    return;
  }
  if (error == 0) {
    close("client closed");
  } else {
    log_.event(channel_.peer(), "error: receive failed: {}", std::strerror(-error));
    metrics_.error(metrics::ErrorKind::receive_error);
    close("receive failed");
  }
}

void Session::on_timeout(core::TimerKind kind) {
  if (kind == core::TimerKind::pace) {
    if (sending_ && part_index_ < response_.parts.size()) send_part();
    return;
  }
  if (kind == core::TimerKind::header) {
    metrics_.error(metrics::ErrorKind::header_timeout);
  } else {
    metrics_.keep_alive_timeouts.add();
  }
  log_.event(channel_.peer(), "error: {} timeout",
             kind == core::TimerKind::header ? "request header" : "keep-alive idle");
  close("timeout");
}

void Session::on_drain() {
  if (!sending_) close("server shutting down");
}

void Session::close(std::string_view reason) {
  if (close_reason_.empty()) close_reason_ = reason;
  closing_ = true;
  channel_.close();
}

}  // namespace iocomp::server
