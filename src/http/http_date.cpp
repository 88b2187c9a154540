#include "http/http_date.hpp"

#include <algorithm>
#include <cstdint>

namespace iocomp::http {
namespace {

// Civil-calendar arithmetic after Howard Hinnant's "chrono-compatible low-level date
// algorithms": no gmtime (glibc takes a global lock in it), no locale.
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  std::int64_t year;
  unsigned month;
  unsigned day;
};

constexpr Civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

static_assert(days_from_civil(1970, 1, 1) == 0);
static_assert(civil_from_days(days_from_civil(2000, 2, 29)).day == 29);

constexpr std::string_view kShortDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::string_view kLongDays[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                          "Thursday", "Friday", "Saturday"};
constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// The fixed-width format has a four-digit year.
constexpr std::int64_t kMinFormattable = -62167219200;  // 0000-01-01T00:00:00Z
constexpr std::int64_t kMaxFormattable = 253402300799;  // 9999-12-31T23:59:59Z

constexpr std::int64_t kSecondsPerDay = 86400;

void put2(char* out, unsigned v) {
  out[0] = static_cast<char>('0' + v / 10);
  out[1] = static_cast<char>('0' + v % 10);
}

bool is_leap(std::int64_t y) {
  return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

// A cursor over the date text; every reader fails (returns false) without consuming on a
// mismatch, so the parsers below read like the grammar.
class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  bool literal(std::string_view s) {
    if (text_.substr(0, s.size()) != s) return false;
    text_.remove_prefix(s.size());
    return true;
  }

  // Case-insensitive: RFC 9110 says case-sensitive, but being lenient costs nothing here.
  template <std::size_t N>
  bool name(const std::string_view (&names)[N], unsigned& index) {
    for (unsigned i = 0; i < N; ++i) {
      const std::string_view candidate = names[i];
      if (text_.size() < candidate.size()) continue;
      bool match = true;
      for (std::size_t j = 0; j < candidate.size() && match; ++j) {
        match = (text_[j] | 0x20) == (candidate[j] | 0x20);
      }
      if (match) {
        text_.remove_prefix(candidate.size());
        index = i;
        return true;
      }
    }
    return false;
  }

  bool digits(std::size_t count, unsigned& value) {
    if (text_.size() < count) return false;
    unsigned v = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const char c = text_[i];
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    text_.remove_prefix(count);
    value = v;
    return true;
  }

  // asctime's day of month: "_6" or "06" (RFC 9110 grammar: 2DIGIT / SP DIGIT).
  bool padded_day(unsigned& value) {
    if (!text_.empty() && text_.front() == ' ') {
      text_.remove_prefix(1);
      return digits(1, value);
    }
    return digits(2, value);
  }

  bool time_of_day(unsigned& hour, unsigned& minute, unsigned& second) {
    return digits(2, hour) && literal(":") && digits(2, minute) && literal(":") &&
           digits(2, second);
  }

  bool at_end() const { return text_.empty(); }

 private:
  std::string_view text_;
};

struct Fields {
  std::int64_t year = 0;
  unsigned month = 0;  // 0-based while parsing
  unsigned day = 0;
  unsigned hour = 0;
  unsigned minute = 0;
  unsigned second = 0;
};

// "Sun, 06 Nov 1994 08:49:37 GMT"
bool parse_imf_fixdate(std::string_view text, Fields& f) {
  Reader r(text);
  unsigned weekday = 0;
  unsigned year = 0;
  if (!(r.name(kShortDays, weekday) && r.literal(", ") && r.digits(2, f.day) && r.literal(" ") &&
        r.name(kMonths, f.month) && r.literal(" ") && r.digits(4, year) && r.literal(" ") &&
        r.time_of_day(f.hour, f.minute, f.second) && r.literal(" GMT") && r.at_end())) {
    return false;
  }
  f.year = year;
  return true;
}

// "Sunday, 06-Nov-94 08:49:37 GMT"
bool parse_rfc850(std::string_view text, Fields& f) {
  Reader r(text);
  unsigned weekday = 0;
  unsigned year = 0;
  if (!(r.name(kLongDays, weekday) && r.literal(", ") && r.digits(2, f.day) && r.literal("-") &&
        r.name(kMonths, f.month) && r.literal("-") && r.digits(2, year) && r.literal(" ") &&
        r.time_of_day(f.hour, f.minute, f.second) && r.literal(" GMT") && r.at_end())) {
    return false;
  }
  // RFC 9110 5.6.7 wants a sliding 50-year window against the current clock; a fixed pivot
  // keeps this function pure and agrees with it until 2020 + 50.
  f.year = year < 70 ? 2000 + year : 1900 + year;
  return true;
}

// "Sun Nov  6 08:49:37 1994"
bool parse_asctime(std::string_view text, Fields& f) {
  Reader r(text);
  unsigned weekday = 0;
  unsigned year = 0;
  if (!(r.name(kShortDays, weekday) && r.literal(" ") && r.name(kMonths, f.month) &&
        r.literal(" ") && r.padded_day(f.day) && r.literal(" ") &&
        r.time_of_day(f.hour, f.minute, f.second) && r.literal(" ") && r.digits(4, year) &&
        r.at_end())) {
    return false;
  }
  f.year = year;
  return true;
}

}  // namespace

UtcTime utc_time(std::time_t t) {
  const std::int64_t clamped =
      std::clamp(static_cast<std::int64_t>(t), kMinFormattable, kMaxFormattable);
  std::int64_t days = clamped / kSecondsPerDay;
  std::int64_t seconds = clamped % kSecondsPerDay;
  if (seconds < 0) {
    seconds += kSecondsPerDay;
    --days;
  }
  const Civil civil = civil_from_days(days);
  const auto sec = static_cast<unsigned>(seconds);
  // 1970-01-01 was a Thursday.
  const auto weekday = static_cast<unsigned>(((days % 7) + 7 + 4) % 7);
  return {static_cast<unsigned>(civil.year),
          civil.month,
          civil.day,
          sec / 3600,
          sec / 60 % 60,
          sec % 60,
          weekday};
}

void format_http_date(std::time_t t, char* out) {
  const UtcTime utc = utc_time(t);
  const std::string_view day_name = kShortDays[utc.weekday];
  const std::string_view month_name = kMonths[utc.month - 1];
  out[0] = day_name[0];
  out[1] = day_name[1];
  out[2] = day_name[2];
  out[3] = ',';
  out[4] = ' ';
  put2(out + 5, utc.day);
  out[7] = ' ';
  out[8] = month_name[0];
  out[9] = month_name[1];
  out[10] = month_name[2];
  out[11] = ' ';
  put2(out + 12, utc.year / 100);
  put2(out + 14, utc.year % 100);
  out[16] = ' ';
  put2(out + 17, utc.hour);
  out[19] = ':';
  put2(out + 20, utc.minute);
  out[22] = ':';
  put2(out + 23, utc.second);
  out[25] = ' ';
  out[26] = 'G';
  out[27] = 'M';
  out[28] = 'T';
}

std::optional<std::time_t> parse_http_date(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);

  Fields f;
  if (!parse_imf_fixdate(text, f) && !parse_rfc850(text, f) && !parse_asctime(text, f)) {
    return std::nullopt;
  }
  const unsigned month = f.month + 1;
  // Second 60 is a leap second, which POSIX time folds into the next minute.
  if (f.day < 1 || f.day > days_in_month(f.year, month) || f.hour > 23 || f.minute > 59 ||
      f.second > 60) {
    return std::nullopt;
  }
  const std::int64_t days = days_from_civil(f.year, month, f.day);
  return static_cast<std::time_t>(days * kSecondsPerDay + f.hour * 3600 + f.minute * 60 + f.second);
}

}  // namespace iocomp::http
