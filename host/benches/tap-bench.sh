#!/usr/bin/env bash
# Benchmark `echokit server --tap` through a real TAP, inside a network namespace this script
# creates and deletes (root needed). Drives it with the shared load generator
# (../shared/bench/loadgen beside the repository; SHARED=DIR to point elsewhere), copied
# to $BENCH_OUT/loadgen-tap and allowed to target the
# namespace's private address (the original only targets loopback).
#
#   host/benches/tap-bench.sh [target/release/echokit] [extra server flags...]
#   SECS=5 MTU=65000 host/benches/tap-bench.sh       # longer runs; a larger TAP MTU
#   QLEN=1000 host/benches/tap-bench.sh              # the kernel's default TAP queue
#
# Prints one JSON line per scenario: bulk echo MB/s (each way) with 1 and 16 clients,
# ping-pong round trips/s and p99 with 1 and 16 clients. The server logs to a file at WARN,
# so records cost nothing on the echo path; say so when quoting figures.
set -euo pipefail
BIN=${1:-target/release/echokit}
shift || true
SHARED=${SHARED:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/bench}
OUT=${BENCH_OUT:-$HOME/.cache/echo-bench}
SECS=${SECS:-3}
LG_SRC=$OUT/loadgen-tap
LG=$LG_SRC/target/release/loadgen

if [[ ! -x $LG ]]; then
  rm -rf "$LG_SRC" && mkdir -p "$OUT" && cp -r "$SHARED/loadgen" "$LG_SRC"
  [[ -f $SHARED/Cargo.lock ]] && cp "$SHARED/Cargo.lock" "$LG_SRC/"
  grep -q '^\[workspace\]' "$LG_SRC/Cargo.toml" || printf '\n[workspace]\n' >>"$LG_SRC/Cargo.toml"
  sed -i 's/if !o.addr.ip().is_loopback() {/if !o.addr.ip().is_loopback() \&\& std::env::var("LOADGEN_NETNS").is_err() {/' \
    "$LG_SRC/src/main.rs"
  (cd "$LG_SRC" && CARGO_TARGET_DIR=$LG_SRC/target cargo build --release -q)
fi

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

export LOADGEN_NETNS=1
for spec in "stream --conns 1" "stream --conns 16" \
  "pingpong --conns 1 --size 64" "pingpong --conns 16 --size 64"; do
  # shellcheck disable=SC2086
  ip netns exec "$NS" "$LG" $spec --addr 192.168.69.1:7777 --secs "$SECS" --warmup 0.5
done
