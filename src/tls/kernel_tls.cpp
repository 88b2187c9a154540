#include "tls/kernel_tls.hpp"

#include <linux/tls.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <cstring>

#include "util/ascii.hpp"

namespace iocomp::tls {

void RecordCounter::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    if (body_left_ > 0) {
      const std::size_t n = body_left_ < bytes.size() ? body_left_ : bytes.size();
      body_left_ -= n;
      bytes.remove_prefix(n);
      continue;
    }
    header_[header_have_++] = static_cast<unsigned char>(bytes.front());
    bytes.remove_prefix(1);
    if (header_have_ == sizeof header_) {
      header_have_ = 0;
      body_left_ = static_cast<std::size_t>(header_[3]) << 8 | header_[4];
      ++records_;
    }
  }
}

std::string hkdf_expand_label(std::string_view secret, std::string_view label, std::size_t length) {
  const char* digest = secret.size() == 32 ? "SHA256" : secret.size() == 48 ? "SHA384" : nullptr;
  if (digest == nullptr || length > 255) return {};
  // struct { uint16 length; opaque label<7..255> = "tls13 " + Label; opaque context<0..255>; }
  std::string info;
  info.push_back(static_cast<char>(length >> 8));
  info.push_back(static_cast<char>(length & 0xff));
  info.push_back(static_cast<char>(6 + label.size()));
  info.append("tls13 ");
  info.append(label);
  info.push_back('\0');  // empty context
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = kdf != nullptr ? EVP_KDF_CTX_new(kdf) : nullptr;
  std::string out(length, '\0');
  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(digest), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(secret.data()),
                                        secret.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode), OSSL_PARAM_construct_end()};
  const bool ok =
      ctx != nullptr &&
      EVP_KDF_derive(ctx, reinterpret_cast<unsigned char*>(out.data()), length, params) == 1;
  EVP_KDF_CTX_free(ctx);
  EVP_KDF_free(kdf);
  return ok ? out : std::string();
}

namespace {

template <typename Info>
void fill(Info& info, std::uint16_t cipher_type, const std::string& key, const std::string& iv,
          std::uint64_t sequence) {
  info.info.version = TLS_1_3_VERSION;
  info.info.cipher_type = cipher_type;
  static_assert(sizeof info.salt + sizeof info.iv == 12, "a TLS 1.3 nonce is 12 bytes");
  std::memcpy(info.key, key.data(), sizeof info.key);
  // The kernel's nonce is salt || iv, XORed with the sequence number as TLS 1.3 says.
  std::memcpy(info.salt, iv.data(), sizeof info.salt);
  std::memcpy(info.iv, iv.data() + sizeof info.salt, sizeof info.iv);
  for (int i = 0; i < 8; ++i) {
    info.rec_seq[i] = static_cast<unsigned char>(sequence >> (56 - 8 * i));
  }
}

template <typename Info>
bool make(std::uint16_t cipher_type, std::string_view secret, std::uint64_t sequence,
          KernelTlsInfo& out) {
  Info info{};
  const std::string key = hkdf_expand_label(secret, "key", sizeof info.key);
  const std::string iv = hkdf_expand_label(secret, "iv", 12);
  if (key.empty() || iv.empty()) return false;
  fill(info, cipher_type, key, iv, sequence);
  out.bytes.assign(reinterpret_cast<const char*>(&info), sizeof info);
  return true;
}

}  // namespace

bool make_kernel_tls_info(std::uint16_t cipher_suite, std::string_view traffic_secret,
                          std::uint64_t sequence, KernelTlsInfo& out) {
  switch (cipher_suite) {
    case 0x1301:
      return traffic_secret.size() == 32 &&
             make<tls12_crypto_info_aes_gcm_128>(TLS_CIPHER_AES_GCM_128, traffic_secret, sequence,
                                                 out);
    case 0x1302:
      return traffic_secret.size() == 48 &&
             make<tls12_crypto_info_aes_gcm_256>(TLS_CIPHER_AES_GCM_256, traffic_secret, sequence,
                                                 out);
    case 0x1303:
      return traffic_secret.size() == 32 &&
             make<tls12_crypto_info_chacha20_poly1305>(TLS_CIPHER_CHACHA20_POLY1305, traffic_secret,
                                                       sequence, out);
    default:
      return false;
  }
}

std::string server_traffic_secret_from_keylog(std::string_view line) {
  constexpr std::string_view kLabel = "SERVER_TRAFFIC_SECRET_0 ";
  if (line.substr(0, kLabel.size()) != kLabel) return {};
  line.remove_prefix(kLabel.size());
  const std::size_t space = line.find(' ');
  if (space == std::string_view::npos) return {};
  const std::string_view hex = line.substr(space + 1);
  if (hex.empty() || hex.size() % 2 != 0 || hex.size() > 128) return {};
  std::string secret;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int high = util::hex_value(hex[i]);
    const int low = util::hex_value(hex[i + 1]);
    if (high < 0 || low < 0) return {};
    secret.push_back(static_cast<char>(high * 16 + low));
  }
  return secret;
}

}  // namespace iocomp::tls
