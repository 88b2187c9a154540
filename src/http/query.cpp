#include "http/query.hpp"

#include "util/ascii.hpp"

namespace iocomp::http {
namespace {

using util::hex_value;

bool form_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int high = hex_value(in[i + 1]);
      const int low = hex_value(in[i + 2]);
      if (high < 0 || low < 0) return false;
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return true;
}

}  // namespace

std::string_view query_of(std::string_view target) {
  const std::size_t mark = target.find_first_of("?#");
  if (mark == std::string_view::npos || target[mark] == '#') return {};
  std::string_view query = target.substr(mark + 1);
  return query.substr(0, query.find('#'));
}

std::optional<std::string> query_parameter(std::string_view query, std::string_view name) {
  std::string decoded_name;
  std::string value;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    if (!form_decode(pair.substr(0, eq), decoded_name) || decoded_name != name) continue;
    if (eq == std::string_view::npos) return std::string();
    if (form_decode(pair.substr(eq + 1), value)) return value;
  }
  return std::nullopt;
}

}  // namespace iocomp::http
