#!/usr/bin/env bash
# Prints the footprint of the release image: flash (what is programmed: vector table, code,
# constants, initial values of .data) and RAM (static data, and the stack that memory.x
# reserves: everything from the end of static data to the top of RAM).
#   usage: firmware/size.sh [ELF]     (readelf from binutils; CI prints this)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
elf="${1:-$here/target/thumbv7em-none-eabihf/release/echokit-firmware}"
[[ -f "$elf" ]] || { echo "$0: no image at $elf (cd firmware && cargo build --release)" >&2; exit 2; }

section() { # size in bytes of section $1, 0 if absent
    local hex
    hex=$(readelf -S -W "$elf" | sed 's/^ *\[ *[0-9]*\]//' | awk -v name="$1" '$1 == name { print $5; exit }')
    echo $((16#${hex:-0}))
}
symbol() { # value of symbol $1
    local hex
    hex=$(readelf -s -W "$elf" | awk -v name="$1" '$8 == name { print $2; exit }')
    [[ -n "$hex" ]] || { echo "$0: no symbol $1 in $elf" >&2; exit 1; }
    echo $((16#$hex))
}
vt=$(section .vector_table); text=$(section .text); ro=$(section .rodata)
data=$(section .data); bss=$(section .bss); uninit=$(section .uninit)
flash=$((vt + text + ro + data))
static=$((data + bss + uninit))
stack=$(( $(symbol _stack_start) - $(symbol _stack_end) ))
kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }
echo "flash: $(kib $flash) ($flash bytes: vector table $vt, code $text, constants $ro, .data $data); budget 128 KiB"
echo "RAM:   $(kib $((static + stack))) = static $(kib $static) (.data $data, .bss $bss) + stack $(kib $stack); budget 64 KiB"
