#include "fs/directory_reader.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace iocomp::fs {

std::variant<DirectoryReader, FileError> DirectoryReader::open(const FileRoot& root,
                                                               const OpenFile& directory,
                                                               std::string_view relative) {
  const int fd = ::openat(directory.fd(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return file_error_from_errno(errno);
  return DirectoryReader(root, fd, relative);
}

DirectoryReader::DirectoryReader(const FileRoot& root, int fd, std::string_view relative)
    : root_(&root), fd_(fd), prefix_(FileRoot::relative_name(relative)) {
  while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
  if (!prefix_.empty()) prefix_.push_back('/');
}

DirectoryReader& DirectoryReader::operator=(DirectoryReader&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
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
  if (fd_ >= 0) ::close(fd_);
}

DirectoryReader::Status DirectoryReader::read(std::size_t max_examined,
                                              std::vector<ListedEntry>& out) {
  if (error_ != 0) return Status::error;
  if (at_end_) return Status::end;
  if (!buffer_) buffer_ = std::make_unique<char[]>(kBufferSize);
  for (std::size_t examined = 0; examined < max_examined; ++examined) {
    if (position_ == filled_) {
      ssize_t n;
      do {
        n = ::getdents64(fd_, buffer_.get(), kBufferSize);
      } while (n < 0 && errno == EINTR);
      if (n < 0) {
        error_ = errno;
        return Status::error;
      }
      filled_ = static_cast<std::size_t>(n);
      position_ = 0;
      if (n == 0) {
        at_end_ = true;
        // The buffer is the reader's only memory worth returning while the caller renders.
        buffer_.reset();
        return Status::end;
      }
    }
    // dirent64 records are 8-byte aligned within the buffer; copy the fixed part to be safe
    // from strict-aliasing and alignment rules.
    const char* record = buffer_.get() + position_;
    unsigned short record_length = 0;
    std::memcpy(&record_length, record + offsetof(struct dirent64, d_reclen), sizeof record_length);
    position_ += record_length;
    const char* c_name = record + offsetof(struct dirent64, d_name);
    const std::string_view name(c_name);
    if (name == "." || name == "..") continue;
    if (!root_->allow_hidden() && name.front() == '.') continue;
    struct stat st {};
    if (::fstatat(fd_, c_name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
    if (S_ISLNK(st.st_mode)) {
      // Described by what it leads to, and only when that is beneath the root: opened through
      // the root (openat2 RESOLVE_BENEATH), never stat'ed directly.
      std::string target_name(prefix_);
      target_name.append(name);
      auto target = root_->open(target_name);
      const auto* file = std::get_if<OpenFile>(&target);
      if (file == nullptr) continue;
      out.push_back({std::string(name), file->is_directory(), file->size(), file->mtime()});
      continue;
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) continue;
    out.push_back({std::string(name), S_ISDIR(st.st_mode), static_cast<std::uint64_t>(st.st_size),
                   st.st_mtim.tv_sec});
  }
  return Status::more;
}

}  // namespace iocomp::fs
