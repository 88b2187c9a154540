#include "server/server.hpp"

#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "auth/authenticator.hpp"
#include "auth/user_table.hpp"
#include "core/acceptor.hpp"
#include "core/admission.hpp"
#include "core/backend.hpp"
#include "core/listener.hpp"
#include "fs/file_root.hpp"
#include "fs/open_file_cache.hpp"
#include "fs/page_cache.hpp"
#include "http/cors.hpp"
#include "http/mime_types.hpp"
#include "log/event_log.hpp"
#include "log/log_sink.hpp"
#include "metrics/metrics.hpp"
#include "proxy/cidr.hpp"
#include "proxy/proxy_counters.hpp"
#include "server/admin_server.hpp"
#include "server/backend_factory.hpp"
#include "server/proxy_stage.hpp"
#include "server/session.hpp"
#include "server/status_line.hpp"
#include "tls/tls_context.hpp"
#include "tls/tls_stage.hpp"

namespace iocomp::server {
namespace {

int to_ms(double seconds) {
  return static_cast<int>(seconds * 1000.0 + 0.5);
}

// Each connection is one descriptor and each open file another: use all the process may have.
void raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

std::string absolute_path(const std::string& path) {
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved) != nullptr) return resolved;
  return path;
}

// After binding (a port below 1024 needs root), become --user. Warns when serving as root.
void drop_privileges(const std::string& user) {
  if (user.empty()) {
    if (::geteuid() == 0) {
      std::fprintf(stderr,
                   "iocomp: warning: serving as root; use --user NAME to drop privileges\n");
    }
    return;
  }
  errno = 0;
  const passwd* pw = ::getpwnam(user.c_str());
  if (pw == nullptr) throw std::runtime_error(fmt::format("--user {}: no such user", user));
  if (::initgroups(pw->pw_name, pw->pw_gid) != 0 || ::setgid(pw->pw_gid) != 0 ||
      ::setuid(pw->pw_uid) != 0) {
    throw std::runtime_error(fmt::format("--user {}: {}", user, std::strerror(errno)));
  }
  if (::setuid(0) == 0) throw std::runtime_error("--user: privileges could not be dropped");
}

// A session with its own file cache and authenticator, for a model that runs each connection
// on a thread of its own: nothing is shared, nothing needs a lock.
class PrivateStateSession final : public core::SessionHandler {
 public:
  PrivateStateSession(core::Channel& channel, log::EventLog& log, const SessionContext& context,
                      const fs::FileRoot& root, const fs::CacheConfig& cache_config,
                      const auth::UserTable* users, fs::CacheCounters& cache_counters,
                      metrics::WorkerMetrics& metrics)
      : cache_(root, cache_config, &cache_counters),
        authenticator_(users != nullptr ? std::make_unique<auth::Authenticator>(*users) : nullptr),
        session_(channel, log, context, cache_, authenticator_.get(), &metrics) {}

  void on_open() override { session_.on_open(); }
  void on_receive(std::string_view bytes) override { session_.on_receive(bytes); }
  void on_receive_end(int error) override { session_.on_receive_end(error); }
  void on_sent(int error, std::uint64_t bytes) override { session_.on_sent(error, bytes); }
  void on_timeout(core::TimerKind kind) override { session_.on_timeout(kind); }
  void on_drain() override { session_.on_drain(); }
  void on_warmed() override { session_.on_warmed(); }

 private:
  fs::OpenFileCache cache_;
  std::unique_ptr<auth::Authenticator> authenticator_;
  Session session_;  // last: destroyed first, while the cache it uses still exists
};

struct FdGuard {
  int fd;
  ~FdGuard() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

unsigned default_thread_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<unsigned>(n);
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? hw : 1;
}

int run_server(const ServerConfig& config) {
  // Signals arrive through a signalfd read by the acceptor's ring; no thread takes them
  // asynchronously. SIGPIPE is ignored: a client that vanishes mid-send is an EPIPE, not a death.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();

  const fs::FileRoot root(config.root, config.allow_hidden);
  const http::MimeTypes mime = http::MimeTypes::load_file();
  const bool auth_on = !config.auth_file.empty();
  // Read before privileges are dropped: the file may be readable by root only.
  const std::optional<auth::LoadedUsers> users =
      auth_on ? std::optional(auth::load_auth_file(config.auth_file)) : std::nullopt;
  http::CorsPolicy cors = http::make_cors_policy(config.cors_origins, auth_on);
  // --proxy-protocol: what the PROXY stage did with each connection (for reports and metrics).
  proxy::ProxyCounters proxy_counters;
  std::string proxy_from_error;
  std::optional<proxy::CidrList> proxy_from =
      proxy::CidrList::parse(config.proxy_from, proxy_from_error);
  if (!proxy_from) throw std::runtime_error("--proxy-from: " + proxy_from_error);
  const ProxyStageContext proxy_context{std::move(*proxy_from), proxy::Limits{}, proxy_counters};
  // A socket from the service manager (iocomp.socket) takes the place of --listen and --port.
  const std::optional<core::BoundListener> activated = core::take_activated_listener();
  const core::BoundListener listener =
      activated ? *activated : core::open_listener({config.listen, config.port, 4096});
  FdGuard listen_guard{listener.fd};
  // Opened before privileges are dropped, like the port: /var/log and a port below 1024 may
  // need root. After a rotation (SIGHUP) the file is opened again as --user.
  std::optional<core::BoundListener> admin_listener;
  if (!config.admin.empty()) {
    const std::optional<AdminEndpoint> endpoint = parse_admin_endpoint(config.admin);
    if (!endpoint)
      throw std::runtime_error(fmt::format("--admin {}: expected ADDR:PORT", config.admin));
    admin_listener = core::open_listener({endpoint->host, endpoint->port, 64});
  }
  std::unique_ptr<log::LogSink> access_file;
  const bool access_to_file = !config.access_log.empty() && config.access_log != "-";
  if (access_to_file) {
    // Written in 64 KiB blocks or within 100 ms, like nginx's access_log buffer=64k.
    access_file =
        std::make_unique<log::LogSink>(log::LogSink::open_file(config.access_log),
                                       std::size_t{32} << 20, true, std::chrono::milliseconds(100));
  }
  // The key is read before privileges are dropped (it may be readable by root only); a reload
  // (SIGHUP) reads the files again as --user.
  std::unique_ptr<tls::ContextHolder> tls_contexts;
  // Kernel TLS where the kernel has the tls ULP (never on these machines: untested).
  const bool kernel_tls =
      !config.tls_cert.empty() && config.kernel_tls && tls::kernel_tls_available();
  if (!config.tls_cert.empty()) {
    tls_contexts = std::make_unique<tls::ContextHolder>(
        tls::TlsFiles{config.tls_cert, config.tls_key},
        kernel_tls ? &tls::TlsStage::keylog_callback : nullptr);
  }
  drop_privileges(config.user);
  FdGuard signal_guard{::signalfd(-1, &signals, SFD_CLOEXEC)};
  FdGuard done_guard{::eventfd(0, EFD_CLOEXEC)};
  if (signal_guard.fd < 0 || done_guard.fd < 0) throw std::runtime_error("signalfd/eventfd failed");

  log::LogSink sink(STDOUT_FILENO);
  // "-": the access log shares standard output's sink with the events, so their lines never
  // interleave mid-line.
  log::LogSink* const access_sink = access_to_file             ? access_file.get()
                                    : config.access_log == "-" ? &sink
                                                               : nullptr;
  const SessionContext context{
      config, root, mime, http::ParserLimits{config.max_request_line, config.max_header_bytes, 100},
      std::move(cors)};

  core::EngineConfig engine_config;
  engine_config.header_timeout_ms = to_ms(config.header_timeout_s);
  engine_config.idle_timeout_ms = to_ms(config.idle_timeout_s);
  engine_config.send_timeout_ms = to_ms(config.send_timeout_s);
  engine_config.drain_timeout_ms = to_ms(config.drain_timeout_s);
  engine_config.async_cold_reads = config.async_cold_reads;
  engine_config.workers = config.threads > 0 ? config.threads : default_thread_count();
  const unsigned thread_count = engine_config.workers;

  // One metrics slot and one cache-counter slot per worker, and a last one shared by the
  // connection threads of thread-per-connection (worker index -1).
  const auto worker_metrics = std::make_unique<metrics::WorkerMetrics[]>(thread_count + 1);
  const auto cache_counters = std::make_unique<fs::CacheCounters[]>(thread_count + 1);
  metrics::WorkerMetrics& thread_metrics = worker_metrics[thread_count];
  fs::CacheCounters& thread_cache_counters = cache_counters[thread_count];

  const fs::CacheConfig cache_config{config.file_cache_entries,
                                     static_cast<std::int64_t>(to_ms(config.file_cache_valid_s)),
                                     config.small_file_max, config.precompressed};
  std::vector<std::unique_ptr<fs::OpenFileCache>> caches;
  for (unsigned i = 0; i < thread_count; ++i) {
    caches.push_back(std::make_unique<fs::OpenFileCache>(root, cache_config, &cache_counters[i]));
  }
  // Per worker, like the file caches: crypt's scratch area and the verified-credentials cache
  // are used without locks.
  std::vector<std::unique_ptr<auth::Authenticator>> authenticators;
  if (users) {
    for (unsigned i = 0; i < thread_count; ++i) {
      authenticators.push_back(std::make_unique<auth::Authenticator>(users->users));
    }
  }
  const core::SessionFactory make_session =
      [&context, &caches, &authenticators, &root, &cache_config, &users, &worker_metrics,
       &thread_metrics,
       &thread_cache_counters](core::Channel& channel, log::EventLog& log,
                               int worker) -> std::unique_ptr<core::SessionHandler> {
    if (worker < 0) {
      // A thread of its own (thread per connection): no worker state to share, so the
      // connection has its own cache, as servers of that model do.
      return std::make_unique<PrivateStateSession>(channel, log, context, root, cache_config,
                                                   users ? &users->users : nullptr,
                                                   thread_cache_counters, thread_metrics);
    }
    const auto index = static_cast<std::size_t>(worker);
    auth::Authenticator* authenticator =
        authenticators.empty() ? nullptr : authenticators[index].get();
    return std::make_unique<Session>(channel, log, context, *caches[index], authenticator,
                                     &worker_metrics[index]);
  };
  // The stages before the session, outermost first: the PROXY header (--proxy-protocol), then
  // TLS (a certificate), which finds out from the first byte whether to decrypt for the session
  // or to pass the bytes through.
  const tls::StageSettings tls_settings{
      tls_contexts.get(), config.async_cold_reads, kernel_tls,
      config.tls_only,    config.max_request_line, config.max_header_bytes};
  const core::SessionFactory tls_or_session =
      !tls_contexts
          ? make_session
          : core::SessionFactory([&make_session, &tls_settings](
                                     core::Channel& channel, log::EventLog& log,
                                     int worker) -> std::unique_ptr<core::SessionHandler> {
              return std::make_unique<tls::TlsStage>(
                  channel, log, tls_settings, [&make_session, &log, worker](core::Channel& inner) {
                    return make_session(inner, log, worker);
                  });
            });
  const core::SessionFactory factory =
      !config.proxy_protocol
          ? tls_or_session
          : core::SessionFactory([&proxy_context, &tls_or_session](
                                     core::Channel& channel, log::EventLog& log,
                                     int worker) -> std::unique_ptr<core::SessionHandler> {
              return std::make_unique<ProxyStage>(channel, log, proxy_context, tls_or_session,
                                                  worker);
            });
  // Unused cached files are closed on the worker's tick: a deleted file's space is freed.
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
      log::LogTargets{
          config.quiet ? nullptr : &sink, access_sink,
          config.log_format == "json" ? log::AccessFormat::json : log::AccessFormat::combined},
      done_guard.fd};
  const std::unique_ptr<core::Backend> backend = make_backend(config.model, environment);
  core::Acceptor acceptor(listener.fd, signal_guard.fd, done_guard.fd, *backend, admission,
                          core::AcceptorConfig{}, &sink);
  backend->start();

  const auto snapshot = [&]() {
    metrics::Snapshot s;
    s.version = IOCOMP_VERSION;
    s.model = std::string(backend->name());
    s.connections_open = admission.connections();
    const core::AcceptorCounters& accepted = acceptor.counters();
    s.connections_accepted = accepted.accepted.load(std::memory_order_relaxed);
    s.refused = {
        {"max_connections", accepted.refused_max_connections.load(std::memory_order_relaxed)},
        {"max_connections_per_ip", accepted.refused_per_address.load(std::memory_order_relaxed)},
        {"out_of_memory", accepted.refused_out_of_memory.load(std::memory_order_relaxed)},
    };
    if (config.proxy_protocol) {
      for (const proxy::ProxyCounterField& field : proxy::kProxyCounterFields) {
        const std::uint64_t n = (proxy_counters.*field.member).load(std::memory_order_relaxed);
        if (field.refused) {
          s.refused.emplace_back(fmt::format("proxy_{}", field.name), n);
        } else {
          s.proxy_headers.emplace_back(std::string(field.name), n);
        }
      }
    }
    for (unsigned i = 0; i <= thread_count; ++i) {
      s.add_worker(worker_metrics[i]);
      s.cache_hits += cache_counters[i].hits.load(std::memory_order_relaxed);
      s.cache_misses += cache_counters[i].misses.load(std::memory_order_relaxed);
    }
    s.has_thread_slot = true;
    s.log_dropped_bytes = sink.dropped_bytes();
    if (access_sink != nullptr && access_sink != &sink) {
      s.access_log_dropped_bytes = access_sink->dropped_bytes();
    }
    metrics::read_process_figures(s);
    return s;
  };
  std::unique_ptr<AdminServer> admin;
  if (admin_listener) {
    admin = std::make_unique<AdminServer>(
        admin_listener->fd, AdminHandlers{[&snapshot] {
                                            std::string text;
                                            metrics::render_prometheus(snapshot(), text);
                                            return text;
                                          },
                                          [&acceptor] { return !acceptor.shutting_down(); }});
  }
  acceptor.set_reload_hook([&config, &access_file, access_to_file, &tls_contexts]() {
    std::string lines;
    if (access_to_file) {
      try {
        access_file->replace_fd(log::LogSink::open_file(config.access_log));
        lines = fmt::format("reopened the access log {}", config.access_log);
      } catch (const std::exception& e) {
        lines = fmt::format("error: access log not reopened, still writing to the old file: {}",
                            e.what());
      }
    }
    if (tls_contexts) lines += (lines.empty() ? "" : "; ") + tls_contexts->reload();
    return lines;
  });

  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  char stamp[log::kTimestampLength];
  log::format_timestamp(now, stamp);
  sink.write_now(
      fmt::format("{} iocomp {} serving {} on {} (port {}) with {} worker{} ({} model)\n",
                  std::string_view(stamp, sizeof stamp), IOCOMP_VERSION, absolute_path(config.root),
                  listener.display, listener.port, thread_count, thread_count == 1 ? "" : "s",
                  backend->name()));
  // After the "serving" line, which scripts read first to learn the port.
  const auto warn = [&](std::string_view text) {
    ::clock_gettime(CLOCK_REALTIME, &now);
    log::format_timestamp(now, stamp);
    sink.write_now(fmt::format("{} - warning: {}\n", std::string_view(stamp, sizeof stamp), text));
  };
  if (config.proxy_protocol) {
    sink.write_now(fmt::format(
        "{} - PROXY protocol: every connection must start with a header, accepted from {}\n",
        std::string_view(stamp, sizeof stamp), proxy_context.trusted.to_string()));
  }
  if (listener.activated) {
    ::clock_gettime(CLOCK_REALTIME, &now);
    log::format_timestamp(now, stamp);
    sink.write_now(fmt::format(
        "{} - listening socket passed by the service manager (socket activation, fd {}); "
        "--listen and --port are not used\n",
        std::string_view(stamp, sizeof stamp), listener.fd));
  }
  if (tls_contexts) {
    ::clock_gettime(CLOCK_REALTIME, &now);
    log::format_timestamp(now, stamp);
    sink.write_now(fmt::format(
        "{} - TLS on the same port{} with {}; {}\n", std::string_view(stamp, sizeof stamp),
        config.tls_only ? " (--tls-only)" : "", tls_contexts->describe(),
        kernel_tls           ? "kernel TLS for TLS 1.3 responses (untested path: see "
                               "docs/SECURITY.md), user space otherwise"
        : !config.kernel_tls ? "TLS in user space (--no-kernel-tls)"
                             : "TLS in user space (kernel TLS not available)"));
  }
  {
    // Which path a read of a file not in the page cache takes, per model: the event loops bring
    // it in without waiting (the completion model by io_uring, epoll by readahead and a look
    // each millisecond); the thread models read on the connection's own thread, by design.
    const std::string_view model = backend->name();
    const bool loop = model == "completion" || model == "epoll";
    const std::string_view how =
        !loop                      ? "read by the connection's own thread (a blocking model)"
        : !config.async_cold_reads ? "read on the worker (--no-async-cold-reads)"
        : !fs::page_cache_probe_available() ? "read on the worker (this kernel has no cachestat)"
        : model == "completion"
            ? "brought in asynchronously first (cachestat or RWF_NOWAIT, io_uring fadvise + read)"
            : "read ahead first (cachestat or RWF_NOWAIT, fadvise WILLNEED, a look each ms)";
    sink.write_now(fmt::format("{} - file data not in the page cache: {}\n",
                               std::string_view(stamp, sizeof stamp), how));
  }
  if (admin_listener) {
    sink.write_now(fmt::format("{} - metrics on http://{}/metrics, health on /healthz\n",
                               std::string_view(stamp, sizeof stamp), admin_listener->display));
  }
  if (users) {
    if (!tls_contexts) {
      warn("--auth-file without TLS: passwords cross the network in clear text");
    } else if (!config.tls_only) {
      warn(
          "--auth-file without --tls-only: passwords sent over plaintext HTTP cross the network "
          "in clear text");
    }
    if (users->readable_by_others) {
      warn(fmt::format("--auth-file {} is readable by other users (chmod o-r)", config.auth_file));
    }
    if (context.cors.any_origin) {
      warn(
          "--cors '*' with --auth-file: '*' grants no credentials, so pages from other origins "
          "cannot read protected files; list trusted origins with --cors ORIGIN");
    }
  }

  {
    // Redrawn in place on a terminal when the events are off; plain lines otherwise.
    std::unique_ptr<StatusLine> status;
    if (config.quiet && ::isatty(STDOUT_FILENO) == 1) {
      status = std::make_unique<StatusLine>(STDOUT_FILENO, snapshot);
    }
    acceptor.run();
  }
  backend->join();
  admin.reset();

  ::clock_gettime(CLOCK_REALTIME, &now);
  log::format_timestamp(now, stamp);
  if (config.proxy_protocol) {
    std::string counts;
    for (const proxy::ProxyCounterField& field : proxy::kProxyCounterFields) {
      counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", field.name,
                            (proxy_counters.*field.member).load(std::memory_order_relaxed));
    }
    sink.write_now(
        fmt::format("{} - PROXY protocol: {}\n", std::string_view(stamp, sizeof stamp), counts));
  }
  const std::uint64_t dropped = sink.dropped_bytes();
  sink.write_now(fmt::format("{} - stopped{}\n", std::string_view(stamp, sizeof stamp),
                             dropped > 0 ? fmt::format(" ({} log bytes dropped)", dropped) : ""));
  return 0;
}

}  // namespace iocomp::server
