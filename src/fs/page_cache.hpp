#pragma once
// Whether a file range is in the page cache, asked without reading it (cachestat(2), Linux 6.5):
// how a worker learns that sendfile would read the disk on its own thread, and so stall every
// other connection it runs, before it calls sendfile.
#include <cstddef>
#include <cstdint>

namespace iocomp::fs {

// The most a worker brings into the page cache at a time (Channel::warm, the engines' own warms
// before sendfile): a few milliseconds of a disk, a few pieces of a TLS transfer.
inline constexpr std::uint64_t kWarmBytes = 1u << 20;

// True when the kernel has cachestat(2) (decided once, on first use).
bool page_cache_probe_available();

// False only when the kernel says some page of [offset, offset + length) is not in the page
// cache; true when all are, and when it cannot tell (no cachestat, a file system that does not
// support it): then the caller does what it did without asking.
bool range_cached(int fd, std::uint64_t offset, std::uint64_t length);

// How far the file range of a transfer is known to be in the page cache, so that each part is
// asked about once (a cachestat per chunk, not per call) and a part just brought in is not
// asked about again. One per connection, reset at each new range.
class WarmWindow {
 public:
  // A new range starts at `offset`: nothing of it is known yet.
  void reset(std::uint64_t offset) { until_ = offset; }
  // True when [offset, offset + length) is known to be cached, or cachestat says it is (then
  // remembered); false when some page is not: the caller brings it in first.
  bool cached(int fd, std::uint64_t offset, std::uint64_t length) {
    if (offset + length <= until_) return true;
    if (!range_cached(fd, offset, length)) return false;
    until_ = offset + length;
    return true;
  }
  // The bytes before `end` were just brought in (or the attempt is over): no second look.
  void brought_in(std::uint64_t end) { until_ = end; }
  // Whether the byte at `offset` was covered by the last brought_in.
  bool known(std::uint64_t offset) const { return offset < until_; }

 private:
  std::uint64_t until_ = 0;
};

// Reads up to `length` bytes at `offset` only as far as they are in the page cache
// (preadv2 with RWF_NOWAIT): the bytes read, 0 at the end of the file, -EAGAIN when the first
// page is not cached (nothing was read; the disk was not waited for), or -errno. Where the file
// system cannot tell (EOPNOTSUPP), reads as pread does.
long read_cached(int fd, std::uint64_t offset, char* buffer, std::size_t length);

// pread, retried on EINTR: the bytes read, 0 at the end of the file, or -errno.
long read_blocking(int fd, std::uint64_t offset, char* buffer, std::size_t length);

}  // namespace iocomp::fs
