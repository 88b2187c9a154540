// The --admin ADDR:PORT syntax, pure (also built for Windows, whose main parses the flag).
#include <charconv>

#include "server/admin_server.hpp"

namespace iocomp::server {

std::optional<AdminEndpoint> parse_admin_endpoint(std::string_view text) {
  AdminEndpoint endpoint;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    endpoint.host.assign(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    endpoint.host.assign(text.substr(0, colon));
    if (endpoint.host.find(':') != std::string::npos) return std::nullopt;  // IPv6 needs []
    port = text.substr(colon + 1);
  }
  if (endpoint.host.empty() || port.empty() || port.size() > 5) return std::nullopt;
  unsigned value = 0;
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (error != std::errc() || end != port.data() + port.size() || value > 65535) {
    return std::nullopt;
  }
  endpoint.port = static_cast<std::uint16_t>(value);
  return endpoint;
}

}  // namespace iocomp::server
