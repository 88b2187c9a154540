#include "fs/page_cache.hpp"

#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

namespace iocomp::fs {
namespace {

// From <linux/mman.h> of Linux 6.5 (Debian 12's headers predate it).
struct CachestatRange {
  std::uint64_t off;
  std::uint64_t len;
};
struct Cachestat {
  std::uint64_t nr_cache;
  std::uint64_t nr_dirty;
  std::uint64_t nr_writeback;
  std::uint64_t nr_evicted;
  std::uint64_t nr_recently_evicted;
};
#ifdef __NR_cachestat
constexpr long kCachestat = __NR_cachestat;
#elif defined(__x86_64__) || defined(__aarch64__)
constexpr long kCachestat = 451;  // the same number on every architecture (the unified table)
#else
constexpr long kCachestat = -1;
#endif

long cachestat(int fd, CachestatRange* range, Cachestat* out) {
  if (kCachestat < 0) {
    errno = ENOSYS;
    return -1;
  }
  return ::syscall(kCachestat, fd, range, out, 0u);
}

}  // namespace

bool page_cache_probe_available() {
  static const bool available = [] {
    CachestatRange range{0, 1};
    Cachestat stat{};
    // A bad descriptor: EBADF when the call exists, ENOSYS when it does not.
    return cachestat(-1, &range, &stat) == 0 || errno != ENOSYS;
  }();
  return available;
}

bool range_cached(int fd, std::uint64_t offset, std::uint64_t length) {
  if (length == 0 || !page_cache_probe_available()) return true;
  static const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  CachestatRange range{offset, length};
  Cachestat stat{};
  if (cachestat(fd, &range, &stat) != 0) return true;
  const std::uint64_t pages = (offset + length - 1) / page - offset / page + 1;
  // (A range past the end of a file that shrank counts as not cached: the read that follows
  // finds the end, and sendfile then reports it.)
  return stat.nr_cache >= pages;
}

long read_blocking(int fd, std::uint64_t offset, char* buffer, std::size_t length) {
  ssize_t n;
  do {
    n = ::pread(fd, buffer, length, static_cast<off_t>(offset));
  } while (n < 0 && errno == EINTR);
  return n < 0 ? -static_cast<long>(errno) : static_cast<long>(n);
}

long read_cached(int fd, std::uint64_t offset, char* buffer, std::size_t length) {
  iovec vector{buffer, length};
  ssize_t n;
  do {
    n = ::preadv2(fd, &vector, 1, static_cast<off_t>(offset), RWF_NOWAIT);
  } while (n < 0 && errno == EINTR);
  if (n >= 0) return static_cast<long>(n);
  if (errno == EOPNOTSUPP) return read_blocking(fd, offset, buffer, length);
  return -static_cast<long>(errno);
}

}  // namespace iocomp::fs
