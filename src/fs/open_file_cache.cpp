#include "fs/open_file_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstring>

namespace iocomp::fs {

bool OpenFileCache::still_valid(std::string_view name, const CachedFile& cached) const {
  struct stat st {};
  if (!root_.stat_beneath_unchecked(name, st)) return false;
  const std::int64_t mtime_ns =
      static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return S_ISREG(st.st_mode) && st.st_ino == cached.file.inode() &&
         static_cast<std::uint64_t>(st.st_size) == cached.file.size() &&
         mtime_ns == cached.file.mtime_ns();
}

void OpenFileCache::evict_oldest() {
  entries_.erase(lru_.back());
  lru_.pop_back();
}

bool OpenFileCache::sweep(std::int64_t now_ms) {
  while (!lru_.empty()) {
    auto it = entries_.find(lru_.back());
    if (now_ms - it->second.last_used_ms < config_.valid_ms) break;
    entries_.erase(it);
    lru_.pop_back();
  }
  return !lru_.empty();
}

void OpenFileCache::invalidate(std::string_view name) {
  name = FileRoot::relative_name(name);
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  lru_.erase(it->second.lru);
  entries_.erase(it);
}

std::variant<std::shared_ptr<const CachedFile>, FileError, OpenFile> OpenFileCache::open(
    std::string_view name, std::int64_t now_ms) {
  name = FileRoot::relative_name(name);
  auto it = entries_.find(name);
  if (it != entries_.end()) {
    CachedFile& cached = *it->second.cached;
    if (now_ms - cached.checked_ms < config_.valid_ms || still_valid(name, cached)) {
      cached.checked_ms = now_ms;
      it->second.last_used_ms = now_ms;
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      return std::shared_ptr<const CachedFile>(it->second.cached);
    }
    lru_.erase(it->second.lru);
    entries_.erase(it);
  }

  auto opened = root_.open(name);
  if (auto* error = std::get_if<FileError>(&opened)) return *error;
  OpenFile& file = std::get<OpenFile>(opened);
  if (file.is_directory()) return std::move(file);

  auto cached = std::make_shared<CachedFile>();
  if (file.size() <= config_.small_file_max) {
    cached->body.resize(file.size());
    const ssize_t n = ::pread(file.fd(), cached->body.data(), cached->body.size(), 0);
    cached->has_body = n == static_cast<ssize_t>(file.size());
    if (!cached->has_body) cached->body.clear();
  }
  cached->file = std::move(file);
  cached->checked_ms = now_ms;
  if (config_.max_entries == 0) return std::shared_ptr<const CachedFile>(std::move(cached));
  if (entries_.size() >= config_.max_entries) evict_oldest();
  lru_.emplace_front(name);
  entries_.emplace(lru_.front(), Entry{cached, lru_.begin(), now_ms});
  return std::shared_ptr<const CachedFile>(std::move(cached));
}

}  // namespace iocomp::fs
