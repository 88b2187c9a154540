#pragma once
// --tls-only: what a plaintext client is told. Pure functions, no I/O.
#include <optional>
#include <string>
#include <string_view>

namespace iocomp::tls {

// The line-protocol client's answer: one line, then the connection closes.
inline constexpr std::string_view kLineTlsRequired =
    "Error: this server requires TLS (e.g. openssl s_client -quiet -connect HOST:PORT)\r\n";

// True for a Host field value a redirect may carry: a registered name or IPv4 address (letters,
// digits, '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', '%'), or an
// IPv6 literal in brackets, then an optional ":port" of 1-5 digits. Nothing that could end the
// Location field or turn the host into a path or user info ('/', '?', '#', '@', '\\', spaces,
// control bytes).
bool valid_host(std::string_view host);

// The complete response to a plaintext HTTP request: 301 (GET, HEAD) or 308 (other methods,
// which must be repeated as they were) to https://host/target, "Connection: close"; 400 when
// the Host field is missing or not valid_host.
std::string https_redirect(std::string_view method, std::string_view target, bool has_host,
                           std::string_view host);

}  // namespace iocomp::tls
