#!/usr/bin/env bash
# Benchmark: zerofault-agent per collection cycle vs Debian's prometheus-node-exporter per
# scrape, on this machine, in the same run (both measured over the same wall-clock window).
#
#   bench/agent-vs-node-exporter.sh [SECONDS]      (default 120)
#
# What is measured:
# - CPU: utime+stime of the process (from /proc/PID/stat) over the window, divided by the
#   number of agent reports the collector accepted in that window / the number of scrapes
#   made of node_exporter (one per second, like a 1 s Prometheus scrape interval). The
#   agent's cycle includes everything: collection, protobuf+zstd, mTLS POST.
# - RSS: VmRSS at the end of the window, and VmHWM (peak).
# - Binary size: stripped release binary of the agent vs the (stripped) Debian binary.
# Needs: release binaries (cargo build --release), prometheus-node-exporter, curl.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-120}"
target="${CARGO_TARGET_DIR:-target}"
agent_bin="$target/release/zerofault-agent"
collector_bin="$target/release/zerofault-collector"
ne_bin=/usr/bin/prometheus-node-exporter
for b in "$agent_bin" "$collector_bin"; do
  [ -x "$b" ] || { echo "missing $b: run cargo build --release" >&2; exit 1; }
done
if [ ! -x "$ne_bin" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus-node-exporter
  else
    echo "install prometheus-node-exporter first" >&2; exit 1
  fi
fi

work=$(mktemp -d /tmp/zf-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ingest_port=$(free_port); http_port=$(free_port); ne_port=$(free_port)

"$collector_bin" certs --dir "$work/pki" --agent bench-agent >/dev/null
cat > "$work/collector.yaml" <<YAML
listen:
  ingest: 127.0.0.1:$ingest_port
  http: 127.0.0.1:$http_port
tls:
  ca: pki/ca.pem
  cert: pki/collector.pem
  key: pki/collector.key
storage:
  sqlite:
    path: zerofault.db
YAML
cat > "$work/agent.yaml" <<YAML
agent:
  id: bench-agent
  state_dir: agent-state
labels:
  department: bench
  datacenter: bench-dc
collector:
  url: https://127.0.0.1:$ingest_port
tls:
  ca: pki/ca.pem
  cert: pki/agents/bench-agent.pem
  key: pki/agents/bench-agent.key
interval: 1s
YAML

"$collector_bin" serve --config "$work/collector.yaml" 2>"$work/collector.log" &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null && break; sleep 0.2; done
"$agent_bin" run --config "$work/agent.yaml" 2>"$work/agent.log" &
agent_pid=$!; pids+=($agent_pid)
"$ne_bin" --web.listen-address="127.0.0.1:$ne_port" 2>"$work/ne.log" &
ne_pid=$!; pids+=($ne_pid)
sleep 3

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
accepted() { curl -sf "http://127.0.0.1:$http_port/metrics" | awk '/^zerofault_collector_reports_accepted_total/ {print $2}'; }

# Warm-up: a few cycles and scrapes so that both have allocated what they keep.
for _ in 1 2 3 4 5; do curl -sf -o /dev/null "http://127.0.0.1:$ne_port/metrics"; sleep 1; done

hz=$(getconf CLK_TCK)
a0=$(ticks $agent_pid); n0=$(ticks $ne_pid); r0=$(accepted)
scrapes=0
end=$(( $(date +%s) + secs ))
while [ "$(date +%s)" -lt "$end" ]; do
  curl -sf -o /dev/null "http://127.0.0.1:$ne_port/metrics"; scrapes=$((scrapes + 1))
  sleep 1
done
a1=$(ticks $agent_pid); n1=$(ticks $ne_pid); r1=$(accepted)
reports=$(( ${r1%.*} - ${r0%.*} ))

agent_rss=$(status $agent_pid VmRSS); agent_hwm=$(status $agent_pid VmHWM)
ne_rss=$(status $ne_pid VmRSS); ne_hwm=$(status $ne_pid VmHWM)
strip -o "$work/ne.stripped" "$ne_bin"; strip -o "$work/agent.stripped" "$agent_bin"
agent_size=$(stat -c %s "$work/agent.stripped"); ne_size=$(stat -c %s "$work/ne.stripped")

python3 - "$hz" "$a0" "$a1" "$reports" "$n0" "$n1" "$scrapes" "$agent_rss" "$agent_hwm" "$ne_rss" "$ne_hwm" "$agent_size" "$ne_size" "$secs" <<'PY'
import sys
hz, a0, a1, reports, n0, n1, scrapes, arss, ahwm, nrss, nhwm, asize, nsize, secs = map(float, sys.argv[1:])
acpu = (a1 - a0) / hz * 1000 / max(reports, 1)
ncpu = (n1 - n0) / hz * 1000 / max(scrapes, 1)
print(f"window: {secs:.0f} s; agent reports accepted: {reports:.0f}; node_exporter scrapes: {scrapes:.0f}")
print()
print("| measure | zerofault-agent | prometheus-node-exporter | ratio (agent / node_exporter) | goal |")
print("| --- | --- | --- | --- | --- |")
print(f"| CPU per collection cycle / scrape (ms) | {acpu:.2f} | {ncpu:.2f} | {acpu/ncpu:.3f} | <= 0.25 |")
print(f"| RSS at end (MiB) | {arss/1024:.1f} | {nrss/1024:.1f} | {arss/nrss:.3f} | <= 0.5 |")
print(f"| peak RSS, VmHWM (MiB) | {ahwm/1024:.1f} | {nhwm/1024:.1f} | {ahwm/nhwm:.3f} | - |")
print(f"| stripped binary (MiB) | {asize/2**20:.2f} | {nsize/2**20:.2f} | {asize/nsize:.3f} | <= 0.5 |")
PY
