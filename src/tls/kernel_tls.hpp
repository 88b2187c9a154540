#pragma once
// Kernel TLS (kTLS) transmit offload for TLS 1.3, the pure parts: the keys of the server's first
// application traffic secret (RFC 8446 7.3, HKDF-Expand-Label), the count of TLS records written
// since that key came into use (the record sequence number the kernel must continue from), and
// the crypto_info block of <linux/tls.h> that setsockopt(SOL_TLS, TLS_TX) takes.
//
// The TLS stage hands these to the engine (Channel::start_kernel_tls) once the handshake and
// the records after it are on the wire; from then on the engine's sends, sendfile included, are
// encrypted by the kernel. Untested against a kernel here (no "tls" ULP on these machines): the
// unit tests check the keys against RFC 8448 and encrypt records the way the kernel would, which
// an OpenSSL client then reads.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace iocomp::tls {

// Counts the TLS records in a byte stream given in any chunks (5-byte header, then its length).
class RecordCounter {
 public:
  void feed(std::string_view bytes);
  std::uint64_t records() const { return records_; }

 private:
  unsigned char header_[5] = {};
  std::size_t header_have_ = 0;
  std::size_t body_left_ = 0;
  std::uint64_t records_ = 0;
};

// The crypto_info block for TLS_TX (bytes to pass to setsockopt as they are).
struct KernelTlsInfo {
  std::string bytes;
};

// From a TLS 1.3 cipher suite id (0x1301 AES-128-GCM, 0x1302 AES-256-GCM, 0x1303
// ChaCha20-Poly1305), the traffic secret and the number of records already written with its
// key: the crypto_info for the kernel. False for any other suite or a secret of the wrong size.
bool make_kernel_tls_info(std::uint16_t cipher_suite, std::string_view traffic_secret,
                          std::uint64_t sequence, KernelTlsInfo& out);

// HKDF-Expand-Label(secret, label, "", length) of TLS 1.3 with SHA-256 or SHA-384 (by the size
// of the secret: 32 or 48 bytes). Empty on failure.
std::string hkdf_expand_label(std::string_view secret, std::string_view label, std::size_t length);

// The secret of a key log line ("SERVER_TRAFFIC_SECRET_0 <client random> <secret>", hex), or
// empty when the line is another label or malformed.
std::string server_traffic_secret_from_keylog(std::string_view line);

}  // namespace iocomp::tls
