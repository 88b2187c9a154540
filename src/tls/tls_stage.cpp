#include "tls/tls_stage.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "fs/page_cache.hpp"
#include "http/request_parser.hpp"
#include "log/escape.hpp"
#include "protocol/protocol_sniffer.hpp"
#include "tls/https_redirect.hpp"
#include "tls/tls_context.hpp"

namespace iocomp::tls {
namespace {

// The first byte of a TLS connection: a handshake record (0x16), or 0x80, the header of an
// SSLv2-format ClientHello, which old clients and scanners still send. OpenSSL refuses the
// latter at once (no SSL 2 or 3 here): taking it for the line protocol would leave the client
// waiting for --header-timeout. A line-protocol name never starts with 0x80, which is not the
// first byte of any UTF-8 character.
bool starts_tls(unsigned char first) {
  return first == 0x16 || first == 0x80;
}

// The BIO between OpenSSL and the stage: reads take the ciphertext the engine just received,
// writes append to the stage's outgoing buffer. Nothing here blocks or touches a socket.
int stage_bio_write(BIO* bio, const char* data, int length) {
  BIO_clear_retry_flags(bio);
  if (length <= 0) return 0;
  static_cast<TlsStage*>(BIO_get_data(bio))->bio_write(data, length);
  return length;
}

int stage_bio_read(BIO* bio, char* out, int length) {
  BIO_clear_retry_flags(bio);
  const int n = static_cast<TlsStage*>(BIO_get_data(bio))->bio_read(out, length);
  if (n == 0) {
    BIO_set_retry_read(bio);  // no more now: OpenSSL reports SSL_ERROR_WANT_READ
    return -1;
  }
  return n;
}

long stage_bio_ctrl(BIO*, int command, long, void*) {
  return command == BIO_CTRL_FLUSH ? 1 : 0;
}

int stage_bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int stage_bio_destroy(BIO*) {
  return 1;
}

BIO_METHOD* make_bio_method() {
  BIO_METHOD* method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "iocomp TLS stage");
  if (method == nullptr) return nullptr;
  BIO_meth_set_write(method, stage_bio_write);
  BIO_meth_set_read(method, stage_bio_read);
  BIO_meth_set_ctrl(method, stage_bio_ctrl);
  BIO_meth_set_create(method, stage_bio_create);
  BIO_meth_set_destroy(method, stage_bio_destroy);
  return method;
}

// Made once, shared by every connection on every thread (read-only after creation).
BIO_METHOD* bio_method() {
  static BIO_METHOD* const method = make_bio_method();
  return method;
}

// Why OpenSSL failed, from this thread's error queue (then emptied).
std::string describe_ssl_error(int ssl_error) {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code != 0) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    return text;
  }
  if (ssl_error == SSL_ERROR_SYSCALL) return "unexpected end of the TLS stream";
  return "OpenSSL error " + std::to_string(ssl_error);
}

}  // namespace

TlsStage::TlsStage(core::Channel& outer, log::EventLog& log, const StageSettings& settings,
                   const InnerFactory& make_inner)
    : outer_(outer), log_(log), settings_(settings), inner_(make_inner(*this)) {}

TlsStage::~TlsStage() {
  inner_.reset();  // the session logs its end through peer(): before the SSL object goes
  if (ssl_ != nullptr) SSL_free(ssl_);
}

// --- The engine's side -------------------------------------------------------------------

void TlsStage::on_open() {
  // The session arms its header timer here: it runs through the handshake, so a client that
  // stalls in the handshake is cut like one that stalls in its request.
  inner_->on_open();
}

void TlsStage::on_receive(std::string_view bytes) {
  if (closed_) return;
  switch (mode_) {
    case Mode::plain:
      inner_->on_receive(bytes);
      return;
    case Mode::undecided:
      inner_wants_ = false;
      if (starts_tls(static_cast<unsigned char>(bytes.front()))) {
        start_tls();
        if (mode_ == Mode::tls) feed(bytes);
      } else if (settings_.tls_only) {
        mode_ = Mode::refusing;
        refuse_plaintext(bytes);
      } else {
        mode_ = Mode::plain;
        inner_->on_receive(bytes);
      }
      return;
    case Mode::tls:
      feed(bytes);
      return;
    case Mode::refusing:
      refuse_plaintext(bytes);
      return;
    case Mode::failed:
      return;
  }
}

void TlsStage::on_receive_end(int error) {
  if (closed_) return;
  if (mode_ != Mode::tls && mode_ != Mode::failed) {
    inner_wants_ = false;
    inner_->on_receive_end(error);
    return;
  }
  if (!handshake_done_ && mode_ == Mode::tls) {
    log_.event(peer(), "error: TLS handshake not completed: {}",
               error == 0 ? "the client closed the connection" : std::strerror(-error));
  }
  end_pending_ = true;
  end_error_ = error;
  deliver();
}

void TlsStage::on_sent(int error, std::uint64_t bytes) {
  if (mode_ == Mode::plain) {
    inner_->on_sent(error, bytes);
    return;
  }
  const Flight flight = flight_;
  flight_ = Flight::none;
  in_flight_.clear();
  if (closed_) return;
  if (flight == Flight::kernel) {
    inner_sending_ = false;
    if (error != 0) aborted_ = true;
    inner_->on_sent(error, bytes);
    return;
  }
  if (flight == Flight::final) {
    closed_ = true;
    outer_.close();
    return;
  }
  if (error != 0) {
    if (inner_sending_) {
      finish_inner_send(error);
    } else {
      // A handshake message or ticket could not be sent: the connection is gone.
      end_pending_ = true;
      end_error_ = error;
      mode_ = Mode::failed;
      deliver();
      if (!closed_ && !inner_wants_) close();
    }
    return;
  }
  if (flight == Flight::piece) plain_sent_ = plain_total_;
  if (inner_sending_) {
    if (reading_piece_) return;  // a flush ended while the engine warms: on_warmed goes on
    const bool more = !head_.empty() || !body_.empty() || file_.length > 0;
    if (more || flight != Flight::piece) {
      pump();
    } else {
      finish_inner_send(0);
    }
    return;
  }
  if (!pending_out_.empty()) {
    flush();
    return;
  }
  // The engine's send timer held the connection's one timer slot during the flush: the
  // session's timer (the header timer of a handshake in progress) is armed again.
  if (inner_timer_ != core::TimerKind::none) outer_.set_timer(inner_timer_);
}

void TlsStage::on_timeout(core::TimerKind kind) {
  if (closed_) return;
  if (kind == inner_timer_) inner_timer_ = core::TimerKind::none;
  inner_->on_timeout(kind);
}

void TlsStage::on_drain() {
  if (!closed_) inner_->on_drain();
}

// --- The session's side ------------------------------------------------------------------

void TlsStage::receive() {
  if (closed_) return;
  if (mode_ == Mode::plain) {
    outer_.receive();
    return;
  }
  inner_wants_ = true;
  if (mode_ == Mode::undecided) {
    outer_.receive();
  } else if (!plain_in_.empty() || end_pending_) {
    // Decrypted bytes the session has not taken yet: handed over now (deliver() guards against
    // running inside itself when this receive() comes from the session's on_receive).
    deliver();
  } else if (mode_ == Mode::tls && handshake_done_) {
    outer_.receive();
  }
}

void TlsStage::send(std::string_view head, std::string_view body, core::FileRange file) {
  if (closed_) return;
  if (mode_ == Mode::plain || mode_ == Mode::undecided) {
    mode_ = Mode::plain;  // a session that speaks first: nothing to encrypt
    outer_.send(head, body, file);
    return;
  }
  if (mode_ != Mode::tls) {
    // Nothing was received that the session could answer: cannot happen with Session.
    closed_ = true;
    outer_.close();
    return;
  }
  inner_sending_ = true;
  inner_timer_ = core::TimerKind::none;  // the engine's send timer takes the slot
  if (kernel_tls_ == KernelTls::waiting && flight_ == Flight::none && pending_out_.empty()) {
    start_kernel_tls();  // every byte OpenSSL encrypted is on the wire: the kernel goes on
  }
  if (kernel_tls_ == KernelTls::on) {
    // The kernel encrypts: head, body and the file range (by sendfile, no copy) go as they are.
    flight_ = Flight::kernel;
    outer_.send(head, body, file);
    return;
  }
  head_ = head;
  body_ = body;
  file_ = file;
  warm_.reset(file.offset);  // nothing of this range (maybe another file) is known to be in
  plain_total_ = 0;
  plain_sent_ = 0;
  if (flight_ == Flight::none) pump();  // else on_sent of the flush in flight goes on
}

void TlsStage::close() {
  if (closed_ || flight_ == Flight::final) return;
  inner_wants_ = false;
  if (mode_ == Mode::plain || mode_ == Mode::undecided || ssl_ == nullptr ||
      flight_ != Flight::none || inner_sending_) {
    // A send in flight: the engine closes abortively, as it does for a plaintext session. The
    // session's send unfinished (a piece being brought in): no close_notify, the client must
    // see a truncated stream.
    closed_ = true;
    outer_.close();
    return;
  }
  if (mode_ == Mode::tls && handshake_done_ && !aborted_ && kernel_tls_ != KernelTls::on) {
    // close_notify: the client can tell the end of the stream from a truncation. Not after an
    // aborted transfer, which must look truncated.
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
  }
  if (!pending_out_.empty()) {
    start_flight(Flight::final);  // close_notify or an alert first
    return;
  }
  closed_ = true;
  outer_.close();
}

void TlsStage::set_timer(core::TimerKind kind) {
  if (closed_) return;
  inner_timer_ = kind;
  // During a flush the engine's send timer has the slot; on_sent arms this one after it.
  if (flight_ == Flight::none) outer_.set_timer(kind);
}

// --- TLS ----------------------------------------------------------------------------------

void TlsStage::bio_write(const char* data, int length) {
  if (kernel_tls_ == KernelTls::on) {
    // The kernel encrypts now, with keys OpenSSL no longer tracks: a record OpenSSL encrypted
    // itself cannot follow. The caller ends the connection.
    wrote_after_kernel_tls_ = true;
    return;
  }
  if (counting_records_)
    app_records_.feed(std::string_view(data, static_cast<std::size_t>(length)));
  pending_out_.append(data, static_cast<std::size_t>(length));
}

void TlsStage::keylog_callback(const SSL* ssl, const char* line) {
  auto* stage = static_cast<TlsStage*>(SSL_get_app_data(ssl));
  if (stage == nullptr || !stage->settings_.kernel_tls || stage->handshake_done_) return;
  std::string secret = server_traffic_secret_from_keylog(line);
  if (secret.empty()) return;
  // Logged when OpenSSL switches its writes to this key: every record from here on counts.
  stage->traffic_secret_.swap(secret);
  stage->counting_records_ = true;
}

void TlsStage::start_kernel_tls() {
  kernel_tls_ = KernelTls::off;
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_);
  KernelTlsInfo info;
  if (cipher != nullptr &&
      make_kernel_tls_info(static_cast<std::uint16_t>(SSL_CIPHER_get_id(cipher) & 0xffff),
                           traffic_secret_, app_records_.records(), info) &&
      outer_.start_kernel_tls(info.bytes)) {
    kernel_tls_ = KernelTls::on;
  }
  OPENSSL_cleanse(info.bytes.data(), info.bytes.size());
  OPENSSL_cleanse(traffic_secret_.data(), traffic_secret_.size());
  std::string().swap(traffic_secret_);
  counting_records_ = false;
}

int TlsStage::bio_read(char* out, int length) {
  const std::size_t n = std::min(cipher_in_.size(), static_cast<std::size_t>(length));
  std::memcpy(out, cipher_in_.data(), n);
  cipher_in_.remove_prefix(n);
  return static_cast<int>(n);
}

void TlsStage::start_tls() {
  const std::shared_ptr<SSL_CTX> ctx = settings_.contexts->current();
  BIO_METHOD* method = bio_method();
  ssl_ = method != nullptr ? SSL_new(ctx.get()) : nullptr;
  BIO* bio = ssl_ != nullptr ? BIO_new(method) : nullptr;
  if (bio == nullptr) {
    log_.event(peer(), "error: TLS connection not set up: {}", describe_ssl_error(SSL_ERROR_SSL));
    mode_ = Mode::failed;
    inner_->on_receive_end(-ENOMEM);
    return;
  }
  BIO_set_data(bio, this);
  SSL_set_app_data(ssl_, this);  // for keylog_callback
  SSL_set_bio(ssl_, bio, bio);   // the SSL object owns the BIO (one reference for both sides)
  SSL_set_accept_state(ssl_);
  mode_ = Mode::tls;
  inner_wants_ = true;  // the session asked at on_open and has had nothing since
}

void TlsStage::feed(std::string_view ciphertext) {
  cipher_in_ = ciphertext;
  ERR_clear_error();
  if (!handshake_done_) {
    const int r = SSL_do_handshake(ssl_);
    if (r != 1) {
      const int error = SSL_get_error(ssl_, r);
      cipher_in_ = {};
      if (error != SSL_ERROR_WANT_READ) {
        fail("handshake", error);
        return;
      }
      flush();  // our next handshake flight
      if (!closed_) outer_.receive();
      return;
    }
    handshake_done_ = true;
    // Kernel TLS for TLS 1.3 only, once the secret of its first application key was seen.
    if (settings_.kernel_tls && counting_records_ && SSL_version(ssl_) == TLS1_3_VERSION) {
      kernel_tls_ = KernelTls::waiting;
    } else {
      counting_records_ = false;
      OPENSSL_cleanse(traffic_secret_.data(), traffic_secret_.size());
      std::string().swap(traffic_secret_);
    }
    const unsigned char* alpn = nullptr;
    unsigned int alpn_length = 0;
    SSL_get0_alpn_selected(ssl_, &alpn, &alpn_length);
    log_.event(peer(), "TLS {} {}{}{}", SSL_get_version(ssl_), SSL_get_cipher_name(ssl_),
               alpn_length > 0 ? ", ALPN http/1.1" : "",
               SSL_session_reused(ssl_) == 1 ? ", session resumed" : "");
  }
  // Every complete record of this batch is decrypted now; a partial one stays inside OpenSSL.
  // A batch is at most the engine's receive buffer, so plain_in_ stays as small.
  char buffer[16384];
  for (;;) {
    const int n = SSL_read(ssl_, buffer, sizeof buffer);
    if (n > 0) {
      plain_in_.append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    const int error = SSL_get_error(ssl_, n);
    if (error == SSL_ERROR_WANT_READ) break;
    if (error == SSL_ERROR_ZERO_RETURN) {  // close_notify: the client's end of stream
      end_pending_ = true;
      end_error_ = 0;
      break;
    }
    cipher_in_ = {};
    fail("read", error);
    return;
  }
  cipher_in_ = {};
  // Under kernel TLS OpenSSL cannot send: not an alert, nor the key update a client may ask for
  // (which RFC 8446 4.6.3 requires before the next response). The connection ends instead.
  if (kernel_tls_ == KernelTls::on &&
      (wrote_after_kernel_tls_ || SSL_get_key_update_type(ssl_) != SSL_KEY_UPDATE_NONE)) {
    fail("read under kernel TLS: the client asked for a key update, which this path cannot send",
         SSL_ERROR_SSL);
    return;
  }
  flush();  // session tickets after a handshake, or a reply to a key update
  deliver();
}

void TlsStage::deliver() {
  if (delivering_) return;
  delivering_ = true;
  while (!closed_ && inner_wants_ && (!plain_in_.empty() || end_pending_)) {
    inner_wants_ = false;
    if (!plain_in_.empty()) {
      std::string bytes;
      bytes.swap(plain_in_);  // the session may ask for more (and get it) from its call
      inner_->on_receive(bytes);
    } else {
      end_pending_ = false;
      ended_ = true;
      inner_->on_receive_end(end_error_);
    }
  }
  delivering_ = false;
  if (!closed_ && inner_wants_ && !ended_ && mode_ == Mode::tls && handshake_done_) {
    outer_.receive();
  }
}

void TlsStage::fail(std::string_view what, int ssl_error) {
  log_.event(peer(), "error: TLS {} failed: {}", what, describe_ssl_error(ssl_error));
  mode_ = Mode::failed;
  plain_in_.clear();
  end_pending_ = true;
  end_error_ = -EPROTO;
  deliver();  // the session ends; its close() sends OpenSSL's alert if there is one
  if (!closed_ && !inner_sending_ && flight_ == Flight::none && !inner_wants_) close();
}

void TlsStage::flush() {
  if (closed_ || flight_ != Flight::none || pending_out_.empty()) return;
  if (inner_sending_ && !reading_piece_) {
    pump();  // the buffered bytes go first in the session's next piece
    return;
  }
  start_flight(Flight::flush);
}

void TlsStage::start_flight(Flight flight) {
  flight_ = flight;
  in_flight_.swap(pending_out_);
  pending_out_.clear();
  // An empty send is allowed: it completes on a later loop turn, never inside this call.
  outer_.send(in_flight_, {}, {});
}

bool TlsStage::encrypt(std::string_view plain) {
  if (plain.empty()) return true;
  ERR_clear_error();
  // The BIO accepts everything, so SSL_write never stops halfway.
  const int n = SSL_write(ssl_, plain.data(), static_cast<int>(plain.size()));
  if (n != static_cast<int>(plain.size())) {
    log_.event(peer(), "error: TLS write failed: {}", describe_ssl_error(SSL_get_error(ssl_, n)));
    return false;
  }
  plain_total_ += plain.size();
  return true;
}

void TlsStage::pump() {
  if (file_.length == 0 && !head_.empty() && !body_.empty() &&
      head_.size() + body_.size() <= kCoalesceBytes) {
    // A small response (a head and a body from memory): one TLS record instead of two, which
    // saves a record's encryption and framing on both ends (nginx buffers the same way).
    char record[kCoalesceBytes];
    std::memcpy(record, head_.data(), head_.size());
    std::memcpy(record + head_.size(), body_.data(), body_.size());
    const std::size_t n = head_.size() + body_.size();
    head_ = {};
    body_ = {};
    if (!encrypt(std::string_view(record, n))) {
      finish_inner_send(-EPROTO);
      return;
    }
    start_flight(Flight::piece);
    return;
  }
  std::size_t budget = kPieceBytes;
  for (std::string_view* part : {&head_, &body_}) {
    const std::size_t take = std::min(budget, part->size());
    if (!encrypt(part->substr(0, take))) {
      finish_inner_send(-EPROTO);
      return;
    }
    part->remove_prefix(take);
    budget -= take;
  }
  if (budget > 0 && file_.length > 0) {
    if (!piece_) piece_ = std::make_unique<char[]>(kPieceBytes);
    read_piece(static_cast<std::size_t>(std::min<std::uint64_t>(budget, file_.length)));
    return;
  }
  start_flight(Flight::piece);
}

void TlsStage::read_piece(std::size_t length) {
  if (!settings_.async_cold_reads || warm_.known(file_.offset)) {
    // Just brought in (or asked not to care): a copy from the page cache, or a disk read.
    on_piece_read(fs::read_blocking(file_.fd, file_.offset, piece_.get(), length));
    return;
  }
  const long n = fs::read_cached(file_.fd, file_.offset, piece_.get(), length);
  if (n != -EAGAIN) {
    on_piece_read(n);  // what was cached (maybe less than asked: the rest in the next piece)
    return;
  }
  // Not in the page cache: the engine brings in a window ahead of this piece (a few pieces);
  // the worker serves its other connections meanwhile, then on_warmed reads it.
  reading_piece_ = true;
  piece_length_ = length;
  const std::uint64_t window = std::min<std::uint64_t>(file_.length, fs::kWarmBytes);
  warm_.brought_in(file_.offset + window);  // read without a second look after on_warmed
  if (warm_asked_) return;                  // one warm at a time: the one outstanding ends the wait
  warm_asked_ = true;
  outer_.warm(file_.fd, file_.offset, window);
}

void TlsStage::on_warmed() {
  warm_asked_ = false;
  if (!reading_piece_) return;
  reading_piece_ = false;
  if (closed_ || !inner_sending_) return;
  on_piece_read(fs::read_blocking(file_.fd, file_.offset, piece_.get(), piece_length_));
}

void TlsStage::on_piece_read(long result) {
  if (closed_) return;
  if (result <= 0) {
    finish_inner_send(result == 0 ? core::kFileShrank : static_cast<int>(result));
    return;
  }
  const auto n = static_cast<std::uint64_t>(result);
  if (!encrypt(std::string_view(piece_.get(), static_cast<std::size_t>(n)))) {
    finish_inner_send(-EPROTO);
    return;
  }
  file_.offset += n;
  file_.length -= std::min(n, file_.length);
  // A flush (a TLS message OpenSSL wrote meanwhile) may be in flight: its on_sent sends this.
  if (flight_ == Flight::none) start_flight(Flight::piece);
}

void TlsStage::finish_inner_send(int error) {
  inner_sending_ = false;
  reading_piece_ = false;
  head_ = {};
  body_ = {};
  file_ = {};
  if (error != 0) {
    aborted_ = true;
    pending_out_.clear();  // encrypted but unsent: dropped with the transfer
  }
  release_buffers();
  inner_->on_sent(error, error == 0 ? plain_total_ : plain_sent_);
}

void TlsStage::release_buffers() {
  // An idle connection keeps none of a transfer's buffers (a piece and its ciphertext).
  piece_.reset();
  if (flight_ == Flight::none) std::string().swap(in_flight_);
  if (pending_out_.empty()) std::string().swap(pending_out_);
}

// --- --tls-only ---------------------------------------------------------------------------

void TlsStage::refuse_plaintext(std::string_view bytes) {
  const std::size_t room =
      settings_.max_header_bytes - std::min(settings_.max_header_bytes, refused_.size());
  refused_.append(bytes.substr(0, room));
  const bool full = refused_.size() >= settings_.max_header_bytes;
  protocol::Protocol protocol = protocol::sniff_protocol(refused_, settings_.max_request_line);
  if (protocol == protocol::Protocol::undecided && full) protocol = protocol::Protocol::line;
  std::string answer;
  if (protocol == protocol::Protocol::line) {
    log_.event(peer(), "error: plaintext line protocol refused (--tls-only)");
    answer.assign(kLineTlsRequired);
  } else if (protocol == protocol::Protocol::http) {
    http::Request request;
    const http::ParseResult parsed = http::parse_request(
        refused_, http::ParserLimits{settings_.max_request_line, settings_.max_header_bytes, 100},
        request);
    if (parsed.status == http::ParseStatus::need_more && !full) {
      outer_.receive();
      return;
    }
    if (parsed.status == http::ParseStatus::complete) {
      answer = https_redirect(request.method, request.target, request.has_host, request.host);
      log_.event(peer(), "error: plaintext HTTP refused (--tls-only): {} {} answered {}",
                 log::Untrusted{request.method}, log::Untrusted{request.target},
                 answer.substr(9, 3));
    } else {
      answer = https_redirect({}, {}, false, {});
      log_.event(peer(), "error: plaintext HTTP refused (--tls-only): malformed request");
    }
  } else {
    outer_.receive();
    return;
  }
  std::string().swap(refused_);
  pending_out_ = std::move(answer);
  start_flight(Flight::final);
}

}  // namespace iocomp::tls
