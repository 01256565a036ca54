#!/usr/bin/env bash
# Runs the firmware of board NAME (default mps2-an386) under QEMU with its Ethernet on the
# TAP interface TAP and its serial log (JSON Lines) on stdout. Builds the release image
# first (cargo does nothing when it is up to date). Needs the board's QEMU and a TAP the
# caller may open (root, or one made with `ip tuntap add name TAP mode tap user $USER`).
# `--elf` runs that image of the board instead (no build); arguments after `--` go to QEMU
# as they are.
#   usage: firmware/qemu.sh [--board NAME] [--elf ELF] TAP [-- QEMU-ARGS...]
set -euo pipefail
# shellcheck source=board.sh
source "$(dirname "$0")/board.sh"
usage() {
    echo "usage: $0 [--board NAME] [--elf ELF] TAP [-- QEMU-ARGS...]   (TAP e.g. tap0, its kernel side at 192.168.69.100/24; boards: $(boards))" >&2
    exit 2
}
name=mps2-an386 image=""
while [[ "${1:-}" == --board || "${1:-}" == --elf ]]; do
    [[ $# -ge 2 ]] || usage
    case "$1" in
        --board) name="$2" ;;
        --elf) image="$2" ;;
    esac
    shift 2
done
[[ $# -ge 1 && -n "$1" && "$1" != -* ]] || usage
tap="$1"
shift
if [[ $# -gt 0 ]]; then
    [[ "$1" == -- ]] || usage
    shift
fi
load_board "$name"
if ! declare -F qemu_command >/dev/null; then
    echo "$0: board $board does not run under QEMU (flash it: README \"On a microcontroller\")" >&2
    exit 2
fi
qemu_command "$tap" "${image:-$elf}"
if ! command -v "${qemu[0]}" >/dev/null 2>&1; then
    echo "$0: ${qemu[0]} not found (Debian/Ubuntu: apt-get install $qemu_package)" >&2
    exit 2
fi
if [[ -z "$image" ]]; then
    "$firmware_dir/build.sh" "$board" >/dev/null
elif [[ ! -f "$image" ]]; then
    echo "$0: no image at $image" >&2
    exit 2
fi
exec "${qemu[@]}" "$@"
