// server::Session driven through MemoryChannel: the protocol behaviour of one connection, with a
// real served tree, file cache and event log, and no socket, ring or clock.
#include "server/session.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/channel.hpp"
#include "http/status.hpp"
#include "log/log_sink.hpp"
#include "memory_channel.hpp"
#include "protocol/line_parser.hpp"

namespace iocomp::server {
namespace {

namespace stdfs = std::filesystem;
using core::TimerKind;
using protocol::kTransmitError;
using test_support::MemoryChannel;

constexpr std::string_view kSmall = "hello from iocomp\n";
constexpr std::string_view kInner = "inner file\n";
constexpr std::size_t kBigSize = 40000;  // above small_file_max: sent as a file range

std::string big_content() {
  std::string out;
  for (std::size_t i = 0; out.size() < kBigSize; ++i) out += "big line " + std::to_string(i) + "\n";
  out.resize(kBigSize);
  return out;
}

std::string get(std::string_view target, std::string_view extra_headers = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra_headers) +
         "\r\n";
}

// An HTTP response as the client reads it.
struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;

  bool has(const std::string& name) const { return headers.count(name) != 0; }
  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
  bool closes() const { return header("Connection") == "close"; }
};

// Splits `bytes` into responses, each with the Content-Length bytes after its head (none for
// the `bodyless` ones: answers to HEAD, and 304). Anything that does not parse fails the test.
std::vector<HttpResponse> parse_responses(std::string_view bytes, bool bodyless = false) {
  std::vector<HttpResponse> out;
  while (!bytes.empty()) {
    const std::size_t end = bytes.find("\r\n\r\n");
    if (end == std::string_view::npos || bytes.substr(0, 9) != "HTTP/1.1 ") {
      ADD_FAILURE() << "not an HTTP response head: " << testing::PrintToString(std::string(bytes));
      break;
    }
    HttpResponse r;
    r.status = std::atoi(std::string(bytes.substr(9, 3)).c_str());
    std::string_view lines = bytes.substr(0, end + 2);
    lines.remove_prefix(lines.find("\r\n") + 2);
    while (!lines.empty()) {
      const std::size_t eol = lines.find("\r\n");
      const std::string_view line = lines.substr(0, eol);
      const std::size_t colon = line.find(": ");
      if (colon != std::string_view::npos) {
        r.headers[std::string(line.substr(0, colon))] = std::string(line.substr(colon + 2));
      }
      lines.remove_prefix(eol + 2);
    }
    bytes.remove_prefix(end + 4);
    std::size_t length = 0;
    if (!bodyless && r.status != 304 && r.has("Content-Length")) {
      length = std::stoull(r.header("Content-Length"));
    }
    if (length > bytes.size()) {
      ADD_FAILURE() << "body shorter than Content-Length " << length;
      length = bytes.size();
    }
    r.body = std::string(bytes.substr(0, length));
    bytes.remove_prefix(length);
    out.push_back(std::move(r));
  }
  return out;
}

// Exactly one response in `bytes`.
HttpResponse parse_response(std::string_view bytes, bool bodyless = false) {
  std::vector<HttpResponse> all = parse_responses(bytes, bodyless);
  EXPECT_EQ(all.size(), 1u) << testing::PrintToString(std::string(bytes));
  return all.empty() ? HttpResponse{} : all.front();
}

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/iocomp-session-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    base_ = pattern;
    root_ = base_ / "root";
    stdfs::create_directories(root_ / "sub");
    write("small.txt", kSmall);
    write("empty.txt", "");
    write("big.bin", big_content());
    write("sub/inner.txt", kInner);
    std::ofstream(base_ / "secret.txt") << "outside the root\n";
    null_fd_ = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    ASSERT_GE(null_fd_, 0);
    // A real sink, so that every event is formatted (a view the session logs after its bytes
    // were freed is read, and caught under ASan).
    sink_ = std::make_unique<log::LogSink>(null_fd_);
    access_sink_ = std::make_unique<log::LogSink>(
        log::LogSink::open_file((base_ / "access.log").string()), 1 << 20, true);
    log_ = std::make_unique<log::EventLog>(
        log::LogTargets{sink_.get(), access_sink_.get(), log::AccessFormat::combined});
  }

  void TearDown() override {
    session_.reset();  // logs "closed" through the channel and the log
    if (log_) log_->flush();
    log_.reset();
    cache_.reset();
    file_root_.reset();
    access_sink_.reset();
    sink_.reset();
    if (null_fd_ >= 0) ::close(null_fd_);
    stdfs::remove_all(base_);
  }

  void write(const std::string& name, std::string_view content) {
    std::ofstream(root_ / name, std::ios::binary | std::ios::trunc) << content;
  }

  // Builds the session from config_ as the test left it and opens the connection.
  void start() {
    file_root_ = std::make_unique<fs::FileRoot>(root_.string(), config_.allow_hidden);
    context_ = std::make_unique<SessionContext>(
        SessionContext{config_, *file_root_, mime_,
                       http::ParserLimits{config_.max_request_line, config_.max_header_bytes, 100},
                       http::CorsPolicy{}});
    cache_ = std::make_unique<fs::OpenFileCache>(
        *file_root_, fs::CacheConfig{config_.file_cache_entries, 1000, config_.small_file_max});
    session_ = std::make_unique<Session>(channel_, *log_, *context_, *cache_, nullptr, &metrics_);
    channel_.attach(*session_);
    channel_.open();
  }

  // The client sends `bytes` in one piece; returns every byte of the answers they get.
  std::string exchange(std::string_view bytes) {
    channel_.deliver(bytes);
    channel_.complete_sends();
    return channel_.take_output();
  }

  HttpResponse http(std::string_view request, bool bodyless = false) {
    return parse_response(exchange(request), bodyless);
  }

  // The access log's lines once `count` are written (the sink writes from its own thread; the
  // wait is bounded).
  std::vector<std::string> access_lines(std::size_t count) {
    log_->flush();
    std::vector<std::string> lines;
    for (int i = 0; i < 200 && lines.size() < count; ++i) {
      if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      lines.clear();
      std::ifstream in(base_ / "access.log");
      for (std::string line; std::getline(in, line);) lines.push_back(line);
    }
    return lines;
  }

  std::uint64_t requests(log::RequestProtocol protocol, std::size_t status_class) const {
    return metrics_.requests[protocol == log::RequestProtocol::http ? 1 : 0][status_class].get();
  }

  // Waiting for the client's next request, as between keep-alive requests.
  void expect_waiting(TimerKind timer) {
    EXPECT_FALSE(channel_.closed());
    EXPECT_TRUE(channel_.receive_pending());
    EXPECT_FALSE(channel_.pending_send());
    EXPECT_EQ(channel_.timer(), timer);
  }

  stdfs::path base_;
  stdfs::path root_;
  ServerConfig config_;
  http::MimeTypes mime_ = http::MimeTypes::parse("text/plain txt\n");
  int null_fd_ = -1;
  std::unique_ptr<log::LogSink> sink_;
  std::unique_ptr<log::LogSink> access_sink_;
  metrics::WorkerMetrics metrics_;
  std::unique_ptr<log::EventLog> log_;
  std::unique_ptr<fs::FileRoot> file_root_;
  std::unique_ptr<SessionContext> context_;
  std::unique_ptr<fs::OpenFileCache> cache_;
  MemoryChannel channel_;  // outlives the session: its destructor logs the peer
  std::unique_ptr<Session> session_;
};

// --- Line protocol ---------------------------------------------------------------------------

TEST_F(SessionTest, LineProtocolSendsTheFileAndWaitsForTheNextName) {
  start();
  EXPECT_EQ(exchange("small.txt\n"), kSmall);
  expect_waiting(TimerKind::idle);
}

TEST_F(SessionTest, LineProtocolSendsALargeFileAsAFileRange) {
  start();
  channel_.deliver("big.bin\n");
  ASSERT_TRUE(channel_.pending_send());
  EXPECT_TRUE(channel_.pending_send()->head.empty());  // the article's protocol: no header
  EXPECT_EQ(channel_.pending_send()->file.offset, 0u);
  EXPECT_EQ(channel_.pending_send()->file.length, kBigSize);
  channel_.complete_sends();
  EXPECT_EQ(channel_.take_output(), big_content());
  expect_waiting(TimerKind::idle);
}

TEST_F(SessionTest, LineProtocolAnswersAMissingFileWithTheErrorLineAndStaysOpen) {
  start();
  EXPECT_EQ(exchange("missing.txt\n"), kTransmitError);
  expect_waiting(TimerKind::idle);
  EXPECT_EQ(exchange("small.txt\n"), kSmall);
}

TEST_F(SessionTest, LineProtocolRefusesNamesOutsideTheRoot) {
  start();
  EXPECT_EQ(exchange("../secret.txt\n"), kTransmitError);
  EXPECT_EQ(exchange("sub\n"), kTransmitError);  // a directory
  EXPECT_FALSE(channel_.closed());
}

TEST_F(SessionTest, LineProtocolAnswersSeveralNamesInOneChunkInOrder) {
  start();
  EXPECT_EQ(exchange("small.txt\nmissing\nsub/inner.txt\n"),
            std::string(kSmall) + std::string(kTransmitError) + std::string(kInner));
  EXPECT_EQ(channel_.sends_started(), 3u);
  expect_waiting(TimerKind::idle);
}

TEST_F(SessionTest, LineProtocolJoinsANameSplitAcrossChunks) {
  start();
  channel_.deliver("sub/in");
  EXPECT_FALSE(channel_.pending_send());
  expect_waiting(TimerKind::header);
  EXPECT_EQ(exchange("ner.txt\nsmall"), kInner);
  EXPECT_EQ(exchange(".txt\n"), kSmall);
}

TEST_F(SessionTest, LineProtocolNameCanBeDeliveredByteByByte) {
  start();
  channel_.deliver_in_chunks("small.txt\nsub/inner.txt\n", 1);
  channel_.complete_sends();
  EXPECT_EQ(channel_.take_output(), std::string(kSmall) + std::string(kInner));
}

TEST_F(SessionTest, LineProtocolAcceptsCrlf) {
  start();
  EXPECT_EQ(exchange("small.txt\r\nsub/inner.txt\r\n"), std::string(kSmall) + std::string(kInner));
}

TEST_F(SessionTest, LineProtocolOverLongNameGetsTheErrorLineAndCloses) {
  config_.max_line = 16;
  start();
  channel_.deliver("sub/" + std::string(13, 'a'));  // 17 bytes, no line end yet
  ASSERT_TRUE(channel_.pending_send());
  EXPECT_FALSE(channel_.closed());  // the error line goes out first
  channel_.complete_sends();
  EXPECT_EQ(channel_.take_output(), kTransmitError);
  EXPECT_TRUE(channel_.closed());
}

TEST_F(SessionTest, LineProtocolNameOfExactlyTheLimitIsStillAnswered) {
  config_.max_line = 16;
  start();
  write("sub/" + std::string(12, 'b'), "sixteen\n");  // "sub/bbbbbbbbbbbb": 16 bytes
  EXPECT_EQ(exchange("sub/" + std::string(12, 'b') + "\n"), "sixteen\n");
  EXPECT_FALSE(channel_.closed());
}

TEST_F(SessionTest, LineProtocolEmptyFileIsOneEmptySend) {
  start();
  channel_.deliver("empty.txt\nsmall.txt\n");
  ASSERT_TRUE(channel_.pending_send());
  EXPECT_EQ(channel_.pending_send()->size(), 0u);
  channel_.complete_send();
  EXPECT_EQ(channel_.take_output(), "");
  channel_.complete_sends();
  EXPECT_EQ(channel_.take_output(), kSmall);
  expect_waiting(TimerKind::idle);
}

// --- HTTP ------------------------------------------------------------------------------------

TEST_F(SessionTest, HttpGetSendsTheFileAndKeepsTheConnection) {
  start();
  const HttpResponse r = http(get("/small.txt"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Length"), std::to_string(kSmall.size()));
  EXPECT_EQ(r.header("Content-Type"), "text/plain");
  EXPECT_EQ(r.body, kSmall);
  EXPECT_FALSE(r.has("Connection"));
  expect_waiting(TimerKind::idle);
}

TEST_F(SessionTest, HttpGetOfALargeFileSendsItsBytesAsAFileRange) {
  start();
  channel_.deliver(get("/big.bin"));
  std::uint64_t file_bytes = 0;
  while (channel_.pending_send()) {
    file_bytes += channel_.pending_send()->file.length;
    channel_.complete_send();
  }
  EXPECT_EQ(file_bytes, kBigSize);
  const HttpResponse r = parse_response(channel_.take_output());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, big_content());
}

TEST_F(SessionTest, HttpHeadSendsTheHeadOnly) {
  start();
  const std::string bytes = exchange("HEAD /small.txt HTTP/1.1\r\nHost: test\r\n\r\n");
  EXPECT_TRUE(bytes.ends_with("\r\n\r\n"));
  const HttpResponse r = parse_response(bytes, true);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Length"), std::to_string(kSmall.size()));
  expect_waiting(TimerKind::idle);
  EXPECT_EQ(http(get("/small.txt")).body, kSmall);  // the next request is read as one
}

TEST_F(SessionTest, HttpKeepAliveServesSeveralRequestsInTurn) {
  start();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(http(get("/sub/inner.txt")).body, kInner);
    expect_waiting(TimerKind::idle);
  }
}

TEST_F(SessionTest, Http10ClosesAfterTheResponse) {
  start();
  channel_.deliver("GET /small.txt HTTP/1.0\r\n\r\n");
  EXPECT_FALSE(channel_.closed());  // not before the response is sent
  channel_.complete_sends();
  const HttpResponse r = parse_response(channel_.take_output());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kSmall);
  EXPECT_TRUE(r.closes());
  EXPECT_TRUE(channel_.closed());
}

TEST_F(SessionTest, Http10KeepAliveIsAnnouncedAndKept) {
  start();
  const HttpResponse r = http("GET /small.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(r.header("Connection"), "keep-alive");
  expect_waiting(TimerKind::idle);
}

TEST_F(SessionTest, HttpPipelinedRequestsAreAnsweredInOrder) {
  start();
  const std::vector<HttpResponse> r = parse_responses(
      exchange(get("/small.txt") + get("/missing") + get("/sub/inner.txt") + get("/big.bin")));
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].status, 200);
  EXPECT_EQ(r[0].body, kSmall);
  EXPECT_EQ(r[1].status, 404);
  EXPECT_EQ(r[2].status, 200);
  EXPECT_EQ(r[2].body, kInner);
  EXPECT_EQ(r[3].body, big_content());
  expect_waiting(TimerKind::idle);
}

TEST_F(SessionTest, HttpPipelineSplitAcrossChunksIsAnsweredInOrder) {
  start();
  channel_.deliver_in_chunks(get("/small.txt") + get("/sub/inner.txt") + get("/small.txt"), 7);
  channel_.complete_sends();
  const std::vector<HttpResponse> r = parse_responses(channel_.take_output());
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].body, kSmall);
  EXPECT_EQ(r[1].body, kInner);
  EXPECT_EQ(r[2].body, kSmall);
}

TEST_F(SessionTest, HttpRangeGetsPartialContent) {
  start();
  const HttpResponse r = http(get("/small.txt", "Range: bytes=6-9\r\n"));
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.header("Content-Range"), "bytes 6-9/" + std::to_string(kSmall.size()));
  EXPECT_EQ(r.body, kSmall.substr(6, 4));
  expect_waiting(TimerKind::idle);
}

TEST_F(SessionTest, HttpRangeOfALargeFileSendsOnlyThatRange) {
  start();
  channel_.deliver(get("/big.bin", "Range: bytes=30000-\r\n"));
  ASSERT_TRUE(channel_.pending_send());
  EXPECT_EQ(channel_.pending_send()->file.offset, 30000u);
  EXPECT_EQ(channel_.pending_send()->file.length, kBigSize - 30000);
  channel_.complete_sends();
  const HttpResponse r = parse_response(channel_.take_output());
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, big_content().substr(30000));
}

TEST_F(SessionTest, HttpMatchingIfNoneMatchGets304WithoutABody) {
  start();
  const std::string etag = http(get("/small.txt")).header("ETag");
  ASSERT_FALSE(etag.empty());
  const std::string bytes = exchange(get("/small.txt", "If-None-Match: " + etag + "\r\n"));
  EXPECT_TRUE(bytes.ends_with("\r\n\r\n"));
  const HttpResponse r = parse_response(bytes);
  EXPECT_EQ(r.status, 304);
  EXPECT_EQ(r.header("ETag"), etag);
  expect_waiting(TimerKind::idle);
}

TEST_F(SessionTest, Http404KeepsTheConnection) {
  start();
  const HttpResponse r = http(get("/missing.txt"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, http::error_body(404));
  EXPECT_FALSE(r.closes());
  expect_waiting(TimerKind::idle);
}

TEST_F(SessionTest, HttpMalformedRequestGets400AndCloses) {
  start();
  channel_.deliver("GET /small.txt HTTP/1.1\r\nHost: test\r\nno colon here\r\n\r\n" +
                   get("/small.txt"));
  channel_.complete_sends();
  const HttpResponse r = parse_response(channel_.take_output());  // the second is never read
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, http::error_body(400));
  EXPECT_TRUE(r.closes());
  EXPECT_TRUE(channel_.closed());
}

TEST_F(SessionTest, Http11WithoutHostGets400AndCloses) {
  start();
  const HttpResponse r = http("GET /small.txt HTTP/1.1\r\n\r\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(r.closes());
  EXPECT_TRUE(channel_.closed());
}

TEST_F(SessionTest, HttpOverLongRequestLineGets414AndCloses) {
  config_.max_request_line = 64;
  start();
  const HttpResponse r = http(get("/" + std::string(100, 'a')));
  EXPECT_EQ(r.status, 414);
  EXPECT_TRUE(r.closes());
  EXPECT_TRUE(channel_.closed());
}

TEST_F(SessionTest, HttpOverLongRequestLineGets414BeforeItsEnd) {
  config_.max_request_line = 64;
  start();
  channel_.deliver("GET /" + std::string(100, 'a'));  // no line end: the limit decides
  channel_.complete_sends();
  EXPECT_EQ(parse_response(channel_.take_output()).status, 414);
  EXPECT_TRUE(channel_.closed());
}

TEST_F(SessionTest, HttpOverLargeHeadGets431AndCloses) {
  config_.max_header_bytes = 256;
  start();
  const HttpResponse r = http(get("/small.txt", "X-Filler: " + std::string(300, 'x') + "\r\n"));
  EXPECT_EQ(r.status, 431);
  EXPECT_TRUE(r.closes());
  EXPECT_TRUE(channel_.closed());
}

TEST_F(SessionTest, HttpRequestBodyIsSkippedNotReadAsARequest) {
  start();
  // The body looks like a request: were it parsed as one, a third response would appear.
  const std::string body = get("/missing");
  const std::vector<HttpResponse> r = parse_responses(
      exchange(get("/small.txt", "Content-Length: " + std::to_string(body.size()) + "\r\n") + body +
               get("/sub/inner.txt")));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].body, kSmall);
  EXPECT_EQ(r[1].body, kInner);
  expect_waiting(TimerKind::idle);
}

TEST_F(SessionTest, HttpRequestBodyArrivingInPiecesIsSkipped) {
  start();
  EXPECT_EQ(http(get("/small.txt", "Content-Length: 10\r\n") + "abc").body, kSmall);
  EXPECT_EQ(exchange("defg"), "");
  const HttpResponse r = http("hij" + get("/sub/inner.txt"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kInner);
}

TEST_F(SessionTest, HttpChunkedBodyIsAnsweredThenClosed) {
  start();
  channel_.deliver(get("/small.txt", "Transfer-Encoding: chunked\r\n") + "5\r\nhello\r\n0\r\n\r\n");
  channel_.complete_sends();
  const HttpResponse r = parse_response(channel_.take_output());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kSmall);
  EXPECT_TRUE(r.closes());
  EXPECT_TRUE(channel_.closed());
}

TEST_F(SessionTest, HttpLargeBodyIsAnsweredThenClosed) {
  start();
  const std::uint64_t length = Session::kMaxDrainedBody + 1;
  const HttpResponse r =
      http(get("/small.txt", "Content-Length: " + std::to_string(length) + "\r\n"));
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.closes());
  EXPECT_TRUE(channel_.closed());
}

// --- Protocol sniffing -----------------------------------------------------------------------

TEST_F(SessionTest, RequestLineWithAControlByteGetsExactlyOne400) {
  start();
  const std::string bytes = exchange("GET /a\x01z HTTP/1.1\r\nHost: test\r\n\r\n");
  EXPECT_EQ(bytes.find(kTransmitError), std::string::npos);  // not the line protocol's error
  const HttpResponse r = parse_response(bytes);
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(channel_.closed());
}

TEST_F(SessionTest, EmptyLineBeforeARequestLineIsSkippedAsHttp) {
  start();
  const HttpResponse r = http("\r\n" + get("/small.txt"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kSmall);
}

TEST_F(SessionTest, EmptyLineInItsOwnChunkLeavesTheProtocolOpen) {
  start();
  EXPECT_EQ(exchange("\r\n"), "");
  expect_waiting(TimerKind::header);
  EXPECT_EQ(http(get("/small.txt")).body, kSmall);
}

TEST_F(SessionTest, LoneEmptyLineThenEndOfStreamGetsTheLineErrorThenCloses) {
  start();
  EXPECT_EQ(exchange("\n"), "");
  EXPECT_FALSE(channel_.closed());
  channel_.end_stream();
  channel_.complete_sends();
  EXPECT_EQ(channel_.take_output(), kTransmitError);
  EXPECT_TRUE(channel_.closed());
}

TEST_F(SessionTest, UnfinishedRequestLineThenEndOfStreamIsNotAnswered) {
  start();
  EXPECT_EQ(exchange("GET /small.txt HTT"), "");
  channel_.end_stream();
  EXPECT_FALSE(channel_.pending_send());
  EXPECT_TRUE(channel_.closed());
}

// --- Timers ----------------------------------------------------------------------------------

TEST_F(SessionTest, HeaderTimerIsArmedOnOpen) {
  start();
  EXPECT_EQ(channel_.timer(), TimerKind::header);
  EXPECT_TRUE(channel_.receive_pending());
}

TEST_F(SessionTest, TrickledBytesDoNotRearmTheHeaderTimer) {
  start();
  const std::vector<TimerKind> armed = channel_.timer_calls();
  channel_.deliver_in_chunks("GET /small.txt HTTP/1.1\r\nHost: te", 3);
  EXPECT_FALSE(channel_.pending_send());
  EXPECT_EQ(channel_.timer(), TimerKind::header);
  EXPECT_EQ(channel_.timer_calls(), armed);  // still the timer armed by on_open
  channel_.fire_timer();
  EXPECT_TRUE(channel_.closed());
  EXPECT_EQ(channel_.output(), "");
}

TEST_F(SessionTest, HeaderTimeoutClosesAnUnfinishedLine) {
  start();
  EXPECT_EQ(exchange("sub/inn"), "");
  channel_.fire_timer();
  EXPECT_TRUE(channel_.closed());
}

TEST_F(SessionTest, IdleTimerFollowsAResponseAndItsTimeoutCloses) {
  start();
  EXPECT_EQ(http(get("/small.txt")).status, 200);
  EXPECT_EQ(channel_.timer(), TimerKind::idle);
  channel_.fire_timer();
  EXPECT_TRUE(channel_.closed());
  EXPECT_EQ(channel_.output(), "");
}

TEST_F(SessionTest, FirstByteOfTheNextRequestArmsTheHeaderTimer) {
  start();
  EXPECT_EQ(exchange("small.txt\n"), kSmall);
  EXPECT_EQ(channel_.timer(), TimerKind::idle);
  EXPECT_EQ(exchange("sub"), "");
  EXPECT_EQ(channel_.timer(), TimerKind::header);
}

TEST_F(SessionTest, HeaderTimerRunsUntilASkippedBodyHasArrived) {
  start();
  EXPECT_EQ(http(get("/small.txt", "Content-Length: 6\r\n") + "ab").status, 200);
  EXPECT_EQ(channel_.timer(), TimerKind::header);  // the request is not over
  const std::size_t calls = channel_.timer_calls().size();
  EXPECT_EQ(exchange("cd"), "");
  EXPECT_EQ(channel_.timer_calls().size(), calls);  // trickled body bytes do not re-arm it
  EXPECT_EQ(exchange("ef"), "");
  EXPECT_EQ(channel_.timer(), TimerKind::idle);
}

TEST_F(SessionTest, NoProtocolTimerIsSetWhileSending) {
  start();
  channel_.deliver(get("/big.bin"));
  const std::size_t calls = channel_.timer_calls().size();
  channel_.complete_sends();
  EXPECT_EQ(channel_.timer_calls().size(), calls + 1);  // idle, once the response is sent
  EXPECT_EQ(channel_.timer(), TimerKind::idle);
}

// --- --max-requests-per-connection -----------------------------------------------------------

TEST_F(SessionTest, HttpLastAllowedRequestSaysCloseAndTheRestIsNotAnswered) {
  config_.max_requests_per_connection = 2;
  start();
  const std::vector<HttpResponse> r =
      parse_responses(exchange(get("/small.txt") + get("/small.txt") + get("/small.txt")));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_FALSE(r[0].closes());
  EXPECT_TRUE(r[1].closes());
  EXPECT_TRUE(channel_.closed());
}

TEST_F(SessionTest, LineProtocolClosesAfterTheLastAllowedRequest) {
  config_.max_requests_per_connection = 1;
  start();
  EXPECT_EQ(exchange("small.txt\nsub/inner.txt\n"), kSmall);
  EXPECT_TRUE(channel_.closed());
}

TEST_F(SessionTest, ZeroRequestsLimitMeansNoLimit) {
  config_.max_requests_per_connection = 0;
  start();
  EXPECT_EQ(exchange("small.txt\nsmall.txt\nsmall.txt\n"),
            std::string(kSmall) + std::string(kSmall) + std::string(kSmall));
  EXPECT_FALSE(channel_.closed());
}

// --- Drain -----------------------------------------------------------------------------------

TEST_F(SessionTest, DrainClosesAFreshConnectionAtOnce) {
  start();
  channel_.drain();
  EXPECT_TRUE(channel_.closed());
}

TEST_F(SessionTest, DrainClosesAnIdleKeepAliveConnectionAtOnce) {
  start();
  EXPECT_EQ(http(get("/small.txt")).status, 200);
  channel_.drain();
  EXPECT_TRUE(channel_.closed());
}

TEST_F(SessionTest, DrainLetsTheRunningSendFinishThenCloses) {
  start();
  channel_.deliver(get("/big.bin"));
  ASSERT_TRUE(channel_.pending_send());
  channel_.drain();
  EXPECT_FALSE(channel_.closed());
  channel_.complete_sends();
  EXPECT_EQ(parse_response(channel_.take_output()).body, big_content());
  EXPECT_TRUE(channel_.closed());
}

TEST_F(SessionTest, DrainAnswersAnAlreadyReceivedRequestWithClose) {
  start();
  channel_.deliver(get("/small.txt") + get("/sub/inner.txt"));
  ASSERT_TRUE(channel_.pending_send());
  channel_.drain();
  channel_.complete_sends();
  const std::vector<HttpResponse> r = parse_responses(channel_.take_output());
  ASSERT_EQ(r.size(), 2u);
  EXPECT_FALSE(r[0].closes());  // built before the drain
  EXPECT_EQ(r[1].body, kInner);
  EXPECT_TRUE(r[1].closes());
  EXPECT_TRUE(channel_.closed());
}

// --- Failed sends, end of stream -------------------------------------------------------------

TEST_F(SessionTest, BrokenPipeDuringASendCloses) {
  start();
  channel_.deliver(get("/big.bin") + get("/small.txt"));
  ASSERT_TRUE(channel_.pending_send());
  channel_.fail_send(-EPIPE, 100);
  EXPECT_TRUE(channel_.closed());
  EXPECT_EQ(channel_.output().size(), 100u);  // the pipelined request is not answered
}

TEST_F(SessionTest, FileShrinkingDuringASendClosesAndForgetsTheCachedFile) {
  start();
  channel_.deliver("big.bin\n");
  ASSERT_TRUE(channel_.pending_send());
  EXPECT_EQ(cache_->size(), 1u);
  channel_.fail_send(core::kFileShrank, 5);
  EXPECT_TRUE(channel_.closed());
  EXPECT_EQ(cache_->size(), 0u);  // the next request re-reads the file's size
}

TEST_F(SessionTest, SendTimeoutCloses) {
  start();
  channel_.deliver("small.txt\n");
  channel_.fail_send(-ETIMEDOUT);
  EXPECT_TRUE(channel_.closed());
}

TEST_F(SessionTest, EndOfStreamClosesAnIdleConnection) {
  start();
  EXPECT_EQ(exchange("small.txt\n"), kSmall);
  channel_.end_stream();
  EXPECT_TRUE(channel_.closed());
}

TEST_F(SessionTest, EndOfStreamBeforeAnyByteCloses) {
  start();
  channel_.end_stream();
  EXPECT_TRUE(channel_.closed());
  EXPECT_EQ(channel_.sends_started(), 0u);
}

TEST_F(SessionTest, ReceiveErrorCloses) {
  start();
  EXPECT_EQ(exchange("GET / HTTP/1.1\r\n"), "");
  channel_.end_stream(-ECONNRESET);
  EXPECT_TRUE(channel_.closed());
  EXPECT_EQ(channel_.sends_started(), 0u);
}

// --- The request record: access log and metrics -----------------------------------------------

TEST_F(SessionTest, EachRequestIsRecordedOnceInTheAccessLogAndTheMetrics) {
  start();
  EXPECT_EQ(metrics_.connections.get(), 1);
  EXPECT_EQ(http(get("/small.txt", "User-Agent: tester/1\r\nReferer: http://r/\r\n")).status, 200);
  EXPECT_EQ(http(get("/missing.txt")).status, 404);
  const std::vector<std::string> lines = access_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].rfind("192.0.2.7 - - [", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find("] \"GET /small.txt HTTP/1.1\" 200 18 \"http://r/\" \"tester/1\""),
            std::string::npos)
      << lines[0];
  EXPECT_NE(lines[1].find("] \"GET /missing.txt HTTP/1.1\" 404 "), std::string::npos) << lines[1];
  EXPECT_EQ(requests(log::RequestProtocol::http, 1), 1u);
  EXPECT_EQ(requests(log::RequestProtocol::http, 3), 1u);
  std::uint64_t timed = 0;
  for (const auto& bucket : metrics_.duration) timed += bucket.get();
  EXPECT_EQ(timed, 2u);
}

TEST_F(SessionTest, LineProtocolRequestsAreRecordedWithTheirBodyBytes) {
  start();
  EXPECT_EQ(exchange("big.bin\n"), big_content());
  EXPECT_EQ(exchange("missing.txt\n"), kTransmitError);
  const std::vector<std::string> lines = access_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("\"big.bin\" 200 40000 \"-\" \"-\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("\"missing.txt\" 404 22 "), std::string::npos) << lines[1];
  EXPECT_EQ(requests(log::RequestProtocol::line, 1), 1u);
  EXPECT_EQ(requests(log::RequestProtocol::line, 3), 1u);
  EXPECT_EQ(metrics_.bytes_sent.get(), kBigSize + kTransmitError.size());
  std::uint64_t timed = 0;
  for (const auto& bucket : metrics_.duration) timed += bucket.get();
  EXPECT_EQ(timed, 2u);
}

TEST_F(SessionTest, HttpBodyBytesLeaveOutTheHead) {
  start();
  const std::string bytes = exchange(get("/big.bin"));
  const std::vector<std::string> lines = access_lines(1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("\"GET /big.bin HTTP/1.1\" 200 40000 "), std::string::npos) << lines[0];
  EXPECT_EQ(metrics_.bytes_sent.get(), bytes.size());
}

TEST_F(SessionTest, MalformedRequestIsRecordedWithItsRawLineAndCountedAsAnError) {
  start();
  const HttpResponse r = http("GET /a b c HTTP/1.1\r\n\r\n");
  EXPECT_EQ(r.status, 400);
  const std::vector<std::string> lines = access_lines(1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("\"GET /a b c HTTP/1.1\" 400 "), std::string::npos) << lines[0];
  EXPECT_EQ(metrics_.errors[static_cast<std::size_t>(metrics::ErrorKind::malformed_request)].get(),
            1u);
}

TEST_F(SessionTest, AbortedTransferIsRecordedWithHowItEnded) {
  start();
  channel_.deliver(get("/big.bin"));
  channel_.fail_send(-ECONNRESET, 1000);
  EXPECT_TRUE(channel_.closed());
  EXPECT_EQ(metrics_.errors[static_cast<std::size_t>(metrics::ErrorKind::client_gone)].get(), 1u);
  EXPECT_EQ(metrics_.bytes_sent.get(), 1000u);
}

TEST_F(SessionTest, TimeoutsAreCountedByKind) {
  start();
  channel_.fire_timer();  // the header timer: nothing came
  EXPECT_TRUE(channel_.closed());
  EXPECT_EQ(metrics_.errors[static_cast<std::size_t>(metrics::ErrorKind::header_timeout)].get(),
            1u);
}

TEST_F(SessionTest, ConnectionGaugeFollowsTheSession) {
  start();
  EXPECT_EQ(metrics_.connections.get(), 1);
  session_.reset();
  EXPECT_EQ(metrics_.connections.get(), 0);
}

// --- Rate limit ----------------------------------------------------------------------------------

TEST_F(SessionTest, RateLimitedResponseSendsABurstThenWaitsOnThePaceTimer) {
  config_.rate_limit = 10000;  // 10 kB/s: a burst of one pace period is 1001 bytes
  start();
  channel_.deliver("big.bin\n");
  ASSERT_TRUE(channel_.pending_send());
  EXPECT_EQ(channel_.pending_send()->size(), 1001u);
  channel_.complete_send();
  // Nothing more may leave before the rate allows it: the session waits on the engine's timer.
  if (!channel_.pending_send()) {
    EXPECT_EQ(channel_.timer(), TimerKind::pace);
    EXPECT_FALSE(channel_.closed());
  }
  EXPECT_EQ(channel_.output(), big_content().substr(0, channel_.output().size()));
}

TEST_F(SessionTest, RateLimitSplitsTheHeadFromPacedBodyBytesOnlyOnce) {
  config_.rate_limit = 1 << 30;  // the burst covers the file: one send, as without a limit
  start();
  const HttpResponse r = http(get("/big.bin"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, big_content());
  EXPECT_EQ(channel_.sends_started(), 1u);
}

}  // namespace
}  // namespace iocomp::server
