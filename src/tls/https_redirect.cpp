#include "tls/https_redirect.hpp"

#include <fmt/format.h>

namespace iocomp::tls {
namespace {

bool is_reg_name_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  constexpr std::string_view kAllowed = "-._~!$&'()*+,;=%";
  return kAllowed.find(c) != std::string_view::npos;
}

bool is_ipv6_literal_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
         c == '.';
}

std::string bad_request() {
  constexpr std::string_view kBody = "400 Bad Request: a valid Host field is required\n";
  return fmt::format(
      "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
      kBody.size(), kBody);
}

}  // namespace

bool valid_host(std::string_view host) {
  std::size_t i = 0;
  if (!host.empty() && host.front() == '[') {
    const std::size_t close = host.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    for (std::size_t k = 1; k < close; ++k) {
      if (!is_ipv6_literal_char(host[k])) return false;
    }
    i = close + 1;
  } else {
    while (i < host.size() && is_reg_name_char(host[i])) ++i;
    if (i == 0) return false;
  }
  if (i == host.size()) return true;
  if (host[i] != ':') return false;
  const std::string_view port = host.substr(i + 1);
  if (port.empty() || port.size() > 5) return false;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::string https_redirect(std::string_view method, std::string_view target, bool has_host,
                           std::string_view host) {
  if (!has_host || !valid_host(host)) return bad_request();
  // The request target of an origin-form request starts with '/'; anything else ("*", an
  // absolute form) is sent to the root rather than echoed.
  const std::string_view path = !target.empty() && target.front() == '/' ? target : "/";
  const bool same_method = method == "GET" || method == "HEAD";
  const std::string location = fmt::format("https://{}{}", host, path);
  const std::string body = fmt::format("This server requires HTTPS: {}\n", location);
  return fmt::format(
      "HTTP/1.1 {}\r\nLocation: {}\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
      same_method ? "301 Moved Permanently" : "308 Permanent Redirect", location, body.size(),
      method == "HEAD" ? std::string() : body);
}

}  // namespace iocomp::tls
