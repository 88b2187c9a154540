#include "tls/piece_reader.hpp"

#include <unistd.h>

#include <cerrno>

namespace iocomp::tls {

void BlockingPieceReader::read(int fd, std::uint64_t offset, char* buffer, std::size_t length,
                               PieceSink& sink) {
  ssize_t n;
  do {
    n = ::pread(fd, buffer, length, static_cast<off_t>(offset));
  } while (n < 0 && errno == EINTR);
  sink.on_piece_read(n < 0 ? -static_cast<long>(errno) : static_cast<long>(n));
}

}  // namespace iocomp::tls
