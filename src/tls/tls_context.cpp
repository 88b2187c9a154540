#include "tls/tls_context.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>

#include "util/monotonic_clock.hpp"

namespace iocomp::tls {

class TicketKeys {
 public:
  static constexpr std::int64_t kRotateMs = 3600 * 1000;
  // Tickets resume for at most two rotation periods: OpenSSL's session lifetime matches.
  static constexpr long kSessionLifetimeSeconds = 2 * kRotateMs / 1000;

  struct Key {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
    std::int64_t created_ms;
  };

  // The key new tickets are encrypted with; false when no random bytes could be had.
  bool current(Key& out) {
    const std::lock_guard lock(mutex_);
    if (!rotate()) return false;
    out = keys_[0];
    return true;
  }
  // The key a ticket names: 1 when it is the current one, 2 when the previous (the ticket is
  // renewed), 0 when it is unknown or expired (full handshake).
  int find(const unsigned char name[16], Key& out) {
    const std::lock_guard lock(mutex_);
    if (!rotate()) return 0;
    for (int i = 0; i < count_; ++i) {
      if (std::memcmp(keys_[i].name, name, sizeof keys_[i].name) == 0) {
        out = keys_[i];
        return i == 0 ? 1 : 2;
      }
    }
    return 0;
  }

 private:
  bool rotate() {
    const std::int64_t now = util::monotonic_ms();
    if (count_ > 0 && now - keys_[0].created_ms < kRotateMs) return true;
    Key fresh{};
    if (RAND_bytes(fresh.name, sizeof fresh.name) != 1 ||
        RAND_bytes(fresh.aes, sizeof fresh.aes) != 1 ||
        RAND_bytes(fresh.hmac, sizeof fresh.hmac) != 1) {
      return count_ > 0;
    }
    fresh.created_ms = now;
    // A previous key older than one period (the server was idle) is dropped too.
    const bool keep_previous = count_ > 0 && now - keys_[0].created_ms < 2 * kRotateMs;
    keys_[1] = keys_[0];
    keys_[0] = fresh;
    count_ = keep_previous ? 2 : 1;
    OPENSSL_cleanse(&fresh, sizeof fresh);
    return true;
  }

  std::mutex mutex_;
  Key keys_[2]{};
  int count_ = 0;
};

namespace {

// OpenSSL's ticket callback (RFC 5077 layout: key name, IV, AES-256-CBC, HMAC-SHA256), with the
// keys of the context's TicketKeys.
int ticket_key_callback(SSL* ssl, unsigned char key_name[16], unsigned char* iv,
                        EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int encrypt) {
  auto* keys = static_cast<TicketKeys*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  TicketKeys::Key key;
  int result = 1;
  if (encrypt == 1) {
    if (!keys->current(key)) return -1;
    std::memcpy(key_name, key.name, sizeof key.name);
    if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1 ||
        EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes, iv) != 1) {
      result = -1;
    }
  } else {
    result = keys->find(key_name, key);
    if (result == 0) return 0;
    if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes, iv) != 1) result = -1;
  }
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac, sizeof key.hmac),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  if (result > 0 && EVP_MAC_CTX_set_params(mac, params) != 1) result = -1;
  OPENSSL_cleanse(&key, sizeof key);
  return result;
}

// Mozilla's "intermediate" TLS 1.2 list without the DHE suites: forward secrecy through ECDHE,
// authenticated encryption only (AES-GCM, ChaCha20-Poly1305). TLS 1.3 keeps OpenSSL's default
// suites, which are the same three algorithms.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
constexpr unsigned char kSessionContext[] = "iocomp";

// The oldest queued OpenSSL error, as text; clears the queue.
std::string openssl_reason() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

// ALPN: HTTP/1.1 is the one protocol spoken. A client that offers it gets it; a client that
// offers only others (h2 alone) gets no ALPN answer and the handshake goes on, so that it can
// fall back or give up itself (curl and browsers always offer http/1.1 as well).
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
                unsigned int in_length, void*) {
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, out_length, kHttp11, sizeof kHttp11, in, in_length) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

std::shared_ptr<SSL_CTX> make_server_context(const TlsFiles& files,
                                             std::shared_ptr<TicketKeys> tickets,
                                             KeylogCallback keylog) {
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) throw std::runtime_error("TLS: " + openssl_reason());
  SSL_CTX* c = ctx.get();
  if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(c, kTls12Ciphers) != 1) {
    throw std::runtime_error("TLS: " + openssl_reason());
  }
  // No renegotiation (a client could make the server redo handshakes at will), no compression
  // (CRIME); the client's cipher order decides among equally strong suites, as Mozilla advises.
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // Idle connections give their record buffers back (about 34 KiB each in OpenSSL 3).
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
  // Resumption by stateless tickets only: no server-side cache grows. With `tickets` their keys
  // rotate (see TicketKeys); without, OpenSSL draws one at random for this context.
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_session_id_context(c, kSessionContext, sizeof kSessionContext - 1);
  if (tickets) {
    SSL_CTX_set_timeout(c, TicketKeys::kSessionLifetimeSeconds);
    SSL_CTX_set_app_data(c, tickets.get());
    SSL_CTX_set_tlsext_ticket_key_evp_cb(c, ticket_key_callback);
  }
  SSL_CTX_set_alpn_select_cb(c, select_alpn, nullptr);
  if (keylog != nullptr) SSL_CTX_set_keylog_callback(c, keylog);
  if (SSL_CTX_use_certificate_chain_file(c, files.certificate.c_str()) != 1) {
    throw std::runtime_error(fmt::format("--tls-cert {}: {}", files.certificate, openssl_reason()));
  }
  if (SSL_CTX_use_PrivateKey_file(c, files.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw std::runtime_error(fmt::format("--tls-key {}: {}", files.key, openssl_reason()));
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    throw std::runtime_error(fmt::format("--tls-key {} does not match --tls-cert {}: {}", files.key,
                                         files.certificate, openssl_reason()));
  }
  return ctx;
}

ContextHolder::ContextHolder(TlsFiles files, KeylogCallback keylog)
    : files_(std::move(files)),
      tickets_(std::make_shared<TicketKeys>()),
      keylog_(keylog),
      current_(make_server_context(files_, tickets_, keylog_)) {}

std::string ContextHolder::reload() {
  try {
    current_.store(make_server_context(files_, tickets_, keylog_), std::memory_order_release);
    return fmt::format("reloaded the TLS certificate ({}) for new connections", describe());
  } catch (const std::exception& e) {
    return fmt::format("error: TLS certificate not reloaded, still using the old one: {}",
                       e.what());
  }
}

std::string ContextHolder::describe() const {
  const std::shared_ptr<SSL_CTX> ctx = current();
  X509* cert = SSL_CTX_get0_certificate(ctx.get());
  if (cert == nullptr) return "no certificate";
  char subject[256] = "";
  X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
  std::string serial = "?";
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
    if (char* hex = BN_bn2hex(bn)) {
      serial = hex;
      OPENSSL_free(hex);
    }
    BN_free(bn);
  }
  return fmt::format("{}, serial {}", subject, serial);
}

bool kernel_tls_available() {
  std::ifstream in("/proc/sys/net/ipv4/tcp_available_ulp");
  const std::string ulps((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string_view rest = ulps;
  while (!rest.empty()) {
    const std::size_t end = rest.find_first_of(" \t\n");
    if (rest.substr(0, end) == "tls") return true;
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + 1);
  }
  return false;
}

}  // namespace iocomp::tls
