#include "fs/file_root.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace iocomp::fs {

namespace {

// The caller has checked that name.size() < PATH_MAX.
void copy_c_path(std::string_view name, char (&out)[PATH_MAX]) {
  std::memcpy(out, name.data(), name.size());
  out[name.size()] = '\0';
}

std::int64_t mtime_ns_of(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

}  // namespace

std::int64_t OpenFile::read_at(char* out, std::size_t size, std::uint64_t offset) const {
  return ::pread(fd_, out, size, static_cast<off_t>(offset));
}

void OpenFile::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

FileRoot::FileRoot(const std::string& directory, bool allow_hidden)
    : allow_hidden_(allow_hidden), path_(directory) {
  root_fd_ = ::open(directory.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd_ < 0) {
    throw std::runtime_error(fmt::format("cannot serve {}: {}", directory, std::strerror(errno)));
  }
}

FileRoot::~FileRoot() {
  if (root_fd_ >= 0) ::close(root_fd_);
}

std::variant<OpenFile, FileError> FileRoot::open(std::string_view name) const {
  name = relative_name(name);
  if (name.empty()) name = ".";
  if (!allow_hidden_ && is_hidden(name)) return FileError::forbidden;
  if (name.size() >= PATH_MAX) return FileError::name_too_long;
  if (name.find('\0') != std::string_view::npos) return FileError::not_found;
  char path[PATH_MAX];
  copy_c_path(name, path);

  open_how how{};
  how.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  int fd;
  do {
    fd = static_cast<int>(::syscall(SYS_openat2, root_fd_, path, &how, sizeof how));
  } while (fd < 0 && errno == EAGAIN);
  if (fd < 0) return file_error_from_errno(errno);

  struct stat st {};
  if (::fstat(fd, &st) < 0) {
    const int err = errno;
    ::close(fd);
    return file_error_from_errno(err);
  }
  const bool is_dir = S_ISDIR(st.st_mode);
  if (!is_dir && !S_ISREG(st.st_mode)) {
    ::close(fd);
    return FileError::not_regular;
  }
  return OpenFile(fd, is_dir, static_cast<std::uint64_t>(st.st_size), st.st_ino, mtime_ns_of(st));
}

bool FileRoot::identity_beneath_unchecked(std::string_view name, Identity& out) const {
  name = relative_name(name);
  if (name.empty() || name.size() >= PATH_MAX) return false;
  char path[PATH_MAX];
  copy_c_path(name, path);
  struct stat st {};
  if (::fstatat(root_fd_, path, &st, 0) != 0) return false;
  out = {S_ISREG(st.st_mode), st.st_ino, static_cast<std::uint64_t>(st.st_size), mtime_ns_of(st)};
  return true;
}

}  // namespace iocomp::fs
