#!/usr/bin/env bash
# Benchmark `echokit server --tap` through a real TAP, inside a network namespace this script
# creates and deletes (root needed), driven by `echokit bench` from inside the namespace.
#
#   host/benches/tap-bench.sh [target/release/echokit] [extra server flags...]
#   SECS=5 MTU=65000 host/benches/tap-bench.sh       # longer runs; a larger TAP MTU
#   QLEN=1000 host/benches/tap-bench.sh              # the kernel's default TAP queue
#   BENCH=target/release/echokit host/benches/tap-bench.sh /tmp/old-echokit   # an older server
#
# Prints one JSON line per scenario (`echokit bench --json`): bulk echo MB/s (each way) with
# 1 and 16 clients, ping-pong round trips/s and latency with 1 and 16 clients. The server
# logs to a file at WARN, so records cost nothing on the echo path; say so when quoting
# figures. Exits 1 if any scenario saw an error or a mismatch.
set -euo pipefail
BIN=$(realpath "${1:-target/release/echokit}")
shift || true
# The load generator (default: the same binary; another one to compare servers before/after).
BENCH=$(realpath "${BENCH:-$BIN}")
SECS=${SECS:-3}

NS=echokit-bench-$$
LOG=$(mktemp -d)
PID=
cleanup() {
  [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  ip netns del "$NS" 2>/dev/null
  rm -rf "$LOG"
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns exec "$NS" ip tuntap add name tap0 mode tap
ip -n "$NS" addr add 192.168.69.100/24 dev tap0
[[ -n ${MTU:-} ]] && ip -n "$NS" link set tap0 mtu "$MTU"
# The README's setup: a queue that holds every socket's receive window (QLEN=1000: default).
ip -n "$NS" link set tap0 txqueuelen "${QLEN:-20000}"
ip -n "$NS" link set tap0 up
ip netns exec "$NS" "$BIN" server --tap tap0 --ip 192.168.69.1/24 -p 7777 \
  -m file -f "$LOG/server.log" -l warn "$@" &
PID=$!
sleep 0.5

status=0
for spec in "--mode stream -c 1" "--mode stream -c 16" \
  "--mode pingpong -c 1 --size 64" "--mode pingpong -c 16 --size 64"; do
  # shellcheck disable=SC2086
  ip netns exec "$NS" "$BENCH" bench -s 192.168.69.1 -p 7777 $spec -d "$SECS" --warmup 0.5 \
    --json || status=1
done
exit $status
