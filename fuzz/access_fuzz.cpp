// libFuzzer harness for the access-control decoders: strict base64, Basic Authorization
// parsing and CORS decisions, all of which see attacker-chosen header values.
//
// Input layout: byte 0 selects the CORS policy; the rest is split at the first two NUL bytes
// into an Authorization value (also the base64 text), an origin and Access-Control-Request-
// Headers.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "http/basic_auth.hpp"
#include "http/cors.hpp"

namespace {

std::string encode_base64(std::string_view bytes) {
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const auto v = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16 |
                   static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8 |
                   static_cast<unsigned char>(bytes[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(kAlphabet[(v >> shift) & 63]);
  }
  if (i + 1 == bytes.size()) {
    const auto v = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    out.append({kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], '=', '='});
  } else if (i + 2 == bytes.size()) {
    const auto v = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16 |
                   static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out.append(
        {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='});
  }
  return out;
}

std::string_view next_field(std::string_view& rest) {
  const std::size_t nul = rest.find('\0');
  const std::string_view field = rest.substr(0, nul);
  rest.remove_prefix(nul == std::string_view::npos ? rest.size() : nul + 1);
  return field;
}

bool has_line_break(std::string_view s) {
  return s.find('\r') != std::string_view::npos || s.find('\n') != std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace iocomp::http;
  if (size < 1) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string_view authorization = next_field(rest);
  const std::string_view origin = next_field(rest);
  const std::string_view request_headers = rest;

  // Strict base64: whatever decodes has exactly one encoding, the input.
  if (const auto decoded = decode_base64(authorization)) {
    FUZZ_CHECK(encode_base64(*decoded) == authorization);
  }
  FUZZ_CHECK(decode_base64(encode_base64(authorization)) == std::string(authorization));

  if (const auto credentials = parse_basic_authorization(authorization)) {
    FUZZ_CHECK(!credentials->user.empty());
    FUZZ_CHECK(credentials->user.find(':') == std::string::npos);
    for (const char c : credentials->user + credentials->password) {
      FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
    }
    const std::string_view token = basic_token(authorization);
    FUZZ_CHECK(!token.empty());
    FUZZ_CHECK(decode_base64(token) == credentials->user + ":" + credentials->password);
  }
  FUZZ_CHECK(constant_time_equal(authorization, authorization));
  FUZZ_CHECK(constant_time_equal(authorization, origin) == (authorization == origin));

  // The parser never hands over a value with a line break; neither may the CORS headers.
  if (has_line_break(origin) || has_line_break(request_headers)) return 0;
  const std::uint8_t selector = data[0];
  CorsPolicy policy;
  policy.any_origin = (selector & 1) != 0;
  policy.credentials = (selector & 2) != 0;
  if ((selector & 4) != 0) policy.origins.emplace_back("https://a.example");
  if ((selector & 8) != 0) policy.origins.emplace_back(origin);

  std::string out;
  append_cors_headers(policy, origin, out);
  const bool allowed = policy.allows(origin);
  FUZZ_CHECK(allowed ==
             (!origin.empty() && (policy.any_origin || (selector & 8) != 0 ||
                                  ((selector & 4) != 0 && origin == "https://a.example"))));
  // Lines are matched whole: an origin may itself look like a header. Credentials go only to
  // origins listed one by one; "*" is answered with a plain star.
  const bool listed = (selector & 8) != 0 || ((selector & 4) != 0 && origin == "https://a.example");
  const bool with_credentials = policy.credentials && listed;
  const bool is_static = policy.any_origin && !(policy.credentials && !policy.origins.empty());
  const std::string vary = is_static ? "" : "Vary: Origin\r\n";
  if (!policy.enabled()) {
    FUZZ_CHECK(out.empty());
  } else if (is_static) {
    FUZZ_CHECK(
        out.starts_with("Access-Control-Allow-Origin: *\r\nAccess-Control-Expose-Headers: "));
  } else if (!allowed) {
    FUZZ_CHECK(out == vary);
  } else if (with_credentials) {
    FUZZ_CHECK(out.starts_with(vary + "Access-Control-Allow-Origin: " + std::string(origin) +
                               "\r\nAccess-Control-Allow-Credentials: true" +
                               "\r\nAccess-Control-Expose-Headers: "));
  } else if (policy.any_origin) {
    FUZZ_CHECK(out.starts_with(
        vary + "Access-Control-Allow-Origin: *\r\nAccess-Control-Expose-Headers: "));
  } else {
    FUZZ_CHECK(out.starts_with(vary + "Access-Control-Allow-Origin: " + std::string(origin) +
                               "\r\nAccess-Control-Expose-Headers: "));
  }

  const PreflightVerdict verdict = evaluate_preflight(policy, origin, "GET", request_headers);
  if (verdict == PreflightVerdict::allowed) {
    FUZZ_CHECK(allowed);
    out.clear();
    append_preflight_headers(policy, origin, request_headers, out);
    // Every header line is "Name: value\r\n": nothing from the request breaks a line.
    std::size_t lines = 0;
    for (std::size_t at = 0; (at = out.find("\r\n", at)) != std::string::npos; at += 2) ++lines;
    FUZZ_CHECK(lines == (is_static ? 4u : 5u) + (with_credentials ? 1u : 0u));
  } else if (!allowed) {
    FUZZ_CHECK(verdict == PreflightVerdict::origin_not_allowed);
  }
  return 0;
}
