#!/usr/bin/env bash
# C1M: one `echokit server` holding a million TCP connections on loopback, opened, held idle
# and then checked (each echoes a probe) by `echokit bench --mode hold`. Bounded: it stops by
# itself (the bench holds for HOLD seconds; everything is killed after a time limit) and is
# not part of CI. Needs root and about 8 GiB of free memory per million connections (both
# ends of every connection are in this kernel).
#
#   host/benches/c1m.sh [target/release/echokit]
#   CONNS=100000 HOLD=10 host/benches/c1m.sh          # a smaller run
#
# Kernel limits it raises for its own run and restores on exit (whatever happens):
#   fs.nr_open                      >= CONNS + 4096  (one process may open that many files)
#   fs.file-max                     >= 2 * CONNS + 65536 (both ends are files)
#   net.ipv4.ip_local_port_range    1024 65535 (ports per source address and destination)
#   net.ipv4.tcp_mem                x4 (pages of socket buffers, for the probes at the end)
#   net.core.somaxconn, net.ipv4.tcp_max_syn_backlog  65535 (accept queue while connecting)
# and RLIMIT_NOFILE (ulimit -n) for the server and the bench it starts (this shell only).
# Connections come from 127.0.0.2, 127.0.0.3, ... (--source): 127.0.0.0/8 is already on
# `lo`, so no address is added anywhere; each source gives ~64,000 ports to the server's
# one address and port.
#
# Prints the bench's summary (held, failed, connect_per_s, probe latency) and one JSON line
# with the server's memory per connection (RSS growth / connections held) and the kernel's
# (Slab growth / connections held, both ends of each connection; and the sockstat counts).
set -euo pipefail
BIN=$(realpath "${1:-target/release/echokit}")
CONNS=${CONNS:-1000000}
HOLD=${HOLD:-30}
PORT=${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
LIMIT=$((HOLD + 600)) # seconds after which everything is stopped regardless

[[ $(id -u) == 0 ]] || { echo "c1m.sh: needs root (it raises kernel limits)" >&2; exit 2; }

KEYS=(fs.nr_open fs.file-max net.ipv4.ip_local_port_range net.ipv4.tcp_mem
  net.core.somaxconn net.ipv4.tcp_max_syn_backlog)
declare -A SAVED
for k in "${KEYS[@]}"; do SAVED[$k]=$(sysctl -n "$k"); done
SERVER=
BENCH=
restore() {
  [[ -n $BENCH ]] && kill "$BENCH" 2>/dev/null && wait "$BENCH" 2>/dev/null
  [[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  for k in "${KEYS[@]}"; do sysctl -qw "$k=${SAVED[$k]}"; done
  echo "c1m.sh: kernel limits restored" >&2
}
trap restore EXIT

max() { if (($1 > $2)); then echo "$1"; else echo "$2"; fi; }
read -r -a MEM <<<"$(sysctl -n net.ipv4.tcp_mem)"
sysctl -qw fs.nr_open="$(max "${SAVED[fs.nr_open]}" $((CONNS + 4096)))"
sysctl -qw fs.file-max="$(max "${SAVED[fs.file-max]}" $((2 * CONNS + 65536)))"
sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
sysctl -qw net.ipv4.tcp_mem="$((MEM[0] * 4)) $((MEM[1] * 4)) $((MEM[2] * 4))"
sysctl -qw net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535
WANT=$((CONNS + 4096))
if ! ulimit -Hn "$WANT" 2>/dev/null && (($(ulimit -Hn) < CONNS + 64)); then
  echo "c1m.sh: cannot raise the open-file hard limit to $WANT (it is $(ulimit -Hn);" \
    "raising it needs CAP_SYS_RESOURCE): use CONNS=$(($(ulimit -Hn) - 64)) or less" >&2
  exit 2
fi
ulimit -Sn "$(ulimit -Hn)"

SOURCES=()
for ((i = 0; i < CONNS / 50000 + 1; i++)); do SOURCES+=(--source "127.0.$((i / 250)).$((i % 250 + 2))"); done

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
slab_kib() { awk '/^Slab:/ {print $2}' /proc/meminfo; }

"$BIN" server -p "$PORT" --max-conns "$CONNS" -l warn -m console >/dev/null &
SERVER=$!
sleep 0.5
kill -0 "$SERVER"
RSS0=$(rss_kib "$SERVER")
SLAB0=$(slab_kib)

OUT=$(mktemp)
timeout "$LIMIT" "$BIN" bench -p "$PORT" --mode hold -c "$CONNS" -d "$HOLD" \
  --timeout 30 "${SOURCES[@]}" --json >"$OUT" &
BENCH=$!
RSS=$RSS0 SLAB=$SLAB0 SOCKSTAT=
while kill -0 "$BENCH" 2>/dev/null; do
  r=$(rss_kib "$SERVER") s=$(slab_kib)
  if ((r > RSS)); then RSS=$r; fi
  if ((s > SLAB)); then SLAB=$s SOCKSTAT=$(grep '^TCP:' /proc/net/sockstat); fi
  sleep 1
done
set +e
wait "$BENCH"
STATUS=$?
BENCH=
set -e
cat "$OUT"
HELD=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["held"] or 0)' "$OUT" 2>/dev/null || echo 0)
rm -f "$OUT"
python3 - "$HELD" "$RSS0" "$RSS" "$SLAB0" "$SLAB" "$SOCKSTAT" <<'PY'
import json, sys
held, rss0, rss, slab0, slab, sockstat = int(sys.argv[1]), *map(int, sys.argv[2:6]), sys.argv[6]
n = max(held, 1)
print(json.dumps({
    "held": held,
    "server_rss_kib": [rss0, rss],
    "server_bytes_per_conn": round((rss - rss0) * 1024 / n, 1),
    "kernel_slab_kib": [slab0, slab],
    "kernel_slab_bytes_per_conn_both_ends": round((slab - slab0) * 1024 / n, 1),
    "sockstat_at_peak": sockstat,
}))
PY
exit $STATUS
