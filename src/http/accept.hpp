#pragma once
// Content negotiation on the Accept field (RFC 9110 12.5.1). Pure.
#include <string_view>

namespace iocomp::http {

// The quality (0..1000, thousandths) the Accept field value gives to `type` ("text/html"): the
// q of the most specific matching media range (type/subtype over type/* over */*), 0 when none
// matches. An empty field accepts everything (1000). Malformed ranges and q-values are skipped,
// never an error.
int accept_quality(std::string_view accept, std::string_view type);

// True when the client prefers application/json to text/html: JSON with q > 0 and strictly
// above HTML. "*/*", an absent field and ties mean HTML (a browser's default).
bool prefers_json(std::string_view accept);

}  // namespace iocomp::http
