#pragma once
// The pieces every HTTP field parser here needs: optional whitespace (RFC 9110 5.6.3),
// comma-separated lists (RFC 9110 5.6.1), tokens (RFC 9110 5.6.2) and quality values (RFC 9110
// 12.4.2). Pure, header-only.
#include <string_view>

#include "util/ascii.hpp"

namespace iocomp::http {

using util::equals_ignore_case;

// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" /
//         "~" / DIGIT / ALPHA
inline bool is_tchar(char c) {
  const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  return alnum || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths; -1 if malformed.
inline int parse_qvalue(std::string_view s) {
  if (s.empty() || (s[0] != '0' && s[0] != '1')) return -1;
  int value = (s[0] - '0') * 1000;
  if (s.size() == 1) return value;
  if (s[1] != '.' || s.size() > 5) return -1;
  int scale = 100;
  for (std::size_t i = 2; i < s.size(); ++i, scale /= 10) {
    if (s[i] < '0' || s[i] > '9') return -1;
    value += (s[i] - '0') * scale;
  }
  return value > 1000 ? -1 : value;
}

inline bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

inline std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// Calls fn(element) for each non-empty, OWS-trimmed element of a comma-separated list (empty
// elements are tolerated, RFC 9110 5.6.1); stops early and returns false when fn does.
template <typename Fn>
bool for_each_list_element(std::string_view list, Fn&& fn) {
  while (true) {
    const std::size_t comma = list.find(',');
    const std::string_view element = trim_ows(list.substr(0, comma));
    if (!element.empty() && !fn(element)) return false;
    if (comma == std::string_view::npos) return true;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace iocomp::http
