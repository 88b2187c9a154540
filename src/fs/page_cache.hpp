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

// Reads up to `length` bytes at `offset` only as far as they are in the page cache
// (preadv2 with RWF_NOWAIT): the bytes read, 0 at the end of the file, -EAGAIN when the first
// page is not cached (nothing was read; the disk was not waited for), or -errno. Where the file
// system cannot tell (EOPNOTSUPP), reads as pread does.
long read_cached(int fd, std::uint64_t offset, char* buffer, std::size_t length);

// pread, retried on EINTR: the bytes read, 0 at the end of the file, or -errno.
long read_blocking(int fd, std::uint64_t offset, char* buffer, std::size_t length);

}  // namespace iocomp::fs
