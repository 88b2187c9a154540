#pragma once
// Milliseconds of the coarse monotonic clock: a vDSO read, no system call. Timers and the file
// cache need no better than a few milliseconds.
#include <cstdint>
#include <ctime>

namespace iocomp::util {

#ifdef CLOCK_MONOTONIC_COARSE
inline constexpr clockid_t kMonotonicCoarse = CLOCK_MONOTONIC_COARSE;
inline constexpr clockid_t kRealtimeCoarse = CLOCK_REALTIME_COARSE;
#else  // Windows (winpthreads) has only the precise clocks
inline constexpr clockid_t kMonotonicCoarse = CLOCK_MONOTONIC;
inline constexpr clockid_t kRealtimeCoarse = CLOCK_REALTIME;
#endif

inline std::int64_t monotonic_ms() {
  timespec ts{};
  ::clock_gettime(kMonotonicCoarse, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace iocomp::util
