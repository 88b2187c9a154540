#include "http/http_date.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace iocomp::http {
namespace {

std::string format(std::time_t t) {
  std::string out(kHttpDateLength + 1, '#');
  format_http_date(t, out.data());
  EXPECT_EQ(out.back(), '#') << "wrote past kHttpDateLength";
  out.pop_back();
  return out;
}

constexpr std::time_t kRfcExample = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT

TEST(HttpDate, FormatKnownValues) {
  EXPECT_EQ(format(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(format(kRfcExample), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(format(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
  EXPECT_EQ(format(1709251199), "Thu, 29 Feb 2024 23:59:59 GMT");
  EXPECT_EQ(format(2147483647), "Tue, 19 Jan 2038 03:14:07 GMT");
  EXPECT_EQ(format(4102444800), "Fri, 01 Jan 2100 00:00:00 GMT");
  EXPECT_EQ(format(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
  EXPECT_EQ(format(253402300799), "Fri, 31 Dec 9999 23:59:59 GMT");
}

TEST(HttpDate, FormatClampsToFourDigitYears) {
  EXPECT_EQ(format(253402300800), "Fri, 31 Dec 9999 23:59:59 GMT");
  EXPECT_EQ(format(INT64_MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
  EXPECT_EQ(format(INT64_MIN), "Sat, 01 Jan 0000 00:00:00 GMT");
}

TEST(HttpDate, FormatAgreesWithGmtimeOverManyDays) {
  char expected[64];
  for (std::time_t t = -86400LL * 365 * 80; t < 86400LL * 365 * 140; t += 86400LL * 7 + 3607) {
    std::tm tm{};
    ASSERT_NE(gmtime_r(&t, &tm), nullptr);
    ASSERT_EQ(std::strftime(expected, sizeof expected, "%a, %d %b %Y %H:%M:%S GMT", &tm),
              kHttpDateLength);
    ASSERT_EQ(format(t), expected) << t;
  }
}

TEST(HttpDate, FormatIsThreadSafe) {
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([i, &failures] {
      char buffer[kHttpDateLength];
      for (int n = 0; n < 20000; ++n) {
        const std::time_t t = kRfcExample + i * 1000003LL + n;
        format_http_date(t, buffer);
        const auto parsed = parse_http_date(std::string_view(buffer, kHttpDateLength));
        if (!parsed || *parsed != t) ++failures[static_cast<std::size_t>(i)];
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

TEST(HttpDate, ParsesTheThreeFormats) {
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), kRfcExample);
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), kRfcExample);
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), kRfcExample);
  EXPECT_EQ(parse_http_date("Sun Nov 06 08:49:37 1994"), kRfcExample);
  EXPECT_EQ(parse_http_date("Thu Jan  1 00:00:00 1970"), 0);
  EXPECT_EQ(parse_http_date("Thu, 29 Feb 2024 23:59:59 GMT"), 1709251199);
}

TEST(HttpDate, Rfc850TwoDigitYearPivot) {
  EXPECT_EQ(parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT"), 0);
  EXPECT_EQ(parse_http_date("Friday, 31-Dec-99 23:59:59 GMT"), 946684799);
  EXPECT_EQ(parse_http_date("Saturday, 01-Jan-00 00:00:00 GMT"), 946684800);
  EXPECT_EQ(parse_http_date("Tuesday, 19-Jan-38 03:14:07 GMT"), 2147483647);
}

TEST(HttpDate, ToleratesSurroundingWhitespaceAndCase) {
  EXPECT_EQ(parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT\t"), kRfcExample);
  EXPECT_EQ(parse_http_date("sun, 06 nov 1994 08:49:37 GMT"), kRfcExample);
}

TEST(HttpDate, DayNameIsNotCheckedAgainstTheDate) {
  // RFC 9110 does not require it, and some clients get it wrong.
  EXPECT_EQ(parse_http_date("Mon, 06 Nov 1994 08:49:37 GMT"), kRfcExample);
}

TEST(HttpDate, LeapSecondFoldsIntoNextMinute) {
  EXPECT_EQ(parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT"), 1483228800);
}

TEST(HttpDate, RoundTrip) {
  for (std::time_t t = 0; t < 4102444800; t += 12345677) {
    char buffer[kHttpDateLength];
    format_http_date(t, buffer);
    EXPECT_EQ(parse_http_date(std::string_view(buffer, kHttpDateLength)), t);
  }
}

TEST(HttpDate, RejectsGarbage) {
  const char* const cases[] = {
      "",
      "garbage",
      "Sun, 06 Nov 1994 08:49:37",
      "Sun, 06 Nov 1994 08:49:37 UTC",
      "Sun, 06 Nov 1994 08:49:37 GMT x",
      "Sun, 6 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 94 08:49:37 GMT",
      "Sun, 06 Foo 1994 08:49:37 GMT",
      "Xyz, 06 Nov 1994 08:49:37 GMT",
      "Sun,06 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 8:49:37 GMT",
      "Sun, 06 Nov 1994 08:49 GMT",
      "Sun, 00 Nov 1994 08:49:37 GMT",
      "Sun, 31 Nov 1994 08:49:37 GMT",
      "Sun, 29 Feb 1900 08:49:37 GMT",
      "Sun, 29 Feb 2023 08:49:37 GMT",
      "Sun, 06 Nov 1994 24:00:00 GMT",
      "Sun, 06 Nov 1994 23:60:00 GMT",
      "Sun, 06 Nov 1994 23:59:61 GMT",
      "Sun, 06 Nov 1994 08:49:37 gmt ",
      "Sunday, 06-Nov-1994 08:49:37 GMT",
      "Sunday, 06 Nov 94 08:49:37 GMT",
      "Sun Nov 6 08:49:37 1994",
      "Sun Nov  6 08:49:37 94",
      "Sun Nov  6 08:49:37 1994 GMT",
      "1994-11-06T08:49:37Z",
      "784111777",
      "Sun, -6 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 08:49:3\xff GMT",
  };
  for (const char* c : cases) EXPECT_FALSE(parse_http_date(c).has_value()) << c;
}

}  // namespace
}  // namespace iocomp::http
