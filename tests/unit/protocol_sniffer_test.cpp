#include "protocol/protocol_sniffer.hpp"

#include <gtest/gtest.h>

#include <string>

namespace iocomp::protocol {
namespace {

using namespace std::string_literals;

constexpr std::size_t kLimit = 8192;

TEST(ProtocolSniffer, RequestLinesAreHttp) {
  EXPECT_EQ(sniff_protocol("GET / HTTP/1.1\r\n", kLimit), Protocol::http);
  EXPECT_EQ(sniff_protocol("HEAD /a%20b HTTP/1.0\n", kLimit), Protocol::http);
  EXPECT_EQ(sniff_protocol("POST /x HTTP/1.1\r\nHost: a\r\n\r\n", kLimit), Protocol::http);
  // Other versions are still HTTP: the parser answers 505.
  EXPECT_EQ(sniff_protocol("GET / HTTP/2.0\r\n", kLimit), Protocol::http);
}

TEST(ProtocolSniffer, FileNamesAreLines) {
  EXPECT_EQ(sniff_protocol("file.txt\n", kLimit), Protocol::line);
  EXPECT_EQ(sniff_protocol("GET\n", kLimit), Protocol::line);
  EXPECT_EQ(sniff_protocol("GET /x\n", kLimit), Protocol::line);
  EXPECT_EQ(sniff_protocol("GET /x FTP/1.0\n", kLimit), Protocol::line);
  EXPECT_EQ(sniff_protocol("README\r\n", kLimit), Protocol::line);
  EXPECT_EQ(sniff_protocol("get / HTTP/1.1\n", kLimit), Protocol::line);
}

TEST(ProtocolSniffer, DecidesEarlyWhenTheShapeIsImpossible) {
  EXPECT_EQ(sniff_protocol("file", kLimit), Protocol::line);
  EXPECT_EQ(sniff_protocol("dir/x", kLimit), Protocol::line);
  EXPECT_EQ(sniff_protocol("get /x", kLimit), Protocol::line);
  EXPECT_EQ(sniff_protocol("GET\t/", kLimit), Protocol::line);
}

// "METHOD SP" can still end in " HTTP/1.1" whatever follows: the line end decides.
TEST(ProtocolSniffer, AfterAMethodTheLineEndDecides) {
  EXPECT_EQ(sniff_protocol("GET  ", kLimit), Protocol::undecided);
  EXPECT_EQ(sniff_protocol("GET /x HTTX", kLimit), Protocol::undecided);
  EXPECT_EQ(sniff_protocol("GET /x HTTX\n", kLimit), Protocol::line);
  EXPECT_EQ(sniff_protocol("GET /a\0b"s, kLimit), Protocol::undecided);
}

// Whatever the target holds, a request line ending in HTTP/1.0 or HTTP/1.1 is HTTP: the parser
// answers 400, instead of the line protocol answering every header line.
TEST(ProtocolSniffer, RequestLineWithBadBytesIsStillHttp) {
  EXPECT_EQ(sniff_protocol("GET /a\0b HTTP/1.1\r\nHost: x\r\n"s, kLimit), Protocol::http);
  EXPECT_EQ(sniff_protocol("GET /a\x01\x1b[2J HTTP/1.0\r\n", kLimit), Protocol::http);
  EXPECT_EQ(sniff_protocol("GET /a b c HTTP/1.1\r\n", kLimit), Protocol::http);
  EXPECT_EQ(sniff_protocol("GET  HTTP/1.1\n", kLimit), Protocol::http);
  // Not a request line: no method, or another ending.
  EXPECT_EQ(sniff_protocol("my file HTTP/1.1\n", kLimit), Protocol::line);
  EXPECT_EQ(sniff_protocol("GET /a\x01 HTTP/2\n", kLimit), Protocol::line);
}

TEST(ProtocolSniffer, EmptyLinesBeforeTheRequestLineAreSkipped) {
  EXPECT_EQ(sniff_protocol("\r\nGET / HTTP/1.1\r\n", kLimit), Protocol::http);
  EXPECT_EQ(sniff_protocol("\n\r\n\nGET / HTTP/1.1\n", kLimit), Protocol::http);
  EXPECT_EQ(sniff_protocol("\r\n", kLimit), Protocol::undecided);
  EXPECT_EQ(sniff_protocol("\r\n\r", kLimit), Protocol::undecided);
  EXPECT_EQ(sniff_protocol("\r\nGET / HT", kLimit), Protocol::undecided);
  EXPECT_EQ(sniff_protocol("\nfile.txt\n", kLimit), Protocol::line);
  // Within a bound: a stream of empty lines is the line protocol's business after it.
  EXPECT_EQ(sniff_protocol(std::string(60, '\n'), 50), Protocol::line);
}

TEST(ProtocolSniffer, WaitsWhileARequestLineIsStillPossible) {
  const std::string line = "GET /index.html HTTP/1.1\r\n";
  for (std::size_t n = 1; n < line.size() - 1; ++n) {
    EXPECT_EQ(sniff_protocol(line.substr(0, n), kLimit), Protocol::undecided) << n;
  }
  EXPECT_EQ(sniff_protocol(line, kLimit), Protocol::http);
}

TEST(ProtocolSniffer, OverlongRequestLineIsHttpSoItGets414) {
  EXPECT_EQ(sniff_protocol("GET /" + std::string(100, 'a'), 50), Protocol::http);
  EXPECT_EQ(sniff_protocol("GET /" + std::string(40, 'a'), 50), Protocol::undecided);
  EXPECT_EQ(sniff_protocol(std::string(100, 'a'), 50), Protocol::line);
}

TEST(ProtocolSniffer, RequestLineExactlyAtTheLimitStillGetsItsCrlf) {
  const std::string line = "GET /" + std::string(45, 'a') + " HTTP/1.1";  // 59 bytes
  EXPECT_EQ(sniff_protocol(line + "\r", line.size()), Protocol::undecided);
  EXPECT_EQ(sniff_protocol(line + "\r\n", line.size()), Protocol::http);
}

}  // namespace
}  // namespace iocomp::protocol
