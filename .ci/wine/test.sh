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

# Ctrl-C as Windows delivers it: a test inside Wine cannot send a console control event to
# a console-less child, but Wine turns a SIGINT to the .exe's process (`wine` execs it, so
# it is `$!`) into Ctrl-C. Checks the Windows build's graceful stop of the server (the
# `shutdown` record, exit 0) and the archiver's clean-up (no temporary file, the old
# archive kept, exit 130).
exe=$PWD/target/x86_64-pc-windows-gnu/debug/echokit.exe
work=$(mktemp -d /tmp/echokit-ctrlc.XXXXXX)
trap 'cleanup; rm -rf "$work"' EXIT
cd "$work"

# Waits up to 10 s for `test $@` to hold.
wait_until() {
  for _ in $(seq 100); do
    "$@" && return
    sleep 0.1
  done
  return 1
}
exited() { ! kill -0 "$1" 2>/dev/null; }

# One event loop, and three (--workers: worker 0 sees Ctrl-C and stops the others).
for workers in 1 3; do
  rm -f server.log
  wine "$exe" server -p 0 -m file -f server.log --workers "$workers" >server.out 2>&1 &
  job=$!
  wait_until grep -q '"listening"' server.log
  kill -INT "$job"
  wait_until exited "$job" || { echo "FAIL: the server (--workers $workers) still runs 10 s after Ctrl-C"; exit 1; }
  status=0
  wait "$job" || status=$?
  if [[ $status -ne 0 ]] || ! tail -n 1 server.log | grep -q '"event":"shutdown"'; then
    echo "FAIL: after Ctrl-C the server (--workers $workers) exited $status; its log:"
    cat server.log server.out
    exit 1
  fi
  echo "Ctrl-C: the Windows server (--workers $workers) logged shutdown and exited 0"
done

echo precious >archive.csv
record='{"ts":"2026-11-23T10:15:02.123Z","level":"INFO","event":"echo","conn":1,"peer":"127.0.0.1:5","msg":"hi"}'
{ for _ in $(seq 200); do echo "$record"; done; sleep 5; } |
  wine "$exe" archive -i - -a false --force 2>archive.err &
job=$!
wait_until compgen -G '.archive.csv.*.tmp' >/dev/null
kill -INT "$job"
wait_until exited "$job" || { echo "FAIL: the archiver still runs 10 s after Ctrl-C"; exit 1; }
status=0
wait "$job" || status=$?
leftover=$(compgen -G '.archive.csv.*.tmp' || true)
if [[ $status -ne 130 || -n $leftover || $(cat archive.csv) != precious ]]; then
  echo "FAIL: after Ctrl-C the archiver exited $status and left '$leftover'"
  cat archive.err
  exit 1
fi
echo "Ctrl-C: the Windows archiver removed its temporary file and exited 130"
