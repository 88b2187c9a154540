#pragma once
// The server's TLS configuration: an OpenSSL SSL_CTX built from a certificate chain and a key
// (PEM), TLS 1.2 and 1.3 only, Mozilla's "intermediate" ciphers, no renegotiation, ALPN
// http/1.1, session tickets. Replaced as a whole on SIGHUP: a connection takes the current
// context when its handshake starts, and its SSL object keeps a reference to that context, so
// connections accepted before a reload finish with the old certificate.
#include <atomic>
#include <memory>
#include <string>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace iocomp::tls {

struct TlsFiles {
  std::string certificate;  // --tls-cert: PEM, the server's certificate then its chain
  std::string key;          // --tls-key: PEM private key
};

// The keys that encrypt session tickets: a new random key every kRotateMs, the previous one
// still accepted (its tickets are renewed), so a ticket resumes for at most two periods, which is
// the session lifetime. Shared by the contexts of successive reloads, so a certificate reload
// does not cost every client a full handshake. Thread-safe (handshakes run on every worker).
class TicketKeys;

// OpenSSL's key log callback: set only where the keys are handed to the kernel (kernel TLS),
// since it makes OpenSSL format every secret of every handshake.
using KeylogCallback = void (*)(const SSL* ssl, const char* line);

// Builds a server context from the files; throws std::runtime_error naming the file and
// OpenSSL's reason when one cannot be used (missing, not PEM, key not matching the certificate).
// Without `tickets`, OpenSSL's own ticket key (random, fixed for the context's life) is used.
std::shared_ptr<SSL_CTX> make_server_context(const TlsFiles& files,
                                             std::shared_ptr<TicketKeys> tickets = nullptr,
                                             KeylogCallback keylog = nullptr);

// The context new connections use; read on every worker, replaced on the acceptor's thread.
class ContextHolder {
 public:
  // Loads the files now: throws like make_server_context.
  explicit ContextHolder(TlsFiles files, KeylogCallback keylog = nullptr);
  std::shared_ptr<SSL_CTX> current() const { return current_.load(std::memory_order_acquire); }
  // Loads the files again (SIGHUP). On success new connections get the new certificate; on
  // failure the old context stays. Returns the line to log either way.
  std::string reload();
  // "CN=..., serial ..." of the certificate in use: shown at start-up and after a reload.
  std::string describe() const;

 private:
  TlsFiles files_;
  std::shared_ptr<TicketKeys> tickets_;
  KeylogCallback keylog_;
  std::atomic<std::shared_ptr<SSL_CTX>> current_;
};

// Whether the kernel offers the "tls" upper-layer protocol (kernel TLS), from
// /proc/sys/net/ipv4/tcp_available_ulp.
bool kernel_tls_available();

}  // namespace iocomp::tls
