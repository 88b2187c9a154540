#!/usr/bin/env bash
# Runs the whole test suite: unit and integration tests on the Release build, the same again
# under AddressSanitizer + UndefinedBehaviorSanitizer and under ThreadSanitizer (the second-signal
# exit skips joining threads on purpose, so thread-leak reports are off), then each libFuzzer
# harness for a bounded
# time. Set IOCOMP_FUZZ_SECONDS to change the fuzzing time per harness (default 30).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
"$repo/scripts/install-deps.sh" test
jobs=$(nproc)
fuzz_seconds=${IOCOMP_FUZZ_SECONDS:-30}
status=0

step() { printf '\n=== %s ===\n' "$*"; }

step "Formatting (.clang-format)"
if ! clang-format --dry-run --Werror $(git ls-files 'src/*.[ch]pp' 'tests/*.cpp' 'fuzz/*.cpp' \
     2>/dev/null || find src tests fuzz -name '*.[ch]pp'); then
  echo "code differs from .clang-format: run clang-format -i on the files above"; status=1
fi

step "Release build and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs" --timeout 900) || status=1

step "AddressSanitizer + UndefinedBehaviorSanitizer build and tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIOCOMP_SANITIZE=address,undefined \
  >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 IOCOMP_SLOW_BUILD=1 \
   ctest --output-on-failure -j"$jobs" --timeout 900) || status=1

step "ThreadSanitizer build and tests"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIOCOMP_SANITIZE=thread >/dev/null
cmake --build build-tsan -j"$jobs" --target iocomp unit_tests
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:report_thread_leaks=0 IOCOMP_SLOW_BUILD=1 \
   ctest --output-on-failure -j"$jobs" --timeout 900 -E '^fuzz\.') || status=1

step "Fuzzing (${fuzz_seconds}s per harness)"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIOCOMP_FUZZ=ON \
  -DIOCOMP_TESTS=OFF >/dev/null
cmake --build build-fuzz -j"$jobs" --target fuzzers
# harness:corpus pairs; the corpus in the repo is copied so that CI leaves the tree unchanged.
for pair in http_request_parser_fuzz:http line_parser_fuzz:line session_fuzz:session; do
  harness=build-fuzz/fuzz/${pair%%:*}
  name=${pair##*:}
  corpus=$(mktemp -d)
  cp -r "fuzz/corpus/$name/." "$corpus/"
  if "$harness" -max_total_time="$fuzz_seconds" -print_final_stats=1 -close_fd_mask=3 \
       "$corpus" >"build-fuzz/$name.log" 2>&1; then
    echo "fuzz $name: $(grep -o 'stat::number_of_executed_units: [0-9]*' "build-fuzz/$name.log")"
  else
    echo "fuzz $name: FAILED"; tail -40 "build-fuzz/$name.log"; status=1
  fi
  rm -rf "$corpus"
done

step "Result"
if ((status == 0)); then echo "all test stages passed"; else echo "some test stage FAILED"; fi
exit $status
