#!/usr/bin/env bash
# /metrics at province size (issue 13, item 6), release build, a real collector on loopback.
#
#   bench/metrics-scale.sh [HOSTS=10000] [LINKS=2000] [PROM_SECONDS=600] [SCRAPES=5]
#
# 0. The pre-streaming path on the same input, in one process (zf-metrics-bench render): the
#    whole full-detail exposition built in one String, its size, time and the RSS it adds.
# 1. A store of HOSTS hosts (4 filesystems, 4 interfaces each) and LINKS links probed by 2
#    agents each, made by collector/examples/zf-metrics-bench.rs (`fill`), served by
#    `zerofault-collector serve`, which warms its host table and link engine from it.
# 2. SCRAPES scrapes with curl for each detail (essential = the default above 2,000 hosts,
#    full = ?detail=full) and each encoding (plain, Accept-Encoding: gzip): bytes on the wire,
#    series, time to the last byte, and the collector's peak RSS during each scrape (VmHWM,
#    reset through /proc/PID/clear_refs before each scrape) beside its RSS before it.
# 3. Debian's prometheus (/usr/bin/prometheus) scrapes the collector every 15 s for
#    PROM_SECONDS (its default settings: gzip, the collector's default detail): from its API,
#    the scrapes, how many succeeded, scrape_duration_seconds (mean, max), samples per scrape;
#    Prometheus's own peak RSS and head series; the collector's peak RSS over the run. RSS
#    of both processes is sampled every second as well.
#
# No agent sends reports meanwhile: the table is what the store held at start-up (hosts turn
# "down" 45 s after the fill, which changes values, not series). Prints the figures; writes
# nothing else (a temporary directory under /var/tmp, removed on exit).
set -euo pipefail
HOSTS=${1:-10000}
LINKS=${2:-2000}
PROM_SECONDS=${3:-600}
SCRAPES=${4:-5}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/zerofault-target}
cd "$(dirname "$0")/.."
for tool in curl jq python3 /usr/bin/prometheus; do
  command -v "$tool" >/dev/null || { echo "$0: needs $tool" >&2; exit 1; }
done
cargo build -q --release --locked -p zerofault-collector --bin zerofault-collector --example zf-metrics-bench
BIN=$CARGO_TARGET_DIR/release/zerofault-collector
BENCH=$CARGO_TARGET_DIR/release/examples/zf-metrics-bench

WORK=$(mktemp -d /var/tmp/zf-metrics-bench.XXXXXX)
PID=
PROM_PID=
SAMPLER_PID=
cleanup() {
  for p in "$SAMPLER_PID" "$PROM_PID" "$PID"; do
    if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# kB field of /proc/PID/status as MiB.
mib() { awk -v f="$2:" '$1 == f { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
# Resets VmHWM to the current RSS, so the next reading is the peak since now.
reset_peak() { echo 5 >"/proc/$1/clear_refs"; }

checkout="$(git rev-parse --short HEAD 2>/dev/null || echo 'not a git checkout')"
git diff --quiet HEAD -- collector 2>/dev/null || checkout="$checkout (collector differs from it)"
echo "== machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr); $(uptime | sed 's/^ *//'); checkout $checkout; $(/usr/bin/prometheus --version 2>&1 | head -1)"

echo "== 0. pre-streaming path, same input: $HOSTS hosts, $LINKS links"
"$BENCH" render "$HOSTS" "$LINKS"

echo "== 1. fill and start the collector"
"$BENCH" fill "$WORK/zerofault.db" "$HOSTS" "$LINKS"
"$BIN" certs --dir "$WORK/pki" --collector-name 127.0.0.1 --agent bench-0 >/dev/null
cat >"$WORK/collector.yaml" <<YAML
listen:
  ingest: 127.0.0.1:0
  http: 127.0.0.1:0
tls:
  ca: $WORK/pki/ca.pem
  cert: $WORK/pki/collector.pem
  key: $WORK/pki/collector.key
storage:
  sqlite:
    path: $WORK/zerofault.db
YAML
started=$(date +%s.%N)
"$BIN" serve --config "$WORK/collector.yaml" 2>"$WORK/collector.log" &
PID=$!
HTTP=
for _ in $(seq 600); do
  HTTP=$(sed -n 's/.*http listening on \([0-9.:]*\).*/\1/p' "$WORK/collector.log" | head -1)
  [ -n "$HTTP" ] && curl -sf "http://$HTTP/healthz" >/dev/null && break
  HTTP=
  sleep 0.1
done
[ -n "$HTTP" ] || { echo "collector did not start" >&2; cat "$WORK/collector.log" >&2; exit 1; }
echo "collector serving on $HTTP after $(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s; RSS $(mib "$PID" VmRSS) MiB, peak so far $(mib "$PID" VmHWM) MiB"
grep -o 'host table warmed hosts=[0-9]*\|link engine rebuilt from stored reports reports=[0-9]* windows=[0-9]*' "$WORK/collector.log"

echo "== 2. scrapes with curl: $SCRAPES per row; time = to the last byte; RSS before = before the row's first scrape; peak = highest VmHWM of the row's scrapes"
printf '%-10s %-6s %10s %12s %14s %14s %10s %10s\n' detail enc series bytes "time med s" "time min-max" "RSS before" "peak MiB"
for detail in essential full; do
  for enc in plain gzip; do
    header=(); [ "$enc" = gzip ] && header=(-H 'Accept-Encoding: gzip')
    : >"$WORK/times"; : >"$WORK/peaks"
    rss_before=$(mib "$PID" VmRSS)
    for i in $(seq "$SCRAPES"); do
      reset_peak "$PID"
      curl -sf "${header[@]}" -o "$WORK/body" -w '%{size_download} %{time_total}\n' \
        "http://$HTTP/metrics?detail=$detail" >>"$WORK/times"
      mib "$PID" VmHWM >>"$WORK/peaks"
      echo >>"$WORK/peaks"
    done
    if [ "$enc" = gzip ]; then gzip -dc "$WORK/body" >"$WORK/text"; else mv "$WORK/body" "$WORK/text"; fi
    series=$(grep -vc '^#' "$WORK/text")
    bytes=$(tail -1 "$WORK/times" | cut -d' ' -f1)
    med=$(cut -d' ' -f2 "$WORK/times" | sort -n | awk '{ a[NR] = $1 } END { printf "%.3f", a[int((NR + 1) / 2)] }')
    range=$(cut -d' ' -f2 "$WORK/times" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.3f-%.3f", lo, hi }')
    peak=$(grep . "$WORK/peaks" | sort -n | tail -1)
    printf '%-10s %-6s %10s %12s %14s %14s %10s %10s\n' "$detail" "$enc" "$series" "$bytes" "$med" "$range" "$rss_before" "$peak"
  done
done
rm -f "$WORK/text" "$WORK/body"
# An HA pair: two full-detail gzip scrapes at once (metrics.max_concurrent_scrapes = 2), and
# a third meanwhile, which must be refused with 503.
reset_peak "$PID"
rss_before=$(mib "$PID" VmRSS)
curl -sf -H 'Accept-Encoding: gzip' -o /dev/null -w '%{time_total}\n' "http://$HTTP/metrics?detail=full" >"$WORK/pair1" &
c1=$!
curl -sf -H 'Accept-Encoding: gzip' -o /dev/null -w '%{time_total}\n' "http://$HTTP/metrics?detail=full" >"$WORK/pair2" &
c2=$!
sleep 0.2
third=$(curl -s -o /dev/null -w '%{http_code} retry-after=%header{retry-after}' -H 'Accept-Encoding: gzip' "http://$HTTP/metrics?detail=full")
wait "$c1" "$c2"
echo "two concurrent full gzip scrapes: $(cat "$WORK/pair1") s and $(cat "$WORK/pair2") s; RSS before $rss_before MiB, peak $(mib "$PID" VmHWM) MiB; a third meanwhile: $third"

echo "== 3. Debian's prometheus scrapes every 15 s for $PROM_SECONDS s (default detail, gzip)"
PROM_PORT=$(free_port)
cat >"$WORK/prometheus.yml" <<YAML
global:
  scrape_interval: 15s
  scrape_timeout: 10s
scrape_configs:
  - job_name: zerofault
    static_configs:
      - targets: ['$HTTP']
YAML
reset_peak "$PID"
/usr/bin/prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn 2>"$WORK/prometheus.log" &
PROM_PID=$!
# RSS of both, every second: time, collector MiB, prometheus MiB.
(
  while kill -0 "$PROM_PID" 2>/dev/null; do
    echo "$(date +%s) $(mib "$PID" VmRSS) $(mib "$PROM_PID" VmRSS)"
    sleep 1
  done
) >"$WORK/rss" 2>/dev/null &
SAMPLER_PID=$!
prom_start=$(date +%s)
sleep "$PROM_SECONDS"
prom_end=$(date +%s)
q() {
  curl -sf "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" --data-urlencode "time=$prom_end" |
    jq -r '.data.result[0].value[1] // "none"'
}
range="${PROM_SECONDS}s"
scrapes=$(q "count_over_time(up{job=\"zerofault\"}[$range])")
succeeded=$(q "sum_over_time(up{job=\"zerofault\"}[$range])")
dur_avg=$(q "avg_over_time(scrape_duration_seconds{job=\"zerofault\"}[$range])")
dur_max=$(q "max_over_time(scrape_duration_seconds{job=\"zerofault\"}[$range])")
samples=$(q "max_over_time(scrape_samples_scraped{job=\"zerofault\"}[$range])")
# Every scrape's duration, in order (the first one creates every series in Prometheus's head).
durations=$(curl -sf "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=scrape_duration_seconds{job=\"zerofault\"}[$range]" \
  --data-urlencode "time=$prom_end" | jq -r '[.data.result[0].values[][1] | tonumber * 1000 | round / 1000] | map(tostring) | join(" ")')
detail=$(curl -sf "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode 'query=zerofault_collector_metrics_detail == 1' | jq -r '.data.result[0].metric.detail // "none"')
prom_self=$(curl -sf "http://127.0.0.1:$PROM_PORT/metrics")
head_series=$(awk '$1 == "prometheus_tsdb_head_series" { print $2 }' <<<"$prom_self")
prom_peak=$(mib "$PROM_PID" VmHWM)
prom_rss=$(mib "$PROM_PID" VmRSS)
coll_peak=$(mib "$PID" VmHWM)
kill "$PROM_PID"; wait "$PROM_PID" 2>/dev/null || true; PROM_PID=
wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=
echo "ran $((prom_end - prom_start)) s; scrapes $scrapes, succeeded $succeeded; detail $detail; samples per scrape $samples"
echo "scrape_duration_seconds: mean $dur_avg, max $dur_max; each, in order: $durations"
echo "prometheus: peak RSS $prom_peak MiB (at the end $prom_rss MiB), head series $head_series"
echo "collector during the run: peak RSS $coll_peak MiB; sampled every second: $(awk '{ if ($2 > m) m = $2; s += $2; n++ } END { printf "max %.1f MiB, mean %.1f MiB over %d samples", m, s / n, n }' "$WORK/rss")"
echo "prometheus sampled every second: $(awk '{ if ($3 > m) m = $3 } END { printf "max %.1f MiB", m }' "$WORK/rss")"
grep -i 'err\|warn' "$WORK/prometheus.log" | head -5 || true
echo "== machine at the end: $(uptime | sed 's/^ *//')"
