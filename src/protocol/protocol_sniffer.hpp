#pragma once
// Decides from a connection's first bytes whether it speaks HTTP/1.x or the line protocol.
#include <cstddef>
#include <string_view>

namespace iocomp::protocol {

enum class Protocol { undecided, http, line };

// Empty lines (LF or CRLF) at the front are skipped while deciding (RFC 9112 2.2), up to
// `limit` bytes of them. Then HTTP when the first line has the shape "TOKEN SP target SP HTTP/",
// or starts with "TOKEN SP" and ends in " HTTP/1.0" or " HTTP/1.1" whatever lies between (the
// HTTP parser answers 400 for what it refuses), or when `limit` + 2 bytes hold no line end but
// are still shaped like the start of a request line (the parser then answers 414). The line
// protocol when the first line has another shape. Undecided while the first line is incomplete
// and could still become a request line.
Protocol sniff_protocol(std::string_view first_bytes, std::size_t limit);

}  // namespace iocomp::protocol
