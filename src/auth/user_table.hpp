#pragma once
// The users of HTTP basic authentication: names and crypt(3) hashes from an --auth-file
// (htpasswd format). Passwords are never stored in the clear: a line whose hash libxcrypt does
// not recognise, or recognises only as a legacy method (DES, MD5), is refused at start-up.
#include <string>
#include <string_view>
#include <unordered_map>

namespace iocomp::auth {

class UserTable {
 public:
  // Parses "user:hash" lines; '#' comment lines and blank lines are skipped, a trailing CR is
  // ignored. Throws std::runtime_error naming `source` and the line number of the first bad
  // line (never the hash itself). Runs each hash once, to refuse truncated ones.
  static UserTable parse(std::string_view text, std::string_view source);

  // The hash of `user`, or nullptr.
  const std::string* find(std::string_view user) const;
  // A real hash, for the decoy crypt run for unknown users (same method and cost as a user).
  const std::string& decoy_hash() const { return decoy_; }
  std::size_t size() const { return hashes_.size(); }

 private:
  std::unordered_map<std::string, std::string> hashes_;
  std::string decoy_;
};

struct LoadedUsers {
  UserTable users;
  bool readable_by_others = false;  // file mode has o+r: worth a warning
};

// Reads and parses `path`. Throws std::runtime_error with the reason.
LoadedUsers load_auth_file(const std::string& path);

}  // namespace iocomp::auth
