#pragma once
// The only way into the file system: every name is resolved beneath the served root
// (openat2 with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so "..", absolute names and symlinks
// leaving the root are refused by the kernel, not by string checks.
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace iocomp::fs {

enum class FileError {
  not_found,       // ENOENT, ENOTDIR, empty name
  forbidden,       // EACCES, EPERM, escapes the root (EXDEV), magic links / loops (ELOOP)
  not_regular,     // a FIFO, socket or device node: never served
  too_many_files,  // EMFILE / ENFILE
  name_too_long,   // ENAMETOOLONG
  io_error,        // anything else
};

std::string_view describe(FileError error);
// The FileError for an errno from open, openat2, fstat or getdents.
FileError file_error_from_errno(int err);

// An open file or directory; the fd is closed by the destructor.
class OpenFile {
 public:
  OpenFile() = default;
  OpenFile(int fd, bool is_directory, std::uint64_t size, std::uint64_t inode,
           std::int64_t mtime_ns)
      : fd_(fd), is_directory_(is_directory), size_(size), inode_(inode), mtime_ns_(mtime_ns) {}
  OpenFile(OpenFile&& other) noexcept { *this = std::move(other); }
  OpenFile& operator=(OpenFile&& other) noexcept;
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  ~OpenFile() { reset(); }

  void reset();
  bool is_open() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  bool is_directory() const { return is_directory_; }
  std::uint64_t size() const { return size_; }
  std::uint64_t inode() const { return inode_; }
  std::int64_t mtime_ns() const { return mtime_ns_; }
  std::time_t mtime() const { return static_cast<std::time_t>(mtime_ns_ / 1000000000); }
  // Reads up to `size` bytes at `offset` (pread); the count read, or -1.
  std::int64_t read_at(char* out, std::size_t size, std::uint64_t offset) const;

 private:
  int fd_ = -1;
  bool is_directory_ = false;
  std::uint64_t size_ = 0;
  std::uint64_t inode_ = 0;
  std::int64_t mtime_ns_ = 0;
};

struct ListedEntry {
  std::string name;
  bool is_directory = false;
  std::uint64_t size = 0;
  std::time_t modified = 0;
};

class FileRoot {
 public:
  // Opens the root directory; throws std::runtime_error when it cannot. Unless allow_hidden,
  // names with a component starting with '.' (other than "." and "..") are refused.
  explicit FileRoot(const std::string& directory, bool allow_hidden = false);
  FileRoot(const FileRoot&) = delete;
  FileRoot& operator=(const FileRoot&) = delete;
  ~FileRoot();

  // Opens a regular file or a directory beneath the root. Leading slashes are dropped, so
  // "/etc/passwd" means "<root>/etc/passwd". Never blocks on FIFOs (O_NONBLOCK) and refuses
  // anything that is not a regular file or a directory.
  std::variant<OpenFile, FileError> open(std::string_view name) const;

  // Lists the whole open directory found at `relative`, filtered as DirectoryReader::read
  // says. Holds every entry: a server lists through DirectoryReader, a batch at a time.
  std::variant<std::vector<ListedEntry>, FileError> list(const OpenFile& directory,
                                                         std::string_view relative) const;

  // `name` without its leading slashes: every name is relative to the root ("/etc/passwd" is
  // "<root>/etc/passwd").
  static std::string_view relative_name(std::string_view name);

  // True when some component of `name` starts with '.' (and is not "." or "..").
  static bool is_hidden(std::string_view name);

  // What a name relative to the root leads to now (fstatat, following symlinks) WITHOUT
  // confinement: only for comparing identity with a file already opened through open()
  // (OpenFileCache). Never use its result to decide what may be served.
  struct Identity {
    bool regular = false;
    std::uint64_t inode = 0;  // on Windows, the file's index on its volume
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
  };
  bool identity_beneath_unchecked(std::string_view name, Identity& out) const;

  const std::string& path() const { return path_; }
  bool allow_hidden() const { return allow_hidden_; }

 private:
  int root_fd_ = -1;  // on Windows, the root directory's HANDLE (see platform/windows/handles.hpp)
  bool allow_hidden_ = false;
  std::string path_;
  std::string final_path_;  // Windows: the root as GetFinalPathNameByHandleW names it (UTF-8)
};

}  // namespace iocomp::fs
