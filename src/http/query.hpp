#pragma once
// Looking up one parameter of a request-target's query ("a=1&b=x+y"). Pure.
#include <optional>
#include <string>
#include <string_view>

namespace iocomp::http {

// The raw query of a request-target: after the first '?', before any '#'; empty when none.
std::string_view query_of(std::string_view target);

// The value of the first `name=value` pair in `query` whose name matches `name` exactly (after
// decoding), decoded as application/x-www-form-urlencoded ('+' is a space, %XX a byte). A bare
// `name` gives "". nullopt when the name is absent; a pair with a malformed escape is skipped
// as if absent, so a bad parameter never turns into an error.
std::optional<std::string> query_parameter(std::string_view query, std::string_view name);

}  // namespace iocomp::http
