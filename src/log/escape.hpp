#pragma once
// Client-controlled text on its way to a log: every byte that could rewrite what an operator's
// terminal shows, forge a line or a field, or be misread is written as \xHH (the class of
// nginx's CVE-2009-4487). Pure.
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace iocomp::log {

// Appends `text` to `out` with these written as \xHH, each byte on its own: bytes below 0x20,
// 0x7f, '"' and '\\' (so that an escape in the output is always ours), every byte of an invalid
// UTF-8 sequence (overlong forms, surrogates and code points past U+10FFFF included), and the
// C1 controls U+0080..U+009F (terminals act on them, e.g. U+009B is a CSI). Valid UTF-8 text is
// kept as it is.
void append_escaped(std::string& out, std::string_view text);
std::string escaped(std::string_view text);

// Marks a value for a log format string: fmt::format("{}", Untrusted{name}) escapes it.
struct Untrusted {
  std::string_view text;
};

}  // namespace iocomp::log

template <>
struct fmt::formatter<iocomp::log::Untrusted> : fmt::formatter<std::string_view> {
  template <typename Context>
  auto format(const iocomp::log::Untrusted& value, Context& context) const {
    // Reused: formatting a log line allocates nothing once the buffer has grown.
    thread_local std::string buffer;
    buffer.clear();
    iocomp::log::append_escaped(buffer, value.text);
    return fmt::formatter<std::string_view>::format(buffer, context);
  }
};
