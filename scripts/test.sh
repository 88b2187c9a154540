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
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
# Runs ctest in a build directory, keeping its closing line for the final count.
# Extra ctest arguments come first, up to "--": e.g. -LE other-model.
run_ctest() {
  local dir=$1
  shift
  local extra=()
  while (($#)) && [[ $1 != -- ]]; do extra+=("$1"); shift; done
  (($#)) && shift
  (cd "$dir" && env "$@" ctest --output-on-failure -j"$jobs" --timeout 900 -E '^fuzz\.' \
     "${extra[@]}" 2>&1 | tee -a "$summary"; exit "${PIPESTATUS[0]}")
}

step "Formatting (.clang-format)"
if ! clang-format --dry-run --Werror $(git ls-files 'src/*.[ch]pp' 'tests/*.cpp' 'fuzz/*.[ch]pp' 'bench/*.c' \
     2>/dev/null || find src tests fuzz bench -name '*.[ch]pp' -o -name '*.c'); then
  echo "code differs from .clang-format: run clang-format -i on the files above"; status=1
fi

step "Release build and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
run_ctest build || status=1

# The builds after the first are unity builds (CMake batches the sources of a target into a
# few translation units): about half the compile time on 2 cores. The first build stays one
# translation unit per file, as the README builds it, so a missing #include still fails here.
unity=-DCMAKE_UNITY_BUILD=ON

step "AddressSanitizer + UndefinedBehaviorSanitizer build and tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIOCOMP_SANITIZE=address,undefined \
  "$unity" >/dev/null
cmake --build build-asan -j"$jobs"
# Every suite for the default model; for the other models, the suites labelled every-model.
# (Not the release-only suites: testssl.sh checks the TLS configuration, the same in any build.)
run_ctest build-asan -LE 'other-model|packaging|release-only' -- ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 IOCOMP_SLOW_BUILD=1 || status=1

step "ThreadSanitizer build and tests"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIOCOMP_SANITIZE=thread "$unity" \
  >/dev/null
cmake --build build-tsan -j"$jobs" --target iocomp unit_tests
run_ctest build-tsan -LE 'other-model|packaging|release-only' -- TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:report_thread_leaks=0 \
  IOCOMP_SLOW_BUILD=1 || status=1

step "Fuzzing (${fuzz_seconds}s per harness)"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIOCOMP_FUZZ=ON \
  -DIOCOMP_TESTS=OFF "$unity" >/dev/null
cmake --build build-fuzz -j"$jobs" --target fuzzers
fuzz_passed=0
fuzz_failed=0
# harness:corpus pairs; the corpus in the repo is copied so that CI leaves the tree unchanged.
# The harnesses run $jobs at a time (each is one process on one core).
fuzz_pairs=(http_request_parser_fuzz:http line_parser_fuzz:line session_fuzz:session access_fuzz:access
            proxy_header_fuzz:proxy)
fuzz_one() { # pair: runs one harness, its exit status in build-fuzz/NAME.status
  local harness=build-fuzz/fuzz/${1%%:*} name=${1##*:} corpus
  corpus=$(mktemp -d)
  cp -r "fuzz/corpus/$name/." "$corpus/"
  "$harness" -max_total_time="$fuzz_seconds" -print_final_stats=1 -close_fd_mask=3 \
    "$corpus" >"build-fuzz/$name.log" 2>&1
  echo $? >"build-fuzz/$name.status"
  rm -rf "$corpus"
}
for ((i = 0; i < ${#fuzz_pairs[@]}; i += jobs)); do
  for pair in "${fuzz_pairs[@]:i:jobs}"; do fuzz_one "$pair" & done
  wait
done
for pair in "${fuzz_pairs[@]}"; do
  name=${pair##*:}
  if [[ $(cat "build-fuzz/$name.status" 2>/dev/null) == 0 ]]; then
    echo "fuzz $name: $(grep -o 'stat::number_of_executed_units: [0-9]*' "build-fuzz/$name.log")"
    fuzz_passed=$((fuzz_passed + 1))
  else
    echo "fuzz $name: FAILED"; tail -40 "build-fuzz/$name.log"; status=1
    fuzz_failed=$((fuzz_failed + 1))
  fi
done

step "Windows build (mingw-w64) and its tests under Wine"
# iocomp.exe, statically linked; the windows label runs the suites that apply to Windows and
# test_windows.py under Wine (tests/windows.cmake). Wine's TransmitFile reads and sends from
# user space: these show behaviour, not Windows' speed.
cmake -S . -B build-win -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake \
  -DCMAKE_BUILD_TYPE=Release "$unity" >/dev/null
cmake --build build-win -j"$jobs"
run_ctest build-win -L windows || status=1

step "Result"
# Every ctest run's "N% tests passed, F tests failed out of T", plus the fuzz harnesses.
read -r passed failed < <(awk '/tests passed, .* tests failed out of/ {
    f += $4; p += $NF - $4 } END { print p + 0, f + 0 }' "$summary")
passed=$((passed + fuzz_passed))
failed=$((failed + fuzz_failed))
if ((status != 0 && failed == 0)); then failed=1; fi  # a stage failed outside ctest
if ((status == 0)); then echo "all test stages passed"; else echo "some test stage FAILED"; fi
echo "$passed passed, $failed failed"
exit $status
