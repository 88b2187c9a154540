#include "http/percent_decode.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace iocomp::http {
namespace {

using namespace std::string_literals;

struct Decoded {
  std::string relative;
  bool trailing_slash;
};

// Fails the test when the target is rejected.
Decoded decode_ok(std::string_view target) {
  const auto result = decode_request_path(target);
  if (const int* status = std::get_if<int>(&result)) {
    ADD_FAILURE() << "rejected with " << *status << ": "
                  << testing::PrintToString(std::string(target));
    return {"<rejected>", false};
  }
  const auto& path = std::get<DecodedPath>(result);
  return {path.relative, path.trailing_slash};
}

int decode_status(std::string_view target) {
  const auto result = decode_request_path(target);
  const int* status = std::get_if<int>(&result);
  return status == nullptr ? 0 : *status;
}

TEST(HttpPercentDecode, OriginForm) {
  struct Case {
    std::string_view target;
    std::string_view relative;
    bool trailing_slash;
  };
  const Case cases[] = {
      {"/", "", true},
      {"/index.html", "index.html", false},
      {"/a/b/c.txt", "a/b/c.txt", false},
      {"/dir/", "dir", true},
      {"/a/b/", "a/b", true},
      {"//etc/passwd", "etc/passwd", false},
      {"/a//b///c", "a/b/c", false},
      {"/a//", "a", true},
      {"/./a/./b/.", "a/b", false},
      {"/a/./", "a", true},
      {"/.", "", false},
      {"/a/..", "", false},
      {"/a/../", "", true},
      {"/a/b/../c", "a/c", false},
      {"/a/b/../../c", "c", false},
      {"/a/../b/../c/d/..", "c", false},
      // Dot segments resolve, but only a literal final '/' counts as a trailing slash.
      {"/a/b/..", "a", false},
      {"/a/b/../", "a", true},
      {"/a/b/%2e%2e", "a", false},
      {"/a/b/%2e%2e%2f", "a", true},
      {"/...", "...", false},
      {"/..a/a..", "..a/a..", false},
      {"/.hidden", ".hidden", false},
      {"/a.b/", "a.b", true},
  };
  for (const Case& c : cases) {
    const Decoded d = decode_ok(c.target);
    EXPECT_EQ(d.relative, c.relative) << c.target;
    EXPECT_EQ(d.trailing_slash, c.trailing_slash) << c.target;
  }
}

TEST(HttpPercentDecode, PercentEscapes) {
  EXPECT_EQ(decode_ok("/a%20b").relative, "a b");
  EXPECT_EQ(decode_ok("/%41%42%43").relative, "ABC");
  EXPECT_EQ(decode_ok("/%e2%82%ac").relative, "\xE2\x82\xAC");
  EXPECT_EQ(decode_ok("/%E2%82%AC").relative, "\xE2\x82\xAC");
  // Decoded exactly once.
  EXPECT_EQ(decode_ok("/%252e%252e").relative, "%2e%2e");
  EXPECT_EQ(decode_ok("/100%25").relative, "100%");
  // Encoded '?' and '#' are part of the name; only raw ones delimit.
  EXPECT_EQ(decode_ok("/a%3Fb%23c").relative, "a?b#c");
  EXPECT_EQ(decode_ok("/%2e").relative, "");
  EXPECT_EQ(decode_ok("/%2E%2e%2E").relative, "...");
}

TEST(HttpPercentDecode, EncodedSlashIsASeparator) {
  Decoded d = decode_ok("/a%2Fb");
  EXPECT_EQ(d.relative, "a/b");
  EXPECT_FALSE(d.trailing_slash);
  d = decode_ok("/a%2f");
  EXPECT_EQ(d.relative, "a");
  EXPECT_TRUE(d.trailing_slash);
  EXPECT_EQ(decode_ok("/%2F%2Fetc").relative, "etc");
  EXPECT_EQ(decode_ok("/a%2F..%2Fb").relative, "b");
}

TEST(HttpPercentDecode, QueryAndFragmentStrippedBeforeDecoding) {
  Decoded d = decode_ok("/a/b?x=1");
  EXPECT_EQ(d.relative, "a/b");
  EXPECT_FALSE(d.trailing_slash);
  d = decode_ok("/dir/?x=/../..");
  EXPECT_EQ(d.relative, "dir");
  EXPECT_TRUE(d.trailing_slash);
  EXPECT_EQ(decode_ok("/a#frag/../..").relative, "a");
  EXPECT_EQ(decode_ok("/a?q#f").relative, "a");
  EXPECT_EQ(decode_ok("/a?%zz").relative, "a");  // a bad escape in the query is not ours
  EXPECT_EQ(decode_ok("/?").relative, "");
}

TEST(HttpPercentDecode, AbsoluteForm) {
  Decoded d = decode_ok("http://example.com/a/b");
  EXPECT_EQ(d.relative, "a/b");
  EXPECT_FALSE(d.trailing_slash);
  EXPECT_EQ(decode_ok("https://example.com:8443/x/").relative, "x");
  EXPECT_EQ(decode_ok("HTTP://Example.COM/x").relative, "x");
  EXPECT_EQ(decode_ok("http://user@host:80/%41").relative, "A");
  d = decode_ok("http://host");
  EXPECT_EQ(d.relative, "");
  EXPECT_TRUE(d.trailing_slash);
  EXPECT_EQ(decode_ok("http://host?q=/etc").relative, "");
  EXPECT_EQ(decode_ok("http://host#/etc").relative, "");
  EXPECT_EQ(decode_ok("http://host/a?b").relative, "a");
  EXPECT_EQ(decode_status("http://host/.."), 400);
  EXPECT_EQ(decode_status("ftp://host/a"), 400);
  EXPECT_EQ(decode_status("http:/a"), 400);
}

TEST(HttpPercentDecode, RejectsNonOriginTargets) {
  EXPECT_EQ(decode_status(""), 400);
  EXPECT_EQ(decode_status("*"), 400);
  EXPECT_EQ(decode_status("a/b"), 400);
  EXPECT_EQ(decode_status("example.com:443"), 400);
  EXPECT_EQ(decode_status("?x"), 400);
  EXPECT_EQ(decode_status("%2Fetc"), 400);
}

TEST(HttpPercentDecode, RejectsTraversalAboveRoot) {
  const char* const cases[] = {
      "/..",
      "/../",
      "/../x",
      "/a/../../b",
      "/a/b/../../..",
      "/%2e%2e/x",
      "/%2E%2E",
      "/%2E%2e%2fetc",
      "/.%2e/x",
      "/%2e./x",
      "/a/%2e%2e%2f%2e%2e%2fetc",
      "/./..",
      "//../etc/passwd",
      "/a/..%2F..",
  };
  for (const char* c : cases) EXPECT_EQ(decode_status(c), 400) << c;
}

TEST(HttpPercentDecode, RejectsForbiddenBytes) {
  const std::string cases[] = {
      "/a%00b", "/a\0b"s, "/a\\..\\b", "/%5c..", "/%5C",  "/a\\b",    "/%01",   "/%1f",  "/%1F",
      "/%7f",   "/%7F",   "/a\x01",    "/a\x7f", "/a\tb", "/a%0d%0a", "/a%09b", "/a\nb",
  };
  for (const std::string& c : cases) {
    EXPECT_EQ(decode_status(c), 400) << testing::PrintToString(c);
  }
  // High bytes are ordinary (UTF-8 file names), space is fine.
  EXPECT_EQ(decode_ok("/%ff%80").relative, "\xFF\x80");
  EXPECT_EQ(decode_ok("/\xC3\xA9").relative, "\xC3\xA9");
  EXPECT_EQ(decode_ok("/%20").relative, " ");
}

TEST(HttpPercentDecode, RejectsBadEscapes) {
  const char* const cases[] = {"/%", "/%4", "/%zz", "/%4g", "/%g4", "/a%", "/a%2", "/%%41", "/%+1"};
  for (const char* c : cases) EXPECT_EQ(decode_status(c), 400) << c;
}

TEST(HttpPercentEncode, Segment) {
  EXPECT_EQ(percent_encode_segment(""), "");
  EXPECT_EQ(percent_encode_segment("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(percent_encode_segment("a b"), "a%20b");
  EXPECT_EQ(percent_encode_segment("a/b"), "a%2Fb");
  EXPECT_EQ(percent_encode_segment("100%"), "100%25");
  EXPECT_EQ(percent_encode_segment("<x>&\"'"), "%3Cx%3E%26%22%27");
  EXPECT_EQ(percent_encode_segment("a:b?c#d"), "a%3Ab%3Fc%23d");
  EXPECT_EQ(percent_encode_segment("\xE2\x82\xAC"), "%E2%82%AC");
  EXPECT_EQ(percent_encode_segment("\x00\x7f"s), "%00%7F");
}

TEST(HttpPercentEncode, RoundTripsThroughDecode) {
  const std::string names[] = {"plain", "with space", "ü-umlaut", "semi;colon", "100%",
                               "a?b",   "hash#tag",   "~tilde",   "..dots",     "x+y=z"};
  for (const std::string& name : names) {
    const Decoded d = decode_ok("/dir/" + percent_encode_segment(name));
    EXPECT_EQ(d.relative, "dir/" + name);
  }
}

}  // namespace
}  // namespace iocomp::http
