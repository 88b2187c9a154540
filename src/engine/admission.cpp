#include "engine/admission.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

namespace iocomp::engine {

Admission AdmissionControl::admit(const std::string& key) {
  if (total_.load(std::memory_order_relaxed) >= limits_.max_connections) {
    return Admission::too_many_connections;
  }
  if (limits_.max_per_address > 0) {
    std::lock_guard lock(mutex_);
    std::size_t& count = per_address_[key];
    if (count >= limits_.max_per_address) {
      if (count == 0) per_address_.erase(key);
      return Admission::too_many_from_address;
    }
    ++count;
  }
  total_.fetch_add(1, std::memory_order_relaxed);
  return Admission::admitted;
}

void AdmissionControl::release(const std::string& key) {
  total_.fetch_sub(1, std::memory_order_relaxed);
  if (limits_.max_per_address == 0) return;
  std::lock_guard lock(mutex_);
  auto it = per_address_.find(key);
  if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
}

std::string AdmissionControl::address_key(const sockaddr_storage& peer) {
  char text[INET6_ADDRSTRLEN] = {};
  if (peer.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(peer).sin_addr, text, sizeof text);
  } else if (peer.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(peer).sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&in6)) {
      ::inet_ntop(AF_INET, &in6.s6_addr[12], text, sizeof text);
    } else {
      ::inet_ntop(AF_INET6, &in6, text, sizeof text);
    }
  }
  return text;
}

}  // namespace iocomp::engine
