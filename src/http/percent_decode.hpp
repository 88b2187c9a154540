#pragma once
// Turns a request-target into a path relative to the served root. Pure.
#include <string>
#include <string_view>
#include <variant>

namespace iocomp::http {

struct DecodedPath {
  std::string relative;         // normalized, no leading slash, "" for the root itself
  bool trailing_slash = false;  // the decoded path ended in '/'
};

// Accepts origin-form ("/a/b?q") and absolute-form ("http://host/a/b"). Drops query and
// fragment, percent-decodes once, collapses repeated slashes and "." segments, resolves ".."
// lexically. Returns an HTTP status instead (400) for: no leading '/', bad %-escape, NUL,
// backslash, control characters, or ".." climbing above the root.
std::variant<DecodedPath, int> decode_request_path(std::string_view target);

// Percent-encodes one path segment for use in an href (keeps unreserved characters).
std::string percent_encode_segment(std::string_view segment);

}  // namespace iocomp::http
