#!/usr/bin/env bash
# Archive benchmark from the repository alone: `echokit archive` against jq on the same
# JSON Lines log, wall time and peak memory (GNU time), RUNS interleaved runs each.
#
#   host/benches/archive-bench.sh [ECHOKIT] [RECORDS]     # defaults: target/release/echokit 1000000
#
# The log (RECORDS echo records of the server's own format, varied peers and messages) is
# generated into a temporary folder that is deleted afterwards. jq is the peer when it is
# installed (apt-get install jq); the ratio is jq's median over echokit's (> 1: faster).
set -euo pipefail
ECHOKIT=${1:-target/release/echokit}
RECORDS=${2:-1000000}
RUNS=${RUNS:-3}
[[ -x $ECHOKIT ]] || { echo "archive-bench: no $ECHOKIT (cargo build --release)" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "archive-bench: needs GNU time (apt-get install time)" >&2; exit 2; }
dir=$(mktemp -d /tmp/echokit-archive-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
awk -v n="$RECORDS" 'BEGIN {
  for (i = 0; i < n; i++) {
    ms = i % 1000; s = int(i / 1000) % 60; m = int(i / 60000) % 60
    printf "{\"ts\":\"2026-11-23T10:%02d:%02d.%03dZ\",\"level\":\"INFO\",\"event\":\"echo\",\"conn\":%d,\"peer\":\"127.0.0.1:%d\",\"msg\":\"message %d with \\\"quotes\\\", commas and text\"}\n", m, s, ms, i % 977, 40000 + i % 977, i
  }
}' > "$dir/in.log"
echo "input: $RECORDS records, $(du -h "$dir/in.log" | cut -f1)"
run() {  # run NAME COMMAND...: prints "wall_s peak_kib"
  /usr/bin/time -f '%e %M' -o "$dir/t" "${@:2}" >/dev/null 2>&1
  cat "$dir/t"
}
declare -A walls rss
tools=(echokit)
command -v jq >/dev/null && tools+=(jq)
for ((r = 0; r < RUNS; r++)); do
  for tool in "${tools[@]}"; do
    case $tool in
      echokit) read -r w m < <(run "$tool" "$ECHOKIT" archive -i "$dir/in.log" -o "$dir/out.csv" -a false --force) ;;
      jq) read -r w m < <(run "$tool" sh -c "jq -r '[.ts,.level,.event,.peer,.msg]|@csv' '$dir/in.log' > '$dir/jq.csv'") ;;
    esac
    walls[$tool]+="$w "; rss[$tool]+="$m "
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for tool in "${tools[@]}"; do
  printf '%-8s wall median %ss (runs: %s) peak %s KiB\n' "$tool" \
    "$(echo "${walls[$tool]}" | median)" "${walls[$tool]% }" "$(echo "${rss[$tool]}" | median)"
done
if [[ -n ${walls[jq]:-} ]]; then
  awk -v a="$(echo "${walls[echokit]}" | median)" -v b="$(echo "${walls[jq]}" | median)" \
    'BEGIN { printf "jq / echokit wall time: %.1fx\n", b / a }'
fi
