// DirectoryReader on Windows: GetFileInformationByHandleEx(FileFullDirectoryInfo) on a
// duplicate of the directory's handle fills the same 8 KiB buffer that getdents64 fills on
// Linux. Every entry is then described through FileRoot::open, which alone decides what may be
// served: a directory entry cannot be trusted to say it is a reparse point (Wine reports a Unix
// symbolic link as the file it leads to), so what an entry leads to, and whether that is
// beneath the root, is learnt by opening it. One open per entry, only for listings.
#include "fs/directory_reader.hpp"

#include <windows.h>

#include <cerrno>
#include <cstring>

#include "fs/windows_path.hpp"
#include "platform/windows/handles.hpp"
#include "platform/windows/text.hpp"

namespace iocomp::fs {
std::variant<DirectoryReader, FileError> DirectoryReader::open(const FileRoot& root,
                                                               const OpenFile& directory,
                                                               std::string_view relative) {
  HANDLE copy = nullptr;
  const HANDLE process = ::GetCurrentProcess();
  if (!::DuplicateHandle(process, platform::handle_of(directory.fd()), process, &copy, 0, FALSE,
                         DUPLICATE_SAME_ACCESS)) {
    return FileError::io_error;
  }
  int fd = -1;
  if (!platform::int_of_handle(copy, fd)) {
    ::CloseHandle(copy);
    return FileError::io_error;
  }
  return DirectoryReader(root, fd, relative);
}

DirectoryReader::DirectoryReader(const FileRoot& root, int fd, std::string_view relative)
    : root_(&root), fd_(fd), prefix_(FileRoot::relative_name(relative)) {
  while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
  if (!prefix_.empty()) prefix_.push_back('/');
}

DirectoryReader& DirectoryReader::operator=(DirectoryReader&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::CloseHandle(platform::handle_of(fd_));
    root_ = other.root_;
    fd_ = std::exchange(other.fd_, -1);
    prefix_ = std::move(other.prefix_);
    buffer_ = std::move(other.buffer_);
    filled_ = other.filled_;
    position_ = other.position_;
    at_end_ = other.at_end_;
    error_ = other.error_;
  }
  return *this;
}

DirectoryReader::~DirectoryReader() {
  if (fd_ >= 0) ::CloseHandle(platform::handle_of(fd_));
}

DirectoryReader::Status DirectoryReader::read(std::size_t max_examined,
                                              std::vector<ListedEntry>& out) {
  if (error_ != 0) return Status::error;
  if (at_end_) return Status::end;
  if (!buffer_) buffer_ = std::make_unique<char[]>(kBufferSize);
  for (std::size_t examined = 0; examined < max_examined; ++examined) {
    if (position_ == filled_) {
      // The first call restarts the scan: the duplicate shares its position with the original.
      const FILE_INFO_BY_HANDLE_CLASS what =
          filled_ == 0 ? FileFullDirectoryRestartInfo : FileFullDirectoryInfo;
      if (!::GetFileInformationByHandleEx(platform::handle_of(fd_), what, buffer_.get(),
                                          static_cast<DWORD>(kBufferSize))) {
        const DWORD err = ::GetLastError();
        if (err == ERROR_NO_MORE_FILES) {
          at_end_ = true;
          buffer_.reset();
          return Status::end;
        }
        error_ = err == ERROR_ACCESS_DENIED ? EACCES : EIO;
        return Status::error;
      }
      filled_ = kBufferSize;
      position_ = 0;
    }
    // Records are 8-byte aligned in the buffer, chained by NextEntryOffset (0: the last one).
    FILE_FULL_DIR_INFO record;
    std::memcpy(&record, buffer_.get() + position_, offsetof(FILE_FULL_DIR_INFO, FileName));
    const char* wide_name = buffer_.get() + position_ + offsetof(FILE_FULL_DIR_INFO, FileName);
    std::wstring wide(record.FileNameLength / sizeof(wchar_t), L'\0');
    std::memcpy(wide.data(), wide_name, wide.size() * sizeof(wchar_t));
    position_ = record.NextEntryOffset != 0 ? position_ + record.NextEntryOffset : filled_;

    const std::string name = platform::to_utf8(wide);
    if (name.empty() || name == "." || name == "..") continue;
    const DWORD attributes = record.FileAttributes;
    if (!root_->allow_hidden() &&
        (name.front() == '.' || (attributes & (FILE_ATTRIBUTE_HIDDEN | FILE_ATTRIBUTE_SYSTEM)))) {
      continue;
    }
    // A name FileRoot::open would refuse (a short-name shape, a trailing dot) is not shown.
    std::vector<std::string_view> components;
    if (windows_path::check_request_name(name, components) != windows_path::NameVerdict::ok) {
      continue;
    }
    std::string target_name(prefix_);
    target_name.append(name);
    auto target = root_->open(target_name);
    const auto* file = std::get_if<OpenFile>(&target);
    if (file == nullptr) continue;
    out.push_back({name, file->is_directory(), file->size(), file->mtime()});
  }
  return Status::more;
}

}  // namespace iocomp::fs
