#!/usr/bin/env bash
# Installs every Debian package Hearth needs to build, test and run.
# (nodejs, npm and chromium are for the survivor's page in web/: its build,
# scripts/web.sh, and its browser tests; hearthd itself never needs them.
# mosquitto, libmosquitto-dev and strace are for bench/side_by_side.sh.)
# Idempotent and non-interactive; run as root on Debian bookworm.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git lld
  clang clang-format clang-tidy libclang-rt-14-dev
  libsodium-dev libsqlite3-dev sqlite3
  libboost-dev libboost-system-dev libboost-coroutine-dev
  libssl-dev nlohmann-json3-dev catch2 libcli11-dev zlib1g-dev
  libncurses-dev diceware tmux
  mosquitto libmosquitto-dev strace
  chromium
)
# Node.js and npm from Debian, unless the machine already has both (a Node.js
# from another source, such as NodeSource's, ships its own npm and conflicts
# with Debian's npm package: installing it would fail).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages: ${missing[*]}" >&2
  echo "setup: run as root (or install them) and try again" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
