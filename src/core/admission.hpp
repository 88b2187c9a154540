#pragma once
// Who may connect: a cap on connections in total and per client address. Consulted by the
// acceptor once per connection and released by a worker when the connection is freed; the lock
// is taken twice per connection, never per request.
#ifdef _WIN32
#include <winsock2.h>  // sockaddr_storage
#else
#include <sys/socket.h>
#endif

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace iocomp::core {

struct AdmissionLimits {
  std::size_t max_connections = 20000;
  std::size_t max_per_address = 0;  // 0: no per-address limit
};

enum class Admission { admitted, too_many_connections, too_many_from_address };

class AdmissionControl {
 public:
  explicit AdmissionControl(const AdmissionLimits& limits) : limits_(limits) {}

  // On success the caller owns one slot for `key` and must call release(key) exactly once.
  Admission admit(const std::string& key);
  void release(const std::string& key);
  // Moves one connection's slot from `from` to `to` (a proxied connection learning its real
  // client's address): admits `to` under the per-address limit, then releases `from`, under one
  // lock; the total is unchanged. On refusal the caller still holds `from`.
  Admission rekey(const std::string& from, const std::string& to);
  std::size_t connections() const { return total_.load(std::memory_order_relaxed); }

  // The address part of a peer ("10.0.0.1", "::1"): the key for the per-address limit.
  static std::string address_key(const sockaddr_storage& peer);

 private:
  AdmissionLimits limits_;
  std::atomic<std::size_t> total_{0};
  std::mutex mutex_;
  std::unordered_map<std::string, std::size_t> per_address_;
};

}  // namespace iocomp::core
