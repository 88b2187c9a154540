#include "http/query.hpp"

#include <gtest/gtest.h>

namespace iocomp::http {
namespace {

TEST(HttpQuery, QueryOfTarget) {
  EXPECT_EQ(query_of("/a/b"), "");
  EXPECT_EQ(query_of("/a/?sort=size&order=desc"), "sort=size&order=desc");
  EXPECT_EQ(query_of("/a/?x=1#frag"), "x=1");
  EXPECT_EQ(query_of("/a/#frag?x=1"), "");
  EXPECT_EQ(query_of("/?"), "");
  EXPECT_EQ(query_of("http://host/a?b=c"), "b=c");
  EXPECT_EQ(query_of("/a%3Fb"), "");  // an encoded '?' is part of the name
}

TEST(HttpQuery, Lookup) {
  EXPECT_EQ(query_parameter("sort=size&order=desc", "sort"), "size");
  EXPECT_EQ(query_parameter("sort=size&order=desc", "order"), "desc");
  EXPECT_EQ(query_parameter("sort=size&order=desc", "format"), std::nullopt);
  EXPECT_EQ(query_parameter("", "sort"), std::nullopt);
  EXPECT_EQ(query_parameter("sorting=x&sort", "sort"), "");  // a bare name is an empty value
  EXPECT_EQ(query_parameter("sort=a&sort=b", "sort"), "a");  // the first wins
  EXPECT_EQ(query_parameter("a=1&&b=2&", "b"), "2");
  EXPECT_EQ(query_parameter("x=a=b", "x"), "a=b");
}

TEST(HttpQuery, DecodesFormEncoding) {
  EXPECT_EQ(query_parameter("q=a+b%20c%2B", "q"), "a b c+");
  EXPECT_EQ(query_parameter("s%6Frt=date", "sort"), "date");
  EXPECT_EQ(query_parameter("q=%e2%82%ac", "q"), "\xE2\x82\xAC");
}

TEST(HttpQuery, MalformedEscapesAreSkippedNotErrors) {
  EXPECT_EQ(query_parameter("sort=%zz&sort=size", "sort"), "size");
  EXPECT_EQ(query_parameter("sort=%4", "sort"), std::nullopt);
  EXPECT_EQ(query_parameter("sort=%", "sort"), std::nullopt);
  EXPECT_EQ(query_parameter("%=1&sort=name", "sort"), "name");
}

}  // namespace
}  // namespace iocomp::http
