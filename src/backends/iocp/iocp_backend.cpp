#include "backends/iocp/iocp_backend.hpp"

#include "backends/iocp/iocp_operation.hpp"
#include "core/admission.hpp"
#include "core/incoming.hpp"
#include "log/event_log.hpp"
#include "platform/socket.hpp"

namespace iocomp::iocp {

IocpBackend::IocpBackend(const core::BackendEnvironment& env, const SocketExtensions& extensions,
                         std::function<void()> on_stopped)
    : env_(env), on_stopped_(std::move(on_stopped)) {
  for (unsigned i = 0; i < env_.config.workers; ++i) {
    workers_.push_back(std::make_unique<IocpWorker>(static_cast<int>(i), env_, extensions));
  }
}

IocpBackend::~IocpBackend() {
  join();
}

void IocpBackend::start() {
  running_ = workers_.size();
  for (auto& worker : workers_) {
    threads_.emplace_back([this, w = worker.get()] {
      w->run();
      if (running_.fetch_sub(1) == 1) on_stopped_();
    });
  }
}

void IocpBackend::adopt(std::unique_ptr<core::IncomingConnection> incoming) {
  IocpWorker& target = *workers_[next_worker_];
  next_worker_ = (next_worker_ + 1) % workers_.size();
  const SOCKET socket = platform::to_socket(incoming->fd);
  // Associated before the worker learns of it: every operation it starts completes on its port.
  if (::CreateIoCompletionPort(reinterpret_cast<HANDLE>(socket), target.port(),
                               static_cast<ULONG_PTR>(CompletionKey::socket_io), 0) == nullptr) {
    ::closesocket(socket);
    env_.admission->release(incoming->address_key);
    return;
  }
  core::IncomingConnection* handed = incoming.release();
  handed->published.store(true, std::memory_order_release);
  if (!::PostQueuedCompletionStatus(target.port(), 0,
                                    static_cast<ULONG_PTR>(CompletionKey::incoming),
                                    reinterpret_cast<OVERLAPPED*>(handed))) {
    // The worker never sees it: close it and give its admission slot back here.
    std::unique_ptr<core::IncomingConnection> lost(handed);
    ::closesocket(socket);
    env_.admission->release(lost->address_key);
  }
}

void IocpBackend::stop() {
  for (auto& worker : workers_) {
    // Fails only when the system is out of memory: retry rather than leave a worker running.
    while (!::PostQueuedCompletionStatus(worker->port(), 0,
                                         static_cast<ULONG_PTR>(CompletionKey::stop), nullptr)) {
      ::Sleep(10);
    }
  }
}

void IocpBackend::join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace iocomp::iocp
