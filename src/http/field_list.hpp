#pragma once
// The two pieces every HTTP field parser here needs: optional whitespace (RFC 9110 5.6.3) and
// comma-separated lists (RFC 9110 5.6.1). Pure, header-only.
#include <string_view>

namespace iocomp::http {

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
