#pragma once
// Whether a file range is in the page cache, asked without reading it (cachestat(2), Linux 6.5):
// how a worker learns that sendfile would read the disk on its own thread, and so stall every
// other connection it runs, before it calls sendfile.
#include <cstdint>

namespace iocomp::fs {

// True when the kernel has cachestat(2) (decided once, on first use).
bool page_cache_probe_available();

// False only when the kernel says some page of [offset, offset + length) is not in the page
// cache; true when all are, and when it cannot tell (no cachestat, a file system that does not
// support it): then the caller does what it did without asking.
bool range_cached(int fd, std::uint64_t offset, std::uint64_t length);

}  // namespace iocomp::fs
