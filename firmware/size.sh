#!/usr/bin/env bash
# Prints the footprint of board NAME's release image (default mps2-an386; built first):
# flash (what is programmed: vector table, code, constants, initial values of .data) and
# RAM (static data, and the stack the board's memory.x reserves). CI prints this for
# every board. A board whose runtime names its stack otherwise sets `stack_top` and
# `stack_bottom` (symbols) in its board.sh.
#   usage: firmware/size.sh [NAME]
set -euo pipefail
# shellcheck source=board.sh
source "$(dirname "$0")/board.sh"
[[ $# -le 1 ]] || { echo "usage: $0 [NAME]   (boards: $(boards))" >&2; exit 2; }
stack_top=_stack_start stack_bottom=_stack_end
load_board "${1:-mps2-an386}"
"$firmware_dir/build.sh" "$board" >/dev/null

# name type size flags, for each allocated section
sections() {
    readelf -S -W "$elf" | sed -n 's/^ *\[ *[0-9]*\] *//p' | awk '$7 ~ /A/ { print $1, $2, $5, $7 }' |
        while read -r name type size flags; do echo "$name $type $((16#$size)) $flags"; done
}
sum() { sections | awk "$1"' { s += $3 } END { print s + 0 }'; }
symbol() { # value of symbol $1
    local hex
    hex=$(readelf -s -W "$elf" | awk -v name="$1" '$8 == name { print $2; exit }')
    [[ -n "$hex" ]] || { echo "$0: no symbol $1 in $elf" >&2; exit 1; }
    echo $((16#$hex))
}
flash=$(sum '$2 == "PROGBITS"')               # what the image holds
code=$(sum '$2 == "PROGBITS" && $4 ~ /X/')
data=$(sum '$2 == "PROGBITS" && $4 ~ /W/')
static=$(sum '$4 ~ /W/ && $1 != ".stack" && $1 != ".heap"')
stack=$(( $(symbol "$stack_top") - $(symbol "$stack_bottom") ))
kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }
echo "$board flash: $(kib "$flash") ($flash bytes: code $code, .data $data, constants and tables $((flash - code - data))); budget 128 KiB"
echo "$board RAM:   $(kib $((static + stack))) = static $(kib "$static") + stack $(kib "$stack"); budget 64 KiB"
