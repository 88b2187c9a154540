#include "fs/file_root.hpp"

#include "fs/directory_reader.hpp"

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

FileError file_error_from_errno(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return FileError::not_found;
    case EACCES:
    case EPERM:
    case EXDEV:
    case ELOOP:
      return FileError::forbidden;
    case ENXIO:  // a socket, or a FIFO with no writer
    case ENODEV:
      return FileError::not_regular;
    case EMFILE:
    case ENFILE:
      return FileError::too_many_files;
    case ENAMETOOLONG:
      return FileError::name_too_long;
    default:
      return FileError::io_error;
  }
}

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

std::string_view describe(FileError error) {
  switch (error) {
    case FileError::not_found:
      return "not found";
    case FileError::forbidden:
      return "forbidden";
    case FileError::not_regular:
      return "not a regular file";
    case FileError::too_many_files:
      return "too many open files";
    case FileError::name_too_long:
      return "name too long";
    case FileError::io_error:
      return "I/O error";
  }
  return "error";
}

OpenFile& OpenFile::operator=(OpenFile&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = other.fd_;
    is_directory_ = other.is_directory_;
    size_ = other.size_;
    inode_ = other.inode_;
    mtime_ns_ = other.mtime_ns_;
    other.fd_ = -1;
  }
  return *this;
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

bool FileRoot::is_hidden(std::string_view name) {
  std::size_t start = 0;
  while (start < name.size()) {
    std::size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    const std::string_view part = name.substr(start, end - start);
    if (!part.empty() && part.front() == '.' && part != "." && part != "..") return true;
    start = end + 1;
  }
  return false;
}

std::string_view FileRoot::relative_name(std::string_view name) {
  while (!name.empty() && name.front() == '/') name.remove_prefix(1);
  return name;
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

bool FileRoot::stat_beneath_unchecked(std::string_view name, struct stat& out) const {
  name = relative_name(name);
  if (name.empty() || name.size() >= PATH_MAX) return false;
  char path[PATH_MAX];
  copy_c_path(name, path);
  return ::fstatat(root_fd_, path, &out, 0) == 0;
}

std::variant<std::vector<ListedEntry>, FileError> FileRoot::list(const OpenFile& directory,
                                                                 std::string_view relative) const {
  auto opened = DirectoryReader::open(*this, directory, relative);
  if (const auto* error = std::get_if<FileError>(&opened)) return *error;
  auto& reader = std::get<DirectoryReader>(opened);
  std::vector<ListedEntry> entries;
  for (;;) {
    switch (reader.read(1024, entries)) {
      case DirectoryReader::Status::more:
        break;
      case DirectoryReader::Status::end:
        return entries;
      case DirectoryReader::Status::error:
        return file_error_from_errno(reader.error());
    }
  }
}

}  // namespace iocomp::fs
