#include "http/cors.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

#include "http/field_list.hpp"

namespace iocomp::http {
namespace {

constexpr std::string_view kAllowedMethods = "GET, HEAD, OPTIONS";
constexpr std::string_view kExposedHeaders =
    "Content-Length, Content-Range, Content-Encoding, Accept-Ranges, ETag, Last-Modified";
// What a page may set on a download: ranges and validators to resume, credentials, content
// negotiation. Lowercase, as browsers send them in Access-Control-Request-Headers.
constexpr std::array<std::string_view, 9> kAllowedRequestHeaders = {
    "range",          "if-range",
    "if-none-match",  "if-modified-since",
    "if-match",       "if-unmodified-since",
    "authorization",  "accept",
    "accept-encoding"};
constexpr std::string_view kAllowedRequestHeaderList =
    "Range, If-Range, If-None-Match, If-Modified-Since, If-Match, If-Unmodified-Since, "
    "Authorization, Accept, Accept-Encoding";

bool header_allowed(std::string_view name) {
  if (name.empty() || !std::all_of(name.begin(), name.end(), is_tchar)) return false;
  return std::any_of(kAllowedRequestHeaders.begin(), kAllowedRequestHeaders.end(),
                     [&](std::string_view allowed) { return equals_ignore_case(name, allowed); });
}

// Empty when `origin` is a serialised origin (scheme "://" host [":" port], lowercase, as
// browsers send it) or "null"; else why not.
std::string origin_problem(std::string_view origin) {
  if (origin == "null") return {};
  const std::size_t sep = origin.find("://");
  if (sep == std::string_view::npos || sep == 0) return "it has no scheme (like https://)";
  const std::string_view host = origin.substr(sep + 3);
  if (host.empty()) return "it has no host";
  if (host.find('/') != std::string_view::npos) {
    return "an origin has no path, not even a trailing '/'";
  }
  for (const char c : origin) {
    if (c >= 'A' && c <= 'Z') return "browsers send origins in lowercase";
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == ',') {
      return "it contains a space, a comma or a control character";
    }
  }
  return {};
}

bool listed(const CorsPolicy& policy, std::string_view origin) {
  return std::find(policy.origins.begin(), policy.origins.end(), origin) != policy.origins.end();
}

// Credentials go only to origins named one by one: "*" with credentials would let every web
// page a logged-in browser visits read the protected files. For "*" the answer stays a plain
// "*", with which browsers neither send credentials nor expose a credentialed response.
void append_allow_origin(const CorsPolicy& policy, std::string_view origin, std::string& out) {
  if (policy.credentials && listed(policy, origin)) {
    out.append("Access-Control-Allow-Origin: ").append(origin).append("\r\n");
    out.append("Access-Control-Allow-Credentials: true\r\n");
  } else if (policy.any_origin) {
    out.append("Access-Control-Allow-Origin: *\r\n");
  } else {
    out.append("Access-Control-Allow-Origin: ").append(origin).append("\r\n");
  }
}

// The answer does not depend on the request's Origin.
bool static_answer(const CorsPolicy& policy) {
  return policy.any_origin && !(policy.credentials && !policy.origins.empty());
}

}  // namespace

bool CorsPolicy::allows(std::string_view origin) const {
  if (origin.empty()) return false;
  return any_origin || listed(*this, origin);
}

CorsPolicy make_cors_policy(const std::vector<std::string>& configured, bool credentials) {
  CorsPolicy policy;
  policy.credentials = credentials;
  for (const std::string& origin : configured) {
    if (origin == "*") {
      policy.any_origin = true;
      continue;
    }
    if (const std::string problem = origin_problem(origin); !problem.empty()) {
      throw std::invalid_argument("--cors " + origin + ": not an origin: " + problem);
    }
    policy.origins.push_back(origin);
  }
  return policy;
}

void append_cors_headers(const CorsPolicy& policy, std::string_view origin, std::string& out) {
  if (!policy.enabled()) return;
  // The same URL is answered differently for different origins: a shared cache must key on
  // Origin, including for requests without one or from refused origins.
  if (!static_answer(policy)) out.append("Vary: Origin\r\n");
  // "*" does not depend on the request, so it is sent even without Origin and a cached
  // response serves every page.
  if (!static_answer(policy) && !policy.allows(origin)) return;
  append_allow_origin(policy, origin, out);
  out.append("Access-Control-Expose-Headers: ").append(kExposedHeaders).append("\r\n");
}

bool is_preflight(const Request& request) {
  return request.method_kind == Method::options && !request.origin.empty() &&
         !request.access_control_request_method.empty();
}

PreflightVerdict evaluate_preflight(const CorsPolicy& policy, std::string_view origin,
                                    std::string_view method, std::string_view request_headers) {
  if (!policy.allows(origin)) return PreflightVerdict::origin_not_allowed;
  // Methods are case-sensitive (RFC 9110 9.1); Fetch upper-cases only the standard ones.
  if (method != "GET" && method != "HEAD" && method != "OPTIONS") {
    return PreflightVerdict::method_not_allowed;
  }
  const bool all_allowed = for_each_list_element(request_headers, header_allowed);
  return all_allowed ? PreflightVerdict::allowed : PreflightVerdict::header_not_allowed;
}

std::string_view describe(PreflightVerdict verdict) {
  switch (verdict) {
    case PreflightVerdict::allowed:
      return "allowed";
    case PreflightVerdict::origin_not_allowed:
      return "origin not allowed";
    case PreflightVerdict::method_not_allowed:
      return "method not allowed";
    case PreflightVerdict::header_not_allowed:
      return "request header not allowed";
  }
  return "refused";
}

void append_preflight_headers(const CorsPolicy& policy, std::string_view origin,
                              std::string_view request_headers, std::string& out) {
  if (!static_answer(policy)) out.append("Vary: Origin\r\n");
  append_allow_origin(policy, origin, out);
  out.append("Access-Control-Allow-Methods: ").append(kAllowedMethods).append("\r\n");
  // Echo what was asked (every name was checked against the list): the answer is then exact
  // whatever the case or order the browser used. Without a request, name the whole list.
  const std::string_view asked = trim_ows(request_headers);
  out.append("Access-Control-Allow-Headers: ")
      .append(asked.empty() ? kAllowedRequestHeaderList : asked)
      .append("\r\nAccess-Control-Max-Age: 86400\r\n");
}

}  // namespace iocomp::http
