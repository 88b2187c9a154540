#pragma once
// Cross-origin resource sharing (Fetch standard, "CORS protocol"): which origins may read our
// responses from a web page, and the answer to a preflight. Pure: strings in, header lines out.
#include <string>
#include <string_view>
#include <vector>

#include "http/request_parser.hpp"

namespace iocomp::http {

struct CorsPolicy {
  std::vector<std::string> origins;  // serialised origins, compared exactly (case-sensitive)
  bool any_origin = false;           // "*" was configured
  // Basic authentication is on: origins listed one by one get their origin echoed with
  // Access-Control-Allow-Credentials (browsers send credentials only then); "*" never does.
  bool credentials = false;

  bool enabled() const { return any_origin || !origins.empty(); }
  bool allows(std::string_view origin) const;
};

// `configured`: the --cors values ("*" for any). Throws std::invalid_argument naming a value
// that is not an origin (a trailing slash or a path is the usual mistake).
CorsPolicy make_cors_policy(const std::vector<std::string>& configured, bool credentials);

// Headers for an ordinary (non-preflight) response to a request with `origin` ("" when it
// had none): Access-Control-Allow-Origin, -Allow-Credentials, -Expose-Headers and Vary, as
// CRLF-terminated lines. Appends nothing when the policy is disabled.
void append_cors_headers(const CorsPolicy& policy, std::string_view origin, std::string& out);

// An OPTIONS request with Origin and Access-Control-Request-Method.
bool is_preflight(const Request& request);

enum class PreflightVerdict { allowed, origin_not_allowed, method_not_allowed, header_not_allowed };

// `method` and `request_headers` are the Access-Control-Request-Method and
// Access-Control-Request-Headers values.
PreflightVerdict evaluate_preflight(const CorsPolicy& policy, std::string_view origin,
                                    std::string_view method, std::string_view request_headers);

std::string_view describe(PreflightVerdict verdict);

// The headers of an allowed preflight's 204 (evaluate_preflight returned allowed).
void append_preflight_headers(const CorsPolicy& policy, std::string_view origin,
                              std::string_view request_headers, std::string& out);

}  // namespace iocomp::http
