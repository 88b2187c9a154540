#pragma once
// Turns one parsed HTTP request into a response: status line, headers and the body as bytes or
// as ranges of an open file. Touches the file system only through fs::FileRoot; knows nothing
// of sockets or of the backends.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/authenticator.hpp"
#include "fs/file_root.hpp"
#include "fs/open_file_cache.hpp"
#include "http/cors.hpp"
#include "http/mime_types.hpp"
#include "http/request_parser.hpp"

namespace iocomp::server {

// One piece of a response, sent with one Channel::send: own bytes (the head), then either a
// view of the cached file's bytes (a small file: no copy) or a range of the file (sendfile).
struct ResponsePart {
  std::string bytes;
  std::string_view body;  // into Response::file->body
  std::uint64_t file_offset = 0;
  std::uint64_t file_length = 0;

  bool has_payload() const { return !body.empty() || file_length > 0; }
};

// The rest of a response body, produced while it is sent, a bounded piece at a time (a directory
// listing): what one call costs in memory and time is bounded, whatever the size of the body.
class BodySource {
 public:
  enum class Status { more, done, failed };
  virtual ~BodySource() = default;
  // Appends the next piece of the body to `out`. `out` may stay empty with Status::more: the
  // source did a bounded amount of work and is to be called again on a later loop turn, after
  // the worker's other connections. done: `out` holds the last bytes (possibly none); failed:
  // the body cannot be completed (the connection must close, the response is cut short).
  virtual Status next(std::string& out) = 0;
};

// A response as a sequence of parts, each sent with one Channel::send. A small file's head and
// body leave in one send (two iovecs), and the body is never copied per request.
struct Response {
  int status = 200;
  bool close = false;                // send "Connection: close" and close after the response
  bool announce_keep_alive = false;  // HTTP/1.0 keep-alive: say "Connection: keep-alive"
  std::vector<ResponsePart> parts;
  std::shared_ptr<const fs::CachedFile> file;  // kept alive while the parts are being sent
  std::string detail;                          // for the log: the file name or the error
  std::string cache_key;  // the cache entry holding `file` (a variant: that of its name)
  std::string user;       // authenticated user name, for the log
  // Header lines that append_common_head adds to every head of this response (CORS).
  std::string common_headers;
  std::uint64_t body_bytes = 0;
  // After the parts: the rest of the body, of a length not known in advance, framed with
  // Transfer-Encoding: chunked when `chunked`, else delimited by closing the connection
  // (HTTP/1.0: `close` is set).
  std::unique_ptr<BodySource> source;
  bool chunked = false;

  void clear();
  // The bytes under construction (creates the first part).
  std::string& bytes();
  void append_file_range(std::uint64_t offset, std::uint64_t length);
};

class HttpResponder {
 public:
  // `authenticator`: this worker's, or nullptr when authentication is off.
  HttpResponder(const fs::FileRoot& root, fs::OpenFileCache& cache, const http::MimeTypes& mime,
                const http::CorsPolicy& cors, auth::Authenticator* authenticator,
                std::size_t max_listing_entries = 10000)
      : root_(root),
        cache_(cache),
        mime_(mime),
        cors_(cors),
        authenticator_(authenticator),
        max_listing_entries_(max_listing_entries) {}

  // Builds the response to `request`. `keep_alive` is what the connection can still offer
  // (false when draining). now_ms: monotonic milliseconds, for the file cache.
  void respond(const http::Request& request, bool keep_alive, std::int64_t now_ms,
               Response& out) const;

  // A response for a request that could not be parsed (400, 414, 431, 501, 505): always closes.
  static void respond_error(int status, Response& out);

 private:
  // OPTIONS: a CORS preflight, or a question about the methods we allow.
  void respond_options(const http::Request& request, Response& out) const;
  // False after building a 401: `request` lacks valid credentials.
  bool authenticate(const http::Request& request, std::int64_t now_ms, Response& out) const;
  void respond_file(const http::Request& request, std::string_view relative,
                    std::shared_ptr<const fs::CachedFile> file, Response& out) const;
  void respond_directory(const http::Request& request, std::string_view relative,
                         bool trailing_slash, const fs::OpenFile& dir, std::int64_t now_ms,
                         Response& out) const;

  const fs::FileRoot& root_;
  fs::OpenFileCache& cache_;
  const http::MimeTypes& mime_;
  const http::CorsPolicy& cors_;
  auth::Authenticator* authenticator_;
  std::size_t max_listing_entries_;
};

// Status line, Date, Server, Connection and response.common_headers; the caller adds the rest
// and the blank line.
void append_common_head(std::string& out, int status, const Response& response);

}  // namespace iocomp::server
