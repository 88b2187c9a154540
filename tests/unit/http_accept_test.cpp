#include "http/accept.hpp"

#include <gtest/gtest.h>

namespace iocomp::http {
namespace {

TEST(HttpAccept, Quality) {
  EXPECT_EQ(accept_quality("", "text/html"), 1000);
  EXPECT_EQ(accept_quality("text/html", "text/html"), 1000);
  EXPECT_EQ(accept_quality("text/html;q=0.5", "text/html"), 500);
  EXPECT_EQ(accept_quality("text/html; q=0.123", "text/html"), 123);
  EXPECT_EQ(accept_quality("TEXT/HTML;Q=0.7", "text/html"), 700);
  EXPECT_EQ(accept_quality("text/*;q=0.3", "text/html"), 300);
  EXPECT_EQ(accept_quality("*/*;q=0.1", "text/html"), 100);
  EXPECT_EQ(accept_quality("image/png", "text/html"), 0);
  // The most specific range decides, whatever its position or q.
  EXPECT_EQ(accept_quality("*/*;q=1, text/html;q=0.2", "text/html"), 200);
  EXPECT_EQ(accept_quality("text/html;q=0, */*", "text/html"), 0);
  // Media type parameters do not prevent a match; malformed q drops the range.
  EXPECT_EQ(accept_quality("text/html;level=1;q=0.4", "text/html"), 400);
  EXPECT_EQ(accept_quality("text/html;q=2, */*;q=0.1", "text/html"), 100);
  EXPECT_EQ(accept_quality("text/html;q=abc", "text/html"), 0);
  EXPECT_EQ(accept_quality("garbage, ,;;", "text/html"), 0);
}

TEST(HttpAccept, PrefersJson) {
  EXPECT_TRUE(prefers_json("application/json"));
  EXPECT_TRUE(prefers_json("application/json, text/html;q=0.9"));
  EXPECT_TRUE(prefers_json("application/*"));
  EXPECT_TRUE(prefers_json("text/html;q=0.1, application/json;q=0.2"));
  EXPECT_TRUE(prefers_json("application/json, */*;q=0.5"));
  EXPECT_FALSE(prefers_json(""));
  EXPECT_FALSE(prefers_json("*/*"));
  EXPECT_FALSE(prefers_json("text/html"));
  EXPECT_FALSE(prefers_json("text/html, application/json"));  // a tie: HTML
  EXPECT_FALSE(prefers_json("application/json;q=0"));
  EXPECT_FALSE(prefers_json("application/json;q=0, */*"));
  // A browser's usual field.
  EXPECT_FALSE(
      prefers_json("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"));
  // curl's default.
  EXPECT_FALSE(prefers_json("*/*"));
}

}  // namespace
}  // namespace iocomp::http
