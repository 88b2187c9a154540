#pragma once
#include <liburing.h>

namespace iocomp::uring {

// A free submission slot; when the queue is full, hands it to the kernel first. Never null.
inline io_uring_sqe* next_sqe(io_uring& ring) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  while (sqe == nullptr) {
    io_uring_submit(&ring);
    sqe = io_uring_get_sqe(&ring);
  }
  return sqe;
}

}  // namespace iocomp::uring
