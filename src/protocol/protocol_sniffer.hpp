#pragma once
// Decides from a connection's first bytes whether it speaks HTTP/1.x or the line protocol.
#include <cstddef>
#include <string_view>

namespace iocomp::protocol {

enum class Protocol { undecided, http, line };

// HTTP when the first line has the shape "TOKEN SP target SP HTTP/"; the line protocol when the
// first line is complete and has another shape, or when `limit` bytes hold no line end.
// Undecided while the first line is incomplete and could still become a request line.
Protocol sniff_protocol(std::string_view first_bytes, std::size_t limit);

}  // namespace iocomp::protocol
