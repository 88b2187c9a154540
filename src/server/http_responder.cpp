#include "server/http_responder.hpp"

#include <ctime>
#include <optional>
#include <variant>

#include <fmt/format.h>

#include "fs/directory_reader.hpp"
#include "http/accept.hpp"
#include "http/accept_encoding.hpp"
#include "http/basic_auth.hpp"
#include "http/conditional.hpp"
#include "http/directory_listing.hpp"
#include "http/http_date.hpp"
#include "http/percent_decode.hpp"
#include "http/query.hpp"
#include "http/range.hpp"
#include "http/status.hpp"
#include "server/listing_body.hpp"

#ifndef IOCOMP_VERSION
#define IOCOMP_VERSION "dev"
#endif

namespace iocomp::server {
namespace {

constexpr std::string_view kHtmlType = "text/html; charset=utf-8";
constexpr std::string_view kAllowHeader = "Allow: GET, HEAD, OPTIONS\r\n";
constexpr std::string_view kJsonType = "application/json";

// The Date header changes once a second: format it once per second per thread.
std::string_view current_http_date() {
  thread_local std::time_t cached_second = -1;
  thread_local char text[http::kHttpDateLength];
  const std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    http::format_http_date(now, text);
    cached_second = now;
  }
  return {text, sizeof text};
}

int status_for(fs::FileError error) {
  switch (error) {
    case fs::FileError::not_found:
    case fs::FileError::name_too_long:
      return 404;
    case fs::FileError::forbidden:
    case fs::FileError::not_regular:
      return 403;
    case fs::FileError::too_many_files:
      return 503;
    case fs::FileError::io_error:
      return 500;
  }
  return 500;
}

void append_date_header(std::string& out, std::string_view name, std::time_t t) {
  char text[http::kHttpDateLength];
  http::format_http_date(t, text);
  out.append(name).append(": ").append(text, sizeof text).append("\r\n");
}

// A complete response with a short HTML body (no body for HEAD).
void error_response(int status, bool head_only, Response& out,
                    std::string_view extra_headers = {}) {
  const std::string body = http::error_body(status);
  std::string& h = out.bytes();
  append_common_head(h, status, out);
  fmt::format_to(std::back_inserter(h), "Content-Type: {}\r\nContent-Length: {}\r\n", kHtmlType,
                 body.size());
  h.append(extra_headers);
  h.append("\r\n");
  if (!head_only) {
    h.append(body);
    out.body_bytes = body.size();
  }
  out.status = status;
}

}  // namespace

void Response::clear() {
  status = 200;
  close = false;
  announce_keep_alive = false;
  // Keep the first part's buffer: a keep-alive connection reuses it for every response.
  if (parts.size() > 1) parts.resize(1);
  if (!parts.empty()) {
    parts.front().bytes.clear();
    parts.front().body = {};
    parts.front().file_offset = parts.front().file_length = 0;
  }
  file.reset();
  detail.clear();
  cache_key.clear();
  user.clear();
  common_headers.clear();
  body_bytes = 0;
  source.reset();
  chunked = false;
}

std::string& Response::bytes() {
  if (parts.empty() || parts.back().has_payload()) parts.emplace_back();
  return parts.back().bytes;
}

void Response::append_file_range(std::uint64_t offset, std::uint64_t length) {
  if (length == 0) return;
  if (parts.empty() || parts.back().has_payload()) parts.emplace_back();
  if (file->has_body) {
    parts.back().body = std::string_view(file->body).substr(offset, length);
  } else {
    parts.back().file_offset = offset;
    parts.back().file_length = length;
  }
}

void append_common_head(std::string& out, int status, const Response& response) {
  fmt::format_to(std::back_inserter(out),
                 "HTTP/1.1 {} {}\r\nServer: iocomp/" IOCOMP_VERSION "\r\nDate: {}\r\n", status,
                 http::reason_phrase(status), current_http_date());
  if (response.close) {
    out.append("Connection: close\r\n");
  } else if (response.announce_keep_alive) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append(response.common_headers);
}

void HttpResponder::respond_error(int status, Response& out) {
  out.clear();
  out.close = true;
  out.detail = fmt::format("bad request ({})", status);
  error_response(status, false, out);
}

void HttpResponder::respond(const http::Request& request, bool keep_alive, std::int64_t now_ms,
                            Response& out) const {
  out.clear();
  out.close = !request.keep_alive || !keep_alive;
  out.announce_keep_alive = !out.close && request.version_minor == 0;
  const bool head_only = request.method_kind == http::Method::head;
  if (request.method_kind == http::Method::options) {  // before authentication: preflights
    respond_options(request, out);                     // cannot carry credentials
    return;
  }
  http::append_cors_headers(cors_, request.origin, out.common_headers);
  if (!authenticate(request, now_ms, out)) return;
  if (request.method_kind != http::Method::get && request.method_kind != http::Method::head) {
    out.detail = fmt::format("method {} not allowed", request.method);
    error_response(405, false, out, kAllowHeader);
    return;
  }
  if (request.version_minor >= 1 && !request.has_host) {
    out.detail = "HTTP/1.1 request without Host";
    out.close = true;
    error_response(400, head_only, out);
    return;
  }
  auto decoded = http::decode_request_path(request.target);
  if (const int* status = std::get_if<int>(&decoded)) {
    out.detail = "malformed path";
    error_response(*status, head_only, out);
    return;
  }
  const auto& path = std::get<http::DecodedPath>(decoded);
  auto opened = cache_.open(path.relative, now_ms);
  if (const auto* error = std::get_if<fs::FileError>(&opened)) {
    out.detail = fmt::format("/{}: {}", path.relative, fs::describe(*error));
    error_response(status_for(*error), head_only, out);
    return;
  }
  if (const auto* dir = std::get_if<fs::OpenFile>(&opened)) {
    respond_directory(request, path.relative, path.trailing_slash, *dir, now_ms, out);
    return;
  }
  if (path.trailing_slash) {
    // "/page.html/" names a directory that does not exist: serving the file there would break
    // its relative links and split caches (nginx answers 404 too).
    out.detail = fmt::format("/{}/: not a directory", path.relative);
    error_response(404, head_only, out);
    return;
  }
  respond_file(request, path.relative,
               std::get<std::shared_ptr<const fs::CachedFile>>(std::move(opened)), out);
}

void HttpResponder::respond_options(const http::Request& request, Response& out) const {
  if (request.version_minor >= 1 && !request.has_host) {
    out.detail = "HTTP/1.1 request without Host";
    out.close = true;
    error_response(400, false, out);
    return;
  }
  out.status = 204;
  std::string& h = out.bytes();
  if (http::is_preflight(request)) {
    const http::PreflightVerdict verdict =
        http::evaluate_preflight(cors_, request.origin, request.access_control_request_method,
                                 request.access_control_request_headers);
    out.detail = fmt::format("CORS preflight {}", http::describe(verdict));
    // A refused preflight is an ordinary OPTIONS answer: without CORS headers the browser
    // does not send the request.
    if (verdict == http::PreflightVerdict::allowed) {
      http::append_preflight_headers(cors_, request.origin, request.access_control_request_headers,
                                     out.common_headers);
    }
  } else {
    out.detail = "OPTIONS";
    http::append_cors_headers(cors_, request.origin, out.common_headers);
  }
  append_common_head(h, 204, out);
  h.append(kAllowHeader).append("\r\n");
}

bool HttpResponder::authenticate(const http::Request& request, std::int64_t now_ms,
                                 Response& out) const {
  if (authenticator_ == nullptr) return true;
  const auth::Verdict verdict = authenticator_->check(request.authorization, now_ms);
  switch (verdict.outcome) {
    case auth::Outcome::ok:
      out.user = verdict.user;
      return true;
    case auth::Outcome::missing:
      // The usual first request of a browser or wget: the challenge asks for credentials, and
      // the retry may come on this connection.
      out.detail = "authentication required";
      break;
    case auth::Outcome::malformed:
      out.detail = "authentication failed: malformed Authorization";
      break;
    case auth::Outcome::unknown_user:
      out.detail = fmt::format("authentication failed: unknown user {}", verdict.user);
      break;
    case auth::Outcome::wrong_password:
      out.detail = fmt::format("authentication failed: wrong password for user {}", verdict.user);
      break;
  }
  // After a failed attempt the connection closes: each new try costs the client a connection,
  // which --max-connections-per-ip bounds, instead of one connection hammering crypt.
  if (verdict.outcome != auth::Outcome::missing) out.close = true;
  error_response(401, request.method_kind == http::Method::head, out, http::kBasicChallenge);
  return false;
}

void HttpResponder::respond_file(const http::Request& request, std::string_view relative,
                                 std::shared_ptr<const fs::CachedFile> cached,
                                 Response& out) const {
  const bool head_only = request.method_kind == http::Method::head;
  // A pre-compressed variant replaces the file's bytes and validators; the name still gives the
  // type. Every response for a name with variants says Vary, so that caches keep them apart.
  std::optional<http::Coding> coding;
  if (cached->variant_mask != 0) {
    coding = http::choose_coding(request.accept_encoding, cached->variant_mask);
  }
  const std::string_view vary = cached->variant_mask != 0
                                    ? std::string_view("Vary: Accept-Encoding\r\n")
                                    : std::string_view();
  // For 200 and 206 only: a 304 carries the validators, not the representation's metadata.
  const std::string content_encoding =
      coding ? fmt::format("Content-Encoding: {}\r\n", http::coding_token(*coding)) : std::string();
  const fs::CachedFile& chosen = coding ? cached->variant(*coding) : *cached;
  if (coding) {
    out.detail = fmt::format("/{} ({})", relative, http::coding_token(*coding));
  } else {
    out.detail = fmt::format("/{}", relative);
  }
  const fs::OpenFile& file = chosen.file;
  const std::uint64_t size = file.size();
  const std::string etag = http::make_etag(file.inode(), size, file.mtime_ns());
  const http::Validators validators{etag, file.mtime(), std::time(nullptr)};

  const http::Precondition precondition = http::evaluate_preconditions(request, validators);
  if (precondition == http::Precondition::failed) {
    error_response(412, head_only, out, vary);
    return;
  }
  std::string& h = out.bytes();
  const auto append_validators = [&] {
    h.append("Accept-Ranges: bytes\r\nETag: ").append(etag).append("\r\n");
    append_date_header(h, "Last-Modified", validators.last_modified);
    h.append(vary);
  };
  if (precondition == http::Precondition::not_modified) {
    append_common_head(h, 304, out);
    append_validators();
    h.append("\r\n");
    out.status = 304;
    return;
  }

  http::RangeSet ranges;
  if (!request.range.empty() && http::if_range_allows_partial(request.if_range, validators)) {
    ranges = http::evaluate_range(request.range, size);
  }
  if (ranges.outcome == http::RangeOutcome::unsatisfiable) {
    error_response(416, head_only, out, fmt::format("Content-Range: bytes */{}\r\n{}", size, vary));
    return;
  }
  const std::string_view type = mime_.lookup(relative);
  // The cache key stays `relative`: a variant found shorter than cached drops the entry that
  // holds it.
  out.file = coding ? cached->variants[static_cast<std::size_t>(*coding)] : std::move(cached);
  out.cache_key.assign(relative);

  if (ranges.outcome == http::RangeOutcome::full) {
    append_common_head(h, 200, out);
    fmt::format_to(std::back_inserter(h), "Content-Type: {}\r\nContent-Length: {}\r\n", type, size);
    h.append(content_encoding);
    append_validators();
    h.append("\r\n");
    out.status = 200;
    if (!head_only) {
      out.body_bytes = size;
      out.append_file_range(0, size);
    }
    return;
  }
  out.status = 206;
  if (ranges.ranges.size() == 1) {
    const http::ByteRange& r = ranges.ranges.front();
    append_common_head(h, 206, out);
    fmt::format_to(std::back_inserter(h),
                   "Content-Type: {}\r\nContent-Length: {}\r\nContent-Range: bytes {}-{}/{}\r\n",
                   type, r.length(), r.first, r.last, size);
    h.append(content_encoding);
    append_validators();
    h.append("\r\n");
    if (!head_only) {
      out.body_bytes = r.length();
      out.append_file_range(r.first, r.length());
    }
    return;
  }
  // multipart/byteranges: a part header before each range and a closing delimiter. The coding
  // goes in each part's header, beside the type it qualifies: at the top it would claim that
  // the multipart body itself is compressed.
  const std::string boundary = fmt::format("iocomp-{:016x}", file.inode() ^ file.mtime_ns());
  std::vector<std::string> part_heads;
  std::uint64_t length = 0;
  for (std::size_t i = 0; i < ranges.ranges.size(); ++i) {
    const http::ByteRange& r = ranges.ranges[i];
    part_heads.push_back(
        fmt::format("{}--{}\r\nContent-Type: {}\r\n{}Content-Range: bytes {}-{}/{}\r\n\r\n",
                    i == 0 ? "" : "\r\n", boundary, type, content_encoding, r.first, r.last, size));
    length += part_heads.back().size() + r.length();
  }
  const std::string closing = fmt::format("\r\n--{}--\r\n", boundary);
  length += closing.size();
  append_common_head(h, 206, out);
  fmt::format_to(std::back_inserter(h),
                 "Content-Type: multipart/byteranges; boundary={}\r\nContent-Length: {}\r\n",
                 boundary, length);
  append_validators();
  h.append("\r\n");
  if (head_only) return;
  out.body_bytes = length;
  for (std::size_t i = 0; i < ranges.ranges.size(); ++i) {
    out.bytes().append(part_heads[i]);
    out.append_file_range(ranges.ranges[i].first, ranges.ranges[i].length());
  }
  out.bytes().append(closing);
}

void HttpResponder::respond_directory(const http::Request& request, std::string_view relative,
                                      bool trailing_slash, const fs::OpenFile& dir,
                                      std::int64_t now_ms, Response& out) const {
  const bool head_only = request.method_kind == http::Method::head;
  std::string url_path = "/";
  std::string location = "/";
  if (!relative.empty()) {
    std::size_t start = 0;
    while (start <= relative.size()) {
      std::size_t end = relative.find('/', start);
      if (end == std::string_view::npos) end = relative.size();
      location.append(http::percent_encode_segment(relative.substr(start, end - start)))
          .append("/");
      start = end + 1;
    }
    url_path.append(relative).append("/");
  }
  if (!trailing_slash) {  // also "/sub/..": relative links only work from a URL ending in '/'
    out.detail = fmt::format("redirect to {}", location);
    error_response(301, head_only, out, fmt::format("Location: {}\r\n", location));
    return;
  }

  std::string index_name(relative);
  if (!index_name.empty()) index_name.push_back('/');
  index_name.append("index.html");
  auto index = cache_.open(index_name, now_ms);
  if (auto* file = std::get_if<std::shared_ptr<const fs::CachedFile>>(&index)) {
    respond_file(request, index_name, std::move(*file), out);
    return;
  }

  // Only what the request says is decided here; the directory is read while the body is sent
  // (ListingBody), and not at all for HEAD.
  const std::string_view query = http::query_of(request.target);
  const http::ListingOrder order = http::listing_order_from_query(query);
  const std::optional<std::string> format = http::query_parameter(query, "format");
  const bool json = format && (*format == "json" || *format == "html")
                        ? *format == "json"
                        : http::prefers_json(request.accept);
  if (!head_only) {
    auto reader = fs::DirectoryReader::open(root_, dir, relative);
    if (const auto* error = std::get_if<fs::FileError>(&reader)) {
      out.detail = fmt::format("{}: {}", url_path, fs::describe(*error));
      error_response(status_for(*error), head_only, out);
      return;
    }
    out.source =
        std::make_unique<ListingBody>(std::get<fs::DirectoryReader>(std::move(reader)),
                                      json ? http::ListingFormat::json : http::ListingFormat::html,
                                      url_path, order, max_listing_entries_);
  }
  // The length is known only at the end: HTTP/1.1 frames the body in chunks, HTTP/1.0 ends it
  // by closing the connection. HEAD answers with the same head and sends nothing.
  out.chunked = request.version_minor >= 1;
  if (!out.chunked) {
    out.close = true;
    out.announce_keep_alive = false;
  }
  std::string& h = out.bytes();
  append_common_head(h, 200, out);
  fmt::format_to(std::back_inserter(h), "Content-Type: {}\r\nVary: Accept\r\n{}\r\n",
                 json ? kJsonType : kHtmlType, out.chunked ? "Transfer-Encoding: chunked\r\n" : "");
  out.status = 200;
  out.detail = url_path;
}

}  // namespace iocomp::server
