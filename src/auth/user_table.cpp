#include "auth/user_table.hpp"

#include <crypt.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>

namespace iocomp::auth {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Empty when `hash` is a complete hash of a method libxcrypt accepts as current; else why not.
std::string hash_problem(const std::string& hash, crypt_data& scratch) {
  switch (crypt_checksalt(hash.c_str())) {
    case CRYPT_SALT_OK:
    case CRYPT_SALT_TOO_CHEAP:  // a deliberate, if unwise, choice of cost
      break;
    case CRYPT_SALT_METHOD_LEGACY:
      return "not a current crypt(3) hash (a plain-text password, or a legacy DES/MD5 hash)";
    case CRYPT_SALT_METHOD_DISABLED:
      return "a crypt(3) method disabled in this libcrypt";
    default:
      return "not a crypt(3) hash libxcrypt recognises (plain text, or htpasswd's default "
             "$apr1$ MD5?)";
  }
  // crypt_checksalt reads only the method and salt: "$6$" alone passes. Hashing any password
  // with the line's setting gives a complete hash of the same length.
  const char* out = crypt_rn("", hash.c_str(), &scratch, sizeof scratch);
  if (out == nullptr || std::strlen(out) != hash.size()) return "an incomplete crypt(3) hash";
  return {};
}

}  // namespace

UserTable UserTable::parse(std::string_view text, std::string_view source) {
  UserTable table;
  auto scratch = std::make_unique<crypt_data>();
  std::size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const std::size_t newline = text.find('\n');
    const std::string_view line = trim(text.substr(0, newline));
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    if (line.empty() || line.front() == '#') continue;
    const auto fail = [&](std::string_view why) {
      return std::runtime_error(
          fmt::format("--auth-file {} line {}: {}", source, line_number, why));
    };
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) throw fail("expected user:hash");
    const std::string user(trim(line.substr(0, colon)));
    const std::string hash(trim(line.substr(colon + 1)));
    if (user.empty()) throw fail("empty user name");
    if (hash.empty()) throw fail("empty hash");
    if (const std::string problem = hash_problem(hash, *scratch); !problem.empty()) {
      throw fail(problem + "; create hashes with htpasswd -B, or mkpasswd -m yescrypt / sha-512");
    }
    if (table.decoy_.empty()) table.decoy_ = hash;
    if (!table.hashes_.emplace(user, hash).second) throw fail("user listed twice");
  }
  if (table.hashes_.empty()) {
    throw std::runtime_error(fmt::format("--auth-file {}: no user:hash lines", source));
  }
  return table;
}

const std::string* UserTable::find(std::string_view user) const {
  const auto it = hashes_.find(std::string(user));
  return it == hashes_.end() ? nullptr : &it->second;
}

LoadedUsers load_auth_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw std::runtime_error(fmt::format("--auth-file {}: {}", path, std::strerror(errno)));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    throw std::runtime_error(fmt::format("--auth-file {}: not a regular file", path));
  }
  constexpr off_t kMaxSize = 16 << 20;  // far beyond any password file: refuse a wrong path
  if (st.st_size > kMaxSize) {
    throw std::runtime_error(fmt::format("--auth-file {}: larger than 16 MiB", path));
  }
  std::string text;
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      throw std::runtime_error(fmt::format("--auth-file {}: {}", path, std::strerror(errno)));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > static_cast<std::size_t>(kMaxSize)) {
      throw std::runtime_error(fmt::format("--auth-file {}: larger than 16 MiB", path));
    }
  }
  return LoadedUsers{UserTable::parse(text, path), (st.st_mode & S_IROTH) != 0};
}

}  // namespace iocomp::auth
