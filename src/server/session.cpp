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

}  // namespace

Session::Session(core::Channel& channel, log::EventLog& log, const SessionContext& context,
                 fs::OpenFileCache& cache, auth::Authenticator* authenticator)
    : channel_(channel),
      log_(log),
      context_(context),
      cache_(cache),
      responder_(context.root, cache, context.mime, context.cors, authenticator,
                 context.config.max_listing_entries) {}

Session::~Session() {
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
    response_.detail = "(authentication required)";
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
    response_.close = true;
    response_.detail = "(line too long)";
    response_.bytes().assign(protocol::kTransmitError);
    start_response();
    return input.size();
  }
  log_.event(channel_.peer(), "request {}", log::Untrusted{line.name});
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
    HttpResponder::respond_error(parsed.error_status, response_);
    start_response();
    return input.size();
  }
  log_.event(channel_.peer(), "request {} {}", log::Untrusted{request.method},
             log::Untrusted{request.target});
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

void Session::start_response() {
  sending_ = true;
  header_timer_running_ = false;  // the backend's send timer takes the connection's timer slot
  part_index_ = 0;
  source_done_ = false;
  response_bytes_ = 0;
  started_ = std::chrono::steady_clock::now();
  send_part();
}

void Session::send_part() {
  const ResponsePart& part = response_.parts[part_index_];
  core::FileRange range;
  if (part.file_length > 0) range = {response_.file->file.fd(), part.file_offset, part.file_length};
  channel_.send(part.bytes, part.body, range);
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
  if (error == 0 && ++part_index_ < response_.parts.size()) {
    send_part();
    return;
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
    close("receive failed");
  }
}

void Session::on_timeout(core::TimerKind kind) {
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
