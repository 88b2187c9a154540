#include "http/accept_encoding.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace iocomp::http {
namespace {

constexpr CodingMask kAll =
    coding_bit(Coding::br) | coding_bit(Coding::zstd) | coding_bit(Coding::gzip);
constexpr CodingMask kGzip = coding_bit(Coding::gzip);

std::string pick(std::string_view header, CodingMask available = kAll) {
  const std::optional<Coding> c = choose_coding(header, available);
  return c ? std::string(coding_token(*c)) : "identity";
}

TEST(AcceptEncodingTest, TokensAndSuffixes) {
  EXPECT_EQ(coding_token(Coding::br), "br");
  EXPECT_EQ(coding_token(Coding::zstd), "zstd");
  EXPECT_EQ(coding_token(Coding::gzip), "gzip");
  EXPECT_EQ(coding_suffix(Coding::br), ".br");
  EXPECT_EQ(coding_suffix(Coding::zstd), ".zst");
  EXPECT_EQ(coding_suffix(Coding::gzip), ".gz");
}

TEST(AcceptEncodingTest, BrowsersAndCurlGetTheServersPreference) {
  EXPECT_EQ(pick("gzip, deflate, br, zstd"), "br");  // Chromium
  EXPECT_EQ(pick("deflate, gzip, br, zstd"), "br");  // curl --compressed
  EXPECT_EQ(pick("gzip, deflate, br, zstd", coding_bit(Coding::zstd) | kGzip), "zstd");
  EXPECT_EQ(pick("gzip, deflate, br, zstd", kGzip), "gzip");
  EXPECT_EQ(pick("gzip, deflate"), "gzip");
}

TEST(AcceptEncodingTest, AbsentOrEmptyFieldMeansIdentity) {
  EXPECT_EQ(pick(""), "identity");
  EXPECT_EQ(pick("identity"), "identity");
  EXPECT_EQ(pick("   "), "identity");
  EXPECT_EQ(pick("deflate, compress"), "identity");
}

TEST(AcceptEncodingTest, NothingAvailableMeansIdentity) {
  EXPECT_EQ(pick("br, gzip, zstd", 0), "identity");
  EXPECT_EQ(pick("br", kGzip), "identity");
}

TEST(AcceptEncodingTest, CodingsAreCaseInsensitive) {
  EXPECT_EQ(pick("GZIP"), "gzip");
  EXPECT_EQ(pick("Br"), "br");
  EXPECT_EQ(pick("ZSTD, GZip"), "zstd");
  EXPECT_EQ(pick("x-gzip"), "gzip");
  EXPECT_EQ(pick("gzip;Q=0.5"), "gzip");
}

TEST(AcceptEncodingTest, HighestQValueWinsAndServerOrderBreaksTies) {
  EXPECT_EQ(pick("br;q=0.5, gzip;q=0.8"), "gzip");
  EXPECT_EQ(pick("br;q=0.8, zstd;q=0.8, gzip;q=0.8"), "br");
  EXPECT_EQ(pick("gzip;q=0.8, zstd;q=0.8"), "zstd");
  EXPECT_EQ(pick("gzip;q=1.0, br;q=0.999"), "gzip");
  EXPECT_EQ(pick("gzip;q=0.001"), "gzip");
  EXPECT_EQ(pick("gzip ; q=0.5 , br ;q=0.4"), "gzip");
}

TEST(AcceptEncodingTest, QZeroExcludes) {
  EXPECT_EQ(pick("br;q=0, gzip"), "gzip");
  EXPECT_EQ(pick("br;q=0, zstd;q=0.000, gzip;q=0.0"), "identity");
  EXPECT_EQ(pick("*;q=0"), "identity");
  EXPECT_EQ(pick("*;q=0, gzip"), "gzip");
  EXPECT_EQ(pick("gzip;q=0", kGzip), "identity");
}

TEST(AcceptEncodingTest, StarMatchesCodingsNotListed) {
  EXPECT_EQ(pick("*"), "br");
  EXPECT_EQ(pick("*", kGzip), "gzip");
  EXPECT_EQ(pick("br;q=0, *"), "zstd");
  EXPECT_EQ(pick("br;q=0, zstd;q=0, *;q=0.3"), "gzip");
  EXPECT_EQ(pick("gzip;q=0.9, *;q=0.1"), "gzip");
  EXPECT_EQ(pick("*;q=0.9, br;q=0.1"), "zstd");
}

TEST(AcceptEncodingTest, IdentityCompetesOnlyWhenListed) {
  EXPECT_EQ(pick("gzip;q=0.5"), "gzip");  // identity unlisted: lowest
  EXPECT_EQ(pick("gzip;q=0.5, identity"), "identity");
  EXPECT_EQ(pick("gzip, identity"), "gzip");  // a tie goes to the smaller body
  EXPECT_EQ(pick("gzip;q=0.5, identity;q=0.5"), "gzip");
  EXPECT_EQ(pick("identity;q=0, gzip;q=0.1"), "gzip");
  EXPECT_EQ(pick("*;q=0.5, gzip;q=0.3", kGzip), "identity");  // "*" covers the identity too
  EXPECT_EQ(pick("*;q=0.5, gzip;q=0.3"), "br");
}

TEST(AcceptEncodingTest, FirstOccurrenceOfACodingCounts) {
  EXPECT_EQ(pick("gzip;q=0, gzip", kGzip), "identity");
  EXPECT_EQ(pick("gzip, gzip;q=0", kGzip), "gzip");
}

TEST(AcceptEncodingTest, MalformedElementsAreIgnored) {
  EXPECT_EQ(pick("br;q=2, gzip"), "gzip");
  EXPECT_EQ(pick("br;q=1.5, gzip"), "gzip");
  EXPECT_EQ(pick("br;q=1.001, gzip"), "gzip");
  EXPECT_EQ(pick("br;q=0.1234, gzip"), "gzip");
  EXPECT_EQ(pick("br;q=, gzip"), "gzip");
  EXPECT_EQ(pick("br;q=abc, gzip"), "gzip");
  EXPECT_EQ(pick("br;level=3, gzip"), "gzip");
  EXPECT_EQ(pick("br;q=0.5;x=1, gzip"), "gzip");
  EXPECT_EQ(pick("br;, gzip"), "gzip");
  EXPECT_EQ(pick("b r, gzip"), "gzip");
  EXPECT_EQ(pick("br q=1, gzip"), "gzip");
  EXPECT_EQ(pick("\"br\", gzip"), "gzip");
  EXPECT_EQ(pick(";q=1, gzip"), "gzip");
  EXPECT_EQ(pick(",,, ,gzip,,"), "gzip");
  EXPECT_EQ(pick("br;q=0.5 x"), "identity");
  EXPECT_EQ(pick(std::string("br\0, gzip", 9)), "gzip");
  EXPECT_EQ(pick("\xff\xfe, gzip"), "gzip");
  // A malformed exclusion is not an exclusion.
  EXPECT_EQ(pick("br;q=0x, gzip;q=0.5, br;q=0.9"), "br");
}

}  // namespace
}  // namespace iocomp::http
