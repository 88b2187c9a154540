#include "http/basic_auth.hpp"

#include <gtest/gtest.h>

#include <string>

namespace iocomp::http {
namespace {

using namespace std::string_literals;

TEST(Base64, Rfc4648TestVectors) {
  EXPECT_EQ(decode_base64(""), "");
  EXPECT_EQ(decode_base64("Zg=="), "f");
  EXPECT_EQ(decode_base64("Zm8="), "fo");
  EXPECT_EQ(decode_base64("Zm9v"), "foo");
  EXPECT_EQ(decode_base64("Zm9vYg=="), "foob");
  EXPECT_EQ(decode_base64("Zm9vYmE="), "fooba");
  EXPECT_EQ(decode_base64("Zm9vYmFy"), "foobar");
}

TEST(Base64, WholeAlphabetAndBinary) {
  EXPECT_EQ(decode_base64("+/+/"), "\xfb\xff\xbf"s);
  EXPECT_EQ(decode_base64("AAAA"), "\0\0\0"s);
  EXPECT_EQ(decode_base64("////"), "\xff\xff\xff"s);
  EXPECT_EQ(
      decode_base64(
          "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODk="),
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
}

TEST(Base64, StrictRejections) {
  for (const char* bad : {
           "Zg",         // padding missing
           "Zg=",        // padding short
           "Z",          // length
           "Zm9vY",      // length
           "Zg===",      // too much padding
           "====",       // padding only
           "Z===",       // one data character cannot encode a byte
           "Zg==Zg==",   // padding in the middle
           "Z=g=",       // '=' between data
           "Zh==",       // non-zero unused bits: a second encoding of "f"
           "Zm9=",       // non-zero unused bits: a second encoding of "fo"
           "Zm9v YmFy",  // space
           "Zm9v\nYmFy",
           "Zm-v",  // base64url alphabet
           "Zm_v",
           "Zm9v\x80\x80\x80\x80",
       }) {
    EXPECT_FALSE(decode_base64(bad).has_value()) << bad;
  }
}

TEST(BasicAuthorization, UserAndPassword) {
  const auto c = parse_basic_authorization("Basic YWxpY2U6Y29ycmVjdCBob3JzZQ==");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->user, "alice");
  EXPECT_EQ(c->password, "correct horse");
}

TEST(BasicAuthorization, SchemeIsCaseInsensitiveAndSpacesMayRepeat) {
  for (const char* value : {"basic YWxpY2U6cGFzcw==", "BASIC YWxpY2U6cGFzcw==",
                            "bAsIc YWxpY2U6cGFzcw==", "Basic    YWxpY2U6cGFzcw=="}) {
    const auto c = parse_basic_authorization(value);
    ASSERT_TRUE(c.has_value()) << value;
    EXPECT_EQ(c->user, "alice");
    EXPECT_EQ(c->password, "pass");
  }
}

TEST(BasicAuthorization, SplitsAtTheFirstColon) {
  const auto c = parse_basic_authorization("Basic YWxpY2U6cGE6c3M=");  // alice:pa:ss
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->user, "alice");
  EXPECT_EQ(c->password, "pa:ss");
}

TEST(BasicAuthorization, EmptyPasswordIsAPassword) {
  const auto c = parse_basic_authorization("Basic YWxpY2U6");  // "alice:"
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->user, "alice");
  EXPECT_EQ(c->password, "");
}

TEST(BasicAuthorization, Utf8IsKept) {
  // "jürgen:pässwörd" in UTF-8
  const auto c = parse_basic_authorization("Basic asO8cmdlbjpww6Rzc3fDtnJk");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->user, "j\xc3\xbcrgen");
  EXPECT_EQ(c->password, "p\xc3\xa4ssw\xc3\xb6rd");
}

TEST(BasicAuthorization, Refusals) {
  for (const char* value : {
           "", "Basic", "Basic ",
           "BasicYWxpY2U6cGFzcw==",    // no space
           "Bearer YWxpY2U6cGFzcw==",  // another scheme
           "Basi YWxpY2U6cGFzcw==",
           "Basic YWxpY2U6cGFzcw",      // unpadded
           "Basic YWxpY2U6cGFzcw== x",  // trailing garbage
           "Basic YWxpY2U=",            // "alice": no colon
           "Basic OnBhc3M=",            // ":pass": empty user
           "Basic YWxpY2U6cGEAc3M=",    // NUL in the password
           "Basic YWwKaWNlOnBhc3M=",    // LF in the user
           "Basic YWxpY2U6cGFzcx8=",    // 0x1f
           "Basic YWxpY2U6cGFzc38=",    // DEL
       }) {
    EXPECT_FALSE(parse_basic_authorization(value).has_value()) << value;
  }
}

TEST(BasicAuthorization, TokenIsTheCredentialsPart) {
  EXPECT_EQ(basic_token("Basic YWxpY2U6cGFzcw=="), "YWxpY2U6cGFzcw==");
  EXPECT_EQ(basic_token("basic   YWxpY2U6cGFzcw=="), "YWxpY2U6cGFzcw==");
  EXPECT_EQ(basic_token("Bearer abc"), "");
  EXPECT_EQ(basic_token("Basic"), "");
  EXPECT_EQ(basic_token("Basicabc"), "");
}

TEST(ConstantTimeEqual, EqualsLikeOperatorEquals) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "xbc"));
  EXPECT_FALSE(constant_time_equal("abc", "ab"));
  EXPECT_FALSE(constant_time_equal("ab", "abc"));
  EXPECT_FALSE(constant_time_equal("", "a"));
  // A missing byte is not taken for a zero byte, nor for 0xff.
  EXPECT_FALSE(constant_time_equal("ab"s, "ab\0"s));
  EXPECT_FALSE(constant_time_equal("ab\xff"s, "ab"s));
}

}  // namespace
}  // namespace iocomp::http
