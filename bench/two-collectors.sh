#!/usr/bin/env bash
# Two collectors on one PostgreSQL under load, one of them SIGKILLed and restarted several
# times (issue 13, "province scale"): zero reports lost, zero stored twice, the month's report
# identical from either collector.
#
#   bench/two-collectors.sh [AGENTS=2000] [DURATION=420] [INTERVAL=15]
#   env: KILLS=4           SIGKILLs in the run
#        KILL_EVERY=75     seconds from the start (then from each restart) to the next kill
#        DOWN=5            seconds a killed collector stays down before it is restarted
#        DOWN_LAST=40      the same for the last kill: longer than the deployment lease's 30 s,
#                          so that the survivor takes the lease over when the holder is killed
#        KILL=alternate    which collector is killed: alternate (a, b, a, ...), a or b
#        DUP_SHARE=0.01    share of acknowledged reports sent again on purpose
#        LINK_SHARE=0.1    share of agents whose reports carry link windows
#        RAMP=INTERVAL     agents start spread over this many seconds
#
# 1. A private PostgreSQL 15 (Debian's initdb/pg_ctl, as tests/src/postgres.rs does: a
#    temporary directory, a free port on 127.0.0.1, run as `nobody` when this runs as root;
#    fsync and synchronous_commit at their defaults, on), the CA and certificates made by
#    `zerofault-collector certs`, and two `zerofault-collector serve` on it, instances
#    bench-a and bench-b with ports of their own, started at the same moment.
# 2. collector/examples/zf-load: AGENTS agents with a certificate each, a report every
#    INTERVAL s for DURATION s, each agent given both collectors (agent i starts with
#    collector i mod 2) and failing over as the real agent's `collector.urls` does: it stays
#    with a collector while it answers and moves to the other at once when it cannot connect,
#    loses its connection or gets a 5xx; the report is resent until one acknowledges it.
# 3. KILLS times: SIGKILL one collector, wait DOWN s, start it again. Agents stay with the
#    collector that answered (as real ones do), so after the first kill every agent is on
#    the survivor; KILL=alternate kills the one holding them each time, so every kill cuts
#    all agents' connections; it starts with the collector without the deployment lease,
#    so every second kill hits the holder. A holder back within 30 s renews its own lease
#    (it is held by instance name); the last kill keeps its collector down DOWN_LAST s, so
#    with an even KILLS the survivor takes the lease over.
# 4. After the load, both collectors are stopped (SIGTERM) and the database is checked:
#    - every acknowledged report (agent, boot, sequence), listed by the generator
#      (--acked-out), is a row of `reports`: none lost;
#    - every row is one the generator made and got acknowledged: rows = acknowledged
#      `stored` + acknowledged `duplicate`. A `duplicate` acknowledgement of a report sent
#      for the first time is a report a collector committed and then could not answer
#      (killed after the commit, or the answer lost): the agent sent it again, to the other
#      collector, and was told `duplicate`; these are counted;
#    - the deliberate resends of acknowledged reports (DUP_SHARE) were all answered
#      `duplicate`, none `stored` (a `stored` would mean the first acknowledgement was given
#      for a report that was not stored); the primary key (agent, boot, sequence) makes a
#      second row impossible, so this is what "stored twice" can mean here;
#    - `zerofault-collector report --month <this month> --format json` with each
#      instance's configuration, both as of one instant (--as-of-unix-ms, hidden), gives
#      byte-identical files; and in it no host minute is down and no gap of the
#      deployment (no collector running) falls after the start: a killed collector is not
#      the hosts' downtime, as long as the other one runs.
# 5. Prints the summary (reports made / acknowledged / stored / duplicate, kills, ack
#    latency p50/p99, each collector's peak RSS over its lives, the machine's load) and
#    exits non-zero on any loss or difference.
#
# Outputs (generator lines, collector and PostgreSQL logs, the two reports) are kept in OUT;
# everything else is in a temporary directory under /var/tmp, removed on exit.
set -euo pipefail
AGENTS=${1:-2000}
DURATION=${2:-420}
INTERVAL=${3:-15}
KILLS=${KILLS:-4}
KILL_EVERY=${KILL_EVERY:-75}
DOWN=${DOWN:-5}
DOWN_LAST=${DOWN_LAST:-40}
KILL=${KILL:-alternate}
DUP_SHARE=${DUP_SHARE:-0.01}
LINK_SHARE=${LINK_SHARE:-0.1}
RAMP=${RAMP:-$INTERVAL}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/zerofault-target}
cd "$(dirname "$0")/.."
for tool in curl jq psql ss setpriv; do
  command -v "$tool" >/dev/null || { echo "$0: needs $tool" >&2; exit 1; }
done
. bench/pg.sh
pg_find
cargo build -q --release --locked -p zerofault-collector --bin zerofault-collector --example zf-load
BIN=$CARGO_TARGET_DIR/release/zerofault-collector
LOAD=$CARGO_TARGET_DIR/release/examples/zf-load

WORK=$(mktemp -d /var/tmp/zf-two.XXXXXX)
OUT=${OUT:-/var/tmp/zf-two-results/$(date +%Y%m%d-%H%M%S)}
declare -A PID=([a]= [b]=)
LOAD_PID=
SAMPLER=
cleanup() {
  set +e
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null
  [ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null && wait "$LOAD_PID" 2>/dev/null
  for c in a b; do
    if [ -n "${PID[$c]}" ]; then kill "${PID[$c]}" 2>/dev/null; wait "${PID[$c]}" 2>/dev/null; fi
  done
  pg_stop
  mkdir -p "$OUT" && cp -r "$WORK"/*.out "$WORK"/*.log "$WORK"/pg/server.log "$WORK"/report-* "$OUT"/ 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Ports below the ephemeral range (32768..), so that a restarted collector never finds its
# port taken by an outgoing connection (its own pool's, to PostgreSQL).
used=$(ss -Htan | awk '{n = split($4, a, ":"); print a[n]}' | sort -u)
pick_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    if ! grep -qx "$p" <<<"$used"; then used+=$'\n'$p; echo "$p"; return; fi
  done
}
PG_PORT=$(pick_port)
declare -A INGEST=([a]=127.0.0.1:$(pick_port) [b]=127.0.0.1:$(pick_port))
declare -A HTTP=([a]=127.0.0.1:$(pick_port) [b]=127.0.0.1:$(pick_port))

FDS=$((AGENTS * 2 + 16384))
if [ "$FDS" -gt "$(ulimit -Hn)" ]; then
  ulimit -Hn "$FDS" 2>/dev/null ||
    echo "note: the hard open-file limit stays $(ulimit -Hn) (no CAP_SYS_RESOURCE)" >&2
fi
ulimit -Sn "$(ulimit -Hn)"

echo "== machine: $(nproc) cores, $(uname -r), $(free -g | awk '/^Mem/ {print $2}') GiB; $(uptime)"
echo "== commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- collector bench || echo ' (+ uncommitted changes)'); outputs kept in $OUT"

# 1. PostgreSQL, certificates, two collectors.
pg_start "$PG_PORT"

"$BIN" certs --dir "$WORK/pki" --collector-name 127.0.0.1 >/dev/null
for c in a b; do
  cat >"$WORK/$c.yaml" <<YAML
instance: bench-$c
listen:
  ingest: ${INGEST[$c]}
  http: ${HTTP[$c]}
tls:
  ca: $WORK/pki/ca.pem
  cert: $WORK/pki/collector.pem
  key: $WORK/pki/collector.key
storage:
  postgres:
    url: $(pg_url)
    tls:
      mode: disable
YAML
done
# Peak RSS and CPU of a collector over all its lives: its VmHWM and utime+stime are read
# every 2 s and just before it is killed or stopped.
note_usage() {
  local c=$1 pid=${PID[$1]}
  [ -n "$pid" ] || return 0
  { awk '/^VmHWM/ {printf "%d ", $2}' "/proc/$pid/status"
    awk '{print $14 + $15}' "/proc/$pid/stat"; } >>"$WORK/$c.usage.$pid" 2>/dev/null || true
}
launch() {
  "$BIN" serve --config "$WORK/$1.yaml" 2>>"$WORK/$1.log" &
  PID[$1]=$!
  echo "${PID[$1]}" >"$WORK/$1.pid"
}
await_healthy() {
  for _ in $(seq 300); do
    curl -sf "http://${HTTP[$1]}/healthz" >/dev/null && return 0
    kill -0 "${PID[$1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "collector $1 did not start" >&2; tail -20 "$WORK/$1.log" >&2; exit 1
}
stop() { # $1: collector, $2: signal
  note_usage "$1"
  kill -"$2" "${PID[$1]}"
  wait "${PID[$1]}" 2>/dev/null || true
  PID[$1]=
  : >"$WORK/$1.pid"
}
START_MS=$(date +%s%3N)
launch a
launch b
await_healthy a
await_healthy b
lease() { curl -sf "http://${HTTP[$1]}/metrics" | awk '/^zerofault_collector_deployment_lease / {print $2}'; }
echo "== collectors bench-a (ingest ${INGEST[a]}, pid ${PID[a]}, lease $(lease a)) and bench-b (ingest ${INGEST[b]}, pid ${PID[b]}, lease $(lease b))"

sampler() {
  while :; do
    for c in a b; do
      pid=$(cat "$WORK/$c.pid" 2>/dev/null || true)
      if [ -n "$pid" ]; then
        { awk '/^VmHWM/ {printf "%d ", $2}' "/proc/$pid/status"
          awk '{print $14 + $15}' "/proc/$pid/stat"; } >>"$WORK/$c.usage.$pid" 2>/dev/null || true
      fi
    done
    cut -d' ' -f1 /proc/loadavg >>"$WORK/load1"
    sleep 2
  done
}
sampler &
SAMPLER=$!

# 2. The load.
echo "== load: $AGENTS agents over both collectors, ${INTERVAL}s interval, ${DURATION}s, ramp ${RAMP}s; $KILLS kills ($KILL), every ${KILL_EVERY}s, ${DOWN}s down (the last ${DOWN_LAST}s)"
T0=$(date +%s)
: >"$WORK/load.out" # before tail opens it
"$LOAD" --collector "https://${INGEST[a]}" --collector "https://${INGEST[b]}" \
  --certs-dir "$WORK/pki" --agents "$AGENTS" --interval "$INTERVAL" --duration "$DURATION" \
  --ramp "$RAMP" --link-share "$LINK_SHARE" --duplicate-share "$DUP_SHARE" --progress 30 \
  --acked-out "$WORK/acked.csv" >"$WORK/load.out" 2>"$WORK/load.log" &
LOAD_PID=$!
tail -n +1 -f --pid="$LOAD_PID" "$WORK/load.out" | sed -u 's/^/   /' &
TAIL=$!

# 3. The kills.
KILLED=0
# Alternating from the collector without the lease, an even number of kills ends with the
# holder, kept down past the lease's life.
victim=b
[ "$(lease a || true)" = 1 ] && victim=a
for k in $(seq "$KILLS"); do
  sleep "$KILL_EVERY"
  kill -0 "$LOAD_PID" 2>/dev/null || break
  case $KILL in
    alternate) if [ "$victim" = a ]; then victim=b; else victim=a; fi ;;
    a | b) victim=$KILL ;;
    *) echo "KILL=$KILL: alternate, a or b" >&2; exit 2 ;;
  esac
  held=$(lease "$victim" || echo '?')
  conns=$(ss -Htn state established "( sport = :${INGEST[$victim]##*:} )" | wc -l)
  stop "$victim" KILL
  KILLED=$((KILLED + 1))
  down=$DOWN
  [ "$k" = "$KILLS" ] && down=$DOWN_LAST
  echo "== t=$(($(date +%s) - T0))s: kill $KILLED: SIGKILL bench-$victim (lease ${held:-?}, $conns agent connections); down ${down}s"
  sleep "$down"
  if [ "$victim" = a ]; then other=b; else other=a; fi
  echo "   before the restart: bench-$other has lease $(lease "$other" || echo '?') and $(ss -Htn state established "( sport = :${INGEST[$other]##*:} )" | wc -l) agent connections"
  launch "$victim"
  await_healthy "$victim"
  echo "== t=$(($(date +%s) - T0))s: bench-$victim restarted (pid ${PID[$victim]})"
done
wait "$LOAD_PID" || { echo "zf-load failed:" >&2; tail -20 "$WORK/load.log" >&2; exit 1; }
LOAD_PID=
wait "$TAIL" || true
echo "== load done at t=$(($(date +%s) - T0))s; $(uptime)"
sleep 1
HOLDERS=0
for c in a b; do
  l=$(lease "$c" || echo 0)
  HOLDERS=$((HOLDERS + l))
  echo "   bench-$c: lease $l at the end"
done
stop a TERM
stop b TERM
# PostgreSQL's CPU: the postmaster's own and its reaped children's (cutime, cstime: the
# backends of killed collectors) and the live backends'.
PG_CPU=$(awk -v t="$(pg_cpu_ticks)" 'BEGIN {printf "%.0f", t / 100}')
kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=

# 4. The checks.
kv() { grep -o " $1=[^ ]*" <<<"$2" | head -1 | cut -d= -f2; }
SUMMARY=$(grep '^zf-load summary' "$WORK/load.out")
GENERATED=$(kv generated "$SUMMARY")
STORED=$(kv stored "$SUMMARY")
DUPLICATE=$(kv duplicate "$SUMMARY")
UNACKED=$(kv unacked "$SUMMARY")
REFUSED=$(kv refused "$SUMMARY")
RESENDS=$(kv resends "$SUMMARY")
RESENDS_DUP=$(kv resends_duplicate "$SUMMARY")
RESENDS_STORED=$(kv resends_stored "$SUMMARY")
RESENDS_UNANSWERED=$(kv resends_unanswered "$SUMMARY")
read -r ROWS ACKED ACKED_DISTINCT ACKED_DUP LOST EXTRA < <("${PSQL[@]}" -d zerofault -F ' ' <<SQL
CREATE TEMP TABLE acked (agent_id TEXT COLLATE "C", boot_id TEXT COLLATE "C", sequence BIGINT, answer TEXT);
\copy acked FROM '$WORK/acked.csv' WITH (FORMAT csv)
SELECT (SELECT count(*) FROM reports WHERE agent_id LIKE 'load-%'),
       (SELECT count(*) FROM acked),
       (SELECT count(*) FROM (SELECT DISTINCT agent_id, boot_id, sequence FROM acked) d),
       (SELECT count(*) FROM acked WHERE answer = 'duplicate'),
       (SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM reports r
          WHERE r.agent_id = a.agent_id AND r.boot_id = a.boot_id AND r.sequence = a.sequence)),
       (SELECT count(*) FROM reports r WHERE r.agent_id LIKE 'load-%' AND NOT EXISTS (SELECT 1 FROM acked a
          WHERE r.agent_id = a.agent_id AND r.boot_id = a.boot_id AND r.sequence = a.sequence));
SQL
)
RUNS=$("${PSQL[@]}" -d zerofault -F ' ' -c "SELECT instance, count(*), count(*) FILTER (WHERE clean) FROM collector_runs GROUP BY instance ORDER BY instance" | awk '{printf "%s%s: %d runs, %d stopped cleanly", sep, $1, $2, $3; sep = "; "}')
DB_BYTES=$("${PSQL[@]}" -d zerofault -c "SELECT pg_database_size('zerofault')")

# The month, with each instance's configuration, as of one instant.
MONTH=$(TZ=Asia/Shanghai date +%Y-%m)
AS_OF=$(($(date +%s%3N)))
for c in a b; do
  "$BIN" report --config "$WORK/$c.yaml" --month "$MONTH" --format json --lang en \
    --as-of-unix-ms "$AS_OF" --out "$WORK/report-$c" >/dev/null 2>"$WORK/report-$c.log" ||
    { echo "report with bench-$c's configuration failed:" >&2; cat "$WORK/report-$c.log" >&2; exit 1; }
done
JSON_A=$(ls "$WORK"/report-a/*.json)
JSON_B=$(ls "$WORK"/report-b/*.json)
if cmp -s "$JSON_A" "$JSON_B"; then SAME=identical; else SAME=DIFFERENT; fi
HOSTS=$(jq '.hosts | length' "$JSON_A")
# What the kills did to the SLA: host minutes up and down, and the deployment's gaps (no
# collector running) since the collectors first started; both must be none.
read -r UP_MIN DOWN_MIN BELOW < <(jq -r '[.hosts[].figures] |
  "\(map(.minutes.up) | add) \(map(.minutes.down) | add) \(map(select(.availability != null and .availability < 1)) | length)"' "$JSON_A")
GAPS=$(jq --argjson t "$START_MS" '[.collector_gaps[] | select(.start_unix_ms > $t)] | length' "$JSON_A")

peak() { # max VmHWM (MiB) and summed CPU seconds over the lives of collector $1
  cat "$WORK/$1".usage.* 2>/dev/null | sort -n | tail -1 | awk '{printf "%.1f", $1 / 1024}'
  printf ' MiB peak RSS, '
  for f in "$WORK/$1".usage.*; do tail -1 "$f"; done | awk '{s += $2} END {printf "%.0f s CPU", s / 100}'
}
LOADAVG=$(awk '{s += $1; n++; m = ($1 > m ? $1 : m)} END {printf "mean %.2f, max %.2f", s / n, m}' "$WORK/load1")

echo
echo "== summary ($AGENTS agents, ${INTERVAL}s, ${DURATION}s, 2 collectors on PostgreSQL, $(nproc) cores; 1-min load $LOADAVG)"
echo "   reports made $GENERATED; acknowledged stored $STORED + duplicate $DUPLICATE; refused $REFUSED; unacknowledged at the end $UNACKED"
echo "   rows in the database $ROWS; acknowledged reports listed $ACKED ($ACKED_DISTINCT distinct, $ACKED_DUP answered duplicate)"
echo "   lost (acknowledged, not in the database): $LOST; stored but never acknowledged: $EXTRA"
echo "   committed by a collector that did not answer, resent and answered duplicate: $DUPLICATE"
echo "   deliberate resends of acknowledged reports: $RESENDS, answered duplicate $RESENDS_DUP, stored $RESENDS_STORED, unanswered $RESENDS_UNANSWERED"
echo "   kills: $KILLED (SIGKILL; down ${DOWN}s, the last ${DOWN_LAST}s); failovers (an agent moving to the other collector) $(kv failovers "$SUMMARY"); connections $(kv connects "$SUMMARY"); failed attempts $(kv errors "$SUMMARY") ($(kv errors_by_kind "$SUMMARY"))"
echo "   ack latency, whole run: p50 $(kv all_p50_ms "$SUMMARY") ms, p99 $(kv all_p99_ms "$SUMMARY") ms, max $(kv all_max_ms "$SUMMARY") ms; steady stretch from $(kv steady_from_s "$SUMMARY") s: p50 $(kv p50_ms "$SUMMARY") ms, p99 $(kv p99_ms "$SUMMARY") ms; $(kv steady_reports_per_s "$SUMMARY") reports/s"
echo "   bench-a: $(peak a); bench-b: $(peak b); PostgreSQL $PG_CPU s CPU; generator $(kv generator_cpu_s "$SUMMARY") s CPU, peak RSS $(kv generator_peak_rss_mib "$SUMMARY") MiB"
echo "   runs: $RUNS; database $((DB_BYTES / 1048576)) MiB"
echo "   month $MONTH as of $AS_OF with bench-a's and bench-b's configuration: $SAME ($HOSTS hosts, $(stat -c %s "$JSON_A") bytes)"
echo "   in that month: host minutes up $UP_MIN, down $DOWN_MIN; hosts under 100% availability $BELOW; collector gaps since the start $GAPS"

FAIL=()
[ "$LOST" = 0 ] || FAIL+=("$LOST acknowledged reports are not in the database")
[ "$UNACKED" = 0 ] || FAIL+=("$UNACKED reports were never acknowledged")
[ "$REFUSED" = 0 ] || FAIL+=("$REFUSED reports were refused")
[ "$EXTRA" = 0 ] || FAIL+=("$EXTRA rows were never acknowledged")
[ "$ROWS" = "$GENERATED" ] || FAIL+=("rows $ROWS != reports made $GENERATED")
[ "$ROWS" = $((STORED + DUPLICATE)) ] || FAIL+=("rows $ROWS != stored $STORED + duplicate $DUPLICATE")
[ "$ACKED" = "$ACKED_DISTINCT" ] && [ "$ACKED" = $((STORED + DUPLICATE)) ] || FAIL+=("the acknowledged list does not match the counts")
[ "$RESENDS_STORED" = 0 ] && [ "$RESENDS" = "$RESENDS_DUP" ] || FAIL+=("resends: $RESENDS sent, $RESENDS_DUP duplicate, $RESENDS_STORED stored")
[ "$SAME" = identical ] || FAIL+=("the month differs between the collectors ($OUT/report-a, report-b)")
[ "$HOSTS" = "$AGENTS" ] || FAIL+=("the month has $HOSTS hosts, not $AGENTS")
[ "$DOWN_MIN" = 0 ] && [ "$GAPS" = 0 ] || FAIL+=("the kills show in the month: $DOWN_MIN host minutes down, $GAPS collector gaps")
[ "$HOLDERS" = 1 ] || FAIL+=("$HOLDERS collectors hold the deployment lease at the end, not 1")
[ "$KILLED" = "$KILLS" ] || FAIL+=("only $KILLED of $KILLS kills happened (the load ended first: raise DURATION)")
if [ ${#FAIL[@]} -gt 0 ]; then
  printf '   FAIL: %s\n' "${FAIL[@]}"
  exit 1
fi
echo "   ok: nothing lost, nothing stored twice, the month identical from either collector"
