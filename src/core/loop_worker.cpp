#include "core/loop_worker.hpp"

#include <cerrno>
#include <ctime>
#include <new>

#include "core/admission.hpp"
#include "core/listener.hpp"
#include "platform/socket.hpp"
#include "util/monotonic_clock.hpp"

namespace iocomp::core {

LoopConnection::LoopConnection(LoopWorker& worker, std::string peer, std::string address_key)
    : worker_(worker), peer_(std::move(peer)), address_key_(std::move(address_key)) {}

LoopConnection::~LoopConnection() = default;

bool LoopConnection::draining() const {
  return worker_.draining();
}

void LoopConnection::start(std::unique_ptr<SessionHandler> session) {
  session_ = std::move(session);
  session_->on_open();
}

bool LoopConnection::move_admission(std::string_view address_key) {
  std::string key(address_key);  // may throw: before anything changed
  if (worker_.admission().rekey(address_key_, key) != Admission::admitted) return false;
  address_key_.swap(key);
  return true;
}

void LoopConnection::set_timer(TimerKind kind) {
  if (!is_open()) return;
  switch (kind) {
    case TimerKind::none:
      worker_.disarm_timer(*this);
      break;
    case TimerKind::header:
      worker_.arm_timer(*this, TimerClass::header);
      break;
    case TimerKind::idle:
      worker_.arm_timer(*this, TimerClass::idle);
      break;
    case TimerKind::pace:
      worker_.arm_timer(*this, TimerClass::pace);
      break;
  }
}

void LoopConnection::on_timer(TimerClass cls) {
  switch (cls) {
    case TimerClass::header:
      session_->on_timeout(TimerKind::header);
      break;
    case TimerClass::idle:
      session_->on_timeout(TimerKind::idle);
      break;
    case TimerClass::pace:
      session_->on_timeout(TimerKind::pace);
      break;
    case TimerClass::send: {
      const std::uint64_t sent = bytes_sent_;
      hard_close();
      session_->on_sent(-ETIMEDOUT, sent);
      break;
    }
    case TimerClass::linger:
    case TimerClass::none:
    case TimerClass::count:
      hard_close();
      break;
  }
}

void LoopConnection::maybe_release() {
  if (!queued_ && releasable()) {
    queued_ = true;
    worker_.queue_release(*this);
  }
}

void LoopConnection::defer_send() {
  queued_ = true;
  worker_.queue_resume_send(*this);
}

LoopWorker::LoopWorker(int index, const BackendEnvironment& env)
    : log_(env.logs), env_(env), index_(index) {
  const EngineConfig& c = env_.config;
  timers_.set_duration(TimerClass::header, c.header_timeout_ms);
  timers_.set_duration(TimerClass::idle, c.idle_timeout_ms);
  timers_.set_duration(TimerClass::send, c.send_timeout_ms);
  timers_.set_duration(TimerClass::linger, c.linger_timeout_ms);
  timers_.set_duration(TimerClass::pace, c.pace_ms);
  now_ms_ = util::monotonic_ms();
}

LoopWorker::~LoopWorker() {
  while (connections_ != nullptr) {
    LoopConnection* c = connections_;
    unlink(*c);
    env_.admission->release(c->address_key_);
    delete c;
  }
}

void LoopWorker::link(LoopConnection& c) {
  c.next_ = connections_;
  if (connections_ != nullptr) connections_->prev_ = &c;
  connections_ = &c;
}

void LoopWorker::unlink(LoopConnection& c) {
  if (c.prev_ != nullptr) c.prev_->next_ = c.next_;
  if (c.next_ != nullptr) c.next_->prev_ = c.prev_;
  if (connections_ == &c) connections_ = c.next_;
  c.prev_ = c.next_ = nullptr;
  timers_.disarm(c);
}

void LoopWorker::free_connection(LoopConnection* c) {
  unlink(*c);
  env_.admission->release(c->address_key_);
  delete c;
}

void LoopWorker::adopt(std::unique_ptr<IncomingConnection> incoming) {
  if (draining_) {
    platform::close_socket(incoming->fd);
    env_.admission->release(incoming->address_key);
    return;
  }
  platform::set_tcp_nodelay(incoming->fd);
  LoopConnection* c = nullptr;
  try {
    // The key is copied, not moved: if the connection cannot be made, the slot is released
    // under it below.
    c = make_connection(incoming->fd, format_socket_address(&incoming->peer),
                        incoming->address_key);
  } catch (const std::bad_alloc&) {
    ++out_of_memory_drops_;
    platform::close_socket(incoming->fd);
    env_.admission->release(incoming->address_key);
    return;
  }
  link(*c);
  guarded(c, [&] {
    c->start(env_.factory(*c, log_, index_));
    c->maybe_release();
  });
}

void LoopWorker::begin_drain() {
  if (draining_) return;
  draining_ = true;
  drain_deadline_ms_ = now_ms_ + env_.config.drain_timeout_ms;
  for (LoopConnection* c = connections_; c != nullptr;) {
    LoopConnection* next = c->next_;
    if (c->is_open()) {
      guarded(c, [c] { c->session().on_drain(); });
    } else {
      c->hard_close();
    }
    c = next;
  }
}

void LoopWorker::begin_turn() {
  now_ms_ = util::monotonic_ms();
  timespec wall{};
  ::clock_gettime(util::kRealtimeCoarse, &wall);
  log_.set_time(wall);
}

void LoopWorker::end_turn() {
  timers_.expire(now_ms_, [this](TimerNode& node, TimerClass cls) {
    auto* c = static_cast<LoopConnection*>(&node);
    guarded(c, [c, cls] { c->on_timer(cls); });
  });
  if (draining_ && now_ms_ >= drain_deadline_ms_) {
    for (LoopConnection* c = connections_; c != nullptr; c = c->next_) c->hard_close();
  }
  if (env_.housekeeping) housekeeping_pending_ = env_.housekeeping(index_, now_ms_);

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
  for (DeferredNode* node = resume_send_.take_all(); node != nullptr;) {
    DeferredNode* next = node->deferred_next;
    auto* c = static_cast<LoopConnection*>(node);
    c->queued_ = false;
    guarded(c, [c] { c->resume_send(); });
    node = next;
  }
  run_backend_deferred();
  for (DeferredNode* node = release_.take_all(); node != nullptr;) {
    DeferredNode* next = node->deferred_next;
    free_connection(static_cast<LoopConnection*>(node));
    node = next;
  }
  log_.flush();
}

}  // namespace iocomp::core
