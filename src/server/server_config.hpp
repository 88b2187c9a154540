#pragma once
// Everything the command line can set, with the defaults.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace iocomp::server {

struct ServerConfig {
  std::string root = ".";
  std::string listen;  // "" = all addresses
  std::uint16_t port = 8182;
  std::string model = "completion";  // the server model: see server/backend_factory.hpp
  unsigned threads = 0;              // 0 = one per CPU
  bool quiet = false;

  std::size_t max_line = 1024;           // line protocol: longest file name
  std::size_t max_request_line = 8192;   // HTTP: request line, else 414
  std::size_t max_header_bytes = 16384;  // HTTP: whole request head, else 431
  std::size_t max_connections = 20000;
  std::size_t max_connections_per_ip = 256;           // 0: no limit
  std::uint64_t max_requests_per_connection = 10000;  // 0: no limit
  bool allow_hidden = false;                          // serve names with a component starting '.'
  std::string user;                                   // drop privileges to this user after bind

  std::size_t file_cache_entries = 1024;  // per worker; 0 disables the cache
  double file_cache_valid_s = 1.0;        // trust a cached file this long before re-checking
  std::uint64_t small_file_max = 16384;   // files up to this size are served from memory

  // HTTP features for file-server users.
  std::size_t max_listing_entries = 10000;  // directory listing: entries shown at most
  bool precompressed = true;                // serve name.br / name.zst / name.gz beside name
  std::vector<std::string> cors_origins;    // --cors: allowed origins ("*" for any)
  std::string auth_file;                    // --auth-file: user:crypt-hash lines; "" = no auth

  // Operations.
  std::string access_log;               // --access-log PATH, "-" = standard output, "" = off
  std::string log_format = "combined";  // the access log: combined or json
  std::string admin;                    // --admin ADDR:PORT for /metrics and /healthz; "" = off
  std::uint64_t rate_limit = 0;         // bytes per second per connection; 0 = no limit
  bool kernel_tls = true;  // --no-kernel-tls: encrypt in user space even where the kernel could
  bool async_cold_reads = true;  // completion model: read uncached file ranges before sendfile

  // Behind a layer-4 balancer: every connection starts with a PROXY protocol header (v1 or v2)
  // naming the client, accepted only from these address blocks (proxy::CidrList syntax).
  bool proxy_protocol = false;
  std::string proxy_from = "127.0.0.0/8,::1/128";

  // HTTPS and the line protocol over TLS, on the same port as plaintext (see tls/tls_stage.hpp).
  std::string tls_cert;   // --tls-cert: PEM certificate chain; "" = no TLS
  std::string tls_key;    // --tls-key: PEM private key
  bool tls_only = false;  // --tls-only: plaintext gets a redirect (HTTP) or an error line

  double drain_timeout_s = 3.0;
  double header_timeout_s = 10.0;
  double idle_timeout_s = 60.0;
  double send_timeout_s = 60.0;
};

}  // namespace iocomp::server
