#!/usr/bin/env bash
# Installs what Hearth needs, builds it twice (optimised, and with AddressSanitizer
# + UndefinedBehaviorSanitizer) and runs every test in both builds, builds the
# server and its tests with ThreadSanitizer and runs those, fuzzes the
# crypto parsers for a minute, and checks the layer graph, formatting and
# clang-tidy (scripts/clang_tidy.sh). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

jobs=$(nproc)
# Most tests spend their time waiting on a real hearthd's timers and deadlines,
# not on the CPU (docs/performance.md, "Build and test time"): CTest runs more
# of them at once than there are cores (fewer under ThreadSanitizer, which
# multiplies their CPU time).
test_jobs=$((jobs * 3))
step() { printf '\n== %s\n' "$*"; }

# Every build: line tables only (-g1: file:line and inlined frames in every
# sanitizer report and backtrace, no variable info; about 30% less compile time
# than -g) and lld (docs/performance.md, "Build and test time").
# Without a compiler launcher, HEARTH_PCH precompiles Catch2 and nlohmann/json.
flags=(-G Ninja -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" -DCMAKE_CXX_FLAGS_DEBUG=-g1)

step "release build"
cmake -S . -B build/release "${flags[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j "$jobs"
step "release tests"
ctest --test-dir build/release --output-on-failure -j "$test_jobs" --timeout 600

# The survivor's page (web/): built into build/release/web and tested by its
# own npm scripts (Node tests, Playwright on Debian's chromium against the
# release hearthd). Skipped until web/package.json exists.
if [[ -f web/package.json ]]; then
  step "web build and tests (web/)"
  bash scripts/web.sh build/release
  HEARTH_BUILD_DIR="$PWD/build/release" HEARTH_WEB_ROOT="$PWD/build/release/web" \
    npm test --prefix web
else
  step "web tests: web/package.json does not exist yet, skipped"
fi

# clang-tidy needs only the release build's compile_commands.json: it runs
# beside the sanitizer build and tests, one process at the lowest priority, on
# the CPU the tests leave idle while they wait on hearthd's timers; its result
# is checked last. It starts after the web tests: the browser's Argon2id and
# proof-of-work are the one test step that is CPU-bound and timed (a run with
# clang-tidy beside it timed out once waiting for the page's socket).
step "clang-tidy started in the background (scripts/clang_tidy.sh, log: build/release/clang-tidy.log)"
# In its own process group (setsid does not fork here: the pid is the group),
# so an early exit stops clang-tidy and the xargs under it too.
setsid nice -n 19 bash scripts/clang_tidy.sh build/release 1 >build/release/clang-tidy.log 2>&1 &
tidy_pid=$!
trap 'kill -- -"$tidy_pid" 2>/dev/null || true' EXIT

step "sanitizer build (ASan + UBSan)"
cmake -S . -B build/asan "${flags[@]}" -DCMAKE_BUILD_TYPE=Debug -DHEARTH_SANITIZE=ON >/dev/null
cmake --build build/asan -j "$jobs"
step "sanitizer tests"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build/asan --output-on-failure -j "$test_jobs" --timeout 600

# ThreadSanitizer over what runs threads: hearthd (I/O threads + the storage
# thread) and the tests that drive it. Only these targets are built, to keep
# the whole command within its time budget; any race fails the run.
tsan_targets=(hearthd storage_tests server_tests integration_tests)
tsan_tests='^(storage|server|integration):'
step "thread sanitizer build (ThreadSanitizer: ${tsan_targets[*]})"
cmake -S . -B build/tsan "${flags[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEARTH_TSAN=ON >/dev/null
cmake --build build/tsan -j "$jobs" --target "${tsan_targets[@]}"
step "thread sanitizer tests"
TSAN_OPTIONS=halt_on_error=1:abort_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir build/tsan --output-on-failure -j $((jobs * 2)) --timeout 600 -R "$tsan_tests"

step "fuzzing (libFuzzer + ASan/UBSan: 60 s over every crypto parser and decrypt path, 20 s over the protocol codec, 20 s over a WebSocket session)"
cmake -S . -B build/fuzz "${flags[@]}" -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEARTH_FUZZ=ON >/dev/null
cmake --build build/fuzz -j "$jobs" --target crypto_fuzz protocol_fuzz session_fuzz
# fuzz <target> <seconds> <corpus dir>: runs one target; on a failure prints its log and stops.
fuzz() {
  mkdir -p "$3"
  if ! "./build/fuzz/tests/fuzz/$1" -max_total_time="$2" -seed=1 "$3" >"build/fuzz/$1.log" 2>&1; then
    cat "build/fuzz/$1.log"
    echo "$1 found a failure; the input that triggered it is named above" >&2
    exit 1
  fi
  tail -n 1 "build/fuzz/$1.log"
}
# Two at a time, one per core (each fuzzer is one process): the crypto parsers
# on one, the codec then the session on the other; each keeps its duration.
fuzz crypto_fuzz 60 build/fuzz/corpus &
crypto_pid=$!
fuzz protocol_fuzz 20 build/fuzz/protocol_corpus
fuzz session_fuzz 20 build/fuzz/session_corpus
wait "$crypto_pid"

step "layers (scripts/check_layers.py: includes against README's layer graph, third-party headers)"
python3 scripts/check_layers.py

step "formatting"
mapfile -t sources < <(git ls-files '*.h' '*.cpp')
clang-format --dry-run -Werror "${sources[@]}"
echo "formatting: ${#sources[@]} files clean"

step "clang-tidy (scripts/clang_tidy.sh: .clang-tidy's checks over the libraries and programs)"
tidy_status=0
wait "$tidy_pid" || tidy_status=$?
trap - EXIT
if ((tidy_status != 0)); then
  cat build/release/clang-tidy.log
  exit 1
fi
tail -n 1 build/release/clang-tidy.log

count() { ctest --test-dir "$1" -N "${@:2}" | sed -n 's/^Total Tests: //p'; }
echo
echo "hearth: $(($(count build/release) + $(count build/asan) + $(count build/tsan -R "$tsan_tests"))) passed, 0 failed"
