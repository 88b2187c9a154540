#include "auth/authenticator.hpp"

#include <crypt.h>

#include "http/basic_auth.hpp"

namespace iocomp::auth {

Authenticator::Authenticator(const UserTable& users, CacheLimits limits)
    : users_(users), limits_(limits), scratch_(std::make_unique<crypt_data>()) {
  cache_.reserve(limits_.entries);
}

Authenticator::~Authenticator() = default;

int Authenticator::lookup(std::string_view token, std::int64_t now_ms) const {
  int found = -1;
  for (std::size_t i = 0; i < cache_.size(); ++i) {
    // No early exit: the time does not tell which entry matched, or how much of it.
    const bool equal = http::constant_time_equal(cache_[i].token, token);
    if (equal && cache_[i].expires_ms > now_ms) found = static_cast<int>(i);
  }
  return found;
}

void Authenticator::remember(std::string_view token, const std::string& user, std::int64_t now_ms) {
  if (limits_.entries == 0) return;
  Entry entry{std::string(token), user, now_ms + limits_.valid_ms};
  if (cache_.size() < limits_.entries) {
    cache_.push_back(std::move(entry));
    return;
  }
  // Replace the entry closest to expiry (an expired one first): all got the same lifetime, so
  // that is the least recently verified.
  std::size_t victim = 0;
  for (std::size_t i = 1; i < cache_.size(); ++i) {
    if (cache_[i].expires_ms < cache_[victim].expires_ms) victim = i;
  }
  cache_[victim] = std::move(entry);
}

bool Authenticator::crypt_matches(const std::string& password, const std::string& hash) {
  ++crypt_runs_;
  const char* out = crypt_rn(password.c_str(), hash.c_str(), scratch_.get(), sizeof *scratch_);
  return out != nullptr && http::constant_time_equal(out, hash);
}

Verdict Authenticator::check(std::string_view authorization, std::int64_t now_ms) {
  Verdict verdict;
  if (authorization.empty()) return verdict;
  const std::string_view token = http::basic_token(authorization);
  if (const int hit = lookup(token, now_ms); hit >= 0 && !token.empty()) {
    verdict.outcome = Outcome::ok;
    verdict.user = cache_[static_cast<std::size_t>(hit)].user;
    return verdict;
  }
  std::optional<http::BasicCredentials> credentials =
      http::parse_basic_authorization(authorization);
  if (!credentials) {
    verdict.outcome = Outcome::malformed;
    return verdict;
  }
  verdict.user = std::move(credentials->user);
  const std::string* hash = users_.find(verdict.user);
  if (hash == nullptr) {
    // As long as for a known user with a wrong password: user names do not leak by timing.
    crypt_matches(credentials->password, users_.decoy_hash());
    verdict.outcome = Outcome::unknown_user;
    return verdict;
  }
  if (!crypt_matches(credentials->password, *hash)) {
    verdict.outcome = Outcome::wrong_password;
    return verdict;
  }
  remember(token, verdict.user, now_ms);
  verdict.outcome = Outcome::ok;
  return verdict;
}

}  // namespace iocomp::auth
