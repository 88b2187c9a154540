#pragma once
// UTF-8 (the server's strings) to and from UTF-16 (the Windows API), and Windows error texts.
#include <windows.h>

#include <optional>
#include <string>
#include <string_view>

namespace iocomp::platform {

// nullopt when `text` is not valid UTF-8 (no file can have such a name on Windows).
std::optional<std::wstring> to_wide(std::string_view text);
// Unpaired surrogates become U+FFFD.
std::string to_utf8(std::wstring_view text);
// "The system cannot find the file specified. (2)"
std::string win32_message(DWORD error);

}  // namespace iocomp::platform
