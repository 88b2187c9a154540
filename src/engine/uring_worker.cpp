#include "engine/uring_worker.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <new>
#include <stdexcept>

#include <fmt/format.h>

#include "engine/admission.hpp"
#include "engine/incoming.hpp"
#include "engine/listener.hpp"
#include "engine/operation.hpp"
#include "engine/uring_connection.hpp"
#include "engine/uring_sqe.hpp"
#include "util/monotonic_clock.hpp"

namespace iocomp::engine {
namespace {

[[noreturn]] void fail(const char* what, int err) {
  throw std::runtime_error(fmt::format("{}: {}", what, std::strerror(err)));
}

}  // namespace

UringWorker::UringWorker(int index, const WorkerConfig& config, SessionFactory factory,
                         AdmissionControl& admission, log::LogSink* sink, Housekeeping housekeeping)
    : index_(index),
      config_(config),
      factory_(std::move(factory)),
      housekeeping_(std::move(housekeeping)),
      admission_(admission),
      log_(sink) {
  io_uring_params params{};
  // Only this worker's thread submits, and completions' task work runs when it asks for events:
  // fewer interrupts and no cross-thread wakeups. The ring starts disabled: the thread that
  // enables it (run()) becomes its single issuer.
  params.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER |
                 IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE | IORING_SETUP_R_DISABLED;
  params.cq_entries = config_.ring_entries * 8;
  const int ret = io_uring_queue_init_params(config_.ring_entries, &ring_, &params);
  if (ret < 0) fail("io_uring_queue_init (Linux 6.1 or later is needed)", -ret);

  const unsigned count = config_.recv_buffer_count;
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
  buffers_ = static_cast<char*>(::mmap(nullptr, std::size_t{count} * config_.recv_buffer_size,
                                       PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0));
  if (buffers_ == MAP_FAILED) fail("mmap", errno);
  const int mask = io_uring_buf_ring_mask(count);
  for (unsigned i = 0; i < count; ++i) {
    io_uring_buf_ring_add(buf_ring_, buffers_ + std::size_t{i} * config_.recv_buffer_size,
                          config_.recv_buffer_size, static_cast<unsigned short>(i), mask,
                          static_cast<int>(i));
  }
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(count));

  timers_[static_cast<int>(TimerClass::header)].duration_ms = config_.header_timeout_ms;
  timers_[static_cast<int>(TimerClass::idle)].duration_ms = config_.idle_timeout_ms;
  timers_[static_cast<int>(TimerClass::send)].duration_ms = config_.send_timeout_ms;
  timers_[static_cast<int>(TimerClass::linger)].duration_ms = config_.linger_timeout_ms;
}

UringWorker::~UringWorker() {
  while (connections_ != nullptr) {
    Connection* c = connections_;
    unlink(*c);
    admission_.release(c->address_key_);
    delete c;
  }
  io_uring_queue_exit(&ring_);
  if (buffers_ != nullptr) {
    ::munmap(buffers_, std::size_t{config_.recv_buffer_count} * config_.recv_buffer_size);
  }
  if (buf_ring_ != nullptr) ::munmap(buf_ring_, buf_ring_bytes_);
}

io_uring_sqe* UringWorker::get_sqe() {
  return next_sqe(ring_);
}

const char* UringWorker::buffer_data(unsigned short buffer_id) const {
  return buffers_ + std::size_t{buffer_id} * config_.recv_buffer_size;
}

void UringWorker::recycle_buffer(unsigned short buffer_id) {
  io_uring_buf_ring_add(buf_ring_, buffers_ + std::size_t{buffer_id} * config_.recv_buffer_size,
                        config_.recv_buffer_size, buffer_id,
                        io_uring_buf_ring_mask(config_.recv_buffer_count), 0);
  io_uring_buf_ring_advance(buf_ring_, 1);
}

void UringWorker::link(Connection& c) {
  c.next_ = connections_;
  if (connections_ != nullptr) connections_->prev_ = &c;
  connections_ = &c;
}

void UringWorker::unlink(Connection& c) {
  if (c.prev_ != nullptr) c.prev_->next_ = c.next_;
  if (c.next_ != nullptr) c.next_->prev_ = c.prev_;
  if (connections_ == &c) connections_ = c.next_;
  c.prev_ = c.next_ = nullptr;
  disarm_timer(c);
}

// Every timer class has one fixed duration, so appending at the tail keeps each list sorted by
// deadline: arming, re-arming and disarming are O(1) and expiry only looks at list heads.
void UringWorker::arm_timer(Connection& c, TimerClass cls) {
  disarm_timer(c);
  TimerList& list = timers_[static_cast<int>(cls)];
  c.timer_class_ = cls;
  c.deadline_ms_ = now_ms_ + list.duration_ms;
  c.timer_prev_ = list.tail;
  c.timer_next_ = nullptr;
  if (list.tail != nullptr) {
    list.tail->timer_next_ = &c;
  } else {
    list.head = &c;
  }
  list.tail = &c;
}

void UringWorker::disarm_timer(Connection& c) {
  if (c.timer_class_ == TimerClass::none) return;
  TimerList& list = timers_[static_cast<int>(c.timer_class_)];
  if (c.timer_prev_ != nullptr) {
    c.timer_prev_->timer_next_ = c.timer_next_;
  } else {
    list.head = c.timer_next_;
  }
  if (c.timer_next_ != nullptr) {
    c.timer_next_->timer_prev_ = c.timer_prev_;
  } else {
    list.tail = c.timer_prev_;
  }
  c.timer_prev_ = c.timer_next_ = nullptr;
  c.timer_class_ = TimerClass::none;
}

void UringWorker::expire_timers() {
  for (int i = 1; i < static_cast<int>(TimerClass::count); ++i) {
    TimerList& list = timers_[i];
    while (list.head != nullptr && list.head->deadline_ms_ <= now_ms_) {
      Connection* c = list.head;
      disarm_timer(*c);
      c->on_timer(static_cast<TimerClass>(i));
    }
  }
  if (draining_ && now_ms_ >= drain_deadline_ms_) {
    for (Connection* c = connections_; c != nullptr; c = c->next_) c->hard_close();
  }
}

bool UringWorker::timers_pending() const {
  for (int i = 1; i < static_cast<int>(TimerClass::count); ++i) {
    if (timers_[i].head != nullptr) return true;
  }
  return draining_ || housekeeping_pending_;
}

void UringWorker::arm_tick() {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_timeout(sqe, &tick_interval_, 0, 0);
  io_uring_sqe_set_data64(sqe, pack(OpKind::tick));
  tick_armed_ = true;
}

void UringWorker::adopt(IncomingConnection* raw) {
  std::unique_ptr<IncomingConnection> incoming(raw);
  if (!incoming->published.load(std::memory_order_acquire)) std::abort();  // cannot happen
  if (draining_) {
    ::close(incoming->fd);
    admission_.release(incoming->address_key);
    return;
  }
  const int one = 1;
  ::setsockopt(incoming->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  Connection* c = nullptr;
  try {
    c = new Connection(*this, incoming->fd, format_socket_address(&incoming->peer),
                       std::move(incoming->address_key));
  } catch (const std::bad_alloc&) {
    ++out_of_memory_drops_;
    ::close(incoming->fd);
    admission_.release(incoming->address_key);
    return;
  }
  link(*c);
  for_connection(c, [&] {
    c->start(factory_(*c, log_, index_));
    c->maybe_release();
  });
}

void UringWorker::begin_drain() {
  if (draining_) return;
  draining_ = true;
  drain_deadline_ms_ = now_ms_ + config_.drain_timeout_ms;
  for (Connection* c = connections_; c != nullptr;) {
    Connection* next = c->next_;
    if (c->state_ == Connection::State::open) {
      c->session().on_drain();
    } else {
      c->hard_close();
    }
    c = next;
  }
}

// Out of memory while handling one connection drops that connection, not the process.
// hard_close allocates nothing (release_ keeps its capacity), so it is safe to call here.
template <typename Work>
void UringWorker::for_connection(Connection* c, Work&& work) {
  try {
    work();
  } catch (const std::bad_alloc&) {
    ++out_of_memory_drops_;
    c->hard_close();
  }
}

void UringWorker::dispatch(const io_uring_cqe& cqe) {
  const std::uint64_t data = cqe.user_data;
  Connection* const c = object_of<Connection>(data);
  switch (kind_of(data)) {
    case OpKind::recv:
      for_connection(c, [&] { c->on_recv_complete(cqe.res, cqe.flags); });
      break;
    case OpKind::send:
      for_connection(c, [&] { c->on_send_complete(cqe.res); });
      break;
    case OpKind::poll_out:
      for_connection(c, [&] { c->on_poll_out_complete(cqe.res, cqe.flags); });
      break;
    case OpKind::incoming:
      adopt(object_of<IncomingConnection>(data));
      break;
    case OpKind::stop:
      stop_requested_ = true;
      begin_drain();
      break;
    case OpKind::tick:
      tick_armed_ = false;
      break;
    case OpKind::cancel:
      break;
  }
}

void UringWorker::run_deferred() {
  if (out_of_memory_drops_ > 0) {
    // Reported here, where there is memory to format a line again (or it is dropped).
    try {
      log_.event("-", "worker {}: out of memory: {} connection(s) dropped", index_,
                 out_of_memory_drops_);
    } catch (const std::bad_alloc&) {
    }
    out_of_memory_drops_ = 0;
  }
  // Take each list whole first: the callbacks below may queue connections for the next turn.
  for (Connection* c = resume_send_.take_all(); c != nullptr;) {
    Connection* next = c->deferred_next_;
    for_connection(c, [c] { c->resume_send(); });
    c = next;
  }
  for (Connection* c = retry_recv_.take_all(); c != nullptr;) {
    Connection* next = c->deferred_next_;
    for_connection(c, [c] { c->retry_recv(); });
    c = next;
  }
  for (Connection* c = release_.take_all(); c != nullptr;) {
    Connection* next = c->deferred_next_;
    unlink(*c);
    admission_.release(c->address_key_);
    delete c;
    c = next;
  }
}

void UringWorker::DeferredList::push(Connection* c) {
  c->deferred_next_ = nullptr;
  if (tail != nullptr) {
    tail->deferred_next_ = c;
  } else {
    head = c;
  }
  tail = c;
}

Connection* UringWorker::DeferredList::take_all() {
  Connection* chain = head;
  head = tail = nullptr;
  return chain;
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
  now_ms_ = util::monotonic_ms();
  for (;;) {
    if (stop_requested_ && connections_ == nullptr) break;
    if (!tick_armed_ && timers_pending()) arm_tick();
    int ret;
    if (!resume_send_.empty() || !retry_recv_.empty()) {
      ret = io_uring_submit_and_get_events(&ring_);  // deferred work waits: do not sleep
    } else {
      ret = io_uring_submit_and_wait(&ring_, 1);
    }
    if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EBUSY && ret != -EAGAIN) {
      log_.event("-", "worker {}: io_uring_enter failed: {}", index_, std::strerror(-ret));
    }

    now_ms_ = util::monotonic_ms();
    timespec wall{};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &wall);
    log_.set_time(wall);

    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      dispatch(*cqe);
      ++seen;
    }
    io_uring_cq_advance(&ring_, seen);

    expire_timers();
    if (housekeeping_) housekeeping_pending_ = housekeeping_(index_, now_ms_);
    run_deferred();
    log_.flush();
  }
  io_uring_submit(&ring_);
  log_.flush();
}

}  // namespace iocomp::engine
