#!/usr/bin/env bash
# Instructions per round trip (pingpong) or per MB echoed (stream) of `echokit bench` and of
# the shared kit's `loadgen`, both driving the kit's c-epoll peer, counted with callgrind:
# unlike wall-clock rates these counts do not move when other work shares the machine.
# Each tool runs twice under callgrind, SHORT and LONG seconds (no warm-up); the difference
# in instructions over the difference in work leaves out start-up and shut-down (the
# pattern built, connections opened). Only the load tool's own user-space instructions
# count (not the kernel's, not the peer's). echokit runs with --json-stream and --hlog on.
# Only the load loop counts, without echokit's once-a-second work (closing a second's
# histograms, writing them to the outputs): under callgrind a second holds some 50 times
# fewer round trips than at full speed, so folded into the round trips it would weigh 50
# times too much (and valgrind counts each byte of a `rep stos` memset as one instruction).
#
#   host/benches/callgrind-per-op.sh [target/release/echokit] [SCENARIO...]
#   SCENARIO is mode:conns:size (default: pingpong:50:64 pingpong:1:64 stream:1:65536)
#   SHORT=1 LONG=3 host/benches/callgrind-per-op.sh
set -euo pipefail
BIN=$(realpath "${1:-target/release/echokit}")
shift || true
SCENARIOS=("$@")
((${#SCENARIOS[@]})) || SCENARIOS=(pingpong:50:64 pingpong:1:64 stream:1:65536)
SHARED=${SHARED:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/bench}
export BENCH_OUT=${BENCH_OUT:-$HOME/.cache/echo-bench}
QUIET=1 "$SHARED/build.sh"
LG=$BENCH_OUT/target/release/loadgen
SHORT=${SHORT:-1} LONG=${LONG:-3}
TMP=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BENCH_OUT/peers/cepoll" "$PORT" >/dev/null &
PEER=$!
trap 'kill $PEER 2>/dev/null; wait $PEER 2>/dev/null; rm -rf "$TMP"' EXIT
sleep 0.3

# Runs a command under callgrind, counting only inside the load loop (the functions named
# by TOGGLE, `--toggle-collect`: entering one flips counting on, a once-a-second function
# inside flips it off again); prints "instructions work" (work: round trips, or MB).
counted() {
  local out=$TMP/out err=$TMP/err toggles=()
  for f in "${TOGGLE[@]}"; do toggles+=("--toggle-collect=$f"); done
  valgrind --tool=callgrind --collect-atstart=no "${toggles[@]}" \
    --callgrind-out-file="$TMP/cg.%p" "$@" >"$out" 2>"$err"
  local ir
  ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$err" | awk '{s += $1} END {print s}')
  rm -f "$TMP"/cg.*
  python3 - "$out" "$ir" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
# loadgen: ops_total / bytes_total (no warm-up: everything); echokit: its window (= the run).
if "ops_total" in r or "bytes_total" in r:
    work = r["ops_total"] if r.get("mode") == "pingpong" else r["bytes_total"] / 1e6
else:
    work = r["round_trips"] if r["round_trips"] else r["mb_per_s"] * r["secs"]
print(sys.argv[2], work)
PY
}

per_op() { # label, command with SECS in place of the duration
  local label=$1
  shift
  local a b
  a=$(counted "${@//SECS/$SHORT}")
  b=$(counted "${@//SECS/$LONG}")
  python3 -c "
import sys
(i1, w1), (i2, w2) = [map(float, s.split()) for s in sys.argv[1:3]]
print(f'{sys.argv[3]:>8}: {(i2 - i1) / (w2 - w1):8.0f} instructions per {sys.argv[4]} '
      f'({w1:.0f} and {w2:.0f} of them: {i1:.0f} and {i2:.0f} instructions)')
" "$a" "$b" "$label" "$unit"
}

for s in "${SCENARIOS[@]}"; do
  IFS=: read -r mode conns size <<<"$s"
  unit="round trip"
  lg_size=(--size "$size")
  if [[ $mode == stream ]]; then
    unit=MB
    lg_size=(--chunk "$size")
  fi
  echo "== $mode, $conns connections, $size B"
  TOGGLE=('loadgen::epoll_worker' 'loadgen::thread_pingpong' 'loadgen::thread_stream*')
  per_op loadgen "$LG" "$mode" --addr "127.0.0.1:$PORT" --conns "$conns" --secs SECS --warmup 0 "${lg_size[@]}"
  TOGGLE=('host::bench::pingpong::run' 'host::bench::single::run' 'host::bench::stream::run'
    '*Stats::rotate' '*Relay::pass')
  per_op echokit "$BIN" bench -p "$PORT" --mode "$mode" -c "$conns" --size "$size" -d SECS \
    --warmup 0 --json-stream --hlog "$TMP/run.hlog"
done
