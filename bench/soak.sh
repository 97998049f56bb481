#!/usr/bin/env bash
# soak.sh: run a long herald bench load against a running server and
# sample the server's resident memory while it runs, to show whether memory
# stays flat.
#
#   bench/soak.sh PID INTERVAL -- herald bench fanout --duration 30m ...
#
# Prints "elapsed_seconds rss_kib" lines every INTERVAL seconds, then the
# bench report, then the growth after a warm-up of one tenth of the run:
# first sample to last, and mean of the first third to the last. Linux only
# (reads /proc/PID/status).
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

# After a warm-up of a tenth of the run, compare the first and last samples,
# and (because a busy Go heap saws up and down by several percent between
# collections) the mean of the first third of the samples with the mean of
# the last third: a leak shows in both, a collection's timing only in the
# first.
awk -v total="$(( $(date +%s) - start ))" '
  $1 >= total / 10 { n++; t[n] = $1; v[n] = $2 }
  END {
    if (n < 3) exit
    printf "rss after warm-up (%ds): %d KiB, at the end (%ds): %d KiB, growth %.1f%%\n", t[1], v[1], t[n], v[n], (v[n] - v[1]) * 100 / v[1]
    k = int(n / 3)
    for (i = 1; i <= k; i++) a += v[i]
    for (i = n - k + 1; i <= n; i++) b += v[i]
    lo = v[1]; hi = v[1]
    for (i = 1; i <= n; i++) { if (v[i] < lo) lo = v[i]; if (v[i] > hi) hi = v[i] }
    printf "mean of the first third: %d KiB, of the last third: %d KiB, growth %.1f%% (range %d-%d KiB)\n", a / k, b / k, (b - a) * 100 / a, lo, hi
  }' "$samples"
