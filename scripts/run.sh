#!/usr/bin/env bash
# Installs what Hearth needs, builds it, and runs the demo: an organisation, a
# certified responder and an anonymous survivor talking end to end.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j "$(nproc)" --target hearth-demo
exec ./build/release/tools/hearth-demo "$@"
