#include "backends/uring/uring_backend.hpp"

#include <unistd.h>

#include <cstring>
#include <latch>
#include <stdexcept>

#include <fmt/format.h>

#include "backends/uring/operation.hpp"
#include "backends/uring/uring_sqe.hpp"
#include "core/admission.hpp"

namespace iocomp::uring {
namespace {

// user_data of the hand-off ring's own completions.
constexpr std::uint64_t kStopSent = 1;

}  // namespace

UringBackend::UringBackend(const core::BackendEnvironment& env) : env_(env) {
  // A large completion queue: one completion per hand-off, reaped after each batch.
  io_uring_params params{};
  params.flags = IORING_SETUP_CQSIZE;
  params.cq_entries = 4096;
  const int ret = io_uring_queue_init_params(256, &handoff_, &params);
  if (ret < 0) {
    throw std::runtime_error(
        fmt::format("io_uring_queue_init (Linux 6.1 or later is needed): {}", std::strerror(-ret)));
  }
  for (unsigned i = 0; i < env_.config.workers; ++i) {
    workers_.push_back(std::make_unique<UringWorker>(static_cast<int>(i), env_));
  }
}

UringBackend::~UringBackend() {
  join();
  workers_.clear();
  io_uring_queue_exit(&handoff_);
}

void UringBackend::start() {
  std::latch ready(static_cast<std::ptrdiff_t>(workers_.size()));
  running_ = workers_.size();
  for (auto& worker : workers_) {
    threads_.emplace_back([this, &ready, w = worker.get()] {
      w->enable();
      ready.count_down();
      w->run();
      if (running_.fetch_sub(1) == 1) {
        const std::uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = ::write(env_.done_fd, &one, sizeof one);
      }
    });
  }
  ready.wait();
}

void UringBackend::adopt(std::unique_ptr<core::IncomingConnection> incoming) {
  UringWorker& target = *workers_[next_worker_];
  next_worker_ = (next_worker_ + 1) % workers_.size();
  io_uring_sqe* sqe = next_sqe(handoff_);
  core::IncomingConnection* handed = incoming.release();
  handed->published.store(true, std::memory_order_release);
  io_uring_prep_msg_ring(sqe, target.ring_fd(), 0, pack(OpKind::incoming, handed), 0);
  io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uint64_t>(handed));
}

void UringBackend::flush_adopted() {
  io_uring_submit(&handoff_);
  reap();
}

void UringBackend::reap() {
  io_uring_cqe* cqe;
  while (io_uring_peek_cqe(&handoff_, &cqe) == 0) {
    if (cqe->res < 0 && cqe->user_data != kStopSent) {
      // The worker never saw it: close it and give its admission slot back here.
      std::unique_ptr<core::IncomingConnection> lost(
          reinterpret_cast<core::IncomingConnection*>(cqe->user_data));
      ::close(lost->fd);
      env_.admission->release(lost->address_key);
    }
    io_uring_cqe_seen(&handoff_, cqe);
  }
}

void UringBackend::stop() {
  for (auto& worker : workers_) {
    io_uring_sqe* sqe = next_sqe(handoff_);
    io_uring_prep_msg_ring(sqe, worker->ring_fd(), 0, pack(OpKind::stop), 0);
    io_uring_sqe_set_data64(sqe, kStopSent);
  }
  io_uring_submit(&handoff_);
  reap();
}

void UringBackend::join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace iocomp::uring
