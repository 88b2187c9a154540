#pragma once
// HTTP dates (IMF-fixdate out; IMF-fixdate, RFC 850 and asctime in). Pure.
#include <ctime>
#include <optional>
#include <string_view>

namespace iocomp::http {

inline constexpr std::size_t kHttpDateLength = 29;  // "Sun, 06 Nov 1994 08:49:37 GMT"

// Writes exactly kHttpDateLength characters to out.
void format_http_date(std::time_t t, char* out);

std::optional<std::time_t> parse_http_date(std::string_view text);

}  // namespace iocomp::http
