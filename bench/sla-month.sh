#!/usr/bin/env bash
# Monthly SLA report benchmark (issue 5), release build, driven by
# collector/examples/zf-sla-bench/main.rs (its doc comment describes the synthetic month).
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
#    Extrapolated to HOSTS (labelled as such, not a measurement): the reports to read scale
#    with the hosts; time at the largest run's reports/s; peak RSS on the straight line
#    through the two largest runs.
# 3. Optional, PEER=prometheus (needs prometheus and promtool; about 5 more minutes): the
#    nearest peer operation, Prometheus's avg_over_time(zf_up[31d]) over one 0/1 gauge per
#    host at INTERVAL_S for January, for as many hosts as the largest store run, imported
#    with `promtool tsdb create-blocks-from openmetrics`: import time, query time, RSS.
#
# Prints the figures; writes nothing else (a temporary directory under /var/tmp, about
# 0.6 GB of database per 10 hosts at 60 s, is removed on exit). Needs /usr/bin/time
# (installed with apt-get when missing and run as root). About 4 minutes on the 2-core
# development VM once built, 9 with PEER=prometheus.
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
PROM_PID=
cleanup() {
  if [ -n "$PROM_PID" ]; then kill "$PROM_PID" 2>/dev/null || true; wait "$PROM_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

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
  echo "== extrapolation to $HOSTS hosts (not a measurement): reports scale with hosts; time at the largest run's rate; peak RSS on the line through the two largest runs"
  printf '%s\n' "${points[@]}" | sort -n | tail -2 | awk -v H="$HOSTS" '
    NR == 1 { h1 = $1; m1 = $4 }
    NR == 2 { h2 = $1; r2 = $2; t2 = $3; m2 = $4 }
    END {
      rows = r2 / h2 * H
      t = rows / (r2 / t2)
      m = m1 + (m2 - m1) / (h2 - h1) * (H - h1)
      printf "%d hosts: %.0f reports to read; report about %.0f s (%.1f h) at %.0f reports/s; peak RSS about %.0f MiB (%.1f GiB) at %.2f MiB per host\n",
        H, rows, t, t / 3600, r2 / t2, m, m / 1024, (m2 - m1) / (h2 - h1)
    }'
fi

if [ "${PEER:-}" = prometheus ]; then
  for tool in prometheus promtool python3 curl; do
    command -v "$tool" >/dev/null || { echo "PEER=prometheus: missing $tool" >&2; exit 1; }
  done
  h=$(printf '%s\n' "${points[@]}" | sort -n | tail -1 | cut -d' ' -f1)
  echo "== 3. peer: $(prometheus --version 2>&1 | head -1 | cut -d' ' -f1-3), avg_over_time(zf_up[31d]) over $h hosts' 0/1 gauge at ${INTERVAL_S} s, January 2026"
  mkdir -p "$WORK/prom"
  python3 - "$WORK/prom/up.om" "$h" "$INTERVAL_S" <<'PY'
import sys
path, hosts, step = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
start = 1767196800  # 2026-01-01T00:00+08:00
end = start + 31 * 86400
with open(path, "w") as f:
    f.write("# TYPE zf_up gauge\n")
    for h in range(hosts):
        f.writelines(
            f'zf_up{{host="host-{h:05}"}} {0 if (h * 7919 + t // 60) % 1000 == 0 else 1} {t}\n'
            for t in range(start, end, step)
        )
    f.write("# EOF\n")
PY
  samples=$(( h * 31 * 86400 / INTERVAL_S ))
  /usr/bin/time -v -o "$WORK/promtool.time" promtool tsdb create-blocks-from openmetrics "$WORK/prom/up.om" "$WORK/prom/data" >/dev/null
  rm -f "$WORK/prom/up.om"
  echo "promtool import of $samples samples: wall $(wall_s "$WORK/promtool.time") s, peak RSS $(rss_mib "$WORK/promtool.time") MiB"
  printf 'global: {scrape_interval: 1m}\nscrape_configs: []\n' >"$WORK/prom/prom.yml"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  prometheus --config.file="$WORK/prom/prom.yml" --storage.tsdb.path="$WORK/prom/data" \
    --storage.tsdb.retention.time=10y --web.listen-address="127.0.0.1:$port" >"$WORK/prom/log" 2>&1 &
  PROM_PID=$!
  for _ in $(seq 120); do curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null && break; sleep 0.5; done
  for run in 1 2 3; do
    t=$( { /usr/bin/time -f '%e' curl -sf -G "http://127.0.0.1:$port/api/v1/query" \
      --data-urlencode 'query=avg_over_time(zf_up[31d])' --data-urlencode "time=1769875200" \
      -o "$WORK/prom/out.json"; } 2>&1 )
    series=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["data"]["result"]))' "$WORK/prom/out.json")
    echo "query $run: $series series in $t s"
  done
  echo "prometheus: $(awk '/VmHWM/ { printf "peak RSS %.1f MiB", $2 / 1024 }' "/proc/$PROM_PID/status")"
fi
