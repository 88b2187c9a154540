#include "server/admin_server.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <stdexcept>

#include <fmt/format.h>

#include "http/request_parser.hpp"
#include "http/status.hpp"

namespace iocomp::server {
namespace {

std::string response(int status, std::string_view content_type, std::string_view body,
                     bool head_only, std::string_view extra = {}) {
  std::string out = fmt::format(
      "HTTP/1.1 {} {}\r\nServer: iocomp\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
      "Cache-Control: no-store\r\nConnection: close\r\n{}\r\n",
      status, http::reason_phrase(status), content_type, body.size(), extra);
  if (!head_only) out.append(body);
  return out;
}

}  // namespace

std::string admin_response(std::string_view bytes, const AdminHandlers& handlers, bool at_limit) {
  http::Request request;
  const http::ParseResult parsed = http::parse_request(
      bytes, http::ParserLimits{4096, AdminServer::kMaxRequestBytes, 50}, request);
  if (parsed.status == http::ParseStatus::need_more) {
    if (!at_limit) return {};
    return response(431, "text/plain; charset=utf-8", "request too large\n", false);
  }
  if (parsed.status == http::ParseStatus::error) {
    return response(parsed.error_status, "text/plain; charset=utf-8", "bad request\n", false);
  }
  const bool head = request.method_kind == http::Method::head;
  if (request.method_kind != http::Method::get && !head) {
    return response(405, "text/plain; charset=utf-8", "only GET and HEAD\n", false,
                    "Allow: GET, HEAD\r\n");
  }
  std::string_view path = request.target;
  path = path.substr(0, path.find('?'));
  if (path == "/metrics") {
    return response(200, "text/plain; version=0.0.4; charset=utf-8", handlers.metrics(), head);
  }
  if (path == "/healthz") {
    const bool healthy = handlers.healthy();
    return response(healthy ? 200 : 503, "text/plain; charset=utf-8",
                    healthy ? "ok\n" : "draining\n", head);
  }
  return response(404, "text/plain; charset=utf-8", "not found: try /metrics or /healthz\n", head);
}

AdminServer::AdminServer(int listen_fd, AdminHandlers handlers)
    : listen_fd_(listen_fd), stop_fd_(::eventfd(0, EFD_CLOEXEC)), handlers_(std::move(handlers)) {
  if (stop_fd_ < 0) {
    ::close(listen_fd_);
    throw std::runtime_error("--admin: eventfd failed");
  }
  thread_ = std::thread([this] { run(); });
}

AdminServer::~AdminServer() {
  const std::uint64_t one = 1;
  if (::write(stop_fd_, &one, sizeof one) < 0) {
    // The eventfd cannot be full: nothing to do.
  }
  thread_.join();
  ::close(stop_fd_);
  ::close(listen_fd_);
}

void AdminServer::run() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;  // EINTR
    if ((fds[1].revents & POLLIN) != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) ::poll(nullptr, 0, 100);  // never spin
      continue;
    }
    try {
      serve(fd);
    } catch (const std::exception&) {
      // Out of memory while rendering: this scrape fails, the next one may not.
    }
    ::close(fd);
  }
}

void AdminServer::serve(int fd) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(kConnectionTimeoutMs);
  const auto left_ms = [&] {
    return static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
  };
  std::string request;
  std::string answer;
  char buffer[2048];
  while (answer.empty()) {
    const int wait = left_ms();
    if (wait <= 0) return;
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(fds, 2, wait) <= 0 || (fds[1].revents & POLLIN) != 0) return;
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return;
    const std::size_t room = kMaxRequestBytes - request.size();
    request.append(buffer, std::min(static_cast<std::size_t>(n), room));
    answer = admin_response(request, handlers_, request.size() >= kMaxRequestBytes);
  }
  std::string_view out = answer;
  while (!out.empty()) {
    const ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      out.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    const int wait = left_ms();
    if (n < 0 && errno == EAGAIN && wait > 0) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, wait) > 0) continue;
    }
    return;
  }
  ::shutdown(fd, SHUT_WR);
}

}  // namespace iocomp::server
