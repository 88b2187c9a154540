// tls::TlsStage driven through MemoryChannel, with a client SSL object of the test's own on
// memory BIOs: handshake, request, response (a file range in bounded pieces), close_notify,
// plaintext passing through, a broken handshake and --tls-only, with no socket.
#include "tls/tls_stage.hpp"

#include <fcntl.h>
#include <linux/tls.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "fs/page_cache.hpp"
#include "memory_channel.hpp"
#include "tls/https_redirect.hpp"
#include "tls/tls_context.hpp"

namespace iocomp::tls {
namespace {

namespace stdfs = std::filesystem;
using core::TimerKind;
using test_support::MemoryChannel;

// A session stand-in: arms the header timer and reads at open; answers each line with `head`
// then, when set, the file range; records what the stage tells it.
class ScriptedSession final : public core::SessionHandler {
 public:
  explicit ScriptedSession(core::Channel& channel) : channel_(channel) {}
  void on_open() override {
    channel_.set_timer(TimerKind::header);
    channel_.receive();
  }
  void on_receive(std::string_view bytes) override {
    received += bytes;
    if (received.find('\n') == std::string::npos) {
      channel_.receive();
      return;
    }
    received.clear();
    channel_.send(head, {}, file);
  }
  void on_receive_end(int error) override {
    ends.push_back(error);
    channel_.close();
  }
  void on_sent(int error, std::uint64_t bytes) override {
    sent.push_back({error, bytes});
    if (close_after_send) {
      channel_.close();
      return;
    }
    channel_.set_timer(TimerKind::idle);
    channel_.receive();
  }
  void on_timeout(TimerKind) override { channel_.close(); }
  void on_drain() override { channel_.close(); }
  void on_warmed() override { ADD_FAILURE() << "the stage reads files: it never asks to warm"; }

  std::string head = "response\n";
  core::FileRange file;
  bool close_after_send = false;
  std::string received;
  std::vector<int> ends;
  std::vector<std::pair<int, std::uint64_t>> sent;

 private:
  core::Channel& channel_;
};

// A self-signed P-256 certificate for "localhost", written as PEM files.
struct Certificate {
  stdfs::path dir;
  TlsFiles files;

  Certificate() {
    dir = stdfs::temp_directory_path() / ("iocomp-tls-test-" + std::to_string(::getpid()));
    stdfs::create_directories(dir);
    files = {(dir / "cert.pem").string(), (dir / "key.pem").string()};
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 42);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_set_pubkey(cert, key);
    X509_sign(cert, key, EVP_sha256());
    FILE* out = std::fopen(files.certificate.c_str(), "w");
    PEM_write_X509(out, cert);
    std::fclose(out);
    out = std::fopen(files.key.c_str(), "w");
    PEM_write_PrivateKey(out, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(out);
    X509_free(cert);
    EVP_PKEY_free(key);
  }
  ~Certificate() { stdfs::remove_all(dir); }
};

// The client: an SSL object on two memory BIOs, moved to and from the MemoryChannel by hand.
struct Client {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = nullptr;
  BIO* in = BIO_new(BIO_s_mem());   // what the server sent
  BIO* out = BIO_new(BIO_s_mem());  // what the client sends

  explicit Client(int max_version = TLS1_3_VERSION) {
    SSL_CTX_set_max_proto_version(ctx, max_version);
    ssl = SSL_new(ctx);
    SSL_set_bio(ssl, in, out);
    SSL_set_connect_state(ssl);
    SSL_set_tlsext_host_name(ssl, "localhost");
  }
  ~Client() {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  }
  std::string take_output() {
    std::string bytes;
    char buffer[4096];
    int n;
    while ((n = BIO_read(out, buffer, sizeof buffer)) > 0) bytes.append(buffer, n);
    return bytes;
  }
  void give(const std::string& bytes) {
    if (!bytes.empty()) BIO_write(in, bytes.data(), static_cast<int>(bytes.size()));
  }
  // Plaintext the server sent so far; `closed` set when close_notify arrived.
  std::string read(bool* closed = nullptr) {
    std::string plain;
    char buffer[16384];
    for (;;) {
      const int n = SSL_read(ssl, buffer, sizeof buffer);
      if (n > 0) {
        plain.append(buffer, n);
        continue;
      }
      if (closed != nullptr) *closed = SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN;
      return plain;
    }
  }
};

class TlsStageTest : public ::testing::Test {
 protected:
  TlsStageTest() {
    settings_.contexts = &contexts_;
    log_ = std::make_unique<log::EventLog>(log::LogTargets{});
    stage_ = std::make_unique<TlsStage>(channel_, *log_, settings_, [this](core::Channel& inner) {
      auto session = std::make_unique<ScriptedSession>(inner);
      session_ = session.get();
      return session;
    });
    channel_.attach(*stage_);
  }

  // Moves bytes both ways until neither side has anything more to say.
  void exchange(Client& client) {
    for (int round = 0; round < 100 && !channel_.closed(); ++round) {
      SSL_do_handshake(client.ssl);
      const std::string to_server = client.take_output();
      if (!to_server.empty() && channel_.receive_pending()) channel_.deliver(to_server);
      std::size_t sends = channel_.complete_sends();
      // The engine's part of a cold read: here nothing is read ahead, the stage then reads.
      while (channel_.pending_warm() && !channel_.closed()) {
        channel_.complete_warm();
        sends += 1 + channel_.complete_sends();
      }
      const std::string to_client = channel_.take_output();
      client.give(to_client);
      if (to_server.empty() && sends == 0 && to_client.empty()) return;
    }
  }

  void handshake(Client& client) {
    channel_.open();
    exchange(client);
    ASSERT_EQ(SSL_is_init_finished(client.ssl), 1);
  }

  std::string request(Client& client, std::string_view line) {
    SSL_write(client.ssl, line.data(), static_cast<int>(line.size()));
    exchange(client);
    return client.read();
  }

  // Serves all of `file` over a new TLS connection, checks the bytes; returns the warms asked.
  std::size_t warms_serving(const struct ColdFile& file);

  Certificate certificate_;
  ContextHolder contexts_{certificate_.files};
  StageSettings settings_;
  MemoryChannel channel_;
  std::unique_ptr<log::EventLog> log_;
  ScriptedSession* session_ = nullptr;
  std::unique_ptr<TlsStage> stage_;
};

TEST_F(TlsStageTest, HandshakeRequestResponseAndCloseNotify) {
  Client client;
  handshake(client);
  EXPECT_EQ(channel_.timer_calls().front(), TimerKind::header);
  EXPECT_EQ(request(client, "name\n"), "response\n");
  ASSERT_EQ(session_->sent.size(), 1u);
  EXPECT_EQ(session_->sent[0], std::make_pair(0, std::uint64_t{9}));
  EXPECT_EQ(channel_.timer(), TimerKind::idle);

  session_->close_after_send = true;
  EXPECT_EQ(request(client, "again\n"), "response\n");
  bool closed = false;
  client.read(&closed);
  EXPECT_TRUE(closed) << "no close_notify before the close";
  EXPECT_TRUE(channel_.closed());
}

// An unlinked temporary file holding `content` (-1 if it could not be made).
int temp_file_with(std::string_view content) {
  char path[] = "/tmp/iocomp-tls-file-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) return -1;
  ::unlink(path);
  if (::write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST_F(TlsStageTest, FileRangeGoesOutInBoundedPieces) {
  std::string content;
  for (int i = 0; content.size() < 200000; ++i) content += "line " + std::to_string(i) + "\n";
  const int fd = temp_file_with(content);
  ASSERT_GE(fd, 0);
  Client client;
  handshake(client);
  session_->head = "HEAD\n";
  session_->file = {fd, 1000, content.size() - 1000};
  const std::size_t sends_before = channel_.sends_started();
  EXPECT_EQ(request(client, "file\n"), "HEAD\n" + content.substr(1000));
  // Each engine send carries at most one piece of plaintext: the file needs several.
  EXPECT_GE(channel_.sends_started() - sends_before,
            (content.size() - 1000) / TlsStage::kPieceBytes);
  ASSERT_EQ(session_->sent.size(), 1u);
  EXPECT_EQ(session_->sent[0].second, 5 + content.size() - 1000);
  ::close(fd);
}

// A file written to the disk (not tmpfs) and dropped from the page cache, or nothing (skipped)
// where the file system keeps it.
struct ColdFile {
  int fd = -1;
  std::string content;
  explicit ColdFile(std::size_t size) {
    char path[] = "/var/tmp/iocomp-tls-cold-XXXXXX";
    fd = ::mkstemp(path);
    if (fd < 0) return;
    ::unlink(path);
    for (int i = 0; content.size() < size; ++i) content += "cold " + std::to_string(i) + "\n";
    if (::write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size()) ||
        ::fdatasync(fd) != 0 || ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0 ||
        !fs::page_cache_probe_available() || fs::range_cached(fd, 0, content.size())) {
      ::close(fd);
      fd = -1;
    }
  }
  ~ColdFile() {
    if (fd >= 0) ::close(fd);
  }
};

std::size_t TlsStageTest::warms_serving(const ColdFile& file) {
  Client client;
  handshake(client);
  session_->file = {file.fd, 0, file.content.size()};
  EXPECT_EQ(request(client, "file\n"), "response\n" + file.content);
  return channel_.warms_asked();
}

TEST_F(TlsStageTest, ColdFileIsBroughtInByTheEngineBeforeTheStageReadsIt) {
  ColdFile cold(3u << 20);
  if (cold.fd < 0) GTEST_SKIP() << "no file could be evicted from the page cache here";
  Client client;
  handshake(client);
  session_->head = "HEAD\n";
  session_->file = {cold.fd, 7, cold.content.size() - 7};
  EXPECT_EQ(request(client, "file\n"), "HEAD\n" + cold.content.substr(7));
  // The first piece missed the page cache: the stage asked the engine, whose answer it waited
  // for (exchange() completes it) instead of reading the disk itself.
  EXPECT_GE(channel_.warms_asked(), 1u);
  ASSERT_EQ(session_->sent.size(), 1u);
  EXPECT_EQ(session_->sent[0], std::make_pair(0, 5 + cold.content.size() - 7));
}

TEST_F(TlsStageTest, NextResponseOfAnotherColdFileIsWarmedToo) {
  // What the engine brought in for one response says nothing about the next one's file.
  ColdFile first(1u << 20);
  ColdFile second(1u << 20);
  if (first.fd < 0 || second.fd < 0) GTEST_SKIP() << "no file could be evicted here";
  Client client;
  handshake(client);
  session_->file = {first.fd, 0, first.content.size()};
  EXPECT_EQ(request(client, "a\n"), "response\n" + first.content);
  const std::size_t warms = channel_.warms_asked();
  EXPECT_GE(warms, 1u);
  session_->file = {second.fd, 0, second.content.size()};
  EXPECT_EQ(request(client, "b\n"), "response\n" + second.content);
  EXPECT_GT(channel_.warms_asked(), warms);
}

TEST_F(TlsStageTest, ColdFileIsReadOnTheWorkerWithoutAsyncColdReads) {
  settings_.async_cold_reads = false;
  ColdFile cold(1u << 20);
  if (cold.fd < 0) GTEST_SKIP() << "no file could be evicted from the page cache here";
  EXPECT_EQ(warms_serving(cold), 0u);
}

TEST_F(TlsStageTest, CachedFileAsksForNoWarm) {
  ColdFile cold(1u << 20);
  if (cold.fd < 0) GTEST_SKIP() << "no file could be evicted from the page cache here";
  std::string check(cold.content.size(), '\0');
  ASSERT_EQ(::pread(cold.fd, check.data(), check.size(), 0), static_cast<ssize_t>(check.size()));
  EXPECT_EQ(warms_serving(cold), 0u);
}

TEST_F(TlsStageTest, CloseWhileTheEngineWarmsEndsTheConnection) {
  ColdFile cold(1u << 20);
  if (cold.fd < 0) GTEST_SKIP() << "no file could be evicted from the page cache here";
  Client client;
  handshake(client);
  session_->file = {cold.fd, 0, cold.content.size()};
  const char line[] = "file\n";
  SSL_write(client.ssl, line, 5);
  channel_.deliver(client.take_output());
  ASSERT_TRUE(channel_.pending_warm());
  EXPECT_EQ(channel_.pending_warm()->fd, cold.fd);
  EXPECT_EQ(channel_.pending_warm()->offset, 0u);
  EXPECT_EQ(channel_.pending_warm()->length, fs::kWarmBytes);  // a window, not the whole file
  // The session gives up mid-response (this one closes on a drain): the transfer is cut, and the
  // engine, which calls nothing on a closed connection, never answers the warm.
  channel_.drain();
  EXPECT_TRUE(channel_.closed());
  EXPECT_FALSE(channel_.pending_send());
}

TEST_F(TlsStageTest, FileThatShrankIsReported) {
  const int fd = temp_file_with("short");
  ASSERT_GE(fd, 0);
  Client client;
  handshake(client);
  session_->file = {fd, 0, 100};
  request(client, "x\n");
  ASSERT_EQ(session_->sent.size(), 1u);
  EXPECT_EQ(session_->sent[0].first, core::kFileShrank);
  ::close(fd);
}

TEST_F(TlsStageTest, Tls12Works) {
  Client client(TLS1_2_VERSION);
  handshake(client);
  EXPECT_STREQ(SSL_get_version(client.ssl), "TLSv1.2");
  EXPECT_EQ(request(client, "name\n"), "response\n");
}

TEST_F(TlsStageTest, ClientCloseNotifyEndsTheStream) {
  Client client;
  handshake(client);
  SSL_shutdown(client.ssl);
  exchange(client);
  EXPECT_EQ(session_->ends, std::vector<int>{0});
  EXPECT_TRUE(channel_.closed());
}

TEST_F(TlsStageTest, PlaintextPassesThroughUnchanged) {
  channel_.open();
  channel_.deliver("name\n");
  channel_.complete_sends();
  EXPECT_EQ(channel_.take_output(), "response\n");
  EXPECT_EQ(session_->sent.size(), 1u);
}

TEST_F(TlsStageTest, GarbageAfterTheHandshakeRecordByteFailsTheSession) {
  channel_.open();
  channel_.deliver(std::string("\x16\x03\x01\x00\x05garbagegarbage", 19));
  channel_.complete_sends();
  EXPECT_EQ(session_->ends, std::vector<int>{-EPROTO});
  EXPECT_TRUE(channel_.closed());
}

TEST_F(TlsStageTest, StalledHandshakeKeepsTheHeaderTimer) {
  Client client;
  channel_.open();
  SSL_do_handshake(client.ssl);
  channel_.deliver(client.take_output());  // the ClientHello; the client then says nothing
  channel_.complete_sends();               // the server's flight went out
  EXPECT_EQ(channel_.timer(), TimerKind::header);
  channel_.fire_timer();
  EXPECT_TRUE(channel_.closed());
}

TEST_F(TlsStageTest, TlsOnlyAnswersThePlaintextLineProtocolAndCloses) {
  settings_.tls_only = true;
  channel_.open();
  channel_.deliver("name\n");
  channel_.complete_sends();
  EXPECT_EQ(channel_.take_output(), kLineTlsRequired);
  EXPECT_TRUE(channel_.closed());
  EXPECT_TRUE(session_->sent.empty());
}

TEST_F(TlsStageTest, TlsOnlyRedirectsPlaintextHttp) {
  settings_.tls_only = true;
  channel_.open();
  channel_.deliver("GET /a?b HTTP/1.1\r\n");
  EXPECT_TRUE(channel_.receive_pending());
  channel_.deliver("Host: example.org:8443\r\n\r\n");
  channel_.complete_sends();
  const std::string reply = channel_.take_output();
  EXPECT_EQ(reply.rfind("HTTP/1.1 301 ", 0), 0u) << reply;
  EXPECT_NE(reply.find("\r\nLocation: https://example.org:8443/a?b\r\n"), std::string::npos);
  EXPECT_TRUE(channel_.closed());
}

// Many connections with the client's bytes cut at random places, and in one of three a byte
// flipped somewhere: the stage either serves the request byte-exact, or ends the connection
// (a TLS error, or the header timer for a stream left waiting), and never breaks the contract
// (MemoryChannel checks it) or memory (ASan, in the sanitizer build).
TEST(TlsStageRandomized, ChunkedAndCorruptedStreams) {
  Certificate certificate;
  ContextHolder contexts(certificate.files);
  StageSettings settings;
  settings.contexts = &contexts;
  log::EventLog log(log::LogTargets{});
  std::mt19937 random(12345);
  int served = 0;
  int ended = 0;
  for (int round = 0; round < 150; ++round) {
    MemoryChannel channel;
    ScriptedSession* session = nullptr;
    TlsStage stage(channel, log, settings, [&](core::Channel& inner) {
      auto made = std::make_unique<ScriptedSession>(inner);
      session = made.get();
      return made;
    });
    channel.attach(stage);
    channel.open();
    Client client(round % 4 == 0 ? TLS1_2_VERSION : TLS1_3_VERSION);
    const bool corrupt = round % 3 == 0;
    bool flipped = false;
    bool wrote_request = false;
    std::string plain;
    for (int step = 0; step < 200 && !channel.closed(); ++step) {
      SSL_do_handshake(client.ssl);
      if (SSL_is_init_finished(client.ssl) == 1 && !wrote_request) {
        SSL_write(client.ssl, "name\n", 5);
        wrote_request = true;
      }
      std::string bytes = client.take_output();
      if (corrupt && !flipped && !bytes.empty() && random() % 2 == 0) {
        bytes[random() % bytes.size()] ^= static_cast<char>(1 + random() % 255);
        flipped = true;
      }
      std::size_t at = 0;
      while (at < bytes.size() && !channel.closed() && channel.receive_pending()) {
        const std::size_t n = std::min<std::size_t>(1 + random() % 700, bytes.size() - at);
        channel.deliver(std::string_view(bytes).substr(at, n));
        at += n;
        channel.complete_sends();
      }
      channel.complete_sends();
      client.give(channel.take_output());
      plain += client.read();
      if (plain == "response\n") break;
      if (bytes.empty() && channel.pending_send() == std::nullopt &&
          channel.take_output().empty() && SSL_is_init_finished(client.ssl) == 1 && wrote_request) {
        break;
      }
    }
    if (plain == "response\n") {
      ++served;
      ASSERT_EQ(session->sent.size(), 1u);
    } else {
      EXPECT_TRUE(corrupt) << "round " << round << ": an intact stream was not served";
      if (!channel.closed() && channel.timer() != TimerKind::none) channel.fire_timer();
      EXPECT_TRUE(channel.closed()) << "round " << round;
      ++ended;
    }
  }
  EXPECT_GE(served, 100);  // every intact round, and corrupt ones whose flip came too late
  EXPECT_GE(ended, 30);    // most corrupt rounds (the seed is fixed: 43 of 50)
}

TEST(HttpsRedirect, HostValidation) {
  EXPECT_TRUE(valid_host("example.org"));
  EXPECT_TRUE(valid_host("127.0.0.1:8182"));
  EXPECT_TRUE(valid_host("[::1]:443"));
  EXPECT_FALSE(valid_host(""));
  EXPECT_FALSE(valid_host("a/b"));
  EXPECT_FALSE(valid_host("user@host"));
  EXPECT_FALSE(valid_host("host:"));
  EXPECT_FALSE(valid_host("host:123456"));
  EXPECT_FALSE(valid_host("[::1"));
  EXPECT_FALSE(valid_host("a b"));
  EXPECT_FALSE(valid_host("a\r\nSet-Cookie: x"));
  EXPECT_EQ(https_redirect("GET", "/x", false, "").rfind("HTTP/1.1 400 ", 0), 0u);
  EXPECT_NE(https_redirect("PUT", "/x", true, "h").find("308 Permanent Redirect"),
            std::string::npos);
}

TEST(TlsContext, BadFilesAreRefusedWithTheirName) {
  EXPECT_THROW(make_server_context({"/nonexistent/cert.pem", "/nonexistent/key.pem"}),
               std::runtime_error);
  try {
    make_server_context({"/nonexistent/cert.pem", "/nonexistent/key.pem"});
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("--tls-cert /nonexistent/cert.pem"), std::string::npos);
  }
}

// --- Kernel TLS ---------------------------------------------------------------------------
// No kernel here has the tls ULP: the test plays the kernel. It encrypts what the stage sends
// after the hand-off with the keys and sequence number the stage gave the channel, as the
// kernel's TLS_TX would (RFC 8446 5.2: nonce = iv XOR sequence, the record header as additional
// data, the content type after the data), and the OpenSSL client must read it.
std::string kernel_encrypt(const std::string& crypto_info, std::string_view plain,
                           std::uint64_t records_before) {
  tls12_crypto_info_aes_gcm_128 info{};
  if (crypto_info.size() != sizeof info) return {};
  std::memcpy(&info, crypto_info.data(), sizeof info);
  std::uint64_t sequence = 0;
  for (unsigned char byte : info.rec_seq) sequence = sequence << 8 | byte;
  sequence += records_before;
  unsigned char nonce[12];
  std::memcpy(nonce, info.salt, 4);
  std::memcpy(nonce + 4, info.iv, 8);
  for (int i = 0; i < 8; ++i) nonce[4 + i] ^= static_cast<unsigned char>(sequence >> (56 - 8 * i));
  std::string inner(plain);
  inner.push_back('\x17');  // the real content type: application data
  const std::size_t length = inner.size() + 16;
  const unsigned char header[5] = {0x17, 0x03, 0x03, static_cast<unsigned char>(length >> 8),
                                   static_cast<unsigned char>(length & 0xff)};
  std::string record(reinterpret_cast<const char*>(header), 5);
  record.resize(5 + length);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int n = 0;
  EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), nullptr, info.key, nonce);
  EVP_EncryptUpdate(ctx, nullptr, &n, header, 5);
  EVP_EncryptUpdate(ctx, reinterpret_cast<unsigned char*>(record.data() + 5), &n,
                    reinterpret_cast<const unsigned char*>(inner.data()),
                    static_cast<int>(inner.size()));
  EVP_EncryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(record.data() + 5 + n), &n);
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, record.data() + 5 + inner.size());
  EVP_CIPHER_CTX_free(ctx);
  return record;
}

class KernelTlsStageTest : public ::testing::Test {
 protected:
  KernelTlsStageTest() {
    settings_.contexts = &contexts_;
    settings_.kernel_tls = true;
    log_ = std::make_unique<log::EventLog>(log::LogTargets{});
    stage_ = std::make_unique<TlsStage>(channel_, *log_, settings_, [this](core::Channel& inner) {
      auto session = std::make_unique<ScriptedSession>(inner);
      session_ = session.get();
      return session;
    });
    channel_.attach(*stage_);
    SSL_set_ciphersuites(client_.ssl, "TLS_AES_128_GCM_SHA256");
  }

  void handshake() {
    channel_.open();
    for (int round = 0; round < 100; ++round) {
      SSL_do_handshake(client_.ssl);
      const std::string to_server = client_.take_output();
      if (!to_server.empty() && channel_.receive_pending()) channel_.deliver(to_server);
      const std::size_t sends = channel_.complete_sends();
      const std::string to_client = channel_.take_output();
      client_.give(to_client);
      if (to_server.empty() && sends == 0 && to_client.empty()) break;
    }
    ASSERT_EQ(SSL_is_init_finished(client_.ssl), 1);
    client_.read();  // the session tickets
  }

  // Sends a request line; returns what the stage sent for it (completing its sends).
  std::string request(std::string_view line) {
    SSL_write(client_.ssl, line.data(), static_cast<int>(line.size()));
    channel_.deliver(client_.take_output());
    channel_.complete_sends();
    return channel_.take_output();
  }

  Certificate certificate_;
  ContextHolder contexts_{certificate_.files, &TlsStage::keylog_callback};
  StageSettings settings_;
  MemoryChannel channel_;
  std::unique_ptr<log::EventLog> log_;
  ScriptedSession* session_ = nullptr;
  std::unique_ptr<TlsStage> stage_;
  Client client_;
};

TEST_F(KernelTlsStageTest, KeysAndSequenceHandedOverDecryptAtTheClient) {
  channel_.set_kernel_tls_result(true);
  handshake();
  session_->head = "first response\n";
  const std::string first = request("a\n");
  ASSERT_FALSE(channel_.kernel_tls_info().empty()) << "no hand-off at the first send";
  EXPECT_EQ(first, "first response\n") << "after the hand-off the kernel encrypts, not the stage";
  client_.give(kernel_encrypt(channel_.kernel_tls_info(), first, 0));
  EXPECT_EQ(client_.read(), "first response\n");
  // The kernel's sequence goes on: the second record is number 1 after the hand-off.
  session_->head = "second\n";
  const std::string second = request("b\n");
  EXPECT_EQ(second, "second\n");
  client_.give(kernel_encrypt(channel_.kernel_tls_info(), second, 1));
  EXPECT_EQ(client_.read(), "second\n");
  ASSERT_EQ(session_->sent.size(), 2u);
  EXPECT_EQ(session_->sent[1], std::make_pair(0, std::uint64_t{7}));
}

TEST_F(KernelTlsStageTest, RefusedByTheKernelStaysInUserSpace) {
  handshake();  // the channel answers false, as a kernel without the tls ULP does
  const std::string sent = request("a\n");
  EXPECT_FALSE(channel_.kernel_tls_info().empty()) << "the hand-off was not even tried";
  client_.give(sent);
  EXPECT_EQ(client_.read(), "response\n");
  client_.give(request("b\n"));
  EXPECT_EQ(client_.read(), "response\n");
}

TEST_F(KernelTlsStageTest, KeyUpdateAfterTheHandOffEndsTheConnection) {
  channel_.set_kernel_tls_result(true);
  handshake();
  client_.give(kernel_encrypt(channel_.kernel_tls_info(), request("a\n"), 0));
  EXPECT_EQ(client_.read(), "response\n");
  // The client asks for a key update: OpenSSL would answer with a record of its own, which
  // cannot follow the kernel's: the connection ends instead of sending garbage.
  ASSERT_EQ(SSL_key_update(client_.ssl, SSL_KEY_UPDATE_REQUESTED), 1);
  SSL_write(client_.ssl, "b\n", 2);
  channel_.deliver(client_.take_output());
  channel_.complete_sends();
  EXPECT_TRUE(channel_.closed());
  ASSERT_FALSE(session_->ends.empty());
  EXPECT_EQ(session_->ends.back(), -EPROTO);
}

}  // namespace
}  // namespace iocomp::tls
