#!/usr/bin/env bash
# `echokit server` measured with `echokit bench`, optionally side by side with other echo
# servers (peers), in one run: each round runs every scenario against every server in turn
# (interleaved, so drift hits all alike); server and bench share one CPU (CPU=0), as the
# steadiest setting on a small VM. Prints medians and server/peer ratios.
#
#   host/benches/server-bench.sh [target/release/echokit] [NAME='COMMAND with {port}']...
#   host/benches/server-bench.sh target/release/echokit "cepoll=/path/to/cepoll {port}"
#   SECS=2 WARMUP=0.5 ROUNDS=3 CPU=0 HOLD=10000 host/benches/server-bench.sh
#
# echokit's own server runs as `echokit server -p {port} -l warn -m console` (no record per
# echo; say so when quoting). Scenarios: pingpong 64 B and 4 KiB with 1 and 50 connections
# (round trips/s, p99), stream with 4 connections and 64 KiB writes (MB/s each way), and
# HOLD idle connections (server memory per connection: RSS growth while they are held).
# Every echoed byte is checked; a server that errs fails the script.
set -euo pipefail
BIN=$(realpath "${1:-target/release/echokit}")
shift || true
export BIN SECS=${SECS:-2} WARMUP=${WARMUP:-0.5} ROUNDS=${ROUNDS:-3} CPU=${CPU:-0} \
  HOLD=${HOLD:-10000}
python3 - "$@" <<'PY'
import json, os, socket, statistics, subprocess, sys, time
env = os.environ
bin_, cpu, secs, warm = env["BIN"], env["CPU"], env["SECS"], env["WARMUP"]
rounds, hold = int(env["ROUNDS"]), int(env["HOLD"])
servers = [("echokit", f"{bin_} server -p {{port}} -l warn -m console")]
servers += [tuple(a.split("=", 1)) for a in sys.argv[1:]]
pin = ["taskset", "-c", cpu]
scenarios = [("pingpong", 1, 64), ("pingpong", 50, 64), ("pingpong", 1, 4096),
             ("pingpong", 50, 4096), ("stream", 4, 65536), ("hold", hold, 16)]

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    return port

def start(cmd):
    port = free_port()
    p = subprocess.Popen(pin + cmd.replace("{port}", str(port)).split(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            return p, port
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{cmd}: not listening on {port}")

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))

def cpu_s(pid):
    """User + system CPU seconds of a process (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def run(proc, port, mode, conns, size):
    d = "3" if mode == "hold" else secs
    cmd = pin + [bin_, "bench", "-p", str(port), "--mode", mode, "-c", str(conns),
                 "--size", str(size), "-d", d, "--warmup", warm, "--json"]
    base = rss_kib(proc.pid)
    cpu0 = cpu_s(proc.pid)
    b = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    peak = base
    while b.poll() is None:
        peak = max(peak, rss_kib(proc.pid)); time.sleep(0.2)
    r = json.loads(b.stdout.read())
    if r["errors"] or r["mismatches"]:
        raise SystemExit(f"{mode} C={conns}: {r}")
    if mode == "hold":
        return ((peak - base) * 1024 / max(r["held"], 1), None, None)
    lat = r["latency_us"] or {}
    value = r["rt_per_s"] or r["mb_per_s"]
    # Server CPU per round trip (us) or per MB (ms), over warm-up and window alike.
    work = value * (float(secs) + float(warm))
    per = (cpu_s(proc.pid) - cpu0) / work * (1e6 if mode == "pingpong" else 1e3)
    return (value, lat.get("p99"), per)

running = {name: start(cmd) for name, cmd in servers}
results = {s: {name: [] for name, _ in servers} for s in scenarios}
try:
    for _ in range(rounds):
        for s in scenarios:
            for name, cmd in servers:
                if s[0] == "hold":
                    # A fresh server: memory a process once used is not given back, so
                    # only a new one shows what holding the connections costs.
                    fresh = start(cmd)
                    try:
                        results[s][name].append(run(*fresh, *s))
                    finally:
                        fresh[0].terminate(); fresh[0].wait()
                else:
                    results[s][name].append(run(*running[name], *s))
finally:
    for p, _ in running.values():
        p.terminate(); p.wait()

names = [n for n, _ in servers]
print(f"server and echokit bench on CPU {cpu}; {rounds} interleaved rounds of {secs} s "
      f"(+{warm} s warm-up); medians; p99 in us")
print("| scenario | " + " | ".join(names) + " |" + "".join(f" echokit/{n}: throughput, server CPU per op |" for n in names[1:]))
print("|---" * (1 + 2 * len(names) - 1) + "|")
for (mode, conns, size), r in results.items():
    unit = {"pingpong": "rt/s", "stream": "MB/s", "hold": "B/conn"}[mode]
    label = {"pingpong": f"pingpong {size} B, {conns} conn", "stream": f"stream {conns} conns, {size} B writes",
             "hold": f"{conns} idle conns, server memory"}[mode]
    cells, meds, cpus = [], [], []
    for n in names:
        v = statistics.median(x[0] for x in r[n]); meds.append(v)
        p99 = [x[1] for x in r[n] if x[1] is not None]
        cpu = [x[2] for x in r[n] if x[2] is not None]
        cpus.append(statistics.median(cpu) if cpu else None)
        cells.append(f"{v:,.0f} {unit}" + (f" (p99 {statistics.median(p99):.0f})" if p99 else "")
                     + (f", CPU {cpus[-1]:.2f} {'us/rt' if mode == 'pingpong' else 'ms/MB'}" if cpu else ""))
    ratios = [(f" {meds[0] / m:.2f}x" if m else " -") + (f" / {cpus[0] / c:.2f}x |" if c else " |")
              for m, c in zip(meds[1:], cpus[1:])]
    print(f"| {label} | " + " | ".join(cells) + " |" + "".join(ratios))
PY
