#include "http/request_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace iocomp::http {
namespace {

using namespace std::string_literals;

ParseResult parse(std::string_view bytes, Request& out, const ParserLimits& limits = {}) {
  return parse_request(bytes, limits, out);
}

ParseResult parse(std::string_view bytes, const ParserLimits& limits = {}) {
  Request request;
  return parse_request(bytes, limits, request);
}

// Expects an error with `status` and returns nothing; reports the input on failure.
void expect_error(std::string_view bytes, int status, const ParserLimits& limits = {}) {
  const ParseResult result = parse(bytes, limits);
  EXPECT_EQ(result.status, ParseStatus::error) << testing::PrintToString(std::string(bytes));
  EXPECT_EQ(result.error_status, status) << testing::PrintToString(std::string(bytes));
}

void expect_complete(std::string_view bytes, const ParserLimits& limits = {}) {
  const ParseResult result = parse(bytes, limits);
  EXPECT_EQ(result.status, ParseStatus::complete) << testing::PrintToString(std::string(bytes));
  EXPECT_EQ(result.consumed, bytes.size()) << testing::PrintToString(std::string(bytes));
}

TEST(HttpRequestParser, SimpleGet) {
  const std::string bytes = "GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n";
  Request request;
  const ParseResult result = parse(bytes, request);
  ASSERT_EQ(result.status, ParseStatus::complete);
  EXPECT_EQ(result.consumed, bytes.size());
  EXPECT_EQ(result.error_status, 0);
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.method_kind, Method::get);
  EXPECT_EQ(request.target, "/index.html");
  EXPECT_EQ(request.version_minor, 1);
  EXPECT_EQ(request.host, "example.com");
  EXPECT_TRUE(request.keep_alive);
  EXPECT_FALSE(request.content_length.has_value());
  EXPECT_TRUE(request.range.empty());
  EXPECT_TRUE(request.transfer_encoding.empty());
  // Views point into the caller's buffer.
  EXPECT_GE(request.target.data(), bytes.data());
  EXPECT_LT(request.target.data(), bytes.data() + bytes.size());
}

TEST(HttpRequestParser, MethodKinds) {
  Request request;
  ASSERT_EQ(parse("HEAD / HTTP/1.1\r\n\r\n", request).status, ParseStatus::complete);
  EXPECT_EQ(request.method_kind, Method::head);
  EXPECT_EQ(request.method, "HEAD");
  ASSERT_EQ(parse("POST /x HTTP/1.1\r\n\r\n", request).status, ParseStatus::complete);
  EXPECT_EQ(request.method_kind, Method::other);
  EXPECT_EQ(request.method, "POST");
  // Methods are case-sensitive.
  ASSERT_EQ(parse("get / HTTP/1.1\r\n\r\n", request).status, ParseStatus::complete);
  EXPECT_EQ(request.method_kind, Method::other);
  ASSERT_EQ(parse("GETX / HTTP/1.1\r\n\r\n", request).status, ParseStatus::complete);
  EXPECT_EQ(request.method_kind, Method::other);
  // Any token is a method.
  ASSERT_EQ(parse("M-SEARCH! * HTTP/1.1\r\n\r\n", request).status, ParseStatus::complete);
  EXPECT_EQ(request.method, "M-SEARCH!");
  EXPECT_EQ(request.target, "*");
}

TEST(HttpRequestParser, AllKnownHeadersAreCapturedCaseInsensitivelyAndTrimmed) {
  const std::string bytes =
      "GET /f HTTP/1.1\r\n"
      "hOsT:   h:8080  \r\n"
      "RANGE:\tbytes=0-1\t\r\n"
      "If-Range: \"abc\"\r\n"
      "if-none-match: W/\"x\", \"y\"\r\n"
      "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
      "IF-MATCH: *\r\n"
      "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:38 GMT\r\n"
      "Content-Length: 0\r\n"
      "X-Other: ignored\r\n"
      "Empty:\r\n"
      "\r\n";
  Request request;
  const ParseResult result = parse(bytes, request);
  ASSERT_EQ(result.status, ParseStatus::complete);
  EXPECT_EQ(result.consumed, bytes.size());
  EXPECT_EQ(request.host, "h:8080");
  EXPECT_EQ(request.range, "bytes=0-1");
  EXPECT_EQ(request.if_range, "\"abc\"");
  EXPECT_EQ(request.if_none_match, "W/\"x\", \"y\"");
  EXPECT_EQ(request.if_modified_since, "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(request.if_match, "*");
  EXPECT_EQ(request.if_unmodified_since, "Sun, 06 Nov 1994 08:49:38 GMT");
  ASSERT_TRUE(request.content_length.has_value());
  EXPECT_EQ(*request.content_length, 0u);
}

TEST(HttpRequestParser, CorsAndAuthorizationFields) {
  const std::string bytes =
      "OPTIONS /f HTTP/1.1\r\n"
      "Host: h\r\n"
      "origin: https://a.example\r\n"
      "ACCESS-CONTROL-REQUEST-METHOD: GET\r\n"
      "Access-Control-Request-Headers:  range,authorization \r\n"
      "Access-Control-Request-Headers: x-second\r\n"
      "Authorization: Basic YWxpY2U6cGFzcw==\r\n"
      "\r\n";
  Request request;
  ASSERT_EQ(parse(bytes, request).status, ParseStatus::complete);
  EXPECT_EQ(request.method_kind, Method::options);
  EXPECT_EQ(request.origin, "https://a.example");
  EXPECT_EQ(request.access_control_request_method, "GET");
  EXPECT_EQ(request.access_control_request_headers, "range,authorization");  // the first one
  EXPECT_EQ(request.authorization, "Basic YWxpY2U6cGFzcw==");
  // Origin and Authorization are singletons: a second one is refused.
  expect_error("GET / HTTP/1.1\r\nOrigin: a\r\nOrigin: b\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n", 400);
}

TEST(HttpRequestParser, ValueKeepsInnerWhitespaceAndObsText) {
  Request request;
  ASSERT_EQ(parse("GET / HTTP/1.1\r\nHost: a \t b\xC3\xA9\r\n\r\n", request).status,
            ParseStatus::complete);
  EXPECT_EQ(request.host, "a \t b\xC3\xA9");
}

TEST(HttpRequestParser, BareLfLineEndings) {
  const std::string bytes = "GET /a HTTP/1.1\nHost: x\nRange: bytes=1-\n\n";
  Request request;
  const ParseResult result = parse(bytes, request);
  ASSERT_EQ(result.status, ParseStatus::complete);
  EXPECT_EQ(result.consumed, bytes.size());
  EXPECT_EQ(request.target, "/a");
  EXPECT_EQ(request.host, "x");
  EXPECT_EQ(request.range, "bytes=1-");
}

TEST(HttpRequestParser, MixedLineEndings) {
  expect_complete("GET / HTTP/1.1\nHost: x\r\n\n");
  expect_complete("GET / HTTP/1.1\r\nHost: x\n\r\n");
}

TEST(HttpRequestParser, LeadingEmptyLinesAreSkippedAndCounted) {
  const std::string bytes = "\r\n\n\r\nGET / HTTP/1.1\r\n\r\n";
  Request request;
  const ParseResult result = parse(bytes, request);
  ASSERT_EQ(result.status, ParseStatus::complete);
  EXPECT_EQ(result.consumed, bytes.size());
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(parse("\r\n").status, ParseStatus::need_more);
  EXPECT_EQ(parse("\r").status, ParseStatus::need_more);
  EXPECT_EQ(parse("").status, ParseStatus::need_more);
  expect_error("\rGET / HTTP/1.1\r\n\r\n", 400);
}

TEST(HttpRequestParser, KeepAliveDefaultsAndConnectionHeader) {
  struct Case {
    std::string bytes;
    bool keep_alive;
  };
  const Case cases[] = {
      {"GET / HTTP/1.1\r\n\r\n", true},
      {"GET / HTTP/1.0\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nConnection: CLOSE\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", true},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
      {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
      {"GET / HTTP/1.0\r\nConnection: upgrade, keep-alive\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nConnection: foo,,close ,\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n", false},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nConnection: x-close\r\n\r\n", true},
      {"GET / HTTP/1.0\r\nConnection: keep-alive-ish\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nX-Connection: close\r\n\r\n", true},
  };
  for (const Case& c : cases) {
    Request request;
    ASSERT_EQ(parse(c.bytes, request).status, ParseStatus::complete) << c.bytes;
    EXPECT_EQ(request.keep_alive, c.keep_alive) << c.bytes;
  }
}

TEST(HttpRequestParser, VersionMinor) {
  Request request;
  ASSERT_EQ(parse("GET / HTTP/1.0\r\n\r\n", request).status, ParseStatus::complete);
  EXPECT_EQ(request.version_minor, 0);
  ASSERT_EQ(parse("GET / HTTP/1.1\r\n\r\n", request).status, ParseStatus::complete);
  EXPECT_EQ(request.version_minor, 1);
}

TEST(HttpRequestParser, UnsupportedVersionsAre505) {
  expect_error("GET / HTTP/2.0\r\n\r\n", 505);
  expect_error("GET / HTTP/1.2\r\n\r\n", 505);
  expect_error("GET / HTTP/0.9\r\n\r\n", 505);
  expect_error("GET / HTTP/3.1\r\n\r\n", 505);
  expect_error("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505);
}

TEST(HttpRequestParser, MalformedRequestLinesAre400) {
  const char* const cases[] = {
      "GET / HTTP/1.1 \r\n\r\n",                   // trailing space
      "GET  / HTTP/1.1\r\n\r\n",                   // double space: empty target
      "GET /  HTTP/1.1\r\n\r\n",                   // double space before version
      " GET / HTTP/1.1\r\n\r\n",                   // leading space: empty method
      "GET\t/ HTTP/1.1\r\n\r\n",                   // tab is not a separator
      "GET / http/1.1\r\n\r\n",                    // version is case-sensitive
      "GET / HTTP/1.10\r\n\r\n",                   // one digit each
      "GET / HTTP/11.1\r\n\r\n",                   //
      "GET / HTTP/1\r\n\r\n",                      //
      "GET / HTTP/1.\r\n\r\n",                     //
      "GET / HTTP/a.b\r\n\r\n",                    //
      "GET / HTTP/1,1\r\n\r\n",                    //
      "GET / HTTPS/1.1\r\n\r\n",                   //
      "GET /\r\n\r\n",                             // HTTP/0.9 style
      "GET\r\n\r\n",                               //
      "GET / HTTP/1.1 extra\r\n\r\n",              //
      "G(T / HTTP/1.1\r\n\r\n",                    // not a token
      "G\"T / HTTP/1.1\r\n\r\n",                   //
      "GET /a b HTTP/1.1\r\n\r\n",                 // space in target
      "GET /\x01 HTTP/1.1\r\n\r\n",                // control in target
      "GET /\x7f HTTP/1.1\r\n\r\n",                // DEL in target
      "GET / HTTP/1.1\r\r\n\r\n",                  // bare CR
      "GET /\r HTTP/1.1\r\n\r\n",                  //
      "\x16\x03\x01\x02\x01\x01\xfc\x03\x03\n\n",  // a TLS ClientHello
  };
  for (const char* c : cases) expect_error(c, 400);
  expect_error("GET /\0 HTTP/1.1\r\n\r\n"s, 400);
  expect_error("\0GET / HTTP/1.1\r\n\r\n"s, 400);
}

TEST(HttpRequestParser, MalformedHeaderLinesAre400) {
  const char* const cases[] = {
      "GET / HTTP/1.1\r\nHost : x\r\n\r\n",             // whitespace before colon
      "GET / HTTP/1.1\r\nHost\t: x\r\n\r\n",            //
      "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",   // obs-fold
      "GET / HTTP/1.1\r\nHost: x\r\n\tfolded\r\n\r\n",  //
      "GET / HTTP/1.1\r\n Host: x\r\n\r\n",             // leading whitespace on first field
      "GET / HTTP/1.1\r\nNoColon\r\n\r\n",              //
      "GET / HTTP/1.1\r\n: no name\r\n\r\n",            //
      "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",          //
      "GET / HTTP/1.1\r\nBad(Name): x\r\n\r\n",         //
      "GET / HTTP/1.1\r\nB\x01: x\r\n\r\n",             //
      "GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n",            // control in value
      "GET / HTTP/1.1\r\nX: a\x7fz\r\n\r\n",            //
      "GET / HTTP/1.1\r\nX: a\rz\r\n\r\n",              // bare CR in value
      "GET / HTTP/1.1\r\nX: a\r\r\n\r\n",               //
      "GET / HTTP/1.1\r\n\xC3\xA9: x\r\n\r\n",          // non-ASCII name
  };
  for (const char* c : cases) expect_error(c, 400);
  expect_error("GET / HTTP/1.1\r\nX: a\0z\r\n\r\n"s, 400);
}

TEST(HttpRequestParser, DuplicateSingletonFieldsAre400) {
  expect_error("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nRange: bytes=0-1\r\nrange: bytes=2-3\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nIf-Range: \"a\"\r\nIf-Range: \"a\"\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nIf-None-Match: \"a\"\r\nIf-None-Match: \"b\"\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nIf-Match: \"a\"\r\nIf-Match: \"b\"\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nIf-Modified-Since: x\r\nIf-Modified-Since: y\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nIf-Unmodified-Since: x\r\nIf-Unmodified-Since: y\r\n\r\n", 400);
  // Unknown fields may repeat.
  expect_complete("GET / HTTP/1.1\r\nX-A: 1\r\nX-A: 2\r\nAccept: a\r\nAccept: b\r\n\r\n");
}

TEST(HttpRequestParser, ContentLength) {
  Request request;
  ASSERT_EQ(parse("GET / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n", request).status,
            ParseStatus::complete);
  EXPECT_EQ(request.content_length, UINT64_MAX);
  ASSERT_EQ(parse("GET / HTTP/1.1\r\nContent-Length: 007\r\n\r\n", request).status,
            ParseStatus::complete);
  EXPECT_EQ(request.content_length, 7u);
  ASSERT_EQ(
      parse("GET / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", request).status,
      ParseStatus::complete);
  EXPECT_EQ(request.content_length, 5u);

  expect_error("GET / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400);
}

TEST(HttpRequestParser, TransferEncoding) {
  Request request;
  ASSERT_EQ(parse("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", request).status,
            ParseStatus::complete);
  EXPECT_EQ(request.transfer_encoding, "chunked");
  ASSERT_EQ(parse("GET / HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked \r\n\r\n", request).status,
            ParseStatus::complete);
  EXPECT_EQ(request.transfer_encoding, "gzip, Chunked");

  expect_error("GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501);
  expect_error("GET / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", 501);
  expect_error("GET / HTTP/1.1\r\nTransfer-Encoding: chunkedx\r\n\r\n", 501);
  expect_error("GET / HTTP/1.1\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", 501);
  expect_error("GET / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nTransfer-Encoding: ,\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
               400);
  expect_error("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
}

TEST(HttpRequestParser, NeedMoreOnEveryProperPrefix) {
  const std::string bytes = "GET /x HTTP/1.1\r\nHost: h\r\nRange: bytes=0-\r\n\r\n";
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    const ParseResult result = parse(std::string_view(bytes).substr(0, n));
    EXPECT_EQ(result.status, ParseStatus::need_more) << "prefix " << n;
    EXPECT_EQ(result.consumed, 0u);
  }
  expect_complete(bytes);
}

TEST(HttpRequestParser, PipelinedPairFedByteByByte) {
  const std::string first = "\r\nGET /one HTTP/1.1\r\nHost: a\r\nRange: bytes=1-2\r\n\r\n";
  const std::string second = "HEAD /two%20x HTTP/1.0\nConnection: keep-alive\n\n";
  const std::string stream = first + second;

  // A growing receive buffer, as the session would see it.
  std::size_t offset = 0;
  int parsed = 0;
  for (std::size_t end = 0; end <= stream.size(); ++end) {
    Request request;
    const ParseResult result =
        parse(std::string_view(stream).substr(offset, end - offset), request);
    const std::size_t expected_end = parsed == 0 ? first.size() : stream.size();
    if (end < expected_end) {
      ASSERT_EQ(result.status, ParseStatus::need_more) << "end " << end;
      continue;
    }
    ASSERT_EQ(result.status, ParseStatus::complete) << "end " << end;
    if (parsed == 0) {
      EXPECT_EQ(result.consumed, first.size());
      EXPECT_EQ(request.target, "/one");
      EXPECT_EQ(request.host, "a");
      EXPECT_EQ(request.range, "bytes=1-2");
      EXPECT_TRUE(request.keep_alive);
    } else {
      EXPECT_EQ(result.consumed, second.size());
      EXPECT_EQ(request.method_kind, Method::head);
      EXPECT_EQ(request.target, "/two%20x");
      EXPECT_EQ(request.version_minor, 0);
      EXPECT_TRUE(request.keep_alive);
    }
    offset += result.consumed;
    ++parsed;
  }
  EXPECT_EQ(parsed, 2);
  EXPECT_EQ(offset, stream.size());
}

TEST(HttpRequestParser, PipelinedPairInOneBuffer) {
  const std::string stream =
      "GET /a HTTP/1.1\r\n\r\n"
      "GET /b HTTP/1.1\r\nConnection: close\r\n\r\n";
  Request request;
  ParseResult result = parse(stream, request);
  ASSERT_EQ(result.status, ParseStatus::complete);
  EXPECT_EQ(request.target, "/a");
  ASSERT_EQ(result.consumed, 19u);
  result = parse(std::string_view(stream).substr(result.consumed), request);
  ASSERT_EQ(result.status, ParseStatus::complete);
  EXPECT_EQ(request.target, "/b");
  EXPECT_FALSE(request.keep_alive);
}

TEST(HttpRequestParser, HostPresenceIsReported) {
  Request request;
  ASSERT_EQ(parse("GET / HTTP/1.1\r\n\r\n", request).status, ParseStatus::complete);
  EXPECT_FALSE(request.has_host);
  ASSERT_EQ(parse("GET / HTTP/1.1\r\nHost:\r\n\r\n", request).status, ParseStatus::complete);
  EXPECT_TRUE(request.has_host);
  EXPECT_TRUE(request.host.empty());
  ASSERT_EQ(parse("GET / HTTP/1.0\r\n\r\n", request).status, ParseStatus::complete);
  EXPECT_FALSE(request.has_host);
}

TEST(HttpRequestParser, ReparseResetsOutput) {
  Request request;
  ASSERT_EQ(
      parse("GET / HTTP/1.0\r\nRange: bytes=0-1\r\nContent-Length: 3\r\n\r\n", request).status,
      ParseStatus::complete);
  ASSERT_EQ(parse("GET / HTTP/1.1\r\n\r\n", request).status, ParseStatus::complete);
  EXPECT_TRUE(request.range.empty());
  EXPECT_FALSE(request.content_length.has_value());
  EXPECT_TRUE(request.keep_alive);
}

// A request line of exactly `length` bytes, excluding the line end.
std::string request_line_of(std::size_t length) {
  const std::string fixed = "GET / HTTP/1.1";
  std::string line = "GET /" + std::string(length - fixed.size(), 'a') + " HTTP/1.1";
  return line;
}

TEST(HttpRequestParser, RequestLineLimitBoundary) {
  ParserLimits limits;
  limits.max_request_line = 100;
  const std::string exact = request_line_of(100);
  ASSERT_EQ(exact.size(), 100u);
  expect_complete(exact + "\r\n\r\n", limits);
  expect_complete(exact + "\n\n", limits);
  expect_error(request_line_of(101) + "\r\n\r\n", 414, limits);
  expect_error(request_line_of(101) + "\n\n", 414, limits);

  // Incomplete lines: exactly at the limit is still hopeful, one byte past is not.
  EXPECT_EQ(parse(exact, limits).status, ParseStatus::need_more);
  EXPECT_EQ(parse(exact + "\r", limits).status, ParseStatus::need_more);
  expect_error(request_line_of(101), 414, limits);
  expect_error(std::string(101, 'G'), 414, limits);
  expect_error(std::string(100, 'G') + "\r\r", 414, limits);

  // Leading empty lines do not count towards the request line.
  expect_complete("\r\n\r\n" + exact + "\r\n\r\n", limits);
}

TEST(HttpRequestParser, DefaultRequestLineLimit) {
  const ParserLimits limits;
  expect_complete(request_line_of(limits.max_request_line) + "\r\n\r\n");
  expect_error(request_line_of(limits.max_request_line + 1) + "\r\n\r\n", 414);
  expect_error(std::string(limits.max_request_line + 1, 'A'), 414);
}

TEST(HttpRequestParser, HeaderBytesLimitBoundary) {
  const std::string head = "GET / HTTP/1.1\r\nX-Pad: " + std::string(50, 'p') + "\r\n\r\n";
  ParserLimits limits;
  limits.max_header_bytes = head.size();
  expect_complete(head, limits);
  limits.max_header_bytes = head.size() - 1;
  expect_error(head, 431, limits);

  // Leading empty lines are part of the head.
  limits.max_header_bytes = head.size() + 1;
  expect_complete("\n" + head, limits);
  expect_error("\r\n" + head, 431, limits);

  // While incomplete: at the limit it may still end, past it it cannot.
  limits.max_header_bytes = 64;
  const std::string growing = "GET / HTTP/1.1\r\nX-Pad: " + std::string(100, 'p');
  EXPECT_EQ(parse(growing.substr(0, 64), limits).status, ParseStatus::need_more);
  expect_error(growing.substr(0, 65), 431, limits);
  expect_error(growing, 431, limits);

  // A complete head within the limit followed by more (pipelined) bytes is fine.
  limits.max_header_bytes = head.size();
  Request request;
  const ParseResult result = parse(head + "GET /next HTTP/1.1\r\n", request, limits);
  EXPECT_EQ(result.status, ParseStatus::complete);
  EXPECT_EQ(result.consumed, head.size());
}

TEST(HttpRequestParser, HeaderBytesLimitWhenTheBlankLineStraddlesIt) {
  const std::string head = "GET / HTTP/1.1\r\nA: b\r\n\r\n";
  ParserLimits limits;
  limits.max_header_bytes = head.size() - 1;  // the final LF is one byte too far
  expect_error(head, 431, limits);
  EXPECT_EQ(parse(head.substr(0, head.size() - 1), limits).status, ParseStatus::need_more);
}

TEST(HttpRequestParser, RequestLineOverHeaderByteLimit) {
  ParserLimits limits;
  limits.max_header_bytes = 50;
  limits.max_request_line = 1000;
  expect_error(request_line_of(60) + "\r\n\r\n", 431, limits);
  expect_error(std::string(60, 'A'), 431, limits);
}

std::string head_with_headers(std::size_t count) {
  std::string head = "GET / HTTP/1.1\r\n";
  for (std::size_t i = 0; i < count; ++i) head += "X-H" + std::to_string(i) + ": v\r\n";
  return head + "\r\n";
}

TEST(HttpRequestParser, HeaderCountLimitBoundary) {
  ParserLimits limits;
  limits.max_header_count = 10;
  expect_complete(head_with_headers(10), limits);
  expect_error(head_with_headers(11), 431, limits);
  limits.max_header_count = 0;
  expect_complete(head_with_headers(0), limits);
  expect_error(head_with_headers(1), 431, limits);

  const ParserLimits defaults;
  expect_complete(head_with_headers(defaults.max_header_count));
  expect_error(head_with_headers(defaults.max_header_count + 1), 431);
}

TEST(HttpRequestParser, HeaderCountLimitDetectedWhileIncomplete) {
  ParserLimits limits;
  limits.max_header_count = 3;
  std::string head = head_with_headers(3);
  head.resize(head.size() - 2);  // drop the blank line
  EXPECT_EQ(parse(head, limits).status, ParseStatus::need_more);
  EXPECT_EQ(parse(head + "\r", limits).status, ParseStatus::need_more);  // may be the blank line
  expect_error(head + "X", 431, limits);
  expect_error(head + "\r\r", 431, limits);
}

TEST(HttpRequestParser, ErrorOnPrefixIsStableWhenMoreArrives) {
  const std::string bytes = "GET / HTTP/1.1\r\nBad Header: x\r\nHost: y\r\n\r\n";
  const std::size_t error_at = bytes.find("Host");
  for (std::size_t n = error_at; n <= bytes.size(); ++n) {
    expect_error(std::string_view(bytes).substr(0, n), 400);
  }
  EXPECT_EQ(parse(std::string_view(bytes).substr(0, error_at - 1)).status, ParseStatus::need_more);
}

}  // namespace
}  // namespace iocomp::http
