#!/usr/bin/env bash
# Installs what Hearth needs, builds it, creates a demo organisation in ./demo
# (org keys, one certified responder, a signed roster, a server config) and runs
# hearthd on 127.0.0.1 in the foreground, printing how to talk to it as a
# responder and as a survivor. Ctrl-C stops the server; the demo data stays in
# ./demo for the next run (delete the folder to start over).
#
#   bash scripts/run.sh              # port 8750
#   HEARTH_PORT=9000 bash scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j "$(nproc)" --target hearthd hearth-admin hearth-console hearth-survivor
# The survivor's page (web/) into build/release/web: hearthd serves it.
bash scripts/web.sh build/release

bin=build/release
port=${HEARTH_PORT:-8750}
metrics_port=${HEARTH_METRICS_PORT:-$((port + 1))}
demo=demo
web_args=()
[[ -f $bin/web/index.html ]] && web_args=(--web-root "$PWD/$bin/web")
if [[ ! -f $demo/org/root.pub ]]; then
  "$bin/admin/hearth-admin" demo "$demo" --port "$port" --metrics-port "$metrics_port" \
    "${web_args[@]}"
fi
page="(no page: web/ has not been built)"
if grep -q '"web"' "$demo/server/hearthd.json"; then
  page="http://127.0.0.1:$port/  (open it in a browser: this is the survivor's page)"
elif [[ ${#web_args[@]} -gt 0 ]]; then
  page="(this demo predates the page: remove $demo/ to get a demo that serves it)"
fi
root=$(cat "$demo/org/root.pub")
# The page pins the demo's org root (config.json in the served directory).
if [[ -f $bin/web/index.html ]]; then
  node web/build.mjs --out "$bin/web" --org-root "$demo/org/root.pub" >/dev/null
fi
"$bin/server/hearthd" --config "$demo/server/hearthd.json" --check-config

cat <<EOF

== Hearth is starting on ws://127.0.0.1:$port/v1/ws (metrics: http://127.0.0.1:$metrics_port/metrics)

The survivor's page: $page

In a second terminal, be the responder (start this first, so there is someone to answer;
F1 lists the keys, --plain gives line mode):
  $bin/clients/hearth-console --data $demo/responder-ana \\
      --passphrase-file $demo/responder-ana.passphrase --server ws://127.0.0.1:$port/v1/ws \\
      --directory docs/examples/directory.json

Be a survivor in a browser at the page above, or in a third terminal:
  $bin/clients/hearth-survivor --org-root $root --server ws://127.0.0.1:$port/v1/ws
Come back later with:  ... hearth-survivor --resume --org-root $root --server ...

Ctrl-C here stops the server (it drains and exits; nothing acknowledged is lost).
Server log (JSON lines, never an address or a message) follows:

EOF
exec "$bin/server/hearthd" --config "$demo/server/hearthd.json"
