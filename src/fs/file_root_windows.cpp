// FileRoot on Windows. Linux lets the kernel confine every open (openat2 RESOLVE_BENEATH);
// Windows has no such flag, so confinement is two checks around CreateFileW: the request name
// must be a plain relative name (fs/windows_path: no "..", drive, UNC, device, stream, trailing
// dot or space, short-name shape), and the handle's final path (GetFinalPathNameByHandleW,
// after every reparse point was followed) must be the root's or beneath it, with no hidden
// component. The path handed to CreateFileW starts with "\\?\", so Win32 does no more
// rewriting of its own (device names, trailing dots) on the way to the file system.
#include "fs/file_root.hpp"

#include <windows.h>

#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "fs/windows_path.hpp"
#include "platform/windows/handles.hpp"
#include "platform/windows/text.hpp"

namespace iocomp::fs {
namespace {

// 100-ns intervals from 1601-01-01 to 1970-01-01.
constexpr std::int64_t kEpochDifference = 116444736000000000LL;

std::int64_t unix_ns(const FILETIME& t) {
  const std::int64_t ticks = static_cast<std::int64_t>(
      (static_cast<std::uint64_t>(t.dwHighDateTime) << 32) | t.dwLowDateTime);
  return (ticks - kEpochDifference) * 100;
}

FileError file_error_from_win32(DWORD error) {
  switch (error) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_INVALID_NAME:
    case ERROR_DIRECTORY:
    case ERROR_BAD_NETPATH:
    case ERROR_BAD_PATHNAME:
      return FileError::not_found;
    case ERROR_ACCESS_DENIED:
    case ERROR_CANT_ACCESS_FILE:       // a reparse point that cannot be followed
    case ERROR_CANT_RESOLVE_FILENAME:  // a loop of reparse points
    case ERROR_NOT_A_REPARSE_POINT:
      return FileError::forbidden;
    case 433:  // ERROR_NO_SUCH_DEVICE (Wine: a Unix socket), not in mingw-w64 10 headers
    case ERROR_BAD_UNIT:
      return FileError::not_regular;
    case ERROR_TOO_MANY_OPEN_FILES:
      return FileError::too_many_files;
    case ERROR_FILENAME_EXCED_RANGE:
    case ERROR_BUFFER_OVERFLOW:
      return FileError::name_too_long;
    default:
      return FileError::io_error;
  }
}

// The final path of an open handle in UTF-8 ("\\?\C:\srv\a.txt"), or "" when it has none.
std::string final_path_of(HANDLE handle) {
  std::wstring path(MAX_PATH, L'\0');
  for (;;) {
    const DWORD n =
        ::GetFinalPathNameByHandleW(handle, path.data(), static_cast<DWORD>(path.size()),
                                    FILE_NAME_NORMALIZED | VOLUME_NAME_DOS);
    if (n == 0) return {};
    if (n < path.size()) {
      path.resize(n);
      return platform::to_utf8(path);
    }
    path.resize(n + 1);  // n counts the terminating NUL when the buffer was too small
  }
}

HANDLE open_path(std::string_view utf8_path, DWORD access) {
  const std::optional<std::wstring> wide = platform::to_wide(utf8_path);
  if (!wide) {
    ::SetLastError(ERROR_INVALID_NAME);
    return INVALID_HANDLE_VALUE;
  }
  // Readers may share it with writers and deleters: the open-file cache keeps files open for a
  // while after their last request, and must not lock them against editing or deletion (on
  // Linux nothing would). A file replaced or shrunk meanwhile is handled as on Linux.
  return ::CreateFileW(wide->c_str(), access,
                       FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
                       OPEN_EXISTING,
                       FILE_FLAG_BACKUP_SEMANTICS |  // directories too
                           FILE_FLAG_SEQUENTIAL_SCAN,
                       nullptr);
}

}  // namespace

std::int64_t OpenFile::read_at(char* out, std::size_t size, std::uint64_t offset) const {
  OVERLAPPED at{};
  at.Offset = static_cast<DWORD>(offset);
  at.OffsetHigh = static_cast<DWORD>(offset >> 32);
  DWORD read = 0;
  const DWORD want = size < 0x7fffffff ? static_cast<DWORD>(size) : 0x7fffffff;
  if (!::ReadFile(platform::handle_of(fd_), out, want, &read, &at)) {
    return ::GetLastError() == ERROR_HANDLE_EOF ? 0 : -1;
  }
  return read;
}

void OpenFile::reset() {
  if (fd_ >= 0) ::CloseHandle(platform::handle_of(fd_));
  fd_ = -1;
}

FileRoot::FileRoot(const std::string& directory, bool allow_hidden)
    : allow_hidden_(allow_hidden), path_(directory) {
  std::optional<std::wstring> wide = platform::to_wide(directory);
  if (!wide) throw std::runtime_error(fmt::format("cannot serve {}: not UTF-8", directory));
  // Kept open for the server's life: the root cannot be renamed or deleted under it.
  const HANDLE handle =
      ::CreateFileW(wide->c_str(), FILE_READ_ATTRIBUTES, FILE_SHARE_READ | FILE_SHARE_WRITE,
                    nullptr, OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, nullptr);
  if (handle == INVALID_HANDLE_VALUE) {
    throw std::runtime_error(
        fmt::format("cannot serve {}: {}", directory, platform::win32_message(::GetLastError())));
  }
  BY_HANDLE_FILE_INFORMATION info{};
  final_path_ = final_path_of(handle);
  if (!platform::int_of_handle(handle, root_fd_) || !::GetFileInformationByHandle(handle, &info) ||
      (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) == 0 || final_path_.empty()) {
    ::CloseHandle(handle);
    root_fd_ = -1;
    throw std::runtime_error(fmt::format("cannot serve {}: not a directory", directory));
  }
}

FileRoot::~FileRoot() {
  if (root_fd_ >= 0) ::CloseHandle(platform::handle_of(root_fd_));
}

std::variant<OpenFile, FileError> FileRoot::open(std::string_view name) const {
  name = relative_name(name);
  if (!allow_hidden_ && is_hidden(name)) return FileError::forbidden;
  std::vector<std::string_view> components;
  switch (windows_path::check_request_name(name, components)) {
    case windows_path::NameVerdict::ok:
      break;
    case windows_path::NameVerdict::forbidden:
      return FileError::forbidden;
    case windows_path::NameVerdict::not_found:
      return FileError::not_found;
    case windows_path::NameVerdict::name_too_long:
      return FileError::name_too_long;
  }
  const HANDLE handle = open_path(windows_path::join(final_path_, components), GENERIC_READ);
  if (handle == INVALID_HANDLE_VALUE) return file_error_from_win32(::GetLastError());
  OpenFile file;  // closes the handle on every refusal below
  int fd = -1;
  if (!platform::int_of_handle(handle, fd)) {
    ::CloseHandle(handle);
    return FileError::io_error;
  }
  BY_HANDLE_FILE_INFORMATION info{};
  if (::GetFileType(handle) != FILE_TYPE_DISK || !::GetFileInformationByHandle(handle, &info)) {
    file = OpenFile(fd, false, 0, 0, 0);
    return FileError::not_regular;
  }
  const bool is_dir = (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) != 0;
  const std::uint64_t size =
      (static_cast<std::uint64_t>(info.nFileSizeHigh) << 32) | info.nFileSizeLow;
  const std::uint64_t index =
      (static_cast<std::uint64_t>(info.nFileIndexHigh) << 32) | info.nFileIndexLow;
  file = OpenFile(fd, is_dir, size, index, unix_ns(info.ftLastWriteTime));
  if (!allow_hidden_ &&
      (info.dwFileAttributes & (FILE_ATTRIBUTE_HIDDEN | FILE_ATTRIBUTE_SYSTEM)) != 0) {
    return FileError::forbidden;
  }
  // Where the handle really leads, after reparse points (symbolic links, junctions, mount
  // points) were followed, and under the file's long name whatever alias was asked for.
  const std::string final_path = final_path_of(handle);
  const std::optional<std::string_view> relative = windows_path::beneath(final_path_, final_path);
  if (final_path.empty() || !relative) return FileError::forbidden;
  if (!allow_hidden_ && windows_path::has_hidden_component(*relative)) return FileError::forbidden;
  return file;
}

bool FileRoot::identity_beneath_unchecked(std::string_view name, Identity& out) const {
  name = relative_name(name);
  std::vector<std::string_view> components;
  if (windows_path::check_request_name(name, components) != windows_path::NameVerdict::ok) {
    return false;
  }
  const HANDLE handle =
      open_path(windows_path::join(final_path_, components), FILE_READ_ATTRIBUTES);
  if (handle == INVALID_HANDLE_VALUE) return false;
  BY_HANDLE_FILE_INFORMATION info{};
  const bool ok = ::GetFileInformationByHandle(handle, &info) != 0;
  ::CloseHandle(handle);
  if (!ok) return false;
  out.regular = (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) == 0;
  out.inode = (static_cast<std::uint64_t>(info.nFileIndexHigh) << 32) | info.nFileIndexLow;
  out.size = (static_cast<std::uint64_t>(info.nFileSizeHigh) << 32) | info.nFileSizeLow;
  out.mtime_ns = unix_ns(info.ftLastWriteTime);
  return true;
}

}  // namespace iocomp::fs
