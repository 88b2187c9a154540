#include "backends/epoll/epoll_backend.hpp"

#include <unistd.h>

namespace iocomp::epoll {

EpollBackend::EpollBackend(const core::BackendEnvironment& env) : env_(env) {
  for (unsigned i = 0; i < env_.config.workers; ++i) {
    workers_.push_back(std::make_unique<EpollWorker>(static_cast<int>(i), env_));
  }
  fed_.assign(workers_.size(), false);
}

EpollBackend::~EpollBackend() {
  join();
  workers_.clear();
}

void EpollBackend::start() {
  // A worker can take connections from construction on (its queue and eventfd exist): posts
  // made before its thread runs wake its first epoll_wait.
  running_ = workers_.size();
  for (auto& worker : workers_) {
    threads_.emplace_back([this, w = worker.get()] {
      w->run();
      if (running_.fetch_sub(1) == 1) {
        const std::uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = ::write(env_.done_fd, &one, sizeof one);
      }
    });
  }
}

void EpollBackend::adopt(std::unique_ptr<core::IncomingConnection> incoming) {
  const std::size_t target = next_worker_;
  next_worker_ = (next_worker_ + 1) % workers_.size();
  workers_[target]->post(std::move(incoming));
  fed_[target] = true;
}

void EpollBackend::flush_adopted() {
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    if (fed_[i]) {
      fed_[i] = false;
      workers_[i]->wake();
    }
  }
}

void EpollBackend::stop() {
  for (auto& worker : workers_) worker->post_stop();
}

void EpollBackend::join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace iocomp::epoll
