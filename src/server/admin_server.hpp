#pragma once
// The operator's port (--admin ADDR:PORT, off by default): GET /metrics in the Prometheus text
// format and GET /healthz. One thread, one connection at a time, each bounded in bytes and
// time: a scraper every few seconds, never client traffic, so nothing here touches the workers.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace iocomp::server {

struct AdminEndpoint {
  std::string host;  // numeric IPv4 or IPv6 address, or a name (bound as given)
  std::uint16_t port = 0;
};

// "127.0.0.1:9100", "[::1]:9100", "localhost:9100" (port 0: any free port, logged): nullopt
// when malformed (no port, a port not a number in 0..65535, an empty host, an unclosed
// bracket, IPv6 without brackets).
std::optional<AdminEndpoint> parse_admin_endpoint(std::string_view text);

struct AdminHandlers {
  std::function<std::string()> metrics;  // the Prometheus text
  std::function<bool()> healthy;         // false while draining: /healthz answers 503
};

// The answer to one admin request (head and body), pure: `request` holds the bytes read.
// Returns an empty string while the head is incomplete and `request` is under the limit.
std::string admin_response(std::string_view request, const AdminHandlers& handlers, bool at_limit);

class AdminServer {
 public:
  static constexpr std::size_t kMaxRequestBytes = 8192;
  static constexpr int kConnectionTimeoutMs = 2000;

  // Takes the listening socket `listen_fd` (closed by the destructor).
  AdminServer(int listen_fd, AdminHandlers handlers);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

 private:
  void run();
  void serve(int fd);

  int listen_fd_;
  int stop_fd_;
  AdminHandlers handlers_;
  std::thread thread_;
};

}  // namespace iocomp::server
