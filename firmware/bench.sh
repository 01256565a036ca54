#!/usr/bin/env bash
# Measures the firmware through QEMU with `echokit bench`: round trips per second and
# latency (1 and 4 connections, 64-byte messages) and bulk MB/s (stream), plus the CPU
# time QEMU used during each run (a QEMU near one full core means the emulated CPU is
# the limit) and the TCP segments the clients had to send again (frames lost on the way).
# Runs as root in a network namespace it creates and deletes.
#   usage: firmware/bench.sh ECHOKIT [ELF] [SECS]
#     ECHOKIT: an echokit binary with `bench`; ELF: the image (default: the release
#     build); SECS: seconds per run (default 5)
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: $0 ECHOKIT [ELF] [SECS]" >&2; exit 2; }
echokit="$(realpath "$1")"
here="$(cd "$(dirname "$0")" && pwd)"
elf="${2:-$here/target/thumbv7em-none-eabihf/release/echokit-firmware}"
secs="${3:-5}"
[[ -f "$elf" ]] || (cd "$here" && cargo build --release --quiet)

ns="echokit-fwbench-$$"
qemu_pid=""
cleanup() {
    [[ -n "$qemu_pid" ]] && kill "$qemu_pid" 2>/dev/null && wait "$qemu_pid" 2>/dev/null
    ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" ip tuntap add name tap0 mode tap
ip -n "$ns" addr add 192.168.69.100/24 dev tap0
ip -n "$ns" link set tap0 up
serial="$(mktemp)"
ip netns exec "$ns" qemu-system-arm -M mps2-an386 -nographic -monitor none -serial stdio \
    -nic tap,ifname=tap0,script=no,downscript=no,model=lan9118 -kernel "$elf" \
    >"$serial" 2>/dev/null &
qemu_pid=$!
for _ in $(seq 100); do grep -q '"listening"' "$serial" && break; sleep 0.1; done
ip netns exec "$ns" ping -c 2 -W 5 192.168.69.1 >/dev/null

ticks() { awk '{ print $14 + $15 }' "/proc/$qemu_pid/stat"; }
# TCP segments the clients' kernel sent again (frames lost on the way, e.g. a full NIC FIFO).
retrans() { ip netns exec "$ns" nstat -saz TcpRetransSegs | awk '$1 == "TcpRetransSegs" { print $2 }'; }
hz=$(getconf CLK_TCK)
run() { # label, bench arguments...
    local label="$1"; shift
    local before after out r0
    before=$(ticks); r0=$(retrans)
    out=$(ip netns exec "$ns" "$echokit" bench -s 192.168.69.1 -d "$secs" --warmup 1 --json "$@")
    after=$(ticks)
    local cpu
    cpu=$(awk -v t=$((after - before)) -v hz="$hz" -v s="$secs" 'BEGIN { printf "%.0f", 100 * t / hz / (s + 1) }')
    echo "$label qemu_cpu=${cpu}% retransmitted=$(( $(retrans) - r0 )) $out"
}
run "pingpong c=1 64B" --mode pingpong -c 1 --size 64
run "pingpong c=4 64B" --mode pingpong -c 4 --size 64
run "stream   c=1 16KiB" --mode stream -c 1 --size 16384
rm -f "$serial"
