#pragma once
// What the PROXY stage did with each connection, counted for the whole server (owned by
// run_server, written by every worker with relaxed increments, read for reports and metrics).
#include <atomic>
#include <cstdint>
#include <string_view>

namespace iocomp::proxy {

struct ProxyCounters {
  // Served:
  std::atomic<std::uint64_t> proxied{0};         // a header named the client: served as it
  std::atomic<std::uint64_t> unknown_family{0};  // v1 UNKNOWN, v2 UNSPEC or AF_UNIX: real peer
  std::atomic<std::uint64_t> local_command{0};   // v2 LOCAL (balancer health checks): real peer
  // Refused, closed without a byte sent:
  std::atomic<std::uint64_t> missing_or_invalid{0};  // the first bytes are not a valid header
  std::atomic<std::uint64_t> incomplete{0};          // closed before the header was complete
  std::atomic<std::uint64_t> timed_out{0};           // no complete header within --header-timeout
  std::atomic<std::uint64_t> untrusted_source{0};    // the TCP peer is not in --proxy-from
  std::atomic<std::uint64_t> over_address_limit{0};  // the client named is at
                                                     // --max-connections-per-ip

  static void add(std::atomic<std::uint64_t>& counter) {
    counter.fetch_add(1, std::memory_order_relaxed);
  }
};

// Every counter with a stable name (for a metrics exporter or a report), in declaration order.
struct ProxyCounterField {
  std::string_view name;
  bool refused;  // a connection closed by the stage, not served
  std::atomic<std::uint64_t> ProxyCounters::*member;
};
inline constexpr ProxyCounterField kProxyCounterFields[] = {
    {"proxied", false, &ProxyCounters::proxied},
    {"unknown_family", false, &ProxyCounters::unknown_family},
    {"local_command", false, &ProxyCounters::local_command},
    {"missing_or_invalid", true, &ProxyCounters::missing_or_invalid},
    {"incomplete", true, &ProxyCounters::incomplete},
    {"timed_out", true, &ProxyCounters::timed_out},
    {"untrusted_source", true, &ProxyCounters::untrusted_source},
    {"over_address_limit", true, &ProxyCounters::over_address_limit},
};

}  // namespace iocomp::proxy
