#pragma once
// Per-worker cache of open files: descriptor, metadata, validators and, for small files, the
// bytes themselves, so that a hot file costs no open/fstat/close (and for small files no
// sendfile) per request. One cache per worker thread: no locks.
//
// Freshness: an entry is trusted for `valid_ms`; after that one fstatat of its name checks that
// the name still leads to the same inode with the same size and mtime, else the entry is
// replaced through FileRoot::open (so confinement is always decided by openat2). Within the
// validity window a file changed in place is served as it was when cached (a consistent old
// copy for small files; for large files, sendfile reads the current bytes and a shrink ends the
// response cleanly).
//
// Pre-compressed variants (name.br, name.zst, name.gz) are looked up with the entry of `name`:
// when it is created and each time it is revalidated, never on a hit, so a file without
// variants costs no system call more per request than before.
#include <array>
#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>

#include "fs/file_root.hpp"
#include "http/accept_encoding.hpp"

namespace iocomp::fs {

// Lookups answered from the cache and those that went to the file system, for the metrics: one
// writer (the worker), read by the metrics scrape.
struct CacheCounters {
  std::atomic<std::uint64_t> hits{0};
  std::atomic<std::uint64_t> misses{0};
};

struct CacheConfig {
  std::size_t max_entries = 1024;
  std::int64_t valid_ms = 1000;
  std::uint64_t small_file_max = 16384;  // files up to this size are kept in memory
  bool precompressed = true;             // look for name.br, name.zst, name.gz beside name
};

struct CachedFile {
  OpenFile file;
  std::string body;  // the whole content when has_body
  bool has_body = false;
  std::int64_t checked_ms = 0;
  // Regular files beside this one holding it pre-compressed, indexed by http::Coding; each is
  // opened through FileRoot::open and validated together with this entry. Empty for a variant.
  std::array<std::shared_ptr<const CachedFile>, http::kCodingCount> variants;
  http::CodingMask variant_mask = 0;  // bit set for each present variant

  const CachedFile& variant(http::Coding coding) const {
    return *variants[static_cast<std::size_t>(coding)];
  }
};

class OpenFileCache {
 public:
  // `counters`: where hits and misses are counted (may be null, may be shared by caches).
  OpenFileCache(const FileRoot& root, const CacheConfig& config, CacheCounters* counters = nullptr)
      : root_(root), config_(config), counters_(counters) {}

  // A regular file beneath the root (directories and errors are not cached: the caller uses
  // FileRoot::open for them). `name` is relative to the root, as for FileRoot::open.
  std::variant<std::shared_ptr<const CachedFile>, FileError, OpenFile> open(std::string_view name,
                                                                            std::int64_t now_ms);

  // Drops the entry for `name`, e.g. after a transfer found the file shorter than cached.
  void invalidate(std::string_view name);

  // Closes the entries not used for the validity period, oldest first, so that a deleted or
  // replaced file does not keep its descriptor (and its disk space) in the cache; an entry still
  // being sent stays open until its transfer ends. Costs one comparison when nothing expired.
  // Returns true while entries remain (the caller keeps calling it).
  bool sweep(std::int64_t now_ms);

  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::shared_ptr<CachedFile> cached;
    std::list<std::string>::iterator lru;
    std::int64_t last_used_ms = 0;
  };
  // Heterogeneous lookup: no std::string is built for a hit.
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  bool still_valid(std::string_view name, const CachedFile& cached) const;
  // A new entry for an open regular file, holding its bytes too when small.
  std::shared_ptr<CachedFile> load(OpenFile file, std::int64_t now_ms) const;
  // Looks for the variants of `name` again, keeping those that are still the same file.
  void probe_variants(std::string_view name, CachedFile& cached, std::int64_t now_ms) const;
  void evict_oldest();

  const FileRoot& root_;
  CacheConfig config_;
  CacheCounters* counters_;
  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> entries_;
  std::list<std::string> lru_;  // front = most recently used, so expiry only looks at the back
};

}  // namespace iocomp::fs
