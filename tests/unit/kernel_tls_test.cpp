// The pure parts of the kernel TLS hand-off: TLS 1.3 key derivation against RFC 8448, the
// record count over any chunking, the key log line, the crypto_info layout of <linux/tls.h>.
#include "tls/kernel_tls.hpp"

#include <linux/tls.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace iocomp::tls {
namespace {

std::string unhex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// RFC 8448, 3. Simple 1-RTT Handshake: the server's application traffic secret and the write
// key and iv derived from it.
constexpr std::string_view kServerAppSecret =
    "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643";

TEST(KernelTls, KeyAndIvMatchRfc8448) {
  const std::string secret = unhex(kServerAppSecret);
  EXPECT_EQ(hkdf_expand_label(secret, "key", 16), unhex("9f02283b6c9c07efc26bb9f2ac92e356"));
  EXPECT_EQ(hkdf_expand_label(secret, "iv", 12), unhex("cf782b88dd83549aadf1e984"));
}

TEST(KernelTls, CryptoInfoForAes128GcmCarriesKeySaltIvAndSequence) {
  KernelTlsInfo info;
  ASSERT_TRUE(make_kernel_tls_info(0x1301, unhex(kServerAppSecret), 0x0102030405060708, info));
  ASSERT_EQ(info.bytes.size(), sizeof(tls12_crypto_info_aes_gcm_128));
  tls12_crypto_info_aes_gcm_128 block{};
  std::memcpy(&block, info.bytes.data(), sizeof block);
  EXPECT_EQ(block.info.version, TLS_1_3_VERSION);
  EXPECT_EQ(block.info.cipher_type, TLS_CIPHER_AES_GCM_128);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(block.key), sizeof block.key),
            unhex("9f02283b6c9c07efc26bb9f2ac92e356"));
  // The 12-byte TLS 1.3 iv is the kernel's salt (4) then iv (8).
  EXPECT_EQ(std::string(reinterpret_cast<char*>(block.salt), 4) +
                std::string(reinterpret_cast<char*>(block.iv), 8),
            unhex("cf782b88dd83549aadf1e984"));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(block.rec_seq), 8), unhex("0102030405060708"));
}

TEST(KernelTls, OtherSuitesAndWrongSecretsAreRefused) {
  KernelTlsInfo info;
  EXPECT_FALSE(make_kernel_tls_info(0x1304, unhex(kServerAppSecret), 0, info));  // AES-CCM
  EXPECT_FALSE(make_kernel_tls_info(0x1302, unhex(kServerAppSecret), 0, info));  // needs 48
  EXPECT_FALSE(make_kernel_tls_info(0x1301, "short", 0, info));
  EXPECT_TRUE(make_kernel_tls_info(0x1302, std::string(48, 'k'), 0, info));
  EXPECT_EQ(info.bytes.size(), sizeof(tls12_crypto_info_aes_gcm_256));
  EXPECT_TRUE(make_kernel_tls_info(0x1303, std::string(32, 'k'), 0, info));
  EXPECT_EQ(info.bytes.size(), sizeof(tls12_crypto_info_chacha20_poly1305));
}

TEST(KernelTls, RecordsAreCountedWhateverTheChunks) {
  std::string stream;
  for (int length : {0, 1, 300, 16401}) {
    stream += std::string{'\x17', '\x03', '\x03', static_cast<char>(length >> 8),
                          static_cast<char>(length & 0xff)};
    stream += std::string(static_cast<std::size_t>(length), 'x');
  }
  for (std::size_t chunk :
       {std::size_t{1}, std::size_t{3}, std::size_t{5}, std::size_t{4096}, stream.size()}) {
    RecordCounter counter;
    for (std::size_t i = 0; i < stream.size(); i += chunk) {
      counter.feed(std::string_view(stream).substr(i, chunk));
    }
    EXPECT_EQ(counter.records(), 4u) << "chunks of " << chunk;
  }
}

TEST(KernelTls, KeylogLineGivesTheServerTrafficSecretOnly) {
  const std::string random(64, 'a');
  EXPECT_EQ(server_traffic_secret_from_keylog("SERVER_TRAFFIC_SECRET_0 " + random + " " +
                                              std::string(kServerAppSecret)),
            unhex(kServerAppSecret));
  EXPECT_EQ(server_traffic_secret_from_keylog("CLIENT_TRAFFIC_SECRET_0 " + random + " " +
                                              std::string(kServerAppSecret)),
            "");
  EXPECT_EQ(server_traffic_secret_from_keylog("SERVER_TRAFFIC_SECRET_0 " + random + " 0g"), "");
  EXPECT_EQ(server_traffic_secret_from_keylog("SERVER_TRAFFIC_SECRET_0 nospace"), "");
}

}  // namespace
}  // namespace iocomp::tls
