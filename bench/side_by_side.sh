#!/usr/bin/env bash
# hearthd and mosquitto side by side on this machine, in one invocation
# (docs/performance.md, "Side by side with mosquitto").
#
# The same client shape for both: 1,105-byte payloads (a 1 KiB message padded
# and sealed as a Hearth client does), one message in flight per sender (the
# next only after the previous was acknowledged: hearthd's committed reply,
# mosquitto's QoS 1 PUBACK). Two shapes: 16 senders -> 1 receiver, and 100
# sender-receiver pairs. Three servers: hearthd (bench/loadgen: survivors
# send real ratchet messages to responders who decrypt and acknowledge them),
# mosquitto durable (persistence true, autosave_interval 1,
# autosave_on_changes true) and mosquitto with persistence off (bench/mqtt_load).
# Rates count messages RECEIVED by the receivers over the time to the last
# receipt. Repetition 0 of each server runs it under strace to count its
# fsync/fdatasync calls during the relay (not timed: strace slows each call);
# repetitions 1..3 are timed, the servers interleaved within each.
#
# Usage: bench/side_by_side.sh [BUILD_DIR]     (default build/release)
# Needs: loadgen and mqtt_load built; mosquitto and strace installed
# (scripts/setup.sh). Environment: MESSAGES_FAN_IN (per sender at 16 -> 1,
# default 300), MESSAGES_PAIRS (per sender at 100 pairs, default 60), REPS (3).
# Prints a table, and last: "hearth/mosquitto relay rate: R" (the median
# hearthd rate over the median durable mosquitto rate, at 100 pairs).
set -euo pipefail

BUILD=${1:-build/release}
LOADGEN=$BUILD/bench/loadgen
MQTT=$BUILD/bench/mqtt_load
MESSAGES_FAN_IN=${MESSAGES_FAN_IN:-300}
MESSAGES_PAIRS=${MESSAGES_PAIRS:-60}
REPS=${REPS:-3}
for tool in "$LOADGEN" "$MQTT"; do
  [ -x "$tool" ] || { echo "side_by_side: $tool is missing: cmake --build $BUILD --target loadgen mqtt_load" >&2; exit 1; }
done
for cmd in mosquitto strace; do
  command -v "$cmd" >/dev/null || { echo "side_by_side: $cmd is not installed (scripts/setup.sh)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/hearth-side-by-side-XXXXXX)
mq_pid=""
cleanup() {
  if [ -n "$mq_pid" ]; then kill "$mq_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

results=$work/results   # lines: shape server rep rate p50 p99 p999 fsyncs_per_msg
: >"$results"

# fsync/fdatasync calls in a strace -ttt log between two Unix times.
count_syncs() {  # log window ("start,end")
  awk -v s="${2%,*}" -v e="${2#*,}" '{ for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+$/) { if ($i >= s && $i <= e) n++; break } }
    END { print n + 0 }' "$1"
}

field() {  # RESULT-line key
  sed -n "s/.*[ ]$2=\([^ ]*\).*/\1/p" <<<"$1"
}

record() {  # shape server rep result-line syncs server-cpu-us-per-message
  local line=$4 received
  received=$(field "$line" received)
  local per="-"
  if [ -n "$5" ]; then per=$(awk -v n="$5" -v r="$received" 'BEGIN { printf "%.3f", n / r }'); fi
  echo "$1 $2 $3 $(field "$line" rate) $(field "$line" p50_ms) $(field "$line" p99_ms) $(field "$line" p999_ms) $per $6" >>"$results"
  printf '  %-8s %-15s rep %s: %8s msgs/s  p50 %7s ms  p99 %8s ms  fsyncs/msg %-5s  server CPU %s us/msg, client CPU %s s\n' \
    "$1" "$2" "$3" "$(field "$line" rate)" "$(field "$line" p50_ms)" "$(field "$line" p99_ms)" "$per" "$6" "$(field "$line" client_cpu_s)"
}

# hearthd: loadgen starts its own (under strace when asked).
run_hearth() {  # shape rep senders receivers messages
  local out strace_log="" line syncs=""
  if [ "$2" = 0 ]; then
    strace_log=$work/strace-hearth.log
    out=$(HEARTH_TEST_WRAPPER="strace -f --seccomp-bpf -ttt -e trace=fsync,fdatasync -o $strace_log" \
      "$LOADGEN" --survivors "$3" --responders "$4" --messages "$5" --quiet) || { echo "$out" >&2; exit 1; }
  else
    out=$("$LOADGEN" --survivors "$3" --responders "$4" --messages "$5" --quiet) || { echo "$out" >&2; exit 1; }
  fi
  line=$(grep '^RESULT' <<<"$out")
  if [ -n "$strace_log" ]; then
    syncs=$(count_syncs "$strace_log" "$(field "$line" window)")
    echo "  (hearthd's own count: $(field "$line" commits_per_msg) commits per message)"
  fi
  record "$1" hearthd "$2" "$line" "$syncs" "$(field "$line" server_cpu_us)"
}

# mosquitto: one broker per run, a fresh persistence directory.
run_mosquitto() {  # shape rep senders receivers messages durable(0/1)
  local dir=$work/mq-$1-$2-$6 port conf line syncs="" strace_log=""
  mkdir -p "$dir"
  port=$(awk 'BEGIN { srand(); print 20000 + int(rand() * 30000) }')
  conf=$dir/mosquitto.conf
  {
    echo "listener $port 127.0.0.1"
    echo "allow_anonymous true"
    echo "pid_file $dir/mosquitto.pid"
    [ "$(id -u)" = 0 ] && echo "user root"   # as root it would switch to user mosquitto
    if [ "$6" = 1 ]; then
      echo "persistence true"
      echo "persistence_location $dir/"
      echo "autosave_interval 1"
      echo "autosave_on_changes true"
    else
      echo "persistence false"
    fi
    echo "max_queued_messages 0"   # no per-client queue bound (hearthd's mailbox holds 1,000)
    echo "log_dest file $dir/mosquitto.log"
  } >"$conf"
  if [ "$2" = 0 ]; then
    strace_log=$work/strace-mq-$6.log
    strace -f --seccomp-bpf -ttt -e trace=fsync,fdatasync -o "$strace_log" mosquitto -c "$conf" &
  else
    mosquitto -c "$conf" &
  fi
  mq_pid=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
  done
  local out
  out=$("$MQTT" --port "$port" --senders "$3" --receivers "$4" --messages "$5" --quiet) || { echo "$out" >&2; exit 1; }
  local broker cpu_us
  broker=$(cat "$dir/mosquitto.pid" 2>/dev/null || echo "$mq_pid")
  line=$(grep '^RESULT' <<<"$out")
  # The broker's whole CPU time (its start and the clients' connects included).
  cpu_us=$(awk -v r="$(field "$line" received)" -v hz="$(getconf CLK_TCK)" '{ printf "%.0f", ($14 + $15) / hz * 1e6 / r }' "/proc/$broker/stat")
  kill "$broker" 2>/dev/null || true
  wait "$mq_pid" 2>/dev/null || true
  mq_pid=""
  if [ -n "$strace_log" ]; then syncs=$(count_syncs "$strace_log" "$(field "$line" window)"); fi
  local name=mosq-nondurable
  [ "$6" = 1 ] && name=mosq-durable
  record "$1" "$name" "$2" "$line" "$syncs" "$cpu_us"
}

echo "side_by_side: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $(mosquitto -h 2>/dev/null | head -1)"
for shape in fan-in pairs; do
  if [ $shape = fan-in ]; then args=(16 1 "$MESSAGES_FAN_IN"); else args=(100 100 "$MESSAGES_PAIRS"); fi
  echo "$shape: ${args[0]} senders -> ${args[1]} receivers, ${args[2]} messages each"
  for rep in $(seq 0 "$REPS"); do
    run_hearth $shape "$rep" "${args[@]}"
    run_mosquitto $shape "$rep" "${args[@]}" 1
    run_mosquitto $shape "$rep" "${args[@]}" 0
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

median() {  # shape server column -> median over timed reps
  awk -v s="$1" -v v="$2" -v c="$3" '$1 == s && $2 == v && $3 != 0 { print $c }' "$results" |
    sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
syncs_of() { awk -v s="$1" -v v="$2" '$1 == s && $2 == v && $3 == 0 { print $8 }' "$results"; }

echo
echo "medians of $REPS timed repetitions (rate: messages received/s; latency: send -> receiver has it)"
printf '%-8s %-16s %10s %9s %9s %9s %11s %14s\n' shape server rate p50_ms p99_ms p999_ms fsyncs/msg server_us/msg
for shape in fan-in pairs; do
  for server in hearthd mosq-durable mosq-nondurable; do
    printf '%-8s %-16s %10s %9s %9s %9s %11s %14s\n' $shape $server "$(median $shape $server 4)" \
      "$(median $shape $server 5)" "$(median $shape $server 6)" "$(median $shape $server 7)" "$(syncs_of $shape $server)" \
      "$(median $shape $server 9)"
  done
  printf '%-8s hearth/mosquitto: %s durable, %s non-durable\n' $shape \
    "$(awk -v a="$(median $shape hearthd 4)" -v b="$(median $shape mosq-durable 4)" 'BEGIN { printf "%.2f", a / b }')" \
    "$(awk -v a="$(median $shape hearthd 4)" -v b="$(median $shape mosq-nondurable 4)" 'BEGIN { printf "%.2f", a / b }')"
done
echo "hearth/mosquitto relay rate: $(awk -v a="$(median pairs hearthd 4)" -v b="$(median pairs mosq-durable 4)" 'BEGIN { printf "%.2f", a / b }')"
