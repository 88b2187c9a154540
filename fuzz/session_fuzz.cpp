// libFuzzer harness for the whole connection state machine, server::Session, driven in memory the
// way the io_uring engine drives it: no socket, no ring. The harness is the engine: a fake
// core::Channel records what the session asks for and checks the contract of
// src/core/channel.hpp, and a driver loop delivers the client's bytes in fuzz-chosen chunks
// (only while a receive is pending), completes or fails sends (never from inside send()), fires
// the armed timer, drains, and stops calling the session once the connection is closed.
//
// A model of the byte stream (the session's own pure parsers, advanced the way the session
// consumes input: request heads, skipped Content-Length bodies, the first-line sniff) says which
// requests are complete at any moment. With it the harness checks that every complete request is
// answered once, in order, with a well-framed response (status line, Content-Length matching the
// bytes sent, or a streamed directory listing: strict chunked framing ending with 0 CRLF CRLF for
// HTTP/1.1, a body ended by closing the connection for HTTP/1.0; HEAD and 304 without a body,
// Connection: close if and only if the session closes),
// that a session waiting for input holds no more than the configured limits of unanswered bytes,
// that the header and idle timers follow the documented rules, and that no response ever carries
// a file from outside the root (or a hidden file, unless allowed).
//
// Input layout:
//   byte 0      configuration (see Setup)
//   byte 1      n, the number of control bytes that follow
//   n bytes     control: what the engine does next, chunk sizes, partial send counts. When they
//               run out, the connection is driven to the end of the stream with successful sends
//               and chunk sizes from a small deterministic generator, then the peer closes.
//   the rest    the bytes the client sends.
//
// Logging goes through a real EventLog with a real LogSink (on /dev/null), not a null sink: with
// a null sink EventLog::event returns before formatting, so a dangling view handed to the log
// (a file name, a method) would go unnoticed; with a sink every argument is formatted, and read
// under ASan. The batch is never flushed: it is freed with the EventLog at the end of each input,
// so no allocation happens on the sink's writer thread (libFuzzer re-runs an input under a leak
// check whenever its mallocs and frees do not balance, which asynchronous frees would cause).
//
// IOCOMP_FUZZ_TRACE=1 prints what the engine and the session do, to read a reproducer.
//
// Two session bugs this harness found are fixed and checked: a chunked request was answered
// without "Connection: close" before the connection closed, and the idle timer was re-armed by
// every chunk of a discarded request body (a trickled body kept the connection forever).
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/channel.hpp"
#include "fs/file_root.hpp"
#include "fs/open_file_cache.hpp"
#include "fuzz_support.hpp"
#include "http/mime_types.hpp"
#include "http/request_parser.hpp"
#include "http/status.hpp"
#include "log/event_log.hpp"
#include "log/log_sink.hpp"
#include "protocol/line_parser.hpp"
#include "protocol/protocol_sniffer.hpp"
#include "server/server_config.hpp"
#include "server/session.hpp"

namespace {

using namespace iocomp;

constexpr std::string_view kSecretMarker = "IOCOMP-FUZZ-SECRET-outside-the-root";
constexpr std::string_view kHiddenMarker = "IOCOMP-FUZZ-HIDDEN-dotfile";
constexpr std::string_view kListingStart = "<!DOCTYPE html>\n<html lang=\"en\">";
constexpr std::string_view kJsonListingStart = "{\"path\":";
// A streamed body's pieces: ListingBody::kPieceBytes and one row.
constexpr std::size_t kMaxChunkData = 32768 + 4096;
constexpr int kManyFiles = 300;  // more than one batch of directory reading
constexpr std::string_view kPeer = "192.0.2.7:50123";
constexpr std::size_t kMaxChunk = 4096;  // the engine's receive buffer

// IOCOMP_FUZZ_TRACE=1: print what the engine and the session do (to read a reproducer).
const bool kTrace = std::getenv("IOCOMP_FUZZ_TRACE") != nullptr;

#define TRACE(...)                                      \
  do {                                                  \
    if (kTrace) std::fprintf(stderr, "  " __VA_ARGS__); \
  } while (0)

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool contains(std::string_view s, std::string_view needle) {
  return s.find(needle) != std::string_view::npos;
}

// ---------------------------------------------------------------------------------------------
// The served tree, created once per process:
//   <base>/secret.txt                 outside the root: its marker must never be sent
//   <base>/root/small.txt, empty.txt, medium.txt, big.bin (> small_file_max: the sendfile path),
//     "with space.txt", sub/inner.txt, sub/deeper/x.json, www/index.html
//   link-inside -> small.txt, sub/link-up -> ../medium.txt        symlinks beneath the root
//   escape-link -> ../secret.txt, escape-abs-link -> <base>/secret.txt, escape-dir-link -> ..
//   .hidden, .hidden-dir/file.txt     served only with allow_hidden
//   fifo-node                         never served
//   many/file-NNN (300 empty files)   a listing read in several batches, with yields

struct KnownFile {
  std::string name;  // as a client asks for it, relative to the root
  std::string content;
  bool hidden = false;
};

void write_file(const std::string& path, std::string_view content) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  FUZZ_CHECK(f != nullptr);
  FUZZ_CHECK(std::fwrite(content.data(), 1, content.size(), f) == content.size());
  FUZZ_CHECK(std::fclose(f) == 0);
}

int remove_entry(const char* path, const struct stat*, int, FTW*) {
  return ::remove(path);
}

std::string pattern(std::size_t size, std::string_view tag) {
  std::string out;
  for (std::size_t i = 0; out.size() < size; ++i) {
    out.append(tag).append(" line ").append(std::to_string(i)).append("\n");
  }
  out.resize(size);
  return out;
}

class Fixture {
 public:
  Fixture() {
    char name[] = "/tmp/iocomp-session-fuzz-XXXXXX";
    FUZZ_CHECK(::mkdtemp(name) != nullptr);
    base_ = name;
    const std::string root = base_ + "/root";
    write_file(base_ + "/secret.txt", std::string(kSecretMarker) + "\n");
    FUZZ_CHECK(::mkdir(root.c_str(), 0755) == 0);
    for (const char* dir : {"/sub", "/sub/deeper", "/www", "/.hidden-dir", "/many"}) {
      FUZZ_CHECK(::mkdir((root + dir).c_str(), 0755) == 0);
    }
    add(root, "small.txt", "Hello from iocomp: a small file.\n");
    add(root, "empty.txt", "");
    add(root, "medium.txt", pattern(3000, "medium"));
    add(root, "big.bin", pattern(40000, "big"));
    add(root, "with space.txt", "a name with a space\n");
    add(root, "sub/inner.txt", "inner file of sub\n");
    add(root, "sub/deeper/x.json", "{\"x\": 1}\n");
    add(root, "www/index.html", "<html><body>index of www</body></html>\n");
    add(root, ".hidden", std::string(kHiddenMarker) + " file\n", true);
    add(root, ".hidden-dir/file.txt", std::string(kHiddenMarker) + " dir\n", true);
    FUZZ_CHECK(::symlink("small.txt", (root + "/link-inside").c_str()) == 0);
    files_.push_back({"link-inside", files_[0].content, false});
    FUZZ_CHECK(::symlink("../medium.txt", (root + "/sub/link-up").c_str()) == 0);
    files_.push_back({"sub/link-up", files_[2].content, false});
    FUZZ_CHECK(::symlink("../secret.txt", (root + "/escape-link").c_str()) == 0);
    FUZZ_CHECK(::symlink((base_ + "/secret.txt").c_str(), (root + "/escape-abs-link").c_str()) ==
               0);
    FUZZ_CHECK(::symlink("..", (root + "/escape-dir-link").c_str()) == 0);
    FUZZ_CHECK(::mkfifo((root + "/fifo-node").c_str(), 0644) == 0);
    for (int i = 0; i < kManyFiles; ++i) {
      write_file(root + "/many/file-" + std::to_string(1000 + i), "");
    }

    root_ = std::make_unique<fs::FileRoot>(root, false);
    root_hidden_ = std::make_unique<fs::FileRoot>(root, true);
    null_fd_ = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    FUZZ_CHECK(null_fd_ >= 0);
    sink_ = std::make_unique<log::LogSink>(null_fd_);
  }

  ~Fixture() {
    sink_.reset();
    ::close(null_fd_);
    root_.reset();
    root_hidden_.reset();
    ::nftw(base_.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  }

  const fs::FileRoot& root(bool allow_hidden) const {
    return allow_hidden ? *root_hidden_ : *root_;
  }
  const http::MimeTypes& mime() const { return mime_; }
  log::LogSink& sink() const { return *sink_; }

  const KnownFile* find(std::string_view name) const {
    for (const KnownFile& f : files_) {
      if (f.name == name) return &f;
    }
    return nullptr;
  }
  // The bytes are exactly the content of a file the server may serve.
  bool servable(std::string_view bytes, bool allow_hidden) const {
    for (const KnownFile& f : files_) {
      if ((allow_hidden || !f.hidden) && f.content == bytes) return true;
    }
    return false;
  }
  // The bytes are the range [first, first + bytes.size()) of a servable file of `size` bytes.
  bool servable_range(std::string_view bytes, std::uint64_t first, std::uint64_t size,
                      bool allow_hidden) const {
    for (const KnownFile& f : files_) {
      if ((allow_hidden || !f.hidden) && f.content.size() == size && first <= size &&
          std::string_view(f.content).substr(first, bytes.size()) == bytes) {
        return true;
      }
    }
    return false;
  }

 private:
  void add(const std::string& root, const std::string& name, std::string content,
           bool hidden = false) {
    write_file(root + "/" + name, content);
    files_.push_back({name, std::move(content), hidden});
  }

  std::string base_;
  std::vector<KnownFile> files_;
  std::unique_ptr<fs::FileRoot> root_;
  std::unique_ptr<fs::FileRoot> root_hidden_;
  http::MimeTypes mime_ =
      http::MimeTypes::parse("text/html html htm\ntext/plain txt\napplication/json json\n");
  int null_fd_ = -1;
  std::unique_ptr<log::LogSink> sink_;
};

// ---------------------------------------------------------------------------------------------
// Configuration from byte 0:
//   bits 0-1  max_requests_per_connection: 10000 (default), 1, 2, 0 (no limit)
//   bits 2-3  file cache entries: 1024 (default), 0 (no cache), 1, 2 (eviction)
//   bit 4     file cache validity 0 ms: every hit re-checks the file
//   bit 5     small_file_max 0: every non-empty file goes by FileRange (sendfile path)
//   bit 6     allow_hidden
//   bit 7     small limits (max_line 16, max_request_line 40, max_header_bytes 160,
//             max_listing_entries 2), so that the limits are reached with short inputs; otherwise
//             the defaults (1024, 8192, 16384, 10000)
struct Setup {
  server::ServerConfig config;
  fs::CacheConfig cache;

  explicit Setup(std::uint8_t flags) {
    static constexpr std::uint64_t kRequests[] = {10000, 1, 2, 0};
    static constexpr std::size_t kEntries[] = {1024, 0, 1, 2};
    config.max_requests_per_connection = kRequests[flags & 3];
    config.file_cache_entries = kEntries[(flags >> 2) & 3];
    config.file_cache_valid_s = (flags & 0x10) != 0 ? 0.0 : 1.0;
    config.small_file_max = (flags & 0x20) != 0 ? 0 : 16384;
    config.allow_hidden = (flags & 0x40) != 0;
    if ((flags & 0x80) != 0) {
      config.max_line = 16;
      config.max_request_line = 40;
      config.max_header_bytes = 160;
      config.max_listing_entries = 2;
    }
    cache = fs::CacheConfig{config.file_cache_entries,
                            static_cast<std::int64_t>(config.file_cache_valid_s * 1000.0),
                            config.small_file_max};
  }

  http::ParserLimits http_limits() const {
    return http::ParserLimits{config.max_request_line, config.max_header_bytes, 100};
  }
  // Unanswered bytes a session may hold while it waits for more: the longest incomplete request
  // head (HTTP), name (line protocol) or first line (protocol still undecided).
  std::size_t input_bound() const {
    return std::max({config.max_header_bytes, config.max_request_line + 2, config.max_line + 2});
  }
};

// Control bytes, then a deterministic generator, so a crashing input replays identically.
class Control {
 public:
  Control(std::string_view bytes, std::uint32_t seed)
      : bytes_(bytes), state_(seed * 2654435761u + 1) {}

  // What the engine does next; 0 (plain progress) once the control bytes are used up.
  std::uint8_t action() {
    return pos_ < bytes_.size() ? static_cast<std::uint8_t>(bytes_[pos_++]) : 0;
  }
  // A parameter: a chunk size, a partial byte count.
  std::uint8_t value() {
    if (pos_ < bytes_.size()) return static_cast<std::uint8_t>(bytes_[pos_++]);
    state_ = state_ * 1103515245u + 12345u;
    return static_cast<std::uint8_t>(state_ >> 16);
  }

 private:
  std::string_view bytes_;
  std::size_t pos_ = 0;
  std::uint32_t state_;
};

std::size_t chunk_size(std::uint8_t b, std::size_t remaining) {
  std::size_t n;
  switch (b >> 5) {
    case 0:
    case 1:
      n = 1 + (b & 7u);  // 1..8: where boundary bugs live
      break;
    case 2:
      n = 1 + (b & 31u);  // 1..32
      break;
    case 3:
      n = 16 * (1 + (b & 31u));  // 16..512
      break;
    case 4:
      n = 128 * (1 + (b & 31u));  // 128..4096
      break;
    default:
      n = kMaxChunk;  // a full receive buffer
      break;
  }
  return std::min(n, remaining);
}

// ---------------------------------------------------------------------------------------------
// The model: which requests the delivered bytes hold, as the session must see them.

struct Expected {
  enum class Kind { http, http_error, line, line_too_long };
  Kind kind = Kind::http;
  int error_status = 0;   // http_error: the parser's status
  bool head = false;      // http: a HEAD request, answered without a body
  bool chunked = false;   // http: Transfer-Encoding: chunked (answered, then closed)
  std::string name;       // line: the requested name
  int version_minor = 1;  // http: HTTP/1.<minor>
};

class Model {
 public:
  Model(std::string_view stream, const Setup& setup)
      : stream_(stream), config_(setup.config), limits_(setup.http_limits()) {}

  // Takes in the stream up to `delivered` bytes.
  void advance(std::size_t delivered) {
    while (!stopped_ && cursor_ < delivered) {
      if (protocol_ == protocol::Protocol::undecided) {
        protocol_ =
            protocol::sniff_protocol(stream_.substr(0, delivered), config_.max_request_line);
        if (protocol_ == protocol::Protocol::undecided) return;
      }
      const std::string_view input =
          stream_.substr(static_cast<std::size_t>(cursor_), delivered - cursor_);
      if (protocol_ == protocol::Protocol::line) {
        const protocol::LineResult line = protocol::parse_line(input, config_.max_line);
        if (line.status == protocol::LineStatus::need_more) return;
        if (line.status == protocol::LineStatus::too_long) {
          requests_.push_back({Expected::Kind::line_too_long, 0, false, false, {}, 1});
          stopped_ = true;  // answered with the error, then closed
          return;
        }
        requests_.push_back({Expected::Kind::line, 0, false, false, std::string(line.name), 1});
        cursor_ += line.consumed;
      } else {
        http::Request request;
        const http::ParseResult parsed = http::parse_request(input, limits_, request);
        if (parsed.status == http::ParseStatus::need_more) return;
        if (parsed.status == http::ParseStatus::error) {
          requests_.push_back(
              {Expected::Kind::http_error, parsed.error_status, false, false, {}, 1});
          stopped_ = true;  // answered, then closed
          return;
        }
        requests_.push_back({Expected::Kind::http,
                             0,
                             request.method_kind == http::Method::head,
                             !request.transfer_encoding.empty(),
                             {},
                             request.version_minor});
        cursor_ += parsed.consumed;
        if (!request.transfer_encoding.empty() ||
            request.content_length.value_or(0) > server::Session::kMaxDrainedBody) {
          stopped_ = true;  // a chunked or large body is not read: answered, then closed
        } else if (request.content_length) {
          const std::uint64_t body = *request.content_length;
          cursor_ = body > UINT64_MAX - cursor_ ? UINT64_MAX : cursor_ + body;
        }
      }
      const std::uint64_t limit = config_.max_requests_per_connection;
      if (limit != 0 && requests_.size() >= limit) stopped_ = true;
    }
  }

  // The client closed its side. Input that left the protocol undecided (empty lines, or a
  // first line still shaped like a request line) is the line protocol's: the session answers
  // its complete lines, then closes.
  void end_of_stream(std::size_t delivered) {
    if (protocol_ != protocol::Protocol::undecided || delivered == 0) return;
    protocol_ = protocol::Protocol::line;
    advance(delivered);
  }

  // Bytes delivered but neither answered nor skipped as a body: what the session buffers.
  std::size_t pending(std::size_t delivered) const {
    return delivered > cursor_ ? delivered - static_cast<std::size_t>(cursor_) : 0;
  }
  // A request body announced by Content-Length is still arriving.
  bool body_outstanding(std::size_t delivered) const { return cursor_ > delivered; }
  protocol::Protocol protocol() const { return protocol_; }
  const std::vector<Expected>& requests() const { return requests_; }
  // After the last request the session may answer: it must close after answering.
  bool stopped() const { return stopped_; }

 private:
  std::string_view stream_;
  const server::ServerConfig& config_;
  http::ParserLimits limits_;
  protocol::Protocol protocol_ = protocol::Protocol::undecided;
  std::uint64_t cursor_ = 0;  // where the next request starts (past any body)
  bool stopped_ = false;
  std::vector<Expected> requests_;
};

// ---------------------------------------------------------------------------------------------
// An HTTP response head as the session must produce it.

struct ParsedHead {
  std::size_t size = 0;  // through the blank line
  int status = 0;
  bool close = false;
  std::optional<std::uint64_t> content_length;
  std::string_view content_range;
  bool chunked = false;  // Transfer-Encoding: chunked
  bool vary_accept = false;
};

bool parse_uint(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return true;
}

bool parse_head(std::string_view bytes, ParsedHead& out) {
  const std::size_t end = bytes.find("\r\n\r\n");
  if (end == std::string_view::npos) return false;
  out.size = end + 4;
  std::string_view rest = bytes.substr(0, end + 2);
  std::size_t eol = rest.find("\r\n");
  const std::string_view status_line = rest.substr(0, eol);
  rest.remove_prefix(eol + 2);
  // "HTTP/1.1 DDD Reason"
  if (status_line.size() < 14 || !starts_with(status_line, "HTTP/1.1 ") || status_line[12] != ' ') {
    return false;
  }
  std::uint64_t status = 0;
  if (!parse_uint(status_line.substr(9, 3), status) || status < 100) return false;
  out.status = static_cast<int>(status);
  while (!rest.empty()) {
    eol = rest.find("\r\n");
    const std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol + 2);
    const std::size_t colon = line.find(": ");
    if (colon == std::string_view::npos || colon == 0) return false;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = line.substr(colon + 2);
    if (name == "Content-Length") {
      std::uint64_t n = 0;
      if (out.content_length || !parse_uint(value, n)) return false;
      out.content_length = n;
    } else if (name == "Connection" && value == "close") {
      out.close = true;
    } else if (name == "Content-Range") {
      out.content_range = value;
    } else if (name == "Transfer-Encoding") {
      if (out.chunked || value != "chunked") return false;
      out.chunked = true;
    } else if (name == "Vary") {
      out.vary_accept = value == "Accept";
    }
  }
  // Content-Length and Transfer-Encoding together make the framing ambiguous (RFC 9112 6.3).
  return !(out.chunked && out.content_length);
}

enum class ChunkedBody { incomplete, complete, invalid };

// Decodes a chunked body strictly, from its first byte: hex chunk sizes without extensions, CRLF
// after each size line and each chunk's data, no chunk larger than a streamed piece, the
// terminating zero-size chunk without trailers and nothing after it.
ChunkedBody decode_chunked(std::string_view body, std::string& decoded) {
  decoded.clear();
  std::size_t pos = 0;
  for (;;) {
    const std::size_t eol = body.find("\r\n", pos);
    if (eol == std::string_view::npos) {
      return body.size() - pos > 18 ? ChunkedBody::invalid : ChunkedBody::incomplete;
    }
    const std::string_view digits = body.substr(pos, eol - pos);
    if (digits.empty() || digits.size() > 16) return ChunkedBody::invalid;
    std::uint64_t size = 0;
    for (char c : digits) {
      int v;
      if (c >= '0' && c <= '9') {
        v = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        v = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        v = c - 'A' + 10;
      } else {
        return ChunkedBody::invalid;
      }
      size = size * 16 + static_cast<std::uint64_t>(v);
    }
    pos = eol + 2;
    if (size == 0) {
      if (body.size() - pos < 2) {
        return body.substr(pos) == std::string_view("\r\n").substr(0, body.size() - pos)
                   ? ChunkedBody::incomplete
                   : ChunkedBody::invalid;
      }
      if (body.substr(pos, 2) != "\r\n") return ChunkedBody::invalid;  // trailers: never sent
      return pos + 2 == body.size() ? ChunkedBody::complete : ChunkedBody::invalid;
    }
    if (size > kMaxChunkData) return ChunkedBody::invalid;
    const auto n = static_cast<std::size_t>(size);
    if (body.size() - pos < n + 2) {
      if (body.size() - pos > n && body[pos + n] != '\r') return ChunkedBody::invalid;
      return ChunkedBody::incomplete;
    }
    decoded.append(body.substr(pos, n));
    if (body.substr(pos + n, 2) != "\r\n") return ChunkedBody::invalid;
    pos += n + 2;
  }
}

bool known_status(int status) {
  for (int s :
       {200, 204, 206, 301, 304, 400, 403, 404, 405, 412, 414, 416, 431, 500, 501, 503, 505}) {
    if (s == status) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// The engine.

enum class Timer { none, header, idle, send };

struct OutstandingSend {
  std::string_view head;  // the session's bytes: read again at completion
  std::string_view body;
  std::string copy;  // head and body when the send started
  core::FileRange file;
  std::uint64_t size() const { return head.size() + body.size() + file.length; }
};

// How the end of an HTTP response body is known.
enum class Framing { length, chunked, close };

struct ResponseState {
  bool active = false;  // started and not all of it sent
  bool http = false;
  Framing framing = Framing::length;
  std::size_t index = 0;  // the request answered
  ParsedHead head;
  std::uint64_t expected_body = 0;
  std::string data;  // everything sent so far
};

class Driver final : public core::Channel {
 public:
  Driver(const Fixture& fixture, const Setup& setup, std::string_view stream, Control& control)
      : fixture_(fixture),
        setup_(setup),
        context_{setup.config, fixture.root(setup.config.allow_hidden), fixture.mime(),
                 setup.http_limits(), http::CorsPolicy{}},
        cache_(context_.root, setup.cache),
        // The access log too, in both formats, so that every request record is formatted.
        log_(log::LogTargets{
            &fixture.sink(), &fixture.sink(),
            stream.size() % 2 == 0 ? log::AccessFormat::combined : log::AccessFormat::json}),
        stream_(stream),
        control_(control),
        model_(stream, setup) {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    log_.set_time(now);
  }

  ~Driver() override {
    session_.reset();  // the destructor logs through this channel and log_
  }

  void run() {
    session_ = std::make_unique<server::Session>(*this, log_, context_, cache_);
    call([&] { session_->on_open(); });
    after_callback();
    std::size_t steps = 0;
    const std::size_t max_steps = 64 * (stream_.size() + 64);
    while (!closed_) {
      FUZZ_CHECK(++steps <= max_steps);  // sending without ever consuming input
      const std::uint8_t c = control_.action();
      if (c >= 0xF0 && rare(c & 0x0F)) continue;
      if (outstanding_) {
        complete_send(c);
      } else if (receive_pending_ && delivered_ < stream_.size()) {
        deliver();
      } else if (receive_pending_) {
        // The client has sent everything: it waits (a timer fires) or closes its side.
        if ((c & 1) != 0 && timer_ != Timer::none) {
          fire_timer();
        } else {
          end_of_stream(0);
        }
      } else {
        FUZZ_CHECK(false);  // nothing can happen: after_callback() rules this out
      }
    }
  }

  // core::Channel
  void receive() override {
    FUZZ_CHECK(in_session_);
    FUZZ_CHECK(!closed_);  // no receive after close (or after a failed send)
    if (!receive_pending_) TRACE("session: receive()\n");
    receive_pending_ = true;
  }

  void send(std::string_view head, std::string_view body, core::FileRange file) override {
    FUZZ_CHECK(in_session_);
    FUZZ_CHECK(!closed_);       // no send after close (or after a failed send)
    FUZZ_CHECK(!outstanding_);  // one send at a time
    if (file.length > 0) {
      struct stat st {};
      FUZZ_CHECK(::fstat(file.fd, &st) == 0 && S_ISREG(st.st_mode));
      const auto size = static_cast<std::uint64_t>(st.st_size);
      FUZZ_CHECK(file.offset <= size && file.length <= size - file.offset);
    }
    // Nothing to send: an empty file on the line protocol, or a streamed body whose source did
    // some work without bytes yet (a yield: the engine completes it on a later loop turn).
    if (head.empty() && body.empty() && file.length == 0) {
      FUZZ_CHECK(model_.protocol() == protocol::Protocol::line ||
                 (response_.active && response_.framing != Framing::length));
    }
    TRACE("session: send(head %zu bytes, body %zu bytes, file fd %d [%llu, +%llu))\n", head.size(),
          body.size(), file.fd, static_cast<unsigned long long>(file.offset),
          static_cast<unsigned long long>(file.length));
    std::string copy(head);
    copy.append(body);
    outstanding_ = OutstandingSend{head, body, std::move(copy), file};
    timer_ = Timer::send;  // the send timer takes the connection's timer slot
    if (!response_.active) {
      begin_response(head);
    } else {
      FUZZ_CHECK(response_.http && !starts_with(head, "HTTP/"));  // the next part
    }
  }

  void close() override {
    FUZZ_CHECK(in_session_);
    TRACE("session: close()\n");
    closed_ = true;
    session_closed_ = true;
  }

  void set_timer(core::TimerKind kind) override {
    FUZZ_CHECK(in_session_);
    if (closed_) return;  // the engine ignores it
    TRACE("session: set_timer(%d)\n", static_cast<int>(kind));
    FUZZ_CHECK(!outstanding_);  // would replace the send timer: a send without a timeout
    switch (kind) {
      case core::TimerKind::none:
        timer_ = Timer::none;
        break;
      case core::TimerKind::header:
        // Re-arming a running header timer lets a client trickling bytes live forever.
        FUZZ_CHECK(timer_ != Timer::header);
        timer_ = Timer::header;
        break;
      case core::TimerKind::idle:
        FUZZ_CHECK(timer_ != Timer::idle);  // re-arming would let a trickling client live on
        timer_ = Timer::idle;
        break;
      case core::TimerKind::pace:
        // Only a rate-limited response waits on the pace timer, and no setup here has
        // --rate-limit (its waits are covered by the unit and integration tests).
        FUZZ_CHECK(setup_.config.rate_limit != 0);
        break;
    }
  }

  std::string_view peer() const override { return kPeer; }
  bool draining() const override { return draining_; }
  bool move_admission(std::string_view) override {
    FUZZ_CHECK(false);  // only a PROXY stage moves a connection's admission slot
    return false;
  }
  void warm(int, std::uint64_t, std::uint64_t) override {
    FUZZ_CHECK(false);  // the session sends files through the engine: only the TLS stage warms
  }
  bool start_kernel_tls(std::string_view) override {
    FUZZ_CHECK(false);  // only the TLS stage hands keys to the kernel
    return false;
  }

 private:
  template <typename Fn>
  void call(Fn&& fn) {
    FUZZ_CHECK(!in_session_ && !closed_);  // a harness bug otherwise
    in_session_ = true;
    fn();
    in_session_ = false;
  }

  // Rarely chosen events; false when not possible now.
  bool rare(std::uint8_t which) {
    switch (which) {
      case 0:
      case 1:
      case 2:
        if (timer_ == Timer::none) return false;
        fire_timer();
        return true;
      case 3:
      case 4:
        if (draining_) return false;
        drain();
        return true;
      case 5:
        if (!draining_) return false;
        TRACE("engine: drain deadline, hard close\n");
        closed_ = true;  // the drain deadline: the engine closes without telling the session
        return true;
      case 6:
        if (!receive_pending_) return false;
        end_of_stream(-ECONNRESET);
        return true;
      case 7:
        if (!receive_pending_) return false;
        end_of_stream(0);
        return true;
      case 8:
        // Bytes arriving while a send is outstanding (only if a receive is pending).
        if (!outstanding_ || !receive_pending_ || delivered_ == stream_.size()) return false;
        deliver();
        return true;
      default:
        return false;
    }
  }

  void deliver() {
    const std::size_t n = chunk_size(control_.value(), stream_.size() - delivered_);
    // A buffer of exactly n bytes, freed after the call as the engine recycles its buffer: a
    // view the session keeps, or a read past the end, is caught by ASan.
    auto buffer = std::make_unique<char[]>(n);
    std::memcpy(buffer.get(), stream_.data() + delivered_, n);
    receive_pending_ = false;
    delivered_ += n;
    model_.advance(delivered_);
    TRACE("engine: on_receive(%zu bytes, %zu delivered, %zu requests complete)\n", n, delivered_,
          model_.requests().size());
    call([&] { session_->on_receive(std::string_view(buffer.get(), n)); });
    buffer.reset();
    after_callback();
  }

  void end_of_stream(int error) {
    receive_pending_ = false;
    if (error == 0) {
      model_.end_of_stream(delivered_);
      stream_ended_ = true;
    }
    TRACE("engine: on_receive_end(%d)\n", error);
    call([&] { session_->on_receive_end(error); });
    if (outstanding_) {
      // Only answers to what arrived before a clean end of stream may follow it.
      FUZZ_CHECK(error == 0 && responses_started_ <= model_.requests().size());
      after_callback();
      return;
    }
    FUZZ_CHECK(session_closed_);
  }

  void drain() {
    draining_ = true;
    TRACE("engine: on_drain()\n");
    call([&] { session_->on_drain(); });
    if (!outstanding_) FUZZ_CHECK(session_closed_);  // an idle session closes at once
    after_callback();
  }

  void fire_timer() {
    const Timer t = timer_;
    timer_ = Timer::none;  // expire_timers() disarms, then calls
    if (t == Timer::send) {
      fail_send(-ETIMEDOUT);
      return;
    }
    TRACE("engine: on_timeout(%s)\n", t == Timer::header ? "header" : "idle");
    call([&] {
      session_->on_timeout(t == Timer::header ? core::TimerKind::header : core::TimerKind::idle);
    });
    FUZZ_CHECK(session_closed_);
  }

  std::string read_range(const core::FileRange& file) {
    std::string out(static_cast<std::size_t>(file.length), '\0');
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::pread(file.fd, out.data() + done, out.size() - done,
                                static_cast<off_t>(file.offset + done));
      FUZZ_CHECK(n > 0);  // the fd is still open and the fixture never shrinks
      done += static_cast<std::size_t>(n);
    }
    return out;
  }

  std::uint64_t partial(std::uint64_t total) { return total * control_.value() / 256; }

  // A failed send. -ETIMEDOUT is the send timer: the engine closes the socket, then reports.
  void fail_send(int error) {
    const OutstandingSend s = std::move(*outstanding_);
    outstanding_.reset();
    timer_ = Timer::none;
    std::uint64_t sent = partial(s.size());
    if (error == core::kFileShrank) sent = s.size() - s.file.length + partial(s.file.length);
    if (error == -ETIMEDOUT) closed_ = true;
    response_ = ResponseState{};
    TRACE("engine: on_sent(%d, %llu)\n", error, static_cast<unsigned long long>(sent));
    in_session_ = true;  // call() refuses a closed connection; the engine does call here
    session_->on_sent(error, sent);
    in_session_ = false;
    // The transfer is broken: the session closes and asks for nothing more (checked in
    // receive() and send() for the timeout, where the engine already closed).
    if (error != -ETIMEDOUT) FUZZ_CHECK(session_closed_);
    closed_ = true;
  }

  void complete_send(std::uint8_t c) {
    if (c >= 0xE8) {
      switch ((c - 0xE8) >> 1) {
        case 0:
          fail_send(-EPIPE);
          return;
        case 1:
          if (outstanding_->file.length == 0) break;  // only sendfile finds a file shorter
          fail_send(core::kFileShrank);
          return;
        case 2:
          fail_send(-ETIMEDOUT);
          return;
        default:
          fail_send(-ECONNRESET);
          return;
      }
    }
    const OutstandingSend s = std::move(*outstanding_);
    outstanding_.reset();
    timer_ = Timer::none;  // finish_send() disarms the send timer
    // Head and body must still hold their bytes (ASan: still allocated; here: not rewritten).
    std::string bytes(s.head);
    bytes.append(s.body);
    FUZZ_CHECK(bytes == s.copy);
    bytes += read_range(s.file);
    const bool finished = transmitted(s, bytes);
    const bool expect_close = finished && close_expected_;
    const bool close_delimited = response_.active && response_.framing == Framing::close;
    TRACE("engine: on_sent(0, %llu)%s\n", static_cast<unsigned long long>(s.size()),
          finished ? ", response complete" : "");
    call([&] { session_->on_sent(0, s.size()); });
    if (close_delimited && !outstanding_) {
      // The body ends with the connection: after its last piece the session must close.
      FUZZ_CHECK(session_closed_);
      const std::string data = std::move(response_.data);
      finish_http_response(std::string_view(data).substr(response_.head.size));
    } else if (finished) {
      if (expect_close) {
        FUZZ_CHECK(session_closed_);
      } else if (session_closed_) {
        // Only a drain, or the client's end of stream after its last answer, closes after a
        // keep-alive response.
        FUZZ_CHECK(draining_ || (stream_ended_ && responses_started_ == model_.requests().size()));
      }
    } else {
      FUZZ_CHECK(!closed_ && outstanding_);  // the rest of the response is under way
    }
    after_callback();
  }

  // The invariants of a session that has handed control back to the engine.
  void after_callback() {
    if (closed_) return;
    if (outstanding_) {
      FUZZ_CHECK(timer_ == Timer::send);
      return;
    }
    // After the client's end of stream the session answers, then closes: it never waits.
    FUZZ_CHECK(!stream_ended_);
    // Waiting for the client: a receive is pending (else the connection hangs forever) ...
    FUZZ_CHECK(receive_pending_);
    // ... every complete request has been answered, in order ...
    FUZZ_CHECK(responses_started_ == model_.requests().size());
    FUZZ_CHECK(!model_.stopped());  // else it should have closed after the last answer
    // ... the buffered input stays within the limits ...
    const std::size_t pending = model_.pending(delivered_);
    FUZZ_CHECK(pending <= setup_.input_bound());
    // ... the idle timer runs between requests, the header timer while one is incomplete ...
    const bool between_requests =
        pending == 0 && responses_started_ > 0 && !model_.body_outstanding(delivered_);
    FUZZ_CHECK(timer_ == (between_requests ? Timer::idle : Timer::header));
    // ... and while draining only a half-received request keeps a connection open.
    if (draining_) FUZZ_CHECK(pending > 0);
  }

  // A send that is not the continuation of a response starts the answer to the next request.
  void begin_response(std::string_view head) {
    const std::size_t index = responses_started_++;
    FUZZ_CHECK(index < model_.requests().size());  // an answer to a request not (yet) complete
    const Expected& request = model_.requests()[index];
    response_ = ResponseState{};
    response_.active = true;
    response_.index = index;
    if (model_.protocol() == protocol::Protocol::line) {
      FUZZ_CHECK(request.kind == Expected::Kind::line ||
                 request.kind == Expected::Kind::line_too_long);
      return;
    }
    FUZZ_CHECK(model_.protocol() == protocol::Protocol::http);
    FUZZ_CHECK(request.kind == Expected::Kind::http || request.kind == Expected::Kind::http_error);
    response_.http = true;
    ParsedHead& parsed = response_.head;
    FUZZ_CHECK(parse_head(head, parsed));  // the whole head leaves in the first send
    TRACE("response %zu:\n%.*s", index, static_cast<int>(parsed.size), head.data());
    FUZZ_CHECK(known_status(parsed.status));
    if (request.kind == Expected::Kind::http_error) {
      FUZZ_CHECK(parsed.status == request.error_status && parsed.close);
      FUZZ_CHECK(parsed.content_length);
      response_.expected_body = *parsed.content_length;
    } else if (parsed.status == 304 || parsed.status == 204) {  // 204: OPTIONS
      FUZZ_CHECK(!parsed.content_length);
    } else if (!parsed.content_length) {
      // A streamed directory listing: chunked for HTTP/1.1, ended by closing for HTTP/1.0.
      FUZZ_CHECK(parsed.status == 200 && parsed.vary_accept);
      if (request.version_minor >= 1) {
        FUZZ_CHECK(parsed.chunked);
      } else {
        FUZZ_CHECK(!parsed.chunked && parsed.close);
      }
      if (!request.head) response_.framing = parsed.chunked ? Framing::chunked : Framing::close;
      response_.expected_body = 0;
    } else {
      FUZZ_CHECK(!parsed.chunked);
      response_.expected_body = request.head ? 0 : *parsed.content_length;
    }
  }

  void finish_http_response(std::string_view body) {
    response_.active = false;
    close_expected_ = response_.head.close;
    check_http_body(body);
  }

  // Records a completed send; true when it ended the current response.
  bool transmitted(const OutstandingSend& s, std::string_view bytes) {
    FUZZ_CHECK(response_.active);
    const bool allow_hidden = setup_.config.allow_hidden;
    FUZZ_CHECK(!contains(bytes, kSecretMarker));
    if (!allow_hidden) FUZZ_CHECK(!contains(bytes, kHiddenMarker));
    const Expected& request = model_.requests()[response_.index];
    if (!response_.http) {
      // The line protocol: one send per answer, the file's bytes or the error line.
      response_.active = false;
      const std::uint64_t limit = setup_.config.max_requests_per_connection;
      close_expected_ = request.kind == Expected::Kind::line_too_long ||
                        (limit != 0 && response_.index + 1 >= limit);
      const bool error = bytes == protocol::kTransmitError && s.file.length == 0;
      if (request.kind == Expected::Kind::line_too_long) {
        FUZZ_CHECK(error);
        return true;
      }
      const KnownFile* known = fixture_.find(request.name);
      const bool may_serve_known = known != nullptr && (allow_hidden || !known->hidden);
      if (error) {
        FUZZ_CHECK(!may_serve_known);
        return true;
      }
      FUZZ_CHECK(fixture_.servable(bytes, allow_hidden));
      if (known != nullptr) FUZZ_CHECK(may_serve_known && bytes == known->content);
      if (s.file.length > 0) {
        struct stat st {};
        FUZZ_CHECK(::fstat(s.file.fd, &st) == 0);
        FUZZ_CHECK(s.head.empty() && s.body.empty() && s.file.offset == 0 &&
                   s.file.length == static_cast<std::uint64_t>(st.st_size));
      }
      return true;
    }
    response_.data.append(bytes);
    FUZZ_CHECK(response_.data.size() >= response_.head.size);
    const std::string_view body_bytes =
        std::string_view(response_.data).substr(response_.head.size);
    if (response_.framing == Framing::chunked) {
      std::string decoded;
      const ChunkedBody state = decode_chunked(body_bytes, decoded);
      FUZZ_CHECK(state != ChunkedBody::invalid);
      if (state == ChunkedBody::incomplete) return false;
      finish_http_response(decoded);
      return true;
    }
    if (response_.framing == Framing::close) return false;  // it ends when the session closes
    const std::uint64_t body = body_bytes.size();
    FUZZ_CHECK(body <= response_.expected_body);  // never more than Content-Length says
    if (body < response_.expected_body) return false;
    finish_http_response(body_bytes);
    return true;
  }

  void check_http_body(std::string_view body) {
    const bool allow_hidden = setup_.config.allow_hidden;
    const int status = response_.head.status;
    if (body.empty()) return;
    if (status == 200) {
      const bool html = starts_with(body, kListingStart);
      if (html || starts_with(body, kJsonListingStart)) {
        // Neither escaping symlinks nor FIFOs nor (unless allowed) hidden names are listed.
        FUZZ_CHECK(!contains(body, "escape-") && !contains(body, "fifo-node"));
        if (!allow_hidden) FUZZ_CHECK(!contains(body, ".hidden"));
        // The whole document (a streamed body is complete here), with at most the capped count
        // of entries.
        FUZZ_CHECK(body.size() >= 5 &&
                   body.substr(body.size() - (html ? 8 : 4)) == (html ? "</html>\n" : "\n]}\n"));
        std::size_t entries = 0;
        const std::string_view row = html ? "<tr><td class=\"n\"><a href=\"" : "{\"name\":";
        for (std::size_t pos = body.find(row); pos != std::string_view::npos;
             pos = body.find(row, pos + 1)) {
          if (!starts_with(body.substr(pos + row.size()), "../\"")) ++entries;
        }
        FUZZ_CHECK(entries <= setup_.config.max_listing_entries);
      } else {
        FUZZ_CHECK(fixture_.servable(body, allow_hidden));
      }
    } else if (status == 206) {
      const std::string_view range = response_.head.content_range;
      if (range.empty()) return;  // multipart/byteranges: framing and markers checked
      // "bytes first-last/size"
      FUZZ_CHECK(starts_with(range, "bytes "));
      const std::size_t dash = range.find('-');
      const std::size_t slash = range.find('/');
      FUZZ_CHECK(dash != std::string_view::npos && slash != std::string_view::npos && dash < slash);
      std::uint64_t first = 0;
      std::uint64_t last = 0;
      std::uint64_t size = 0;
      FUZZ_CHECK(parse_uint(range.substr(6, dash - 6), first) &&
                 parse_uint(range.substr(dash + 1, slash - dash - 1), last) &&
                 parse_uint(range.substr(slash + 1), size));
      FUZZ_CHECK(first <= last && last < size && body.size() == last - first + 1);
      FUZZ_CHECK(fixture_.servable_range(body, first, size, allow_hidden));
    } else {
      FUZZ_CHECK(body == http::error_body(status));
    }
  }

  const Fixture& fixture_;
  const Setup& setup_;
  const server::SessionContext context_;
  fs::OpenFileCache cache_;
  log::EventLog log_;
  std::string_view stream_;
  Control& control_;
  Model model_;

  bool in_session_ = false;
  bool closed_ = false;          // by the session, or by the engine (send timeout, drain deadline)
  bool session_closed_ = false;  // the session called close()
  bool receive_pending_ = false;
  bool draining_ = false;
  Timer timer_ = Timer::none;
  std::optional<OutstandingSend> outstanding_;
  std::size_t delivered_ = 0;
  std::size_t responses_started_ = 0;
  ResponseState response_;
  bool stream_ended_ = false;    // the client closed its side (on_receive_end(0))
  bool close_expected_ = false;  // the response just finished requires the session to close

  std::unique_ptr<server::Session> session_;  // last: destroyed first
};

// The lowest free descriptor: a descriptor leaked by the session or the cache would take it.
int lowest_free_fd() {
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  FUZZ_CHECK(fd >= 0);
  ::close(fd);
  return fd;
}

void print_open_fds() {
  for (int fd = 0; fd < 64; ++fd) {
    char link[64];
    char target[512];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    const ssize_t n = ::readlink(link, target, sizeof target - 1);
    if (n < 0) continue;
    target[n] = '\0';
    std::fprintf(stderr, "  fd %d -> %s\n", fd, target);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Fixture fixture;
  if (size < 2) return 0;
  const std::size_t control_size = std::min<std::size_t>(data[1], size - 2);
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const std::string_view control_bytes = bytes.substr(2, control_size);
  const std::string_view stream = bytes.substr(2 + control_size);

  const int free_fd = lowest_free_fd();
  {
    const Setup setup(data[0]);
    Control control(control_bytes, static_cast<std::uint32_t>(data[0]) << 8 | data[1]);
    Driver driver(fixture, setup, stream, control);
    driver.run();
  }
  // Another thread may hold a descriptor for a moment (the sanitizers' memory-access probes use a
  // short-lived pipe, e.g. while the sink's thread starts): a leak is one that stays.
  bool leaked = true;
  for (int attempt = 0; attempt < 20 && leaked; ++attempt) {
    if (attempt > 0) ::usleep(1000);
    leaked = lowest_free_fd() > free_fd;
  }
  if (leaked) {
    std::fprintf(stderr, "descriptor leak: lowest free was %d before the session\n", free_fd);
    print_open_fds();
    FUZZ_CHECK(false);  // every file the session or the cache opened is closed again
  }
  return 0;
}
