#!/usr/bin/env bash
# `echokit server --workers 1` against `--workers 2` (or any counts), interleaved in one
# run: round trips/s, and the server's CPU time per round trip, read from /proc/PID/stat
# (utime + stime of all its threads). Same CPU per round trip with more workers means no
# cost per core: the evidence that throughput scales with cores on machines we cannot
# measure here. Unpinned (several workers need several CPUs); pingpong, 64 B messages, 50
# connections, driven by the load generator of the shared bench kit (`loadgen`, built by
# its build.sh into $BENCH_OUT, default ~/.cache/echo-bench).
#
#   host/benches/workers.sh [target/release/echokit]
#   WORKERS="1 2" ROUNDS=5 SECS=3 WARMUP=0.5 CONNS=50 SIZE=64 host/benches/workers.sh
#   BASELINE=/path/to/an/older/echokit host/benches/workers.sh   # adds it (no --workers flag)
#   PEERS="1 2" host/benches/workers.sh   # adds the kit's C epoll server with 1 and 2 loops
#                                         # (cepoll -t N): what the same machine allows a C server
#
# The server runs as `echokit server -p {port} $LOG --workers N`, LOG default `-l warn -m
# console` (no record per echo; say so when quoting). A record per echo, in a file:
#   LOADGEN_LINES=64 LOG="-l info -m file -f /tmp/echo.log" host/benches/workers.sh
set -euo pipefail
BIN=$(realpath "${1:-target/release/echokit}")
BENCH_OUT=${BENCH_OUT:-$HOME/.cache/echo-bench}
LOADGEN=${LOADGEN:-$BENCH_OUT/target/release/loadgen}
if [[ ! -x "$LOADGEN" ]]; then
  echo "workers.sh: no loadgen at $LOADGEN: build it with the bench kit's build.sh (or set LOADGEN)" >&2
  exit 2
fi
CEPOLL=${CEPOLL:-$BENCH_OUT/peers/cepoll}
export BIN LOADGEN CEPOLL PEERS=${PEERS:-} WORKERS=${WORKERS:-"1 2"} ROUNDS=${ROUNDS:-5} SECS=${SECS:-3} \
  WARMUP=${WARMUP:-0.5} CONNS=${CONNS:-50} SIZE=${SIZE:-64} BASELINE=${BASELINE:-} LOG=${LOG:-"-l warn -m console"}
python3 - <<'PY'
import json, os, socket, statistics, subprocess, time
env = os.environ
counts = env["WORKERS"].split() + (["baseline"] if env["BASELINE"] else []) \
    + [f"cepoll-t{n}" for n in env["PEERS"].split()]
rounds, secs, warm = int(env["ROUNDS"]), env["SECS"], env["WARMUP"]

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    return port

def start(n):
    port = free_port()
    log = env["LOG"].split()
    if "-f" in log:  # one file per server
        i = log.index("-f") + 1
        log[i] = f"{log[i]}.{n}"
    cmd = [env["BIN"], "server", "-p", str(port)] + log + ["--workers", n]
    if n == "baseline":
        cmd = [env["BASELINE"], "server", "-p", str(port)] + log
    if n.startswith("cepoll-t"):
        cmd = [env["CEPOLL"], str(port), "-t", n[len("cepoll-t"):]]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            return p, port
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"--workers {n}: not listening on {port}")

def cpu_s(pid):
    """utime + stime of the process (every thread), seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def run(proc, port):
    c0 = cpu_s(proc.pid)
    out = subprocess.run([env["LOADGEN"], "pingpong", "--addr", f"127.0.0.1:{port}",
                          "--conns", env["CONNS"], "--size", env["SIZE"], "--secs", secs,
                          "--warmup", warm], capture_output=True, text=True, timeout=120)
    c1 = cpu_s(proc.pid)
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if not lines:
        raise SystemExit(f"loadgen failed: {out.stderr.strip()[:300]}")
    r = json.loads(lines[-1])
    if not r.get("ok", True) or r.get("errors"):
        raise SystemExit(f"loadgen reported errors: {r}")
    ops = r.get("ops_total") or r["rt_per_s"] * (float(secs) + float(warm))
    return r["rt_per_s"], 1e6 * (c1 - c0) / ops

servers = {n: start(n) for n in counts}
res = {n: [] for n in counts}
try:
    for i in range(rounds):
        order = counts[i % len(counts):] + counts[:i % len(counts)]  # rotate: drift hits all
        for n in order:
            res[n].append(run(*servers[n]))
finally:
    for p, _ in servers.values():
        p.terminate(); p.wait()

base = counts[0]
med = {n: (statistics.median(x[0] for x in res[n]), statistics.median(x[1] for x in res[n])) for n in counts}
print(f"pingpong {env['SIZE']} B, {env['CONNS']} conns, {rounds} interleaved rounds of {secs} s "
      f"(+{warm} s warm-up), unpinned, server log {env['LOG']}; medians (min-max)")
print("| workers | round trips/s | server CPU us/rt | rt/s vs " + base + " | CPU/rt vs " + base + " |")
print("|---|---|---|---|---|")
for n in counts:
    rt = [x[0] for x in res[n]]; cp = [x[1] for x in res[n]]
    print(f"| {n} | {med[n][0]:,.0f} ({min(rt):,.0f}-{max(rt):,.0f}) | {med[n][1]:.2f} "
          f"({min(cp):.2f}-{max(cp):.2f}) | {med[n][0] / med[base][0]:.3f}x | {med[n][1] / med[base][1]:.3f}x |")
PY
