#!/usr/bin/env bash
# How hard `echokit bench` drives a server compared with the shared kit's load generator:
# both drive the kit's c-epoll peer (one thread, level-triggered epoll), everything pinned
# to one CPU as `compare.sh --pin same` does, interleaved: each round runs every scenario
# with loadgen and then with echokit bench (with --json-stream and --hlog on, as a user who
# keeps the per-second results runs it). Prints medians and echokit/loadgen ratios
# (round trips/s, MB/s, p50, p99), then the open-loop check (--rate 10000).
# This is the only script here that needs the kit (../shared/bench beside the repository;
# SHARED=DIR to point elsewhere); the README's commands do not.
#
#   host/benches/loadgen-compare.sh [target/release/echokit]
#   SECS=2 WARMUP=0.5 ROUNDS=3 CPU=0 host/benches/loadgen-compare.sh
set -euo pipefail
BIN=$(realpath "${1:-target/release/echokit}")
SHARED=${SHARED:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/bench}
export BENCH_OUT=${BENCH_OUT:-$HOME/.cache/echo-bench}
QUIET=1 "$SHARED/build.sh"
export LG=$BENCH_OUT/target/release/loadgen BIN SECS=${SECS:-2} WARMUP=${WARMUP:-0.5} \
  ROUNDS=${ROUNDS:-3} CPU=${CPU:-0}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export PORT
taskset -c "$CPU" "$BENCH_OUT/peers/cepoll" "$PORT" >/dev/null &
PEER=$!
trap 'kill $PEER 2>/dev/null; wait $PEER 2>/dev/null' EXIT
sleep 0.3
python3 - <<'PY'
import json, os, statistics, subprocess, tempfile
env = os.environ
hlog = os.path.join(tempfile.mkdtemp(), "run.hlog")
lg, bin_, port, cpu = env["LG"], env["BIN"], env["PORT"], env["CPU"]
secs, warm, rounds = env["SECS"], env["WARMUP"], int(env["ROUNDS"])
pin = ["taskset", "-c", cpu]
scenarios = [("pingpong", 1, 64), ("pingpong", 50, 64), ("pingpong", 1, 4096),
             ("pingpong", 50, 4096), ("stream", 1, 65536)]

def measured(cmd):
    """Runs cmd; returns its JSON and the CPU seconds it used (user + system)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    assert status == 0, (cmd, out)
    # The last line: --json-stream's summary comes after the per-second objects.
    return json.loads(out.strip().splitlines()[-1]), usage.ru_utime + usage.ru_stime

def loadgen(mode, conns, size):
    size_flag = ["--size", str(size)] if mode == "pingpong" else ["--chunk", str(size)]
    cmd = pin + [lg, mode, "--addr", f"127.0.0.1:{port}", "--conns", str(conns),
                 "--secs", secs, "--warmup", warm] + size_flag
    r, cpu_s = measured(cmd)
    assert r["ok"], r
    work = r.get("ops_total") or r["bytes_total"] / 1e6
    return (r.get("rt_per_s") or r["mb_per_s"], r.get("p50_us"), r.get("p99_us"), cpu_s / work * 1e6)

def echokit(mode, conns, size, extra=()):
    cmd = pin + [bin_, "bench", "-p", port, "--mode", mode, "-c", str(conns), "--size",
                 str(size), "-d", secs, "--warmup", warm, "--json-stream", "--hlog", hlog, *extra]
    r, cpu_s = measured(cmd)
    assert r["errors"] == 0 and r["mismatches"] == 0, r
    lat = r["latency_us"] or {}
    # Work done in the warm-up and the window (the CPU time covers both).
    total = float(secs) + float(warm)
    work = (r["rt_per_s"] or r["mb_per_s"]) * total
    return (r["rt_per_s"] or r["mb_per_s"], lat.get("p50"), lat.get("p99"), cpu_s / work * 1e6)

results = {s: {"loadgen": [], "echokit": []} for s in scenarios}
for _ in range(rounds):
    for s in scenarios:
        results[s]["loadgen"].append(loadgen(*s))
        results[s]["echokit"].append(echokit(*s))

def med(rows, i):
    vals = [r[i] for r in rows if r[i] is not None]
    return statistics.median(vals) if vals else None

print(f"c-epoll peer, server and load generator on CPU {cpu}, {rounds} interleaved rounds of {secs} s (+{warm} s warm-up); medians")
print("| scenario | loadgen | echokit bench | ratio | p50 us lg / ek | p99 us lg / ek | own CPU us per op (MB) lg / ek |")
print("|---|---|---|---|---|---|---|")
for (mode, conns, size), r in results.items():
    unit = "rt/s" if mode == "pingpong" else "MB/s"
    a, b = med(r["loadgen"], 0), med(r["echokit"], 0)
    lat = lambda i: (f"{med(r['loadgen'], i)} / {med(r['echokit'], i)}" if mode == "pingpong" else "-")
    cpu = f"{med(r['loadgen'], 3):.2f} / {med(r['echokit'], 3):.2f}"
    print(f"| {mode} C={conns} {size} B | {a:,.0f} {unit} | {b:,.0f} {unit} | {b / a:.3f}x | {lat(1)} | {lat(2)} | {cpu} |")
rates = [echokit("pingpong", 10, 64, ["--rate", "10000"])[0] for _ in range(rounds)]
# (the open loop spins between messages to send on time: its CPU is not compared)
print(f"open loop --rate 10000 -c 10: achieved {[round(x) for x in rates]} rt/s "
      f"(median {statistics.median(rates) / 10000:.4f} of the target)")
PY
