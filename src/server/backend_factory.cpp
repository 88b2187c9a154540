#include "server/backend_factory.hpp"

#include <stdexcept>
#include <string>

#include "backends/epoll/epoll_backend.hpp"
#include "backends/threads/thread_per_connection_backend.hpp"
#include "backends/threads/thread_pool_backend.hpp"
#include "backends/uring/uring_backend.hpp"

namespace iocomp::server {

const std::vector<std::string_view>& model_names() {
  static const std::vector<std::string_view> names = {"completion", "epoll", "thread-pool",
                                                      "thread-per-connection"};
  return names;
}

std::unique_ptr<core::Backend> make_backend(std::string_view model,
                                            const core::BackendEnvironment& environment) {
  if (model == "completion") return std::make_unique<uring::UringBackend>(environment);
  if (model == "epoll") return std::make_unique<epoll::EpollBackend>(environment);
  if (model == "thread-pool") return std::make_unique<threads::ThreadPoolBackend>(environment);
  if (model == "thread-per-connection") {
    return std::make_unique<threads::ThreadPerConnectionBackend>(environment);
  }
  throw std::invalid_argument("unknown --model " + std::string(model));
}

}  // namespace iocomp::server
