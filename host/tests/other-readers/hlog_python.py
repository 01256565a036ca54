#!/usr/bin/env python3
"""HdrHistogram's own Python reader (the `hdrhistogram` package, HdrHistogram_py) reads what
`echokit bench --hlog` writes, and finds the totals and percentiles `echokit bench merge`
finds in it: pingpong (untagged latencies, `uncorrected` ones) and connect mode (`connect`).

    pip install hdrhistogram
    host/tests/other-readers/hlog_python.py [target/debug/echokit]

Exits non-zero, naming what differs, on any mismatch."""
import json
import math
import os
import subprocess
import sys
import tempfile
import threading

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/debug/echokit")
# As echokit computes them (99.9 / 100 is not 0.999 in floating point).
QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p999": 0.999}


def read_with_python(path):
    """Every interval of the log, summed per tag (None: untagged), by HdrHistogram_py."""
    reader = HistogramLogReader(path, HdrHistogram(1, 3_600_000_000, 3))
    by_tag = {}
    while True:
        h = reader.get_next_interval_histogram()
        if h is None:
            break
        tag = h.get_tag()
        if tag not in by_tag:
            by_tag[tag] = HdrHistogram(1, 3_600_000_000, 3)
        by_tag[tag].add(h)
    reader.close()
    return by_tag


def at_quantile(h, q):
    """The value at quantile q as echokit (Rust's hdrhistogram) defines it, from the counts
    HdrHistogram_py decoded: the first value whose running count reaches ceil(q * total)
    (HdrHistogram_py's own rounds q * total to the nearest instead)."""
    rank = max(1, math.ceil(q * h.get_total_count()))
    running = 0
    for item in h.get_recorded_iterator():
        running += item.count_added_in_this_iter_step
        if running >= rank:
            return item.value_iterated_to
    return 0


def same(ours, h, what):
    """Ours (merge's JSON latency object, microseconds) against the Python histogram."""
    if ours is None:
        return [f"{what}: merge found no latencies, Python {h.get_total_count()}"]
    problems = []
    for key, q in QUANTILES.items():
        theirs = at_quantile(h, q)
        if ours[key] != theirs:
            problems.append(f"{what} {key}: merge {ours[key]}, Python {theirs}")
    if abs(ours["max"] - h.get_max_value()) > max(1.0, h.get_max_value() * 0.001):
        problems.append(f"{what} max: merge {ours['max']}, Python {h.get_max_value()}")
    return problems


def bench(port, hlog, *extra):
    args = [BIN, "bench", "-p", str(port), "-d", "1.5", "--warmup", "0", "--json",
            "--hlog", hlog, *extra]
    run = subprocess.run(args, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(run.stdout)


def merge(hlog):
    run = subprocess.run([BIN, "bench", "merge", hlog, "--json"], stdout=subprocess.PIPE,
                         text=True, check=True)
    return json.loads(run.stdout)


def main():
    server = subprocess.Popen([BIN, "server", "-p", "0", "-m", "console", "-l", "warn"],
                              stdout=subprocess.PIPE, text=True)
    problems = []
    try:
        # "... listening on 127.0.0.1:PORT (tcp)"; then the console is drained.
        line = server.stdout.readline()
        port = line.split("listening on ")[1].split()[0].rsplit(":", 1)[1]
        threading.Thread(target=server.stdout.read, daemon=True).start()
        with tempfile.TemporaryDirectory() as tmp:
            # Pingpong, open loop: untagged (from when due) and `uncorrected` (from the send).
            hlog = os.path.join(tmp, "pingpong.hlog")
            summary = bench(port, hlog, "-c", "4", "--rate", "2000")
            ours, theirs = merge(hlog), read_with_python(hlog)
            print(f"pingpong: {summary['round_trips']} round trips; Python read tags "
                  f"{sorted(str(t) for t in theirs)}")
            # One `uncorrected` latency per round trip; untagged ones also for messages
            # still unsent at the end (charged their wait), so at least as many.
            latency, sent = theirs.get(None), theirs.get("uncorrected")
            if sent is None or sent.get_total_count() != ours["round_trips"]:
                count = sent and sent.get_total_count()
                problems.append(f"round trips: merge {ours['round_trips']}, Python {count}")
            if latency is None or latency.get_total_count() < ours["round_trips"]:
                count = latency and latency.get_total_count()
                problems.append(f"latencies: {ours['round_trips']} round trips, Python {count}")
            if latency is not None:
                problems += same(ours["latency_us"], latency, "latency")
            if sent is not None:
                problems += same(ours["latency_uncorrected_us"], sent, "uncorrected")
            # Connect mode: the `connect` tag.
            hlog = os.path.join(tmp, "connect.hlog")
            bench(port, hlog, "--mode", "connect", "-c", "2")
            ours, theirs = merge(hlog), read_with_python(hlog)
            if "connect" in theirs:
                problems += same(ours["connect_latency_us"], theirs["connect"], "connect")
            else:
                problems.append("Python found no `connect` intervals")
    finally:
        server.kill()
        server.wait()
    for p in problems:
        print("FAIL:", p, file=sys.stderr)
    if problems:
        sys.exit(1)
    print("HdrHistogram_py reads echokit bench's --hlog files as echokit bench merge does")


main()
