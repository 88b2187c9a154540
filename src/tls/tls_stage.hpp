#pragma once
// TLS as a stage between the engine and the session, on one port with plaintext: the engine
// drives the stage (a SessionHandler) and the stage is the Channel of the session inside, which
// neither knows nor cares whether its bytes are encrypted. A connection whose first byte is
// 0x16 (a TLS handshake record) is TLS; any other first byte passes through untouched, or, with
// --tls-only, is answered with a redirect to https:// (HTTP) or an error line (line protocol).
//
// OpenSSL never touches the socket: a BIO of our own hands it the ciphertext the engine received
// (on_receive) and collects what it writes into a buffer that the engine then sends, so the
// stage works unchanged over every model (io_uring completions included), like h2o's memory
// BIOs. A file range to send is read in pieces of kPieceBytes (one per engine send), encrypted
// and sent: a connection holds at most one plaintext piece and its ciphertext, whatever the
// client's speed, and gives both back when the response is done. A piece is read only as far
// as it is in the page cache (RWF_NOWAIT); when it is not, the engine brings the range in
// (Channel::warm: io_uring reads it in the background, epoll reads ahead and looks again) and
// the read that follows copies from memory: the worker never waits for the disk.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/channel.hpp"
#include "fs/page_cache.hpp"
#include "log/event_log.hpp"
#include "tls/kernel_tls.hpp"

typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace iocomp::tls {

class ContextHolder;

struct StageSettings {
  const ContextHolder* contexts = nullptr;
  bool async_cold_reads = true;  // false (--no-async-cold-reads): pread on the worker
  // TLS 1.3 responses after the handshake are encrypted by the kernel (kTLS) when the engine can
  // (Channel::start_kernel_tls): needs `contexts` made with keylog_callback. Untested here.
  bool kernel_tls = false;
  bool tls_only = false;                 // --tls-only: plaintext is refused
  std::size_t max_request_line = 8192;   // for sniffing a refused plaintext request
  std::size_t max_header_bytes = 16384;  // a refused plaintext request head, at most
};

class TlsStage final : public core::SessionHandler, public core::Channel {
 public:
  // File bytes encrypted per engine send: two full TLS records.
  static constexpr std::size_t kPieceBytes = 32 * 1024;
  // A head and body up to this size (one TLS record's plaintext) are encrypted as one record.
  static constexpr std::size_t kCoalesceBytes = 16 * 1024;

  using InnerFactory = std::function<std::unique_ptr<core::SessionHandler>(core::Channel&)>;
  // `make_inner` builds the session that this stage serves as its Channel.
  TlsStage(core::Channel& outer, log::EventLog& log, const StageSettings& settings,
           const InnerFactory& make_inner);
  ~TlsStage() override;
  TlsStage(const TlsStage&) = delete;
  TlsStage& operator=(const TlsStage&) = delete;

  // core::SessionHandler: the engine's side.
  void on_open() override;
  void on_receive(std::string_view bytes) override;
  void on_receive_end(int error) override;
  void on_sent(int error, std::uint64_t bytes) override;
  void on_timeout(core::TimerKind kind) override;
  void on_drain() override;
  void on_warmed() override;

  // core::Channel: the session's side.
  void receive() override;
  void send(std::string_view head, std::string_view body, core::FileRange file) override;
  void close() override;
  void set_timer(core::TimerKind kind) override;
  void warm(int fd, std::uint64_t offset, std::uint64_t length) override {
    outer_.warm(fd, offset, length);  // the session never asks (it sends files through us)
  }
  bool start_kernel_tls(std::string_view) override { return false; }  // the stage's own affair
  std::string_view peer() const override { return outer_.peer(); }
  bool draining() const override { return outer_.draining(); }
  bool move_admission(std::string_view address_key) override {
    return outer_.move_admission(address_key);
  }

  // For the BIO callbacks.
  int bio_read(char* out, int length);
  void bio_write(const char* data, int length);
  // The key log callback of a context made for kernel TLS (ContextHolder's `keylog`): takes the
  // server's first application traffic secret for the connection's stage.
  static void keylog_callback(const SSL* ssl, const char* line);

 private:
  enum class Mode : std::uint8_t { undecided, plain, tls, refusing, failed };
  // What the engine send in flight carries.
  enum class Flight : std::uint8_t { none, flush, piece, final, kernel };
  // Kernel TLS: off, waiting for the first send after the handshake's last records are out,
  // or on (the kernel encrypts what the engine sends).
  enum class KernelTls : std::uint8_t { off, waiting, on };

  void start_tls();
  void refuse_plaintext(std::string_view bytes);
  // Gives the ciphertext to OpenSSL: handshake, then application data into plain_in_.
  void feed(std::string_view ciphertext);
  // Hands plain_in_ (then the end of the stream) to the session while it asks for bytes.
  void deliver();
  // Ends the connection after a TLS error: logs it, tells the session the stream failed.
  void fail(std::string_view what, int ssl_error);
  // Sends what OpenSSL wrote (handshake messages, alerts, tickets) when no send is in flight.
  void flush();
  void start_flight(Flight flight);
  // Encrypts the session's next piece (head, body, then file bytes) and sends it.
  void pump();
  // Reads the next `length` file bytes into piece_, or asks the engine to warm them first.
  void read_piece(std::size_t length);
  void on_piece_read(long result);
  bool encrypt(std::string_view plain);
  void finish_inner_send(int error);
  void release_buffers();
  // Hands the keys to the engine's socket (Channel::start_kernel_tls); off when it cannot.
  void start_kernel_tls();

  core::Channel& outer_;
  log::EventLog& log_;
  const StageSettings& settings_;
  std::unique_ptr<core::SessionHandler> inner_;
  Mode mode_ = Mode::undecided;
  SSL* ssl_ = nullptr;
  bool handshake_done_ = false;

  // Receiving.
  std::string_view cipher_in_;  // the engine's bytes during feed(), read by the BIO
  std::string plain_in_;        // decrypted, not yet taken by the session
  std::string refused_;         // --tls-only: a plaintext request head being read
  bool inner_wants_ = false;    // the session called receive() and got nothing yet
  bool delivering_ = false;
  bool end_pending_ = false;  // the stream ended (end_error_) after plain_in_
  bool ended_ = false;        // ... and the session was told
  int end_error_ = 0;

  // Sending.
  std::string pending_out_;  // ciphertext OpenSSL wrote, not yet handed to the engine
  std::string in_flight_;    // ciphertext of the engine send in flight
  Flight flight_ = Flight::none;
  core::TimerKind inner_timer_ = core::TimerKind::none;
  bool inner_sending_ = false;
  bool reading_piece_ = false;    // a piece waits for on_warmed
  bool warm_asked_ = false;       // a Channel::warm is outstanding (maybe of an ended send)
  std::size_t piece_length_ = 0;  // ... of this length
  fs::WarmWindow warm_;           // file bytes just brought in by the engine
  std::string_view head_;
  std::string_view body_;
  core::FileRange file_;
  std::uint64_t plain_total_ = 0;  // plaintext of the session's send encrypted so far
  std::uint64_t plain_sent_ = 0;   // ... of which the engine has confirmed sending
  std::unique_ptr<char[]> piece_;  // kPieceBytes, while a file range is being sent
  bool aborted_ = false;           // a transfer failed: no close_notify, the stream looks truncated
  bool closed_ = false;            // the engine's channel was closed: nothing more is done

  // Kernel TLS (settings_.kernel_tls): the server's application traffic secret, and the records
  // OpenSSL wrote with its key (the sequence number the kernel continues from).
  KernelTls kernel_tls_ = KernelTls::off;
  bool counting_records_ = false;
  bool wrote_after_kernel_tls_ = false;  // OpenSSL wrote (an alert, a key update): unsendable
  std::string traffic_secret_;
  RecordCounter app_records_;
};

}  // namespace iocomp::tls
