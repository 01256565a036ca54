#!/usr/bin/env bash
# The Windows build's own tests (unit and end to end: the .exe spawned) under Wine, in a
# fresh Wine prefix that is deleted afterwards. Needs gcc-mingw-w64-x86-64, wine64 and wine
# (.ci/run installs them) and the x86_64-pc-windows-gnu Rust target.
#
# Debian 12's Wine 8 has no bcryptprimitives.dll, whose ProcessPrng Rust's std calls: every
# Rust .exe would exit 53 before main. The stand-in built from bcryptprimitives.c fixes that.
# A leaked Windows child would keep wineserver (and this step) alive: hence the timeout and
# `wineserver -k` on every exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

TIMEOUT=${WINE_TEST_TIMEOUT:-900}
WINEPREFIX=$(mktemp -d /tmp/echokit-wine.XXXXXX)
export WINEPREFIX WINEARCH=win64 WINEDEBUG=-all   # WINEDEBUG: no "wine32 is missing" noise
unset DISPLAY                                     # headless: no windows, no X11 errors
cleanup() {
  wineserver -k 2>/dev/null || true
  rm -rf "$WINEPREFIX"
}
trap cleanup EXIT

start=$SECONDS
wineboot --init >/dev/null 2>&1
wineserver -w
x86_64-w64-mingw32-gcc -O2 -shared -s -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
  .ci/wine/bcryptprimitives.c -ladvapi32
echo "wine prefix ready in $((SECONDS - start)) s ($(wine --version))"

# Build first (not under the timeout's clock), then run.
cargo test -p host --target x86_64-pc-windows-gnu --no-run
start=$SECONDS
CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine timeout "$TIMEOUT" \
  cargo test -p host --target x86_64-pc-windows-gnu
echo "Windows tests under Wine: $((SECONDS - start)) s"
