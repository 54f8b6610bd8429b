#!/usr/bin/env bash
# Province-scale ingest (issue 13, item 7): one release collector on SQLite, on loopback with
# mTLS, and collector/examples/zf-load simulating AGENTS agents (own certificate each,
# kept-alive connections from 127.0.0.2.., a report every INTERVAL s, LINK_SHARE of them
# with 4 link windows, DUP_SHARE of acknowledged reports sent again to check idempotency).
#   1. idle: IDLE_AGENTS connections opened and held (one request each that stores
#      nothing): the collector's memory per idle connection.
#   2. load: AGENTS agents for DURATION s; the collector's CPU (utime+stime), RSS (VmRSS,
#      VmHWM) and database size (db + wal) sampled every SAMPLE s; afterwards the reports in
#      the database are counted and must equal the acknowledged `stored` count.
#   3. VM=1: the same samples (same agents, interval, duration) to Debian's victoria-metrics,
#      sampled the same way, for the ratios.
#   RW=1: the collector also pushes every report's series (remote_write) to a receiving
#   victoria-metrics started for it (phase 2 then measures the collector with its sink);
#   RW=down: the same target on a port nobody listens on, so the queue only grows (bytes on
#   disk per report, for sizing max_queue_bytes). VMAGENT=1: Debian's vmagent scrapes the
#   collector's /metrics?detail=full every INTERVAL and forwards it to that receiver, its
#   CPU and RSS sampled beside the collector's (the peer of the sink).
#   STORE=postgres: the collector stores into a private PostgreSQL (bench/pg.sh) instead of
#   SQLite; the server's CPU (all its processes) is sampled beside the collector's and the
#   database's size is pg_database_size.
# Usage: bench/load.sh [AGENTS=1000] [DURATION=120] [INTERVAL=15] [RAMP=INTERVAL]
#   env: RW=0|1|down, VMAGENT=0|1, STORE=sqlite|postgres, IDLE_AGENTS (default min(AGENTS, 20000)), LINK_SHARE=0.1, DUP_SHARE=0.01, VM=0|1,
#        SAMPLE=5, IDLE=1 (0 skips phase 1), IDLE_TIMEOUT=120 (the collector's
#        limits.connection_idle_timeout, seconds)
set -euo pipefail
AGENTS=${1:-1000}
DURATION=${2:-120}
INTERVAL=${3:-15}
RAMP=${4:-$INTERVAL}
IDLE_AGENTS=${IDLE_AGENTS:-$((AGENTS < 20000 ? AGENTS : 20000))}
LINK_SHARE=${LINK_SHARE:-0.1}
DUP_SHARE=${DUP_SHARE:-0.01}
VM=${VM:-0}
RW=${RW:-0}
VMAGENT=${VMAGENT:-0}
IDLE=${IDLE:-1}
SAMPLE=${SAMPLE:-5}
# The collector's limits.connection_idle_timeout (seconds). Below the interval, the collector
# closes every agent's connection between two reports and each report opens a new one (its
# TLS session resumed): fewer connections open at once, a handshake per report.
IDLE_TIMEOUT=${IDLE_TIMEOUT:-120}
STORE=${STORE:-sqlite}
case "$STORE" in sqlite|postgres) ;; *) echo "STORE must be sqlite or postgres, not $STORE" >&2; exit 2 ;; esac
IDLE_FLAG=()
if awk -v t="$IDLE_TIMEOUT" -v i="$INTERVAL" 'BEGIN { exit !(t < i) }'; then
  IDLE_FLAG=(--collector-idle-timeout "$IDLE_TIMEOUT")
fi
INGEST=127.0.0.1:27443
HTTP=127.0.0.1:29464
VM_ADDR=127.0.0.1:28428
# The receiver of the collector's remote_write and vmagent's forwarding (RW, VMAGENT), and
# vmagent's own listener.
RX_ADDR=127.0.0.1:28429
VMAGENT_ADDR=127.0.0.1:28430
PG_PORT=25432
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/zerofault-target}
cd "$(dirname "$0")/.."
if [ "$STORE" = postgres ]; then . bench/pg.sh; pg_find; fi
cargo build --release -p zerofault-collector --bin zerofault-collector --example zf-load
BIN=$CARGO_TARGET_DIR/release/zerofault-collector
LOAD=$CARGO_TARGET_DIR/release/examples/zf-load

WORK=$(mktemp -d /var/tmp/zf-load.XXXXXX)
PID=
SAMPLER=
# The small outputs (generator lines, sampler series, logs) are kept in OUT for a look at how
# a run evolved; the databases and certificates go with WORK.
OUT=${OUT:-/var/tmp/zf-load-results/$(date +%Y%m%d-%H%M%S)}
cleanup() {
  if [ -n "$SAMPLER" ]; then kill "$SAMPLER" 2>/dev/null || true; fi
  if [ -n "${PG_SAMPLER:-}" ]; then kill "$PG_SAMPLER" 2>/dev/null || true; fi
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  if [ -n "${VA_SAMPLER:-}" ]; then kill "$VA_SAMPLER" 2>/dev/null || true; fi
  if [ -n "${VA_PID:-}" ]; then kill "$VA_PID" 2>/dev/null || true; wait "$VA_PID" 2>/dev/null || true; fi
  if [ -n "${RX_PID:-}" ]; then kill "$RX_PID" 2>/dev/null || true; wait "$RX_PID" 2>/dev/null || true; fi
  if [ "$STORE" = postgres ]; then pg_stop; cp "$WORK"/pg/server.log "$WORK"/pg.log 2>/dev/null || true; fi
  mkdir -p "$OUT" && cp "$WORK"/*.out "$WORK"/*.samples "$WORK"/*.log "$OUT"/ 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
PORTS="$INGEST $HTTP $VM_ADDR $RX_ADDR $VMAGENT_ADDR"
if [ "$STORE" = postgres ]; then PORTS+=" 127.0.0.1:$PG_PORT"; fi
for a in $PORTS; do
  if ss -Htln "sport = :${a##*:}" | grep -q .; then echo "port ${a##*:} is in use" >&2; exit 1; fi
done

# One descriptor per connection on each side, plus the database and listeners. The collector
# lowers limits.max_connections to what this allows and says so in its log.
# Raising the hard limit needs CAP_SYS_RESOURCE; without it (a container) each process gets
# the hard limit, and the collector's log and this script's output say how many connections
# that allows.
FDS=$((AGENTS * 2 + 16384))
if [ "$FDS" -gt "$(ulimit -Hn)" ]; then
  ulimit -Hn "$FDS" 2>/dev/null ||
    echo "note: cannot raise the hard open-file limit above $(ulimit -Hn) (no CAP_SYS_RESOURCE): one process holds at most that many connections" >&2
fi
ulimit -Sn "$(ulimit -Hn)"
"$BIN" certs --dir "$WORK/pki" --collector-name 127.0.0.1 >/dev/null
if [ "$STORE" = postgres ]; then pg_start "$PG_PORT"; fi

# The storage section of the collector's configuration; $1 names the SQLite file.
storage_yaml() {
  if [ "$STORE" = postgres ]; then
    printf '  postgres:\n    url: %s\n    tls:\n      mode: disable\n' "$(pg_url)"
  else
    printf '  sqlite:\n    path: %s\n' "$WORK/$1.db"
  fi
}
start_collector() {
  cat >"$WORK/collector.yaml" <<YAML
listen:
  ingest: $INGEST
  http: $HTTP
tls:
  ca: $WORK/pki/ca.pem
  cert: $WORK/pki/collector.pem
  key: $WORK/pki/collector.key
storage:
$(storage_yaml "$1")
limits:
  connection_idle_timeout: ${IDLE_TIMEOUT}s
$(rw_yaml "$1")
YAML
  "$BIN" serve --config "$WORK/collector.yaml" 2>"$WORK/$1.log" &
  PID=$!
  for _ in $(seq 100); do
    curl -sf "http://$HTTP/healthz" >/dev/null && return 0
    sleep 0.1
  done
  echo "collector did not start" >&2; cat "$WORK/$1.log" >&2; exit 1
}
stop() { kill "$PID"; wait "$PID" || true; PID=; }
# The remote_write section of the load collector (RW=1: to the receiver; RW=down: to a port
# nobody listens on, so that the queue holds everything).
rw_yaml() {
  [ "$1" = load ] || return 0
  case "$RW" in
    1) printf 'remote_write:\n  queue_dir: %s\n  targets:\n    - {name: rx, url: "http://%s/api/v1/write"}\n' "$WORK/rw" "$RX_ADDR" ;;
    down) printf 'remote_write:\n  queue_dir: %s\n  targets:\n    - {name: rx, url: "http://127.0.0.1:9/api/v1/write", max_backoff: 60s}\n' "$WORK/rw" ;;
  esac
}
# The receiver of RW=1 and VMAGENT=1.
start_receiver() {
  mkdir -p "$WORK/rx"
  victoria-metrics -storageDataPath="$WORK/rx" -httpListenAddr="$RX_ADDR" -retentionPeriod=100y \
    -loggerLevel=ERROR >"$WORK/rx.log" 2>&1 &
  RX_PID=$!
  for _ in $(seq 100); do curl -sf "http://$RX_ADDR/health" >/dev/null && return 0; sleep 0.1; done
  echo "the receiving victoria-metrics did not start" >&2; cat "$WORK/rx.log" >&2; exit 1
}
rx_rows() { curl -sf "http://$RX_ADDR/metrics" | awk '/^vm_rows_inserted_total\{type="promremotewrite"\}/ {print $2}'; }
metric() { curl -sf "http://$HTTP/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
# Every SAMPLE s until the process ends: seconds since $2, CPU ticks (utime+stime), VmRSS and
# VmHWM (KiB), bytes of the files/directories given after the output file, and the CPU ticks
# of the collector's SQLite writer thread (0 for another process): whether the one writer
# is the bottleneck or the async and decoding threads are; and the machine's 1-minute load
# average (other sessions share the cores).
sampler() {
  local pid=$1 t0=$2 out=$3 writer=; shift 3
  while kill -0 "$pid" 2>/dev/null; do
    if [ -z "$writer" ]; then
      writer=$(grep -lx zerofault-sqlit /proc/"$pid"/task/*/comm 2>/dev/null | head -1 || true)
      writer=${writer%/comm}
    fi
    {
      awk -v t0="$t0" -v now="$(date +%s.%N)" '{printf "%.1f %d ", now - t0, $14 + $15}' "/proc/$pid/stat"
      awk '/^VmRSS/ {r=$2} /^VmHWM/ {h=$2} END {printf "%d %d ", r, h}' "/proc/$pid/status"
      if [ $# -gt 0 ]; then du -sb "$@" 2>/dev/null; fi | awk '{s += $1} END {printf "%d ", s + 0}'
      if [ -n "$writer" ]; then awk '{printf "%d ", $14 + $15}' "$writer/stat"; else printf "0 "; fi
      cut -d' ' -f1 /proc/loadavg
    } >>"$out" 2>/dev/null || true
    sleep "$SAMPLE"
  done
}
# The same columns for the PostgreSQL server (all its processes' CPU; no RSS, since its
# shared buffers are counted in every backend's; the data directory's bytes).
pg_sampler() {
  local t0=$1 out=$2
  while :; do
    { printf '%s %s 0 0 %s 0 %s\n' "$(awk -v t0="$t0" -v now="$(date +%s.%N)" 'BEGIN {printf "%.1f", now - t0}')" \
        "$(pg_cpu_ticks)" "$(du -sb "$WORK/pg/data" | cut -f1)" "$(cut -d' ' -f1 /proc/loadavg)" >>"$out"; } 2>/dev/null || true
    sleep "$SAMPLE"
  done
}
# From a sampler file: CPU % of one core over [from, to] s (all threads, and the SQLite
# writer's), peak VmHWM (MiB), bytes at the first and last sample.
digest() {
  awk -v from="$2" -v to="$3" '
    NR == 1 { b0 = $5 }
    $1 >= from && !c0set { c0 = $2; w0 = $6; t0 = $1; c0set = 1 }
    $1 <= to { c1 = $2; w1 = $6; t1 = $1 }
    $1 >= from && $1 <= to { la += $7; ln++; lmax = ($7 > lmax ? $7 : lmax) }
    { h = ($4 > h ? $4 : h); b1 = $5; r = $3 }
    END { d = (t1 > t0 ? t1 - t0 : 1)
          printf "cpu_pct=%.1f writer_cpu_pct=%.1f peak_rss_mib=%.1f end_rss_mib=%.1f bytes_start=%.0f bytes_end=%.0f load1_mean=%.2f load1_max=%.2f\n",
          (c1 - c0) / d, (w1 - w0) / d, h / 1024, r / 1024, b0, b1, (ln ? la / ln : 0), lmax }' "$1"
}
kv() { grep -o "$1=[^ ]*" <<<"$2" | head -1 | cut -d= -f2; }

echo "== machine: $(nproc) cores, $(uname -r), $(free -g | awk '/^Mem/ {print $2}') GiB; $(uptime)"
echo "== outputs kept in $OUT"
echo "== commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- collector bench || echo ' (+ uncommitted changes)')"

if [ "$IDLE" = 1 ]; then
  echo "== 1. memory per idle connection: $IDLE_AGENTS connections"
  start_collector idle
  "$LOAD" --collector "https://$INGEST" --certs-dir "$WORK/pki" --agents "$IDLE_AGENTS" \
    --idle --ramp 15 --collector-pid "$PID" --id-prefix idle | tee "$WORK/idle.out"
  grep 'max_connections lowered' "$WORK/idle.log" || true
  stop
  rm -f "$WORK"/idle.db*
fi
# The database's bytes: the SQLite file and its WAL, or PostgreSQL's pg_database_size (its
# WAL, recycled up to max_wal_size, is not the data's growth).
db_bytes() {
  if [ "$STORE" = postgres ]; then "${PSQL[@]}" -d zerofault -c "SELECT pg_database_size('zerofault')"
  else du -sb "$WORK"/load.db* | awk '{s += $1} END {print s}'; fi
}
db_query() {
  if [ "$STORE" = postgres ]; then "${PSQL[@]}" -d zerofault -c "$1"; else sqlite3 "$WORK/load.db" "$1"; fi
}

echo "== 2. load: $AGENTS agents, ${INTERVAL}s interval, ${DURATION}s, ramp ${RAMP}s; $(uptime)"
if [ "$RW" = 1 ] || [ "$VMAGENT" = 1 ]; then start_receiver; fi
start_collector load
T0=$(date +%s.%N)
if [ "$VMAGENT" = 1 ]; then
  cat >"$WORK/vmagent.yml" <<YAML
scrape_configs:
  - job_name: zerofault
    scrape_interval: ${INTERVAL}s
    scrape_timeout: ${INTERVAL}s
    metrics_path: /metrics
    params: {detail: [full]}
    static_configs:
      - targets: ['$HTTP']
YAML
  vmagent -promscrape.config="$WORK/vmagent.yml" -remoteWrite.url="http://$RX_ADDR/api/v1/write" \
    -remoteWrite.tmpDataPath="$WORK/vmagent-data" -httpListenAddr="$VMAGENT_ADDR" -loggerLevel=ERROR \
    >"$WORK/vmagent.log" 2>&1 &
  VA_PID=$!
  sampler "$VA_PID" "$T0" "$WORK/vmagent.samples" "$WORK/vmagent-data" &
  VA_SAMPLER=$!
fi
if [ "$STORE" = postgres ]; then
  DB_START=$(db_bytes)
  sampler "$PID" "$T0" "$WORK/collector.samples" &
  SAMPLER=$!
  pg_sampler "$T0" "$WORK/pg.samples" &
  PG_SAMPLER=$!
else
  sampler "$PID" "$T0" "$WORK/collector.samples" "$WORK/load.db" "$WORK/load.db-wal" &
  SAMPLER=$!
fi
"$LOAD" --collector "https://$INGEST" --certs-dir "$WORK/pki" --agents "$AGENTS" \
  --interval "$INTERVAL" --duration "$DURATION" --ramp "$RAMP" --link-share "$LINK_SHARE" \
  --duplicate-share "$DUP_SHARE" --collector-pid "$PID" --progress 30 "${IDLE_FLAG[@]}" | tee "$WORK/load.out"
echo "   after the run: $(uptime)"
sleep "$SAMPLE"
kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=
if [ -n "${PG_SAMPLER:-}" ]; then kill "$PG_SAMPLER" 2>/dev/null || true; wait "$PG_SAMPLER" 2>/dev/null || true; PG_SAMPLER=; fi
SUMMARY=$(grep '^zf-load summary' "$WORK/load.out")
STEADY_FROM=$(kv steady_from_s "$SUMMARY")
COLLECTOR=$(digest "$WORK/collector.samples" "$STEADY_FROM" "$DURATION")
if [ "$STORE" = postgres ]; then
  PGSTAT=$(digest "$WORK/pg.samples" "$STEADY_FROM" "$DURATION")
  DB_LIVE=$(db_bytes)
else
  DB_LIVE=$(kv bytes_end "$COLLECTOR")
  DB_START=$(kv bytes_start "$COLLECTOR")
fi
if [ "$RW" != 0 ]; then
  # Read from the collector before it stops: the sink's own counters.
  RW_LINE="   remote_write: sent $(metric 'zerofault_remote_write_samples_sent_total{target="rx"}') samples in $(metric 'zerofault_remote_write_requests_sent_total{target="rx"}') requests, retried $(metric 'zerofault_remote_write_requests_retried_total{target="rx"}'), queued $(metric 'zerofault_remote_write_samples_queued{target="rx"}') samples / $(metric 'zerofault_remote_write_queue_bytes{target="rx"}') bytes, lag $(metric 'zerofault_remote_write_lag_seconds{target="rx"}') s, dropped $(curl -sf "http://$HTTP/metrics" | awk '/^zerofault_remote_write_samples_dropped_total/ {s += $2} END {print s + 0}')"
fi
stop
DB_END=$(db_bytes)
ROWS=$(db_query "SELECT count(*) FROM reports WHERE agent_id LIKE 'load-%'")
BUCKETS=$(db_query "SELECT count(*) FROM host_buckets")
STORED=$(kv stored "$SUMMARY")
GENERATED=$(kv generated "$SUMMARY")
UNACKED=$(kv unacked "$SUMMARY")
DUPLICATE=$(kv duplicate "$SUMMARY")
RESENDS=$(kv resends "$SUMMARY")
RESENDS_DUP=$(kv resends_duplicate "$SUMMARY")
echo "   collector over the steady stretch (${STEADY_FROM}s..${DURATION}s): $COLLECTOR"
if [ -n "${RW_LINE:-}" ]; then echo "$RW_LINE"; fi
if [ "$RW" = 1 ] || [ "$VMAGENT" = 1 ]; then echo "   receiver: $(rx_rows) rows taken by remote write"; fi
if [ "$VMAGENT" = 1 ]; then
  kill "$VA_SAMPLER" 2>/dev/null || true; wait "$VA_SAMPLER" 2>/dev/null || true; VA_SAMPLER=
  echo "   vmagent over the steady stretch: $(digest "$WORK/vmagent.samples" "$STEADY_FROM" "$DURATION"); scraped samples $(curl -sf "http://$VMAGENT_ADDR/metrics" | awk '/^vm_promscrape_scraped_samples_sum/ {print $2}')"
fi
if [ "$STORE" = postgres ]; then
  echo "   PostgreSQL over the steady stretch (all its processes; bytes = its data directory with WAL): $PGSTAT"
  echo "   database: pg_database_size ${DB_START} bytes at start, ${DB_LIVE} at the end of the run, ${DB_END} after the collector stopped; $ROWS report rows, $BUCKETS host_buckets rows"
else
  echo "   database: ${DB_START} bytes at start, ${DB_LIVE} at the end of the run (db + wal), ${DB_END} after shutdown; $ROWS report rows, $BUCKETS host_buckets rows"
fi
# Rows are unique by (agent, boot, sequence) (the primary key). Nothing lost: every report
# made is a row, and the rows are exactly those acknowledged `stored`, plus those whose first
# answer was lost and whose retry was acknowledged `duplicate`. Nothing duplicated: every
# deliberate resend was acknowledged `duplicate`, none stored twice.
VERDICT="FAIL"
if [ "$ROWS" = "$GENERATED" ] && [ "$ROWS" = $((STORED + DUPLICATE)) ] && [ "$UNACKED" = 0 ] \
   && [ "$RESENDS" = "$RESENDS_DUP" ]; then VERDICT="ok"; fi
echo "   stored = acknowledged: made $GENERATED, acknowledged stored $STORED + duplicate $DUPLICATE, rows $ROWS, unacknowledged $UNACKED; resends $RESENDS, acknowledged duplicate $RESENDS_DUP: $VERDICT"
awk -v g="$DB_END" -v s="$DB_START" -v n="$ROWS" -v i="$INTERVAL" 'BEGIN {
  if (n > 0) printf "   disk growth: %.0f bytes per report, %.1f MiB per agent per day (extrapolated at one report per %s s)\n",
    (g - s) / n, (g - s) / n * 86400 / i / 1048576, i }'

if [ "$VM" = 1 ]; then
  VMBIN=$(command -v victoria-metrics || true)
  if [ -z "$VMBIN" ]; then echo "== 3. victoria-metrics is not installed (apt-get install victoria-metrics): skipped"; exit 0; fi
  # This build prints nothing for -version: the package says which it is.
  echo "== 3. the same samples to victoria-metrics $(dpkg-query -W -f '${Version}' victoria-metrics 2>/dev/null); $(uptime)"
  mkdir "$WORK/vm"
  "$VMBIN" -storageDataPath="$WORK/vm" -httpListenAddr="$VM_ADDR" -retentionPeriod=100y \
    -loggerLevel=ERROR >"$WORK/vm.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do curl -sf "http://$VM_ADDR/health" >/dev/null && break; sleep 0.1; done
  T0=$(date +%s.%N)
  sampler "$PID" "$T0" "$WORK/vm.samples" "$WORK/vm" &
  SAMPLER=$!
  "$LOAD" --victoria-metrics "$VM_ADDR" --certs-dir "$WORK/pki" --agents "$AGENTS" \
    --interval "$INTERVAL" --duration "$DURATION" --ramp "$RAMP" --link-share "$LINK_SHARE" \
    --progress 30 | tee "$WORK/vm.out"
  curl -sf "http://$VM_ADDR/internal/force_flush" >/dev/null || true
  sleep "$SAMPLE"
  kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=
  VMROWS=$(curl -sf "http://$VM_ADDR/metrics" | awk '/^vm_rows_added_to_storage_total/ {print $2}')
  VSUM=$(grep '^zf-load summary' "$WORK/vm.out")
  VMSTAT=$(digest "$WORK/vm.samples" "$STEADY_FROM" "$DURATION")
  stop
  VM_END=$(du -sb "$WORK/vm" | awk '{print $1}')
  echo "   victoria-metrics over the steady stretch: $VMSTAT; $VMROWS rows added to storage; ${VM_END} bytes on disk after shutdown"
  awk -v zc="$(kv cpu_pct "$COLLECTOR")" -v vc="$(kv cpu_pct "$VMSTAT")" \
      -v zr="$(kv steady_samples_per_s "$SUMMARY")" -v vr="$(kv steady_samples_per_s "$VSUM")" \
      -v zm="$(kv peak_rss_mib "$COLLECTOR")" -v vm="$(kv peak_rss_mib "$VMSTAT")" \
      -v zd="$DB_END" -v zs="$DB_START" -v zn="$(kv samples_per_report "$SUMMARY")" -v rows="$ROWS" \
      -v vd="$VM_END" -v vn="$VMROWS" 'BEGIN {
    zcpu = zc / zr * 1e4; vcpu = vc / vr * 1e4; zb = (zd - zs) / (rows * zn); vb = vd / vn
    printf "   | measure | zerofault collector | victoria-metrics | ratio |\n"
    printf "   | CPU per million samples (core-s) | %.2f | %.2f | %.2f |\n", zcpu, vcpu, zcpu / vcpu
    printf "   | peak RSS (MiB) | %.1f | %.1f | %.2f |\n", zm, vm, zm / vm
    printf "   | disk per sample (bytes) | %.2f | %.2f | %.1f |\n", zb, vb, zb / vb }'
fi
