#!/usr/bin/env bash
# Builds the survivor's page (web/) into <build dir>/web, the directory
# hearthd's web.root points at (docs/operations.md "The survivor's page"):
#   1. `npm ci` in web/ when web/package-lock.json exists and changed since
#      the last install (the npm registry is the only source outside Debian);
#   2. `node web/build.mjs --out <build dir>/web` (the page's own bundler
#      entry, written with web/), into a fresh directory swapped in whole;
#   3. prints the site hash when hearth-admin is built (`hearth-admin web-hash`).
# Until web/build.mjs exists it says so and builds nothing. hearthd itself
# never needs Node: this is a separate step, not part of the CMake build.
#
#   bash scripts/web.sh                 # into build/release/web
#   bash scripts/web.sh build/asan      # into build/asan/web
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build/release}
out=$build/web

if [[ ! -f web/build.mjs ]]; then
  echo "web: web/build.mjs does not exist yet: no page built (hearthd runs without one)"
  exit 0
fi
if ! command -v node >/dev/null; then
  echo "web: node not found; bash scripts/setup.sh installs nodejs and npm" >&2
  exit 1
fi

if [[ -f web/package-lock.json ]]; then
  # npm ci starts from an empty node_modules: only when the lock file changed.
  stamp=web/node_modules/.hearth-lock.sha256
  want=$(sha256sum web/package-lock.json | cut -d' ' -f1)
  if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    echo "web: npm ci (web/package-lock.json)"
    (cd web && npm ci --no-audit --no-fund)
    echo "$want" >"$stamp"
  fi
fi

mkdir -p "$build"
rm -rf "$out.new"
node web/build.mjs --out "$out.new"
rm -rf "$out"
mv "$out.new" "$out"
if [[ -x $build/admin/hearth-admin ]]; then
  echo "web: built into $out, site hash $("$build/admin/hearth-admin" web-hash "$out" 2>/dev/null)"
else
  echo "web: built into $out"
fi
