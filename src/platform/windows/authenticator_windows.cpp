// auth::Authenticator on Windows, where there is no crypt(3) (libxcrypt) to check the hashes
// of an --auth-file: run_server refuses --auth-file at start-up with that reason, and this
// constructor refuses as well, so that no code path can build an authenticator that would
// accept or refuse passwords without checking them. check() is therefore never reached; it
// refuses, should that ever change.
#include <stdexcept>

#include "auth/authenticator.hpp"

struct crypt_data {};

namespace iocomp::auth {

Authenticator::Authenticator(const UserTable& users, CacheLimits limits)
    : users_(users), limits_(limits) {
  throw std::runtime_error("--auth-file is not available on Windows (no crypt(3) there)");
}

Authenticator::~Authenticator() = default;

Verdict Authenticator::check(std::string_view /*authorization*/, std::int64_t /*now_ms*/) {
  Verdict verdict;
  verdict.outcome = Outcome::wrong_password;
  return verdict;
}

}  // namespace iocomp::auth
