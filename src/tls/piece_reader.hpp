#pragma once
// Reads the next piece of a file range for the TLS stage, which must encrypt file bytes in user
// space (no sendfile through TLS without kernel TLS). Behind an interface so that an
// asynchronous reader (io_uring reads for cold files) can replace the blocking one: the stage
// only asks for a piece and continues in on_piece_read, which may run inside read() or later.
#include <cstddef>
#include <cstdint>

namespace iocomp::tls {

class PieceSink {
 public:
  virtual ~PieceSink() = default;
  // `result`: bytes read (0 at end of file) or -errno. The buffer given to read() holds them.
  virtual void on_piece_read(long result) = 0;
};

class PieceReader {
 public:
  virtual ~PieceReader() = default;
  // Reads up to `length` bytes at `offset` of `fd` into `buffer`, then calls sink.on_piece_read
  // once. The buffer and the descriptor stay valid until then.
  virtual void read(int fd, std::uint64_t offset, char* buffer, std::size_t length,
                    PieceSink& sink) = 0;
};

// pread() on the calling worker: free for a file in the page cache, but a cold read blocks the
// worker (and every connection it serves) for the duration of the disk access.
class BlockingPieceReader final : public PieceReader {
 public:
  void read(int fd, std::uint64_t offset, char* buffer, std::size_t length,
            PieceSink& sink) override;
};

}  // namespace iocomp::tls
