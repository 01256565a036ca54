#!/usr/bin/env bash
# Builds the release image of board NAME (default mps2-an386) and prints its path as the
# last line of stdout. The board's rust-toolchain.toml names its target: rustup installs
# it by itself. ECHOKIT_IP / ECHOKIT_GATEWAY set the address (README "On a microcontroller").
#   usage: firmware/build.sh [NAME]     (boards: the directories in firmware/boards/)
set -euo pipefail
# shellcheck source=board.sh
source "$(dirname "$0")/board.sh"
[[ $# -le 1 ]] || { echo "usage: $0 [NAME]   (boards: $(boards))" >&2; exit 2; }
load_board "${1:-mps2-an386}"
clean_cargo_env
(cd "$board_dir" && cargo build --release --quiet) >&2
[[ -f "$elf" ]] || { echo "$0: the build made no image at $elf" >&2; exit 1; }
echo "$elf"
