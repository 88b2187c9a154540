// The access log's line formats, the log sink's reopen, and peer address splitting.
#include "log/access_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "log/log_sink.hpp"

namespace iocomp::log {
namespace {

RequestRecord http_record() {
  RequestRecord r;
  r.time = {1796056200, 123456789};  // 2026-11-30 16:30:00.123 UTC
  r.peer = "203.0.113.7:4242";
  r.protocol = RequestProtocol::http;
  r.method = "GET";
  r.target = "/pub/a.iso";
  r.http_minor = 1;
  r.status = 200;
  r.bytes_sent = 1300;
  r.body_bytes = 1024;
  r.duration_us = 1500;
  r.user_agent = "curl/8.0";
  r.referer = "https://example.org/";
  return r;
}

std::string line(const RequestRecord& r, AccessFormat format) {
  std::string out;
  append_access_line(out, r, format);
  return out;
}

TEST(AccessLog, CombinedLineHasEveryField) {
  RequestRecord r = http_record();
  r.user = "alice";
  EXPECT_EQ(line(r, AccessFormat::combined),
            "203.0.113.7 - alice [30/Nov/2026:16:30:00 +0000] \"GET /pub/a.iso HTTP/1.1\" 200 "
            "1024 \"https://example.org/\" \"curl/8.0\"\n");
}

TEST(AccessLog, CombinedWritesDashesForEmptyFieldsAndNoBody) {
  RequestRecord r = http_record();
  r.user_agent = {};
  r.referer = {};
  r.body_bytes = 0;
  r.status = 304;
  r.http_minor = 0;
  EXPECT_EQ(line(r, AccessFormat::combined),
            "203.0.113.7 - - [30/Nov/2026:16:30:00 +0000] \"GET /pub/a.iso HTTP/1.0\" 304 - "
            "\"-\" \"-\"\n");
}

TEST(AccessLog, LineProtocolRequestIsTheNameItSent) {
  RequestRecord r = http_record();
  r.protocol = RequestProtocol::line;
  r.method = {};
  r.target = "pub/a.iso";
  r.user_agent = {};
  r.referer = {};
  EXPECT_EQ(line(r, AccessFormat::combined),
            "203.0.113.7 - - [30/Nov/2026:16:30:00 +0000] \"pub/a.iso\" 200 1024 \"-\" \"-\"\n");
}

TEST(AccessLog, ClientControlledFieldsCannotForgeFieldsOrLines) {
  RequestRecord r = http_record();
  r.target = "/a\" 200 1 \"x\n127.0.0.1 - - [";
  r.user_agent = "evil\x1b[2J\"ua\\";
  r.referer = "\xff\xfe";
  const std::string text = line(r, AccessFormat::combined);
  EXPECT_EQ(text.find('\n'), text.size() - 1);  // one line
  EXPECT_NE(text.find("/a\\x22 200 1 \\x22x\\x0a127.0.0.1"), std::string::npos) << text;
  EXPECT_NE(text.find("\"evil\\x1b[2J\\x22ua\\x5c\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"\\xff\\xfe\""), std::string::npos) << text;
  // Exactly six quotes: request, referer, user agent.
  EXPECT_EQ(std::count(text.begin(), text.end(), '"'), 6);
}

TEST(AccessLog, MalformedRequestShowsTheRawLine) {
  RequestRecord r = http_record();
  r.method = {};
  r.target = "GARBAGE\x01";
  r.status = 400;
  const std::string text = line(r, AccessFormat::combined);
  EXPECT_NE(text.find("\"GARBAGE\\x01\" 400"), std::string::npos) << text;
  const std::string json = line(r, AccessFormat::json);
  EXPECT_NE(json.find("\"method\":null,\"target\":\"GARBAGE\\\\x01\",\"version\":null"),
            std::string::npos)
      << json;
}

TEST(AccessLog, JsonLineHasEveryField) {
  RequestRecord r = http_record();
  r.end = RequestEnd::client_gone;
  EXPECT_EQ(line(r, AccessFormat::json),
            "{\"time\":\"2026-11-30T16:30:00.123Z\",\"client\":\"203.0.113.7\",\"port\":4242,"
            "\"protocol\":\"http\",\"method\":\"GET\",\"target\":\"/pub/a.iso\",\"version\":"
            "\"HTTP/1.1\",\"status\":200,\"bytes_sent\":1300,\"body_bytes\":1024,\"duration_ms\":"
            "1.500,\"user\":null,\"user_agent\":\"curl/8.0\",\"referer\":\"https://example.org/\","
            "\"ended\":\"client_gone\"}\n");
}

TEST(AccessLog, JsonEscapesLikeTheTextLogAndStaysValid) {
  RequestRecord r = http_record();
  r.protocol = RequestProtocol::line;
  r.target = "a\"b\\c\n\xc3\xa9\xff";
  r.peer = "[2001:db8::1]:443";
  const std::string json = line(r, AccessFormat::json);
  EXPECT_NE(json.find("\"client\":\"2001:db8::1\",\"port\":443"), std::string::npos) << json;
  // \x22 for the quote, \x5c for the backslash, \x0a for the newline, é kept, \xff escaped;
  // every backslash doubled for JSON.
  EXPECT_NE(json.find("\"target\":\"a\\\\x22b\\\\x5cc\\\\x0a\xc3\xa9\\\\xff\""), std::string::npos)
      << json;
  EXPECT_NE(json.find("\"method\":null"), std::string::npos);
}

TEST(AccessLog, PeerAddressAndPort) {
  EXPECT_EQ(peer_address("10.0.0.1:80"), "10.0.0.1");
  EXPECT_EQ(peer_port("10.0.0.1:80"), "80");
  EXPECT_EQ(peer_address("[::1]:8182"), "::1");
  EXPECT_EQ(peer_port("[::1]:8182"), "8182");
  EXPECT_EQ(peer_address("-"), "-");
  EXPECT_EQ(peer_port("-"), "");
  EXPECT_EQ(peer_port("[::1]"), "");
  EXPECT_EQ(peer_port("1.2.3.4:x1"), "");
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(LogSink, ReplaceFdSendsLaterLinesToTheNewFile) {
  char pattern[] = "/tmp/iocomp-sink-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  const std::filesystem::path dir = pattern;
  const std::string path = (dir / "access.log").string();
  {
    LogSink sink(LogSink::open_file(path), 1 << 20, true);
    sink.submit("one\n");
    std::filesystem::rename(path, dir / "access.log.1");  // logrotate's move
    sink.submit("two\n");                                 // still the old file
    sink.replace_fd(LogSink::open_file(path));            // SIGHUP
    sink.submit("three\n");
  }  // the destructor writes everything out
  EXPECT_EQ(read_file(dir / "access.log.1"), "one\ntwo\n");
  EXPECT_EQ(read_file(path), "three\n");
  std::filesystem::remove_all(dir);
}

TEST(LogSink, DelayedSinkWritesWithinItsDelayAndEverythingAtTheEnd) {
  char pattern[] = "/tmp/iocomp-sink-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  const std::filesystem::path dir = pattern;
  const std::string path = (dir / "access.log").string();
  {
    LogSink sink(LogSink::open_file(path), 1 << 20, true, std::chrono::milliseconds(20));
    sink.submit("one\n");
    // Bounded wait: the line is written after the delay, not at the end only.
    std::string text;
    for (int i = 0; i < 500 && text.empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      text = read_file(path);
    }
    EXPECT_EQ(text, "one\n");
    for (int i = 0; i < 2000; ++i) sink.submit(std::string(99, 'x') + "\n");  // > 64 KiB
  }
  EXPECT_EQ(read_file(path).size(), 4u + 2000u * 100u);
  std::filesystem::remove_all(dir);
}

TEST(LogSink, OpenFileReportsWhy) {
  try {
    LogSink::open_file("/nonexistent-dir/access.log");
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/access.log: No such file"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace iocomp::log
