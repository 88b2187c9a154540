#include "backends/uring/uring_worker.hpp"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>

#include <fmt/format.h>

#include "backends/uring/operation.hpp"
#include "backends/uring/uring_connection.hpp"
#include "backends/uring/uring_sqe.hpp"
#include "core/incoming.hpp"
#include "fs/page_cache.hpp"

namespace iocomp::uring {
namespace {

[[noreturn]] void fail(const char* what, int err) {
  throw std::runtime_error(fmt::format("{}: {}", what, std::strerror(err)));
}

}  // namespace

UringWorker::UringWorker(int index, const core::BackendEnvironment& env,
                         const RingConfig& ring_config)
    : core::LoopWorker(index, env),
      ring_config_(ring_config),
      async_cold_reads_(env.config.async_cold_reads && fs::page_cache_probe_available()) {
  io_uring_params params{};
  // Only this worker's thread submits, and completions' task work runs when it asks for events:
  // fewer interrupts and no cross-thread wakeups. The ring starts disabled: the thread that
  // enables it (run()) becomes its single issuer.
  params.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER |
                 IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE | IORING_SETUP_R_DISABLED;
  params.cq_entries = ring_config_.ring_entries * 8;
  const int ret = io_uring_queue_init_params(ring_config_.ring_entries, &ring_, &params);
  if (ret < 0) fail("io_uring_queue_init (Linux 6.1 or later is needed)", -ret);

  const unsigned count = ring_config_.recv_buffer_count;
  buf_ring_bytes_ = count * sizeof(io_uring_buf);
  void* mem =
      ::mmap(nullptr, buf_ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) fail("mmap", errno);
  buf_ring_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(buf_ring_);
  reg.ring_entries = count;
  reg.bgid = 0;
  const int rr = io_uring_register_buf_ring(&ring_, &reg, 0);
  if (rr < 0) fail("io_uring_register_buf_ring", -rr);
  io_uring_buf_ring_init(buf_ring_);
  // Anonymous memory: pages become resident only when a receive first lands in them.
  buffers_ = static_cast<char*>(::mmap(nullptr, std::size_t{count} * recv_buffer_size(),
                                       PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0));
  if (buffers_ == MAP_FAILED) fail("mmap", errno);
  const int mask = io_uring_buf_ring_mask(count);
  for (unsigned i = 0; i < count; ++i) {
    io_uring_buf_ring_add(buf_ring_, buffers_ + std::size_t{i} * recv_buffer_size(),
                          recv_buffer_size(), static_cast<unsigned short>(i), mask,
                          static_cast<int>(i));
  }
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(count));
}

UringWorker::~UringWorker() {
  // The base destructor frees the connections left (after a drain deadline): closing their
  // sockets needs no ring.
  io_uring_queue_exit(&ring_);
  if (buffers_ != nullptr) {
    ::munmap(buffers_, std::size_t{ring_config_.recv_buffer_count} * recv_buffer_size());
  }
  if (buf_ring_ != nullptr) ::munmap(buf_ring_, buf_ring_bytes_);
  // The worker ends once every connection is released, so no read into it is in flight.
  if (warm_buffer_ != nullptr) ::munmap(warm_buffer_, 4096);
}

char* UringWorker::warm_buffer() {
  if (warm_buffer_ == nullptr) {
    void* mem = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) throw std::bad_alloc();  // the connection's guard turns it into a drop
    warm_buffer_ = static_cast<char*>(mem);
  }
  return warm_buffer_;
}

io_uring_sqe* UringWorker::get_sqe() {
  return next_sqe(ring_);
}

const char* UringWorker::buffer_data(unsigned short buffer_id) const {
  return buffers_ + std::size_t{buffer_id} * recv_buffer_size();
}

void UringWorker::recycle_buffer(unsigned short buffer_id) {
  io_uring_buf_ring_add(buf_ring_, buffers_ + std::size_t{buffer_id} * recv_buffer_size(),
                        recv_buffer_size(), buffer_id,
                        io_uring_buf_ring_mask(ring_config_.recv_buffer_count), 0);
  io_uring_buf_ring_advance(buf_ring_, 1);
}

void UringWorker::queue_retry_recv(Connection& c) {
  retry_recv_.push(&c);
}

core::LoopConnection* UringWorker::make_connection(int fd, std::string peer,
                                                   std::string address_key) {
  return new Connection(*this, fd, std::move(peer), std::move(address_key));
}

void UringWorker::run_backend_deferred() {
  for (core::DeferredNode* node = retry_recv_.take_all(); node != nullptr;) {
    core::DeferredNode* next = node->deferred_next;
    auto* c = static_cast<Connection*>(node);
    guarded(c, [c] { c->retry_recv(); });
    node = next;
  }
}

void UringWorker::arm_tick() {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_timeout(sqe, &tick_interval_, 0, 0);
  io_uring_sqe_set_data64(sqe, pack(OpKind::tick));
  tick_armed_ = true;
}

void UringWorker::dispatch(const io_uring_cqe& cqe) {
  const std::uint64_t data = cqe.user_data;
  Connection* const c = object_of<Connection>(data);
  switch (kind_of(data)) {
    case OpKind::recv:
      guarded(c, [&] { c->on_recv_complete(cqe.res, cqe.flags); });
      break;
    case OpKind::warm:
      guarded(c, [&] { c->on_warm_complete(cqe.res); });
      break;
    case OpKind::send:
      guarded(c, [&] { c->on_send_complete(cqe.res); });
      break;
    case OpKind::poll_out:
      guarded(c, [&] { c->on_poll_out_complete(cqe.res, cqe.flags); });
      break;
    case OpKind::incoming: {
      std::unique_ptr<core::IncomingConnection> incoming(object_of<core::IncomingConnection>(data));
      if (!incoming->published.load(std::memory_order_acquire)) std::abort();  // cannot happen
      adopt(std::move(incoming));
      break;
    }
    case OpKind::stop:
      request_stop();
      break;
    case OpKind::tick:
      tick_armed_ = false;
      break;
    case OpKind::cancel:
      break;
  }
}

void UringWorker::enable() {
  // liburing 2.3 declares io_uring_enable_rings but does not export it: call the kernel.
  if (::syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0) <
      0) {
    fail("IORING_REGISTER_ENABLE_RINGS", errno);
  }
  io_uring_register_ring_fd(&ring_);
}

void UringWorker::run() {
  begin_turn();
  for (;;) {
    if (finished()) break;
    if (!tick_armed_ && wants_tick()) arm_tick();
    int ret;
    if (has_deferred_work()) {
      ret = io_uring_submit_and_get_events(&ring_);  // deferred work waits: do not sleep
    } else {
      ret = io_uring_submit_and_wait(&ring_, 1);
    }
    if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EBUSY && ret != -EAGAIN) {
      log_.event("-", "worker {}: io_uring_enter failed: {}", index(), std::strerror(-ret));
    }
    begin_turn();
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      dispatch(*cqe);
      ++seen;
    }
    io_uring_cq_advance(&ring_, seen);
    end_turn();
  }
  io_uring_submit(&ring_);
  log_.flush();
}

}  // namespace iocomp::uring
