// run_server on Windows: the same pieces as server/server.cpp (file root, caches, sessions,
// admission, logging, drain), wired to the IOCP backend and its AcceptEx acceptor instead of
// io_uring, signalfd and accept4. What has no Windows counterpart is refused at start-up with
// the reason: --auth-file (no crypt(3)), --user (no setuid; run the service as the account).
#include <fcntl.h>
#include <io.h>
#include <windows.h>
#include <winsock2.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "backends/iocp/iocp_acceptor.hpp"
#include "backends/iocp/iocp_backend.hpp"
#include "core/admission.hpp"
#include "core/backend.hpp"
#include "core/listener.hpp"
#include "fs/file_root.hpp"
#include "fs/open_file_cache.hpp"
#include "http/cors.hpp"
#include "http/mime_types.hpp"
#include "log/event_log.hpp"
#include "log/log_sink.hpp"
#include "platform/socket.hpp"
#include "platform/windows/text.hpp"
#include "server/server.hpp"
#include "server/session.hpp"

namespace iocomp::server {
namespace {

int to_ms(double seconds) {
  return static_cast<int>(seconds * 1000.0 + 0.5);
}

std::string absolute_path(const std::string& path) {
  char resolved[4096];
  if (::_fullpath(resolved, path.c_str(), sizeof resolved) != nullptr) return resolved;
  return path;
}

struct Winsock {
  Winsock() {
    WSADATA data{};
    const int error = ::WSAStartup(MAKEWORD(2, 2), &data);
    if (error != 0) {
      throw std::runtime_error(
          fmt::format("WSAStartup: {}", platform::win32_message(static_cast<DWORD>(error))));
    }
  }
  ~Winsock() { ::WSACleanup(); }
  Winsock(const Winsock&) = delete;
  Winsock& operator=(const Winsock&) = delete;
};

struct SocketGuard {
  int fd;
  ~SocketGuard() {
    if (fd >= 0) platform::close_socket(fd);
  }
};

std::string stamp_now() {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  char stamp[log::kTimestampLength];
  log::format_timestamp(now, stamp);
  return std::string(stamp, sizeof stamp);
}

}  // namespace

unsigned default_thread_count() {
  const DWORD n = ::GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
  if (n > 0) return n;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? hw : 1;
}

int run_server(const ServerConfig& config) {
  if (!config.auth_file.empty()) {
    throw std::runtime_error(
        "--auth-file is not available on Windows: its hashes need crypt(3) (libxcrypt), which "
        "this build does not have");
  }
  // The operations of issue 12 built on Linux-only pieces (the admin thread's poll/eventfd, the
  // access log's reopen on SIGHUP, the PROXY stage in the Linux server): refused, not ignored.
  for (const auto& [set, flag] : {std::pair{!config.access_log.empty(), "--access-log"},
                                  std::pair{!config.admin.empty(), "--admin"},
                                  std::pair{config.proxy_protocol, "--proxy-protocol"},
                                  std::pair{!config.tls_cert.empty(), "--tls-cert"}}) {
    if (set) throw std::runtime_error(fmt::format("{} is not available on Windows yet", flag));
  }
  if (!config.user.empty()) {
    throw std::runtime_error(
        "--user is not available on Windows: run iocomp under the account it should serve as");
  }
  // The log's "\n" stays "\n" (text mode would write "\r\n").
  ::_setmode(::_fileno(stdout), _O_BINARY);
  const Winsock winsock;

  const fs::FileRoot root(config.root, config.allow_hidden);
  const http::MimeTypes mime = http::MimeTypes::load_file();
  http::CorsPolicy cors = http::make_cors_policy(config.cors_origins, false);
  const core::BoundListener listener = core::open_listener({config.listen, config.port, 4096});
  SocketGuard listen_guard{listener.fd};
  const iocp::SocketExtensions extensions =
      iocp::load_socket_extensions(platform::to_socket(listener.fd));

  log::LogSink sink(::_fileno(stdout));
  const SessionContext context{
      config, root, mime, http::ParserLimits{config.max_request_line, config.max_header_bytes, 100},
      std::move(cors)};

  core::EngineConfig engine_config;
  engine_config.header_timeout_ms = to_ms(config.header_timeout_s);
  engine_config.idle_timeout_ms = to_ms(config.idle_timeout_s);
  engine_config.send_timeout_ms = to_ms(config.send_timeout_s);
  engine_config.drain_timeout_ms = to_ms(config.drain_timeout_s);
  engine_config.workers = config.threads > 0 ? config.threads : default_thread_count();
  const unsigned thread_count = engine_config.workers;

  const fs::CacheConfig cache_config{config.file_cache_entries,
                                     static_cast<std::int64_t>(to_ms(config.file_cache_valid_s)),
                                     config.small_file_max, config.precompressed};
  std::vector<std::unique_ptr<fs::OpenFileCache>> caches;
  for (unsigned i = 0; i < thread_count; ++i) {
    caches.push_back(std::make_unique<fs::OpenFileCache>(root, cache_config));
  }
  const core::SessionFactory factory = [&context, &caches](
                                           core::Channel& channel, log::EventLog& log,
                                           int worker) -> std::unique_ptr<core::SessionHandler> {
    return std::make_unique<Session>(channel, log, context,
                                     *caches[static_cast<std::size_t>(worker)], nullptr);
  };
  const core::Housekeeping housekeeping = [&caches](int worker, std::int64_t now_ms) {
    return caches[static_cast<std::size_t>(worker)]->sweep(now_ms);
  };
  core::AdmissionControl admission(
      core::AdmissionLimits{config.max_connections, config.max_connections_per_ip});
  const core::BackendEnvironment environment{
      engine_config,
      factory,
      housekeeping,
      &admission,
      log::LogTargets{config.quiet ? nullptr : &sink, nullptr, log::AccessFormat::combined},
      -1};

  iocp::AcceptorConfig acceptor_config;
  acceptor_config.drain_timeout_ms = engine_config.drain_timeout_ms;
  iocp::IocpAcceptor acceptor(platform::to_socket(listener.fd), extensions, admission,
                              acceptor_config, &sink);
  listen_guard.fd = -1;  // the acceptor closes it when the drain begins, or at exit
  iocp::IocpBackend backend(environment, extensions, [&acceptor] { acceptor.notify_stopped(); });
  backend.start();

  sink.write_now(
      fmt::format("{} iocomp {} serving {} on {} (port {}) with {} worker{} ({} model, I/O "
                  "completion ports)\n",
                  stamp_now(), IOCOMP_VERSION, absolute_path(config.root), listener.display,
                  listener.port, thread_count, thread_count == 1 ? "" : "s", backend.name()));

  acceptor.run(backend);
  backend.join();

  const std::uint64_t dropped = sink.dropped_bytes();
  sink.write_now(fmt::format("{} - stopped{}\n", stamp_now(),
                             dropped > 0 ? fmt::format(" ({} log bytes dropped)", dropped) : ""));
  return 0;
}

}  // namespace iocomp::server
