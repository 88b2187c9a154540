#pragma once
// Reads a directory a bounded batch at a time, so that a directory of any size can be listed
// without holding it all and without a single long pause of the worker. The filtering is the
// one rule for what a listing may show (FileRoot::list is built on it).
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "fs/file_root.hpp"

namespace iocomp::fs {

class DirectoryReader {
 public:
  enum class Status { more, end, error };

  // Bytes of the getdents64 buffer: one system call fills it with about 8192 / (19 + name
  // length) entries, and it is the reader's whole memory apart from the entries it returns.
  static constexpr std::size_t kBufferSize = 8192;

  // Opens a private descriptor on `directory` (the directory found at `relative` beneath
  // `root`), so that the caller may close or cache its own.
  static std::variant<DirectoryReader, FileError> open(const FileRoot& root,
                                                       const OpenFile& directory,
                                                       std::string_view relative);

  DirectoryReader(DirectoryReader&& other) noexcept { *this = std::move(other); }
  DirectoryReader& operator=(DirectoryReader&& other) noexcept;
  DirectoryReader(const DirectoryReader&) = delete;
  DirectoryReader& operator=(const DirectoryReader&) = delete;
  ~DirectoryReader();

  // Examines at most `max_examined` directory entries (each costs an fstatat, a symlink also an
  // openat2), appends those a listing may show to `out`, and says whether more remain. Skipped:
  // "." and "..", hidden names unless the root allows them, anything that is not a regular file
  // or a directory, and symlinks that do not resolve beneath the root (whose target's size and
  // date must not leak either); a symlink is described by its target.
  Status read(std::size_t max_examined, std::vector<ListedEntry>& out);

  // The errno of the failed getdents64, after Status::error.
  int error() const { return error_; }

 private:
  DirectoryReader(const FileRoot& root, int fd, std::string_view relative);

  const FileRoot* root_ = nullptr;
  int fd_ = -1;
  std::string prefix_;  // relative path of the directory with a trailing '/', "" for the root
  std::unique_ptr<char[]> buffer_;
  std::size_t filled_ = 0;
  std::size_t position_ = 0;
  bool at_end_ = false;
  int error_ = 0;
};

}  // namespace iocomp::fs
