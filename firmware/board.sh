# Shared by firmware/*.sh (sourced, bash): `load_board NAME` checks NAME and sets `board`,
# `board_dir`, `target`, `elf` (the release image's path) and, for QEMU boards,
# `qemu_package` and the function `qemu_command TAP ELF` (sets the array `qemu`).
# shellcheck shell=bash disable=SC2034
firmware_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

boards() { # the boards there are, one line
    (cd "$firmware_dir/boards" && for d in */; do [[ -f "$d/board.sh" ]] && printf '%s ' "${d%/}"; done)
}

load_board() {
    board="$1"
    board_dir="$firmware_dir/boards/$board"
    if [[ -z "$board" || "$board" == */* || ! -f "$board_dir/board.sh" ]]; then
        echo "${0##*/}: no board named '$board' (boards: $(boards))" >&2
        exit 2
    fi
    target="" qemu_package=""
    unset -f qemu_command
    # shellcheck source=/dev/null
    source "$board_dir/board.sh"
    elf="$firmware_dir/target/$target/release/echokit-$board"
}

# A cargo started from another one (the tests' `cargo test`) must not hand down its
# settings: its target dir and rustflags are the host's, and rustup's toolchain choice
# would override the board's rust-toolchain.toml (which installs the board's target).
clean_cargo_env() {
    unset CARGO_TARGET_DIR CARGO_BUILD_TARGET RUSTFLAGS CARGO_ENCODED_RUSTFLAGS \
        CARGO_BUILD_RUSTFLAGS RUSTC RUSTC_WRAPPER RUSTDOC
    if [[ -n "${RUSTUP_TOOLCHAIN_SOURCE:-}" && "$RUSTUP_TOOLCHAIN_SOURCE" != env ]]; then
        unset RUSTUP_TOOLCHAIN RUSTUP_TOOLCHAIN_SOURCE
    fi
}
