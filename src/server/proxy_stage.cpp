#include "server/proxy_stage.hpp"

#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "core/admission.hpp"
#include "core/listener.hpp"
#include "proxy/ip_address.hpp"

namespace iocomp::server {

ProxyStage::ProxyStage(core::Channel& outer, log::EventLog& log, const ProxyStageContext& context,
                       const core::SessionFactory& inner, int worker)
    : outer_(outer), log_(log), context_(context), inner_factory_(inner), worker_(worker) {}

ProxyStage::~ProxyStage() = default;

void ProxyStage::refuse(std::atomic<std::uint64_t>& counter, std::string_view why) {
  proxy::ProxyCounters::add(counter);
  phase_ = Phase::refused;
  log_.event(outer_.peer(), "error: PROXY protocol: {}; closed", why);
  outer_.close();
}

void ProxyStage::on_open() {
  const std::optional<proxy::IpAddress> ip = proxy::ip_of_peer_text(outer_.peer());
  if (!ip || !context_.trusted.contains(*ip)) {
    // Checked before reading anything: a header from anyone else would let them choose the
    // address that the log, the per-address limit and the metrics see.
    refuse(context_.counters.untrusted_source, "source not in --proxy-from");
    return;
  }
  outer_.set_timer(core::TimerKind::header);
  header_timer_running_ = true;
  outer_.receive();
}

void ProxyStage::on_receive(std::string_view bytes) {
  if (phase_ == Phase::serving) {
    if (session_) session_->on_receive(bytes);
    return;
  }
  if (phase_ == Phase::health_check) {
    open_session(bytes);
    return;
  }
  if (phase_ != Phase::header) return;
  // Most headers arrive whole in one receive: parsed in place, nothing copied.
  std::string_view input = bytes;
  if (!buffer_.empty()) {
    buffer_.append(bytes);
    input = buffer_;
  }
  const proxy::Header header = proxy::parse_header(input, context_.limits);
  switch (header.status) {
    case proxy::Status::need_more:
      // Bounded: the parser refuses more than 107 bytes (v1) or the v2 cap without a verdict.
      if (buffer_.empty()) buffer_.assign(bytes);
      outer_.receive();
      return;
    case proxy::Status::invalid:
      refuse(context_.counters.missing_or_invalid, header.error);
      return;
    case proxy::Status::complete:
      start_session(header, input.substr(header.consumed));
      return;
  }
}

void ProxyStage::start_session(const proxy::Header& header, std::string_view rest) {
  proxy::ProxyCounters& counters = context_.counters;
  if (header.command == proxy::Command::local) {
    // The balancer's own connection (HAProxy's health checks with send-proxy-v2): served as
    // the TCP peer, which is the balancer, if it asks for anything.
    proxy::ProxyCounters::add(counters.local_command);
    if (rest.empty()) {
      phase_ = Phase::health_check;
      std::string().swap(buffer_);
      outer_.receive();
      return;
    }
  } else if (header.family == proxy::Family::unknown) {
    proxy::ProxyCounters::add(counters.unknown_family);
    log_.event(outer_.peer(), "PROXY header without a client address: served as the TCP peer");
  } else {
    std::string client = core::format_socket_address(&header.source);
    if (!outer_.move_admission(core::AdmissionControl::address_key(header.source))) {
      proxy::ProxyCounters::add(counters.over_address_limit);
      phase_ = Phase::refused;
      log_.event(outer_.peer(),
                 "error: PROXY protocol: client {} has --max-connections-per-ip connections; "
                 "closed",
                 client);
      outer_.close();
      return;
    }
    proxy::ProxyCounters::add(counters.proxied);
    client_ = std::move(client);
    log_.event(client_, "proxied by {}", outer_.peer());
  }
  open_session(rest);
}

void ProxyStage::open_session(std::string_view rest) {
  phase_ = Phase::serving;
  holding_rest_ = !rest.empty();
  session_ = inner_factory_(*this, log_, worker_);
  session_->on_open();
  if (holding_rest_) {
    holding_rest_ = false;
    // A session asks for bytes in on_open (unless it closed there): the bytes behind the header
    // are its first receive, delivered now that on_open has returned, never inside receive().
    if (session_wants_bytes_) {
      session_wants_bytes_ = false;
      session_->on_receive(rest);
    }
  }
  std::string().swap(buffer_);  // `rest` may point into it: freed only now
}

void ProxyStage::on_receive_end(int error) {
  if (phase_ == Phase::serving) {
    if (session_) session_->on_receive_end(error);
    return;
  }
  if (phase_ == Phase::health_check) {
    // The check is over (HAProxy resets the connection once it is up): nothing to log.
    phase_ = Phase::refused;
    outer_.close();
    return;
  }
  if (phase_ != Phase::header) return;
  if (error != 0) {
    refuse(context_.counters.incomplete, fmt::format("receive failed: {}", std::strerror(-error)));
    return;
  }
  refuse(context_.counters.incomplete, buffer_.empty() ? "closed by the peer before a header"
                                                       : "closed by the peer inside the header");
}

void ProxyStage::on_sent(int error, std::uint64_t bytes) {
  // The stage itself never sends: this is the session's send.
  if (phase_ == Phase::serving && session_) session_->on_sent(error, bytes);
}

void ProxyStage::on_timeout(core::TimerKind kind) {
  if (phase_ == Phase::serving) {
    if (session_) session_->on_timeout(kind);
    return;
  }
  if (phase_ == Phase::health_check) {
    phase_ = Phase::refused;
    outer_.close();
    return;
  }
  if (phase_ != Phase::header) return;
  refuse(context_.counters.timed_out, "no complete header within --header-timeout");
}

void ProxyStage::on_warmed() {
  // Only a session asks to warm (the TLS stage inside): the stage itself reads no file.
  if (phase_ == Phase::serving && session_) session_->on_warmed();
}

void ProxyStage::on_drain() {
  if (phase_ == Phase::serving) {
    if (session_) session_->on_drain();
    return;
  }
  if (phase_ != Phase::header && phase_ != Phase::health_check) return;
  phase_ = Phase::refused;
  outer_.close();  // nothing was asked yet: an idle connection, closed at shutdown
}

void ProxyStage::receive() {
  if (holding_rest_) {
    session_wants_bytes_ = true;
    return;
  }
  outer_.receive();
}

void ProxyStage::send(std::string_view head, std::string_view body, core::FileRange file) {
  header_timer_running_ = false;  // the backend's send timer takes the slot
  outer_.send(head, body, file);
}

void ProxyStage::close() {
  holding_rest_ = false;
  session_wants_bytes_ = false;
  outer_.close();
}

void ProxyStage::set_timer(core::TimerKind kind) {
  if (kind == core::TimerKind::header && header_timer_running_) {
    // The session's first request head shares the timer that has run since accept: a client
    // gets --header-timeout for both, not twice that.
    header_timer_running_ = false;
    return;
  }
  header_timer_running_ = false;
  outer_.set_timer(kind);
}

std::string_view ProxyStage::peer() const {
  return client_.empty() ? outer_.peer() : std::string_view(client_);
}

bool ProxyStage::move_admission(std::string_view address_key) {
  return outer_.move_admission(address_key);
}

}  // namespace iocomp::server
