// The server models on Windows: the completion model only, on I/O completion ports. Its backend
// needs the acceptor's completion port to report its stop, so server_windows.cpp makes it
// itself; this file gives --model its one choice.
#include "server/backend_factory.hpp"

namespace iocomp::server {

const std::vector<std::string_view>& model_names() {
  static const std::vector<std::string_view> names = {"completion"};
  return names;
}

}  // namespace iocomp::server
