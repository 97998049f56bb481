#!/usr/bin/env bash
# soak.sh: run a long herald bench load against a running server and
# sample the server's resident memory while it runs, to show whether memory
# stays flat.
#
#   bench/soak.sh PID INTERVAL -- herald bench fanout --duration 30m ...
#
# Prints "elapsed_seconds rss_kib" lines every INTERVAL seconds, then the
# bench report, then the first and last samples after a warm-up of one
# tenth of the run and their ratio. Linux only (reads /proc/PID/status).
set -euo pipefail

if [ $# -lt 4 ] || [ "$3" != "--" ]; then
  echo "usage: $0 PID INTERVAL_SECONDS -- COMMAND..." >&2
  exit 2
fi
pid=$1 interval=$2
shift 3

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }

samples=$(mktemp)
trap 'rm -f "$samples"' EXIT
start=$(date +%s)
"$@" &
load=$!
while kill -0 "$load" 2>/dev/null; do
  echo "$(( $(date +%s) - start )) $(rss)" | tee -a "$samples"
  sleep "$interval"
done
wait "$load"

# Compare the first sample after warm-up (a tenth of the run) with the last.
awk -v total="$(( $(date +%s) - start ))" '
  $1 >= total / 10 && !first { first = $2; t0 = $1 }
  { last = $2; t1 = $1 }
  END {
    if (first > 0)
      printf "rss after warm-up (%ds): %d KiB, at the end (%ds): %d KiB, growth %.1f%%\n", t0, first, t1, last, (last - first) * 100 / first
  }' "$samples"
