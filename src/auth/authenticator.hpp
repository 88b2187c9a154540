#pragma once
// Checks Authorization fields against the user table. One per worker thread (not thread-safe):
// it owns crypt's scratch area and a small cache of recently verified credentials, because a
// bcrypt or yescrypt check costs milliseconds of the worker's time and a browser sends the
// same Authorization with every request of a download session.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/user_table.hpp"

struct crypt_data;

namespace iocomp::auth {

struct CacheLimits {
  std::size_t entries = 64;
  std::int64_t valid_ms = 60'000;  // from the crypt check that admitted the credentials
};

enum class Outcome {
  ok,
  missing,    // no Authorization field
  malformed,  // not Basic, bad base64, no ':' ...
  unknown_user,
  wrong_password
};

struct Verdict {
  Outcome outcome = Outcome::missing;
  std::string user;  // as sent (for the log); empty when it could not be decoded
};

class Authenticator {
 public:
  explicit Authenticator(const UserTable& users, CacheLimits limits = {});
  ~Authenticator();
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

  // `authorization`: the request's Authorization value ("" when absent). now_ms: monotonic.
  Verdict check(std::string_view authorization, std::int64_t now_ms);

  // How many times crypt ran: lets tests see the cache work and unknown users cost a crypt.
  std::uint64_t crypt_runs() const { return crypt_runs_; }

 private:
  struct Entry {
    std::string token;  // the base64 credentials as sent
    std::string user;
    std::int64_t expires_ms = 0;
  };

  // Index of a live entry equal to `token`, or -1. Every live entry is compared in full.
  int lookup(std::string_view token, std::int64_t now_ms) const;
  void remember(std::string_view token, const std::string& user, std::int64_t now_ms);
  bool crypt_matches(const std::string& password, const std::string& hash);

  const UserTable& users_;
  const CacheLimits limits_;
  std::unique_ptr<crypt_data> scratch_;
  std::vector<Entry> cache_;
  std::uint64_t crypt_runs_ = 0;
};

}  // namespace iocomp::auth
