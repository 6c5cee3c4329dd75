#!/usr/bin/env bash
# clang-tidy (.clang-tidy's checks) over Hearth's own library and program
# sources and the project headers they include, with a build's
# compile_commands.json; fails on any warning. The test command runs it beside
# the tests, once the release build is done (docs/performance.md, "Build and
# test time": its cost).
#
# Usage: scripts/clang_tidy.sh [build dir (build/release)] [jobs (nproc)]
#
# Checked: the libraries and the programs we ship (the folders below). Not
# checked, to keep the run within minutes on 2 cores (each file costs 5-15 CPU
# seconds, most of it parsing Boost, CLI11 and the standard library): tests/
# (90 files, mostly Catch2 macros), bench/ and tools/ (not shipped), and
# generated files.
#
# A finding is fixed in the code; a NOLINT(check) only where the check is wrong
# for that line, with the reason after it (issue 14 fixed the first run's
# findings that way).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
jobs=${2:-$(nproc)}

layers=(common crypto protocol storage triage host server clients admin)
mapfile -t sources < <(git ls-files "${layers[@]/%//*.cpp}")
# Diagnostics only from our own files (main files and headers alike):
# clang-tidy matches each name as a path suffix, so a header reached through
# the build's per-layer include roots counts too.
filter=$(git ls-files '*.h' '*.cpp' |
  sed 's/.*/{"name":"&"}/' | paste -sd, -)

# The build is GCC's; clang needs the define server/CMakeLists.txt gives it
# (Boost 1.74 Asio looks for the coroutines TS macro only), or every
# asio::awaitable is unknown to it.
printf '%s\n' "${sources[@]}" |
  xargs -P "$jobs" -n 1 clang-tidy -p "$build" --quiet --header-filter='.*' \
    --extra-arg=-DBOOST_ASIO_HAS_CO_AWAIT=1 \
    --line-filter="[$filter]" --warnings-as-errors='*' 2> >(grep -v ' warnings\? generated\.$' >&2) ||
  {
    echo "clang-tidy: warnings above (.clang-tidy lists the checks and why)" >&2
    exit 1
  }
echo "clang-tidy: ${#sources[@]} files clean"
