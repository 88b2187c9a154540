#include "tls/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>

namespace iocomp::tls {
namespace {

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

std::shared_ptr<SSL_CTX> make_server_context(const TlsFiles& files) {
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
  // Resumption by stateless tickets only: OpenSSL encrypts them with keys it draws at random
  // for this context, so a reload (a new context) starts new keys. No server-side cache grows.
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_session_id_context(c, kSessionContext, sizeof kSessionContext - 1);
  SSL_CTX_set_alpn_select_cb(c, select_alpn, nullptr);
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

ContextHolder::ContextHolder(TlsFiles files)
    : files_(std::move(files)), current_(make_server_context(files_)) {}

std::string ContextHolder::reload() {
  try {
    current_.store(make_server_context(files_), std::memory_order_release);
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
