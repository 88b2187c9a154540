#pragma once
// The PROXY protocol stage (--proxy-protocol): a stage that runs before the session and wraps
// its channel, as TLS would. To the backend it is the connection's SessionHandler; to the
// session behind it, made once a valid header has been read, it is the Channel, whose peer() is
// the client the header named. Everything else passes through unchanged.
//
//   backend ──SessionHandler──> ProxyStage ──SessionHandler──> Session
//   backend <──────Channel───── ProxyStage <──────Channel───── Session
//
// Before the session exists the stage reads the header under the header timer armed at accept:
// only a TCP peer in --proxy-from may send one; anything else (no header, a bad one, a peer
// outside the list, the named client over --max-connections-per-ip) is closed without a byte
// sent, counted in ProxyCounters and logged with the TCP peer's ip:port. After the header, the
// connection's admission slot moves to the client's address (Channel::move_admission), bytes
// that arrived behind the header reach the session as its first receive, and the header timer
// keeps running: one --header-timeout covers the PROXY header and the first request head.
// A LOCAL header (the balancer's health check) makes the session only when a byte follows it:
// a check that connects and leaves is counted, not logged, as the balancer repeats it every
// few seconds.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/backend.hpp"
#include "core/channel.hpp"
#include "log/event_log.hpp"
#include "proxy/cidr.hpp"
#include "proxy/proxy_counters.hpp"
#include "proxy/proxy_header.hpp"

namespace iocomp::server {

// Shared by every connection, read-only but for the counters.
struct ProxyStageContext {
  proxy::CidrList trusted;  // --proxy-from
  proxy::Limits limits;
  proxy::ProxyCounters& counters;
};

class ProxyStage final : public core::SessionHandler, public core::Channel {
 public:
  // `inner` makes the session (called with this stage as its channel, `log` and `worker`);
  // it and `context` must outlive the stage.
  ProxyStage(core::Channel& outer, log::EventLog& log, const ProxyStageContext& context,
             const core::SessionFactory& inner, int worker);
  ~ProxyStage() override;

  // core::SessionHandler, called by the backend.
  void on_open() override;
  void on_receive(std::string_view bytes) override;
  void on_receive_end(int error) override;
  void on_sent(int error, std::uint64_t bytes) override;
  void on_timeout(core::TimerKind kind) override;
  void on_drain() override;
  void on_warmed() override;

  // core::Channel, called by the session.
  void receive() override;
  void send(std::string_view head, std::string_view body, core::FileRange file) override;
  void close() override;
  void set_timer(core::TimerKind kind) override;
  void warm(int fd, std::uint64_t offset, std::uint64_t length) override {
    outer_.warm(fd, offset, length);
  }
  bool start_kernel_tls(std::string_view crypto_info) override {
    return outer_.start_kernel_tls(crypto_info);
  }
  std::string_view peer() const override;
  bool draining() const override { return outer_.draining(); }
  bool move_admission(std::string_view address_key) override;

 private:
  // health_check: a LOCAL header and no bytes behind it yet (see open_session).
  enum class Phase : std::uint8_t { header, health_check, serving, refused };

  // Closes without a response: counts, logs `why` under the TCP peer.
  void refuse(std::atomic<std::uint64_t>& counter, std::string_view why);
  // A whole header: picks the client, then opens the session.
  void start_session(const proxy::Header& header, std::string_view rest);
  // Makes the session and hands it `rest`, the bytes behind the header, as its first receive.
  void open_session(std::string_view rest);

  core::Channel& outer_;
  log::EventLog& log_;
  const ProxyStageContext& context_;
  const core::SessionFactory& inner_factory_;
  int worker_;
  Phase phase_ = Phase::header;
  // The header timer armed at accept still runs: the session's first set_timer(header) keeps
  // it instead of granting a fresh one.
  bool header_timer_running_ = false;
  // Bytes behind the header are held for the session's first receive(): not passed on.
  bool holding_rest_ = false;
  bool session_wants_bytes_ = false;
  std::string buffer_;  // a header split across receives: at most proxy::Limits bytes
  std::string client_;  // "ip:port" the header named; empty: the TCP peer
  std::unique_ptr<core::SessionHandler> session_;  // last: its destructor logs with peer()
};

}  // namespace iocomp::server
