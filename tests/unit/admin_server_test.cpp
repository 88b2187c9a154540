// The admin port's pure parts: the ADDR:PORT syntax and the answers to requests.
#include "server/admin_server.hpp"

#include <gtest/gtest.h>

#include "util/byte_size.hpp"

namespace iocomp::server {
namespace {

TEST(AdminEndpoint, ParsesAddressesAndPorts) {
  auto e = parse_admin_endpoint("127.0.0.1:9182");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 9182);
  e = parse_admin_endpoint("[::1]:80");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->port, 80);
  e = parse_admin_endpoint("localhost:65535");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "localhost");
}

TEST(AdminEndpoint, RejectsMalformed) {
  for (const char* text :
       {"", "9182", ":9182", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:+80", "127.0.0.1:80x",
        "::1:9182", "[::1]9182", "[::1:9182", "[]:9182", "127.0.0.1:123456"}) {
    EXPECT_FALSE(parse_admin_endpoint(text)) << text;
  }
}

AdminHandlers handlers(bool healthy = true) {
  return {[] { return std::string("iocomp_up 1\n"); }, [healthy] { return healthy; }};
}

TEST(AdminResponse, MetricsInTheTextFormat) {
  const std::string r =
      admin_response("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", handlers(), false);
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            std::string::npos);
  EXPECT_NE(r.find("Content-Length: 12\r\n"), std::string::npos);
  EXPECT_EQ(r.substr(r.size() - 12), "iocomp_up 1\n");
}

TEST(AdminResponse, HeadHasNoBody) {
  const std::string r =
      admin_response("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n", handlers(), false);
  EXPECT_EQ(r.substr(r.size() - 4), "\r\n\r\n");
  EXPECT_NE(r.find("Content-Length: 12\r\n"), std::string::npos);
}

TEST(AdminResponse, HealthzFollowsTheDrain) {
  EXPECT_EQ(admin_response("GET /healthz HTTP/1.0\r\n\r\n", handlers(true), false)
                .rfind("HTTP/1.1 200", 0),
            0u);
  const std::string r = admin_response("GET /healthz HTTP/1.0\r\n\r\n", handlers(false), false);
  EXPECT_EQ(r.rfind("HTTP/1.1 503", 0), 0u) << r;
  EXPECT_EQ(r.substr(r.size() - 9), "draining\n");
}

TEST(AdminResponse, OtherPathsMethodsAndGarbage) {
  EXPECT_EQ(admin_response("GET / HTTP/1.1\r\nHost: x\r\n\r\n", handlers(), false)
                .rfind("HTTP/1.1 404", 0),
            0u);
  const std::string post =
      admin_response("POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n", handlers(), false);
  EXPECT_EQ(post.rfind("HTTP/1.1 405", 0), 0u);
  EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos);
  EXPECT_EQ(
      admin_response("\x16\x03\x01garbage\r\n\r\n", handlers(), false).rfind("HTTP/1.1 400", 0),
      0u);
  EXPECT_EQ(admin_response("GET /metrics HTTP/1.1\r\n", handlers(), false), "");  // needs more
  EXPECT_EQ(
      admin_response("GET /metrics HTTP/1.1\r\nX: y", handlers(), true).rfind("HTTP/1.1 431", 0),
      0u);
}

TEST(ByteSize, SuffixesAreBinaryAsInNginx) {
  EXPECT_EQ(util::parse_byte_size("0"), 0u);
  EXPECT_EQ(util::parse_byte_size("512"), 512u);
  EXPECT_EQ(util::parse_byte_size("100k"), 102400u);
  EXPECT_EQ(util::parse_byte_size("10M"), 10485760u);
  EXPECT_EQ(util::parse_byte_size("1g"), 1073741824u);
  for (const char* bad :
       {"", "k", "-1", "1.5m", "1kb", "10 k", "99999999999999999999", "4294967297g"}) {
    EXPECT_FALSE(util::parse_byte_size(bad)) << bad;
  }
}

}  // namespace
}  // namespace iocomp::server
