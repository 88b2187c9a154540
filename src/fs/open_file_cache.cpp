#include "fs/open_file_cache.hpp"

namespace iocomp::fs {

bool OpenFileCache::still_valid(std::string_view name, const CachedFile& cached) const {
  FileRoot::Identity now{};
  if (!root_.identity_beneath_unchecked(name, now)) return false;
  return now.regular && now.inode == cached.file.inode() && now.size == cached.file.size() &&
         now.mtime_ns == cached.file.mtime_ns();
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

std::shared_ptr<CachedFile> OpenFileCache::load(OpenFile file, std::int64_t now_ms) const {
  auto cached = std::make_shared<CachedFile>();
  if (file.size() <= config_.small_file_max) {
    cached->body.resize(file.size());
    const std::int64_t n = file.read_at(cached->body.data(), cached->body.size(), 0);
    cached->has_body = n == static_cast<std::int64_t>(file.size());
    if (!cached->has_body) cached->body.clear();
  }
  cached->file = std::move(file);
  cached->checked_ms = now_ms;
  return cached;
}

void OpenFileCache::probe_variants(std::string_view name, CachedFile& cached,
                                   std::int64_t now_ms) const {
  cached.variant_mask = 0;
  std::string variant_name(name);
  for (std::size_t i = 0; i < http::kCodingCount; ++i) {
    const auto coding = static_cast<http::Coding>(i);
    variant_name.resize(name.size());
    variant_name.append(http::coding_suffix(coding));
    std::shared_ptr<const CachedFile>& slot = cached.variants[i];
    // A known variant costs one fstatat while unchanged; a new or changed one is (re)opened
    // through FileRoot::open, which alone decides confinement and the hidden-name rule.
    if (slot == nullptr || !still_valid(variant_name, *slot)) {
      slot.reset();
      auto opened = root_.open(variant_name);
      if (auto* file = std::get_if<OpenFile>(&opened); file != nullptr && !file->is_directory()) {
        slot = load(std::move(*file), now_ms);
      }
    }
    if (slot != nullptr) cached.variant_mask |= http::coding_bit(coding);
  }
}

std::variant<std::shared_ptr<const CachedFile>, FileError, OpenFile> OpenFileCache::open(
    std::string_view name, std::int64_t now_ms) {
  name = FileRoot::relative_name(name);
  auto it = entries_.find(name);
  if (it != entries_.end()) {
    CachedFile& cached = *it->second.cached;
    // Only a check restarts the validity: a file hit more often than valid_ms would otherwise
    // never be checked again.
    bool fresh = now_ms - cached.checked_ms < config_.valid_ms;
    if (!fresh && still_valid(name, cached)) {
      if (config_.precompressed) probe_variants(name, cached, now_ms);
      cached.checked_ms = now_ms;
      fresh = true;
    }
    if (fresh) {
      it->second.last_used_ms = now_ms;
      if (counters_ != nullptr) counters_->hits.fetch_add(1, std::memory_order_relaxed);
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      return std::shared_ptr<const CachedFile>(it->second.cached);
    }
    lru_.erase(it->second.lru);
    entries_.erase(it);
  }

  if (counters_ != nullptr) counters_->misses.fetch_add(1, std::memory_order_relaxed);
  auto opened = root_.open(name);
  if (auto* error = std::get_if<FileError>(&opened)) return *error;
  OpenFile& file = std::get<OpenFile>(opened);
  if (file.is_directory()) return std::move(file);

  std::shared_ptr<CachedFile> cached = load(std::move(file), now_ms);
  if (config_.precompressed) probe_variants(name, *cached, now_ms);
  if (config_.max_entries == 0) return std::shared_ptr<const CachedFile>(std::move(cached));
  if (entries_.size() >= config_.max_entries) evict_oldest();
  lru_.emplace_front(name);
  entries_.emplace(lru_.front(), Entry{cached, lru_.begin(), now_ms});
  return std::shared_ptr<const CachedFile>(std::move(cached));
}

}  // namespace iocomp::fs
