#include "core/admission.hpp"

#include "core/listener.hpp"

namespace iocomp::core {

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

Admission AdmissionControl::rekey(const std::string& from, const std::string& to) {
  if (limits_.max_per_address == 0 || from == to) return Admission::admitted;
  std::lock_guard lock(mutex_);
  std::size_t& count = per_address_[to];
  if (count >= limits_.max_per_address) {
    if (count == 0) per_address_.erase(to);
    return Admission::too_many_from_address;
  }
  ++count;
  auto it = per_address_.find(from);
  if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
  return Admission::admitted;
}

std::string AdmissionControl::address_key(const sockaddr_storage& peer) {
  return format_ip(peer);
}

}  // namespace iocomp::core
