#pragma once
// Kernel handles in the int slots of the portable code (OpenFile::fd, FileRange::fd,
// IncomingConnection::fd). Windows documents handles as 32-bit significant: 64-bit processes
// share them with 32-bit ones by truncating and sign-extending, so an int holds a file or socket
// handle without loss, and -1 is INVALID_HANDLE_VALUE. A file handle is kept as such rather
// than wrapped in a C runtime descriptor (_open_osfhandle): TransmitFile and ReadFile want the
// handle, and msvcrt's descriptor table stops at 2,048 open files.
#include <windows.h>

namespace iocomp::platform {

inline HANDLE handle_of(int fd) {
  return reinterpret_cast<HANDLE>(static_cast<INT_PTR>(fd));
}

// False (and the handle left to the caller) when the value does not fit, which Windows does not
// produce; checked rather than assumed.
inline bool int_of_handle(HANDLE handle, int& out) {
  const auto value = reinterpret_cast<INT_PTR>(handle);
  if (value < 0 || value > 0x7fffffff) return false;
  out = static_cast<int>(value);
  return true;
}

}  // namespace iocomp::platform
