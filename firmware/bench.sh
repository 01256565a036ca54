#!/usr/bin/env bash
# Measures the firmware of a QEMU board with `echokit bench`: round trips per second and
# latency (1 and 4 connections, 64-byte messages) and bulk MB/s (stream), plus the CPU
# time QEMU used during each run (a QEMU near one full core means the emulated CPU is
# the limit), the TCP segments the clients had to send again (frames lost on the way) and
# the log records the device dropped (its serial port did not keep up). Runs as root in a
# network namespace it creates and deletes.
#   usage: firmware/bench.sh [--board NAME] [--echokit PATH] [--elf ELF] [--secs N]
#     NAME: default mps2-an386; PATH: an echokit with `bench` (default: the workspace's
#     release build, built if missing); ELF: another image of that board to measure
#     (default: the release build); N: seconds per run (default 5)
set -euo pipefail
# shellcheck source=board.sh
source "$(dirname "$0")/board.sh"
usage() { echo "usage: $0 [--board NAME] [--echokit PATH] [--elf ELF] [--secs N]   (boards: $(boards))" >&2; exit 2; }
name=mps2-an386 echokit="" image="" secs=5
while [[ $# -gt 0 ]]; do
    [[ $# -ge 2 ]] || usage
    case "$1" in
        --board) name="$2" ;;
        --echokit) echokit="$2" ;;
        --elf) image="$2" ;;
        --secs) secs="$2" ;;
        *) usage ;;
    esac
    shift 2
done
load_board "$name"
declare -F qemu_command >/dev/null || { echo "$0: board $board does not run under QEMU" >&2; exit 2; }
if [[ -z "$echokit" ]]; then
    echokit="$firmware_dir/../target/release/echokit"
    [[ -x "$echokit" ]] || (cd "$firmware_dir/.." && cargo build --release -p host --quiet)
fi
echokit="$(realpath "$echokit")"
if [[ -z "$image" ]]; then
    "$firmware_dir/build.sh" "$board" >/dev/null
    image="$elf"
fi

ns="echokit-fwbench-$$"
qemu_pid=""
serial="$(mktemp)"
cleanup() {
    [[ -n "$qemu_pid" ]] && kill "$qemu_pid" 2>/dev/null && wait "$qemu_pid" 2>/dev/null
    ip netns del "$ns" 2>/dev/null || true
    rm -f "$serial"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" ip tuntap add name tap0 mode tap
ip -n "$ns" addr add 192.168.69.100/24 dev tap0
ip -n "$ns" link set tap0 up
qemu_command tap0 "$image"
ip netns exec "$ns" "${qemu[@]}" >"$serial" 2>/dev/null &
qemu_pid=$!
for _ in $(seq 100); do grep -q '"listening"' "$serial" && break; sleep 0.1; done
ip netns exec "$ns" ping -c 2 -W 5 192.168.69.1 >/dev/null

ticks() { awk '{ print $14 + $15 }' "/proc/$qemu_pid/stat"; }
# TCP segments the clients' kernel sent again (frames lost on the way, e.g. a full NIC FIFO).
retrans() { ip netns exec "$ns" nstat -saz TcpRetransSegs | awk '$1 == "TcpRetransSegs" { print $2 }'; }
# Log records the device dropped so far: the sum of the counts its drop notices name.
log_dropped() { { grep -o 'serial log: [0-9]* records dropped' "$serial" || true; } | awk '{ s += $3 } END { print s + 0 }'; }
hz=$(getconf CLK_TCK)
run() { # label, bench arguments...
    local label="$1"; shift
    local before after out r0 d0 cpu
    before=$(ticks); r0=$(retrans); d0=$(log_dropped)
    out=$(ip netns exec "$ns" "$echokit" bench -s 192.168.69.1 -d "$secs" --warmup 1 --json "$@")
    after=$(ticks)
    sleep 1   # the device's drop notice follows once its log drains
    cpu=$(awk -v t=$((after - before)) -v hz="$hz" -v s="$secs" 'BEGIN { printf "%.0f", 100 * t / hz / (s + 1) }')
    echo "$board $label qemu_cpu=${cpu}% retransmitted=$(( $(retrans) - r0 )) log_dropped=$(( $(log_dropped) - d0 )) $out"
}
run "pingpong c=1 64B" --mode pingpong -c 1 --size 64
run "pingpong c=4 64B" --mode pingpong -c 4 --size 64
run "stream   c=1 16KiB" --mode stream -c 1 --size 16384
