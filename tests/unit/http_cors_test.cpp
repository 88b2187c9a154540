#include "http/cors.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace iocomp::http {
namespace {

constexpr const char* kExpose =
    "Access-Control-Expose-Headers: Content-Length, Content-Range, Content-Encoding, "
    "Accept-Ranges, ETag, Last-Modified\r\n";

std::string headers(const CorsPolicy& policy, std::string_view origin) {
  std::string out;
  append_cors_headers(policy, origin, out);
  return out;
}

TEST(Cors, DisabledAddsNothing) {
  const CorsPolicy policy = make_cors_policy({}, false);
  EXPECT_FALSE(policy.enabled());
  EXPECT_EQ(headers(policy, "https://a.example"), "");
  EXPECT_EQ(headers(make_cors_policy({}, true), "https://a.example"), "");
}

TEST(Cors, SpecificOriginIsEchoedWithVary) {
  const CorsPolicy policy = make_cors_policy({"https://a.example", "http://b.example:8080"}, false);
  EXPECT_EQ(
      headers(policy, "https://a.example"),
      std::string("Vary: Origin\r\nAccess-Control-Allow-Origin: https://a.example\r\n") + kExpose);
  EXPECT_EQ(headers(policy, "http://b.example:8080"),
            std::string("Vary: Origin\r\nAccess-Control-Allow-Origin: http://b.example:8080\r\n") +
                kExpose);
}

TEST(Cors, OtherOriginsGetOnlyVary) {
  const CorsPolicy policy = make_cors_policy({"https://a.example"}, false);
  // Exact comparison: case, scheme, port and a trailing slash all make another origin.
  for (const char* origin : {"https://A.example", "http://a.example", "https://a.example:443",
                             "https://a.example/", "https://a.example.evil", "null", ""}) {
    EXPECT_EQ(headers(policy, origin), "Vary: Origin\r\n") << origin;
  }
}

TEST(Cors, AnyOriginWithoutAuthIsAStaticStar) {
  const CorsPolicy policy = make_cors_policy({"*"}, false);
  const std::string expected = std::string("Access-Control-Allow-Origin: *\r\n") + kExpose;
  EXPECT_EQ(headers(policy, "https://whoever.example"), expected);
  EXPECT_EQ(headers(policy, "null"), expected);
  // Also without Origin: a cached copy then serves every page.
  EXPECT_EQ(headers(policy, ""), expected);
}

TEST(Cors, WithAuthTheOriginIsEchoedWithCredentials) {
  const std::string expected =
      std::string(
          "Vary: Origin\r\nAccess-Control-Allow-Origin: https://a.example\r\n"
          "Access-Control-Allow-Credentials: true\r\n") +
      kExpose;
  EXPECT_EQ(headers(make_cors_policy({"https://a.example"}, true), "https://a.example"), expected);
  EXPECT_EQ(headers(make_cors_policy({"*", "https://a.example"}, true), "https://a.example"),
            expected);
  // A listed origin without Origin in the request gets no Allow-Origin at all.
  EXPECT_EQ(headers(make_cors_policy({"https://a.example"}, true), ""), "Vary: Origin\r\n");
}

// "*" never grants credentials: with it a browser sends none, so with auth on a page elsewhere
// can read nothing protected.
TEST(Cors, AnyOriginWithAuthStaysAStarWithoutCredentials) {
  const std::string star = std::string("Access-Control-Allow-Origin: *\r\n") + kExpose;
  EXPECT_EQ(headers(make_cors_policy({"*"}, true), "https://evil.example"), star);
  EXPECT_EQ(headers(make_cors_policy({"*"}, true), ""), star);
  // Beside a listed origin, the others get the star, and the answer varies by Origin.
  EXPECT_EQ(headers(make_cors_policy({"*", "https://a.example"}, true), "https://evil.example"),
            "Vary: Origin\r\n" + star);
}

TEST(Cors, ConfiguredValuesMustBeOrigins) {
  for (const char* bad :
       {"https://a.example/", "https://a.example/path", "a.example", "https://",
        "https://A.example", "https://a.example, https://b", "://a.example", "https://a b"}) {
    EXPECT_THROW(make_cors_policy({bad}, false), std::invalid_argument) << bad;
  }
  try {
    make_cors_policy({"https://a.example/"}, false);
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("https://a.example/"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(make_cors_policy({"null", "http://[::1]:8080", "app://x", "*"}, false));
}

TEST(Cors, IsPreflight) {
  Request request;
  request.method_kind = Method::options;
  EXPECT_FALSE(is_preflight(request));
  request.origin = "https://a.example";
  EXPECT_FALSE(is_preflight(request));
  request.access_control_request_method = "GET";
  EXPECT_TRUE(is_preflight(request));
  request.method_kind = Method::get;
  EXPECT_FALSE(is_preflight(request));
}

TEST(Cors, PreflightDecisions) {
  const CorsPolicy policy = make_cors_policy({"https://a.example"}, false);
  const auto verdict = [&](std::string_view origin, std::string_view method,
                           std::string_view request_headers) {
    return evaluate_preflight(policy, origin, method, request_headers);
  };
  EXPECT_EQ(verdict("https://a.example", "GET", ""), PreflightVerdict::allowed);
  EXPECT_EQ(verdict("https://a.example", "HEAD", "range"), PreflightVerdict::allowed);
  EXPECT_EQ(verdict("https://a.example", "GET",
                    "accept,accept-encoding,authorization,if-match,if-modified-since,"
                    "if-none-match,if-range,if-unmodified-since,range"),
            PreflightVerdict::allowed);
  EXPECT_EQ(verdict("https://a.example", "GET", " Range , If-None-Match,,"),
            PreflightVerdict::allowed);
  EXPECT_EQ(verdict("https://b.example", "GET", ""), PreflightVerdict::origin_not_allowed);
  EXPECT_EQ(verdict("https://a.example", "PUT", ""), PreflightVerdict::method_not_allowed);
  EXPECT_EQ(verdict("https://a.example", "get", ""), PreflightVerdict::method_not_allowed);
  EXPECT_EQ(verdict("https://a.example", "POST", ""), PreflightVerdict::method_not_allowed);
  EXPECT_EQ(verdict("https://a.example", "GET", "range,x-custom"),
            PreflightVerdict::header_not_allowed);
  EXPECT_EQ(verdict("https://a.example", "GET", "content-type"),
            PreflightVerdict::header_not_allowed);
  EXPECT_EQ(verdict("https://a.example", "GET", "range;x"), PreflightVerdict::header_not_allowed);
  EXPECT_EQ(verdict("https://a.example", "GET", "rangex"), PreflightVerdict::header_not_allowed);
  EXPECT_EQ(evaluate_preflight(make_cors_policy({"*"}, false), "https://z.example", "GET", "range"),
            PreflightVerdict::allowed);
  EXPECT_EQ(evaluate_preflight(make_cors_policy({}, false), "https://z.example", "GET", ""),
            PreflightVerdict::origin_not_allowed);
}

TEST(Cors, PreflightHeaders) {
  std::string out;
  append_preflight_headers(make_cors_policy({"https://a.example"}, true), "https://a.example",
                           "authorization,range", out);
  EXPECT_EQ(out,
            "Vary: Origin\r\n"
            "Access-Control-Allow-Origin: https://a.example\r\n"
            "Access-Control-Allow-Credentials: true\r\n"
            "Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n"
            "Access-Control-Allow-Headers: authorization,range\r\n"
            "Access-Control-Max-Age: 86400\r\n");
  out.clear();
  append_preflight_headers(make_cors_policy({"*"}, false), "https://z.example", "", out);
  EXPECT_EQ(out,
            "Access-Control-Allow-Origin: *\r\n"
            "Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n"
            "Access-Control-Allow-Headers: Range, If-Range, If-None-Match, If-Modified-Since, "
            "If-Match, If-Unmodified-Since, Authorization, Accept, Accept-Encoding\r\n"
            "Access-Control-Max-Age: 86400\r\n");
}

}  // namespace
}  // namespace iocomp::http
