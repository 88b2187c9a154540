#pragma once
// HTTP dates (IMF-fixdate out; IMF-fixdate, RFC 850 and asctime in). Pure.
#include <ctime>
#include <optional>
#include <string_view>

namespace iocomp::http {

inline constexpr std::size_t kHttpDateLength = 29;  // "Sun, 06 Nov 1994 08:49:37 GMT"

// A UTC calendar time, clamped to the years 0000-9999. Computed with integer arithmetic, not
// gmtime_r (glibc takes a lock in it). weekday: 0 = Sunday.
struct UtcTime {
  unsigned year, month, day, hour, minute, second, weekday;
};
UtcTime utc_time(std::time_t t);

// Writes exactly kHttpDateLength characters to out.
void format_http_date(std::time_t t, char* out);

std::optional<std::time_t> parse_http_date(std::string_view text);

}  // namespace iocomp::http
