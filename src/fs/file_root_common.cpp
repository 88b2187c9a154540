// The parts of FileRoot that are the same on every platform; file_root.cpp (Linux, openat2) and
// file_root_windows.cpp hold the rest.
#include "fs/file_root.hpp"

#include <cerrno>

#include "fs/directory_reader.hpp"

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
