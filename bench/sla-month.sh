#!/usr/bin/env bash
# Monthly SLA report benchmark (issue 5), release build, driven by
# collector/examples/zf-sla-bench.rs (its doc comment describes the synthetic month).
#
#   bench/sla-month.sh [HOSTS=10000] [LINKS=2000] [INTERVAL_S=60]
#
# 1. Engine and exports: HOSTS hosts reporting every INTERVAL_S and LINKS links, January
#    2026 in 1-minute slots, generated in memory and streamed through the SLA engine
#    (MonthBuilder), then exported as JSON, CSV, XLSX and HTML. Time of each phase, sizes
#    of the files, peak RSS (VmHWM per phase, and /usr/bin/time -v for the whole process).
# 2. The real store path, at smaller sizes (STORE_SIZES, "hosts:links" pairs, default
#    "30:6 60:12", the same 5:1 ratio and report interval): the same kind of month, and the
#    month before it, stored as protobuf reports in a SQLite database through the
#    collector's store, then `zerofault-collector report --month 2026-01 --format json`
#    under /usr/bin/time -v: wall time, reports read per second, peak RSS. Then the same
#    rows scanned through the store alone, and scanned + decoded, to split the read's cost.
#    From the two sizes, a straight line in the number of hosts is extrapolated to HOSTS:
#    labelled as an extrapolation, it is not a measurement.
#
# Prints the figures; writes nothing else (a temporary directory under /var/tmp, about
# 0.65 GB of database per 10 hosts at 60 s, is removed on exit). Needs /usr/bin/time
# (installed with apt-get when missing and run as root). About 5 minutes on the 2-core
# development VM once built.
set -euo pipefail
HOSTS=${1:-10000}
LINKS=${2:-2000}
INTERVAL_S=${3:-60}
STORE_SIZES=${STORE_SIZES:-"30:6 60:12"}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/zerofault-target}
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/time ]; then
  if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends time >/dev/null
  else
    echo "$0: needs /usr/bin/time (apt-get install time)" >&2
    exit 1
  fi
fi
cargo build -q --release --locked -p zerofault-collector --bin zerofault-collector --example zf-sla-bench
BIN=$CARGO_TARGET_DIR/release/zerofault-collector
BENCH=$CARGO_TARGET_DIR/release/examples/zf-sla-bench

WORK=$(mktemp -d /var/tmp/zf-sla-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# Field of a `/usr/bin/time -v` output file: wall seconds, peak RSS MiB, CPU seconds.
wall_s() { awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$1"; }
rss_mib() { awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$1"; }
cpu_s() { awk -F': ' '/User time/ { u = $2 } /System time/ { s = $2 } END { printf "%.2f", u + s }' "$1"; }

checkout="$(git rev-parse --short HEAD 2>/dev/null || echo 'not a git checkout')"
git diff --quiet HEAD -- collector protocol 2>/dev/null || checkout="$checkout (collector/protocol differ from it)"
echo "== machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr); load average $(cut -d' ' -f1-3 /proc/loadavg); checkout $checkout"

echo "== 1. engine + exports: $HOSTS hosts, $LINKS links, ${INTERVAL_S} s reports, one month of 1-minute slots"
/usr/bin/time -v -o "$WORK/engine.time" \
  "$BENCH" --hosts "$HOSTS" --links "$LINKS" --interval-s "$INTERVAL_S" --out "$WORK/exports"
echo "whole process (/usr/bin/time -v): wall $(wall_s "$WORK/engine.time") s, CPU $(cpu_s "$WORK/engine.time") s, peak RSS $(rss_mib "$WORK/engine.time") MiB"
rm -rf "$WORK/exports"

echo "== 2. store path: zerofault-collector report --month 2026-01 --format json on a SQLite database"
points=()
for size in $STORE_SIZES; do
  h=${size%%:*}
  l=${size##*:}
  db="$WORK/db-$h"
  echo "-- $h hosts, $l links, ${INTERVAL_S} s reports"
  "$BENCH" make-db "$db" --hosts "$h" --links "$l" --interval-s "$INTERVAL_S" | tee "$WORK/make.out" | grep -v '^reports='
  rows=$(sed -n 's/^reports=//p' "$WORK/make.out")
  if ! /usr/bin/time -v -o "$WORK/report.time" \
    "$BIN" report --config "$db/collector.yaml" --month 2026-01 --format json --out "$db/out" \
    >/dev/null 2>"$WORK/report.err"; then
    cat "$WORK/report.err" "$WORK/report.time" >&2
    exit 1
  fi
  wall=$(wall_s "$WORK/report.time")
  rss=$(rss_mib "$WORK/report.time")
  echo "report: $rows reports read in $wall s ($(awk -v r="$rows" -v s="$wall" 'BEGIN { printf "%.0f", r / s }') reports/s), CPU $(cpu_s "$WORK/report.time") s, peak RSS $rss MiB; JSON $(du -k "$db"/out/*.json | awk '{ printf "%.2f MiB", $1 / 1024 }')"
  "$BENCH" scan-db "$db" --hosts "$h" --links "$l" --interval-s "$INTERVAL_S"
  points+=("$h $rows $wall $rss")
  rm -rf "$db"
done

if [ "${#points[@]}" -ge 2 ]; then
  echo "== extrapolation (not a measurement): straight line through the two largest store runs, to $HOSTS hosts"
  printf '%s\n' "${points[@]}" | sort -n | tail -2 | awk -v H="$HOSTS" '
    NR == 1 { h1 = $1; r1 = $2; t1 = $3; m1 = $4 }
    NR == 2 { h2 = $1; r2 = $2; t2 = $3; m2 = $4 }
    END {
      rows = r2 / h2 * H
      t = t1 + (t2 - t1) / (h2 - h1) * (H - h1)
      m = m1 + (m2 - m1) / (h2 - h1) * (H - h1)
      printf "%d hosts: %.0f reports to read; report about %.0f s (%.1f h); peak RSS about %.0f MiB (%.1f GiB): %.2f s and %.1f MiB per host\n",
        H, rows, t, t / 3600, m, m / 1024, (t2 - t1) / (h2 - h1), (m2 - m1) / (h2 - h1)
    }'
fi
