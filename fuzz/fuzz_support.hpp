#pragma once
// Shared by the libFuzzer harnesses: an invariant check that aborts (so libFuzzer records the
// input), and a deterministic chunk-size generator for feeding bytes in random splits.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

namespace iocomp::fuzz {

// Seeded from the input, so a crashing input replays identically. Mostly tiny chunks (where
// boundary bugs live), sometimes up to `max_large` bytes.
class Splitter {
 public:
  Splitter(std::uint8_t seed, std::size_t max_large)
      : state_(seed * 2654435761u + 1), max_large_(max_large) {}
  std::size_t next_chunk() {
    state_ = state_ * 1103515245u + 12345u;
    const std::uint32_t r = state_ >> 16;
    return (r & 3) == 0 ? 1 + r % max_large_ : 1 + r % 4;
  }

 private:
  std::uint32_t state_;
  std::size_t max_large_;
};

}  // namespace iocomp::fuzz
