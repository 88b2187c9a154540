#pragma once
// The server models --model chooses from, by name.
#include <memory>
#include <string_view>
#include <vector>

#include "core/backend.hpp"

namespace iocomp::server {

// "completion" (io_uring, the default), "epoll", "thread-pool", "thread-per-connection".
const std::vector<std::string_view>& model_names();

// Throws std::invalid_argument for an unknown name.
std::unique_ptr<core::Backend> make_backend(std::string_view model,
                                            const core::BackendEnvironment& environment);

}  // namespace iocomp::server
