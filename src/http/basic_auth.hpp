#pragma once
// The "Basic" HTTP authentication scheme (RFC 7617): decoding the Authorization field. Pure.
#include <optional>
#include <string>
#include <string_view>

namespace iocomp::http {

// The challenge sent with every 401.
inline constexpr std::string_view kBasicChallenge =
    "WWW-Authenticate: Basic realm=\"iocomp\", charset=\"UTF-8\"\r\n";

// RFC 4648 section 4 base64, strictly: the standard alphabet, padding to a multiple of four
// characters, '=' only at the end, and unused bits zero (so each value has one encoding).
// nullopt when `text` is not such an encoding.
std::optional<std::string> decode_base64(std::string_view text);

struct BasicCredentials {
  std::string user;
  std::string password;
};

// Parses an Authorization field value: the scheme "Basic" in any case, one or more spaces,
// then base64 of "user:password", split at the first ':' (a user-id cannot contain one).
// nullopt for another scheme, bad base64, no ':', an empty user, or a control character in
// either part (RFC 7617 forbids them; a NUL would also cut the password short for crypt).
std::optional<BasicCredentials> parse_basic_authorization(std::string_view value);

// The token68 part of a Basic Authorization value (what a verified-credentials cache keys on),
// or "" when `value` is not of the Basic scheme.
std::string_view basic_token(std::string_view value);

// Compares without an early exit, so the time taken does not reveal where `a` and `b` first
// differ (only their lengths).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace iocomp::http
