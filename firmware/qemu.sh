#!/usr/bin/env bash
# Runs the firmware on QEMU's mps2-an386 with its Ethernet on the TAP interface TAP and its
# serial log (JSON Lines) on stdout. Builds the release image first if it is missing or
# older than the sources. Needs qemu-system-arm and a TAP the caller may open (root, or one
# created with `ip tuntap add name TAP mode tap user $USER`).
#   usage: firmware/qemu.sh TAP
set -euo pipefail

if [[ $# -ne 1 || -z "$1" || "$1" == -* ]]; then
    echo "usage: $0 TAP   (a TAP interface, e.g. tap0; its kernel side at 192.168.69.100/24)" >&2
    exit 2
fi
tap="$1"
here="$(cd "$(dirname "$0")" && pwd)"
elf="$here/target/thumbv7em-none-eabihf/release/echokit-firmware"

if ! command -v qemu-system-arm >/dev/null 2>&1; then
    echo "$0: qemu-system-arm not found (Debian/Ubuntu: apt-get install qemu-system-arm)" >&2
    exit 2
fi
newer=""
if [[ -f "$elf" ]]; then
    newer="$(find "$here/src" "$here/lan9118/src" "$here/../core/src" "$here/Cargo.toml" \
        "$here/build.rs" -newer "$elf" -print -quit 2>/dev/null || true)"
fi
if [[ ! -f "$elf" || -n "$newer" ]]; then
    (cd "$here" && cargo build --release --quiet) >&2
fi
exec qemu-system-arm -M mps2-an386 -nographic -monitor none -serial stdio \
    -nic "tap,ifname=$tap,script=no,downscript=no,model=lan9118" \
    -kernel "$elf"
