// iocomp: a file download server on io_uring. See README.md.
#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "server/admin_server.hpp"
#include "server/backend_factory.hpp"
#include "server/server.hpp"
#include "server/server_config.hpp"
#include "util/byte_size.hpp"

int main(int argc, char** argv) {
  iocomp::server::ServerConfig config;
  CLI::App app{
      "iocomp: serves the files under a directory over TCP, to `nc` (a file name per line) and\n"
      "to HTTP/1.1 clients (curl, wget, browsers) on the same port."};
  app.set_version_flag("--version", std::string("iocomp ") + IOCOMP_VERSION);
  app.get_formatter()->column_width(34);

  unsigned port = config.port;
  app.add_option("port_arg", port, "Port to listen on, as in the article: iocomp 9000")
      ->check(CLI::Range(0u, 65535u));
  app.add_option("-p,--port", port, "TCP port (0 picks a free one)")
      ->check(CLI::Range(0u, 65535u))
      ->capture_default_str();
  app.add_option("-r,--root", config.root, "Directory to serve")
      ->check(CLI::ExistingDirectory)
      ->capture_default_str();
  app.add_option("-l,--listen", config.listen,
                 "Address to listen on, IPv4 or IPv6 (default: all addresses)");
  app.add_option("-m,--model", config.model,
                 "Server model: completion (io_uring), epoll, thread-pool, thread-per-connection")
      ->check(CLI::IsMember(iocomp::server::model_names()))
      ->capture_default_str();
  app.add_option("-t,--threads", config.threads,
                 "Worker threads, or the pool's size for thread-pool (default: one per CPU)");
  app.add_flag("-q,--quiet", config.quiet, "Do not log per-connection events");
  app.add_option("--max-line", config.max_line, "Line protocol: longest file name in bytes")
      ->check(CLI::Range(std::size_t{1}, std::size_t{65536}))
      ->capture_default_str();
  app.add_option("--max-request-line", config.max_request_line,
                 "HTTP: longest request line in bytes (414 past it)")
      ->check(CLI::Range(std::size_t{64}, std::size_t{1} << 20))
      ->capture_default_str();
  app.add_option("--max-header-size", config.max_header_bytes,
                 "HTTP: largest request head in bytes (431 past it)")
      ->check(CLI::Range(std::size_t{256}, std::size_t{1} << 20))
      ->capture_default_str();
  app.add_option("--max-connections", config.max_connections,
                 "Connections served at once; more are closed on accept")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000000}))
      ->capture_default_str();
  app.add_option("--max-connections-per-ip", config.max_connections_per_ip,
                 "Connections from one client address at once (0: no limit)")
      ->capture_default_str();
  app.add_option("--max-requests-per-connection", config.max_requests_per_connection,
                 "Requests served on one connection before it is closed (0: no limit)")
      ->capture_default_str();
  app.add_flag("--allow-hidden", config.allow_hidden,
               "Serve names with a component starting with '.' (refused by default)");
  app.add_option("-u,--user", config.user,
                 "Drop privileges to this user after binding the port (when started as root)");
  app.add_option("--file-cache-entries", config.file_cache_entries,
                 "Open files cached per worker (0: no cache)")
      ->capture_default_str();
  app.add_option("--file-cache-valid", config.file_cache_valid_s,
                 "Seconds a cached file is trusted before its name is checked again")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  app.add_option("--small-file-max", config.small_file_max,
                 "Files up to this many bytes are kept in memory by the cache")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 24))
      ->capture_default_str();
  app.add_option("--max-listing-entries", config.max_listing_entries,
                 "Directory listing: entries shown at most (the page says how many are left out)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}))
      ->capture_default_str();
  app.add_flag("--precompressed,!--no-precompressed", config.precompressed,
               "Send name.br, name.zst or name.gz beside name when the client accepts it")
      ->capture_default_str();
  app.add_option("--cors", config.cors_origins,
                 "Allow cross-origin requests from ORIGIN (repeatable; * for any origin)")
      ->allow_extra_args(false);
  app.add_option("--auth-file", config.auth_file,
                 "HTTP basic authentication: user:hash lines (crypt(3) hashes, htpasswd -B)")
      ->check(CLI::ExistingFile);
  CLI::Option* proxy_protocol =
      app.add_flag("--proxy-protocol", config.proxy_protocol,
                   "Behind a balancer: every connection starts with a PROXY header (v1 or v2) "
                   "naming the client; others are closed");
  app.add_option("--proxy-from", config.proxy_from,
                 "Addresses allowed to send a PROXY header: CIDR[,CIDR...] (the balancer's)")
      ->needs(proxy_protocol)
      ->capture_default_str();
  app.add_option("--access-log", config.access_log,
                 "Write one line per request to PATH (- for standard output); SIGHUP reopens it");
  app.add_option("--log-format", config.log_format,
                 "Access log format: combined (Apache/nginx) or json (one object per line)")
      ->check(CLI::IsMember({"combined", "json"}))
      ->capture_default_str();
  app.add_option("--admin", config.admin,
                 "Serve /metrics (Prometheus) and /healthz on ADDR:PORT, e.g. 127.0.0.1:9182")
      ->check([](const std::string& text) {
        return iocomp::server::parse_admin_endpoint(text)
                   ? std::string()
                   : std::string("expected ADDR:PORT, e.g. 127.0.0.1:9182 or [::1]:9182");
      });
  std::string rate_limit = "0";
  app.add_option("--rate-limit", rate_limit,
                 "Bytes per second per connection, suffixes k, m, g (1024-based); 0: no limit")
      ->check([](const std::string& text) {
        return iocomp::util::parse_byte_size(text) ? std::string()
                                                   : std::string("expected e.g. 500k, 10m, 1g");
      })
      ->capture_default_str();
  app.add_flag("--async-cold-reads,!--no-async-cold-reads", config.async_cold_reads,
               "Completion and epoll models: bring file data not in the page cache in without "
               "the worker waiting (io_uring, or readahead and a look each ms) before sendfile "
               "or a TLS read, so a cold file never stalls a worker (default: on)");
  app.add_flag("--kernel-tls,!--no-kernel-tls", config.kernel_tls,
               "TLS 1.3: after the handshake, let the kernel encrypt (kTLS, sendfile without a "
               "copy) where it has the tls ULP; untested on machines without it (default: on)");
  app.add_option("--tls-cert", config.tls_cert,
                 "TLS certificate chain (PEM): HTTPS and TLS on the same port; SIGHUP reloads")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", config.tls_key, "TLS private key (PEM) of --tls-cert")
      ->check(CLI::ExistingFile);
  app.add_flag("--tls-only", config.tls_only,
               "Refuse plaintext: HTTP is redirected to https://, the line protocol gets an error");
  app.add_option("--drain-timeout", config.drain_timeout_s,
                 "Seconds transfers may go on after SIGINT/SIGTERM")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  app.add_option("--header-timeout", config.header_timeout_s,
                 "Seconds a client has to send a complete request")
      ->check(CLI::Range(0.01, 86400.0))
      ->capture_default_str();
  app.add_option("--idle-timeout", config.idle_timeout_s,
                 "Seconds an idle keep-alive connection is kept")
      ->check(CLI::Range(0.01, 86400.0))
      ->capture_default_str();
  app.add_option("--send-timeout", config.send_timeout_s,
                 "Seconds a transfer may make no progress before it is aborted")
      ->check(CLI::Range(0.01, 86400.0))
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  if (config.tls_cert.empty() != config.tls_key.empty() ||
      (config.tls_only && config.tls_cert.empty())) {
    std::fprintf(stderr,
                 "iocomp: --tls-cert and --tls-key go together (and --tls-only needs them)\n");
    return 2;
  }
  config.port = static_cast<std::uint16_t>(port);
  config.rate_limit = iocomp::util::parse_byte_size(rate_limit).value_or(0);

  try {
    return iocomp::server::run_server(config);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "iocomp: %s\n", e.what());
    return 1;
  }
}
