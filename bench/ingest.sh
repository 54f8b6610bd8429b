#!/usr/bin/env bash
# Collector ingest benchmark (issue 4): release build, a real collector on loopback with
# mTLS and SQLite synchronous=FULL + group commit, driven by collector/examples/zf-ingest-bench.rs.
#   1. CLIENTS concurrent agents post unique reports (LINKS link windows each) as fast as
#      the durable acknowledgements come: reports/s and samples/s.
#   2. The same while AMPLIFIERS more clients send amplification bodies back to back (a
#      few hundred bytes that decode to 4 million empty entries; issue 11): the collector's
#      peak RSS (VmHWM) of both runs is printed.
#   3. One agent posts one day of its reports (5760 at 15 s) sequentially, as its backfill
#      would without the agent's backfill_rate bound: backlog drain time.
# Usage: bench/ingest.sh [CLIENTS=32] [REPORTS_PER_CLIENT=300] [LINKS=50] [AMPLIFIERS=4]
set -euo pipefail
CLIENTS=${1:-32}
PER_CLIENT=${2:-300}
LINKS=${3:-50}
AMPLIFIERS=${4:-4}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/zerofault-target}
cd "$(dirname "$0")/.."
cargo build --release -p zerofault-collector --bin zerofault-collector --example zf-ingest-bench
BIN=$CARGO_TARGET_DIR/release/zerofault-collector
BENCH=$CARGO_TARGET_DIR/release/examples/zf-ingest-bench

WORK=$(mktemp -d /var/tmp/zf-ingest-bench.XXXXXX)
PID=
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

AGENTS=()
for i in $(seq 0 $((CLIENTS + AMPLIFIERS - 1))); do AGENTS+=(--agent "bench-$i"); done
"$BIN" certs --dir "$WORK/pki" --collector-name 127.0.0.1 "${AGENTS[@]}" >/dev/null

start_collector() {
  cat >"$WORK/collector.yaml" <<YAML
listen:
  ingest: 127.0.0.1:17443
  http: 127.0.0.1:19464
tls:
  ca: $WORK/pki/ca.pem
  cert: $WORK/pki/collector.pem
  key: $WORK/pki/collector.key
storage:
  sqlite:
    path: $WORK/$1.db
YAML
  "$BIN" serve --config "$WORK/collector.yaml" 2>"$WORK/$1.log" &
  PID=$!
  for _ in $(seq 100); do
    curl -sf http://127.0.0.1:19464/healthz >/dev/null && return 0
    sleep 0.1
  done
  echo "collector did not start" >&2; cat "$WORK/$1.log" >&2; exit 1
}
stop_collector() { kill "$PID"; wait "$PID" || true; PID=; }
peak_rss() { awk '/^VmHWM/ {printf "%.1f MB", $2 * 1024 / 1e6}' "/proc/$PID/status"; }

echo "== throughput: $CLIENTS clients x $PER_CLIENT reports, $LINKS links each"
start_collector throughput
"$BENCH" https://127.0.0.1:17443 "$WORK/pki" "$CLIENTS" "$PER_CLIENT" "$LINKS"
echo "collector peak RSS: $(peak_rss)"
stop_collector

echo "== the same with $AMPLIFIERS clients sending amplification bodies meanwhile"
start_collector amplified
"$BENCH" https://127.0.0.1:17443 "$WORK/pki" "$CLIENTS" "$PER_CLIENT" "$LINKS" "$AMPLIFIERS"
echo "collector peak RSS: $(peak_rss)"
stop_collector

echo "== backlog drain: one agent, 5760 reports (one day at 15 s), sequential"
start_collector drain
"$BENCH" https://127.0.0.1:17443 "$WORK/pki" 1 5760 "$LINKS"
stop_collector
echo "machine: $(nproc) cores, $(uname -r); db on $(df --output=fstype "$WORK" | tail -1)"
