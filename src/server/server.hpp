#pragma once
// Wires the pieces together: listener, workers, acceptor, logging; runs until a signal.
#include "server/server_config.hpp"

namespace iocomp::server {

// Serves until SIGINT or SIGTERM has been handled; returns the process exit status.
// Throws std::runtime_error for start-up failures (port in use, bad root, no io_uring).
int run_server(const ServerConfig& config);

// Workers used when --threads is 0: one per CPU this process may run on.
unsigned default_thread_count();

}  // namespace iocomp::server
