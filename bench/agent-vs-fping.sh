#!/usr/bin/env bash
# Benchmark: zerofault-agent link probes vs fping, the same work in the same run.
#
#   bench/agent-vs-fping.sh [SECONDS]      (default 120, a multiple of the 15 s report interval)
#
# Both tools ping the same 200 test hosts at 1 packet/s each, with an 800 ms timeout, over
# the same wall-clock window, across a link that drops 5% of echo requests:
#
#   root namespace: agent, fping, collector      namespace zf-bench-PID: 200 addresses
#   198.18.K.254/24 ---------------- veth pair ----------------- 198.18.K.1-200/24
#                                                 nftables: drop 5% of echo requests
#
# What is measured:
# - CPU: utime+stime (from /proc/PID/stat) over the window, per probe sent and as a share of
#   one core. The agent's figure is its whole work: probes, the host report every 15 s,
#   protobuf+zstd and the mTLS upload. fping's is its whole life (started at the window's
#   start, stopped at its end).
# - Memory: VmRSS at the end of the window and VmHWM (peak).
# - Agreement: overall and per-target loss of each tool against the injected 5% (99%
#   binomial interval), and mean RTT of each. The agent's figures are read from the
#   collector's /metrics, as an operator would see them: the counters
#   zerofault_link_probes_{sent,received}_total, and zerofault_link_rtt_seconds (the mean of
#   each 15 s window, weighted by that window's replies). fping's are its final summary.
#   The two read the clock differently around sendto, which shows on a fast path: see the
#   section "Link probes vs fping" in docs/benchmarks.md.
#
# Needs root (namespaces, nftables; both tools then use raw ICMP sockets), iproute2, nft,
# fping, curl, python3 and the release binaries (cargo build --release).
# Optional: PER_TARGET_CSV=FILE writes the per-target figures to FILE.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-120}"
report_s=15       # agent report interval: the collector's counters move once per report
n_targets=200
loss_pct=5
timeout_ms=800    # fping -t; the agent's probe timeout is set to the same
fping_gap_ms=4    # fping -i: 200 targets x 4 ms = 800 ms, so a round fits in the 1 s period

if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt "$report_s" ] || [ $((secs % report_s)) -ne 0 ]; then
  echo "usage: $0 [SECONDS]: a multiple of the ${report_s} s report interval (default 120)" >&2
  exit 2
fi
[ "$(id -u)" -eq 0 ] || { echo "$0 needs root: it creates a network namespace and nftables rules" >&2; exit 1; }
for tool in ip nft fping curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (packages: iproute2 nftables fping curl python3)" >&2; exit 1; }
done
target="${CARGO_TARGET_DIR:-target}"
agent_bin="$target/release/zerofault-agent"
collector_bin="$target/release/zerofault-collector"
for b in "$agent_bin" "$collector_bin"; do
  [ -x "$b" ] || { echo "missing $b: run cargo build --release" >&2; exit 1; }
done

# Taken now: the binaries are meant to be built from this checkout, which may move later.
checkout="$(git rev-parse --short HEAD 2>/dev/null || echo 'not a git checkout')"
git diff --quiet HEAD -- agent collector protocol 2>/dev/null || checkout="$checkout (agent/collector/protocol differ from it)"

ns="zf-bench-$$"
# Interface names are limited to 15 bytes; a pid has at most 7 digits.
host_if="zfb$$h"
ns_if="zfb$$n"
work=$(mktemp -d /tmp/zf-bench.XXXXXX)
pids=()

cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  # Bounded: everything started here stops on SIGTERM within a second or two.
  for _ in $(seq 50); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  # Deleting the namespace deletes the veth pair (both ends) and its nftables ruleset.
  ip netns del "$ns" 2>/dev/null
  ip link del "$host_if" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
# Without these, Ctrl-C or a kill could leave the namespace behind.
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# A /24 of 198.18.0.0/15 that nothing in the root namespace uses yet. The test harness in
# tests/ starts its /30s at the /24 numbered pid % 512; starting elsewhere makes a clash with
# a concurrent test run unlikely, and the check after the run reports one if it happened.
net=""
for i in $(seq 0 511); do
  k=$(( ($$ / 7 + 257 + i) % 512 ))
  cand="198.$((18 + k / 256)).$((k % 256))"
  if [ -z "$(ip -4 -o addr show to "$cand.0/24")" ] && [ -z "$(ip -4 route show root "$cand.0/24")" ]; then
    net="$cand"; break
  fi
done
[ -n "$net" ] || { echo "no free /24 left in 198.18.0.0/15" >&2; exit 1; }

# --- the test network -------------------------------------------------------------------
ip netns add "$ns"
ip link add "$host_if" type veth peer name "$ns_if" netns "$ns"
ip addr add "$net.254/24" dev "$host_if"
ip link set "$host_if" up
{
  for i in $(seq 1 "$n_targets"); do echo "addr add $net.$i/24 dev $ns_if"; done
  echo "link set lo up"
  echo "link set $ns_if up"
} | ip -n "$ns" -batch -
addrs=()
for i in $(seq 1 "$n_targets"); do addrs+=("$net.$i"); done

# Every host must answer before loss is injected, or lost packets would not be what we made.
if ! fping -4 -q -r 3 -t 500 "${addrs[@]}" 2>"$work/reach.txt"; then
  echo "test hosts do not all answer:" >&2; cat "$work/reach.txt" >&2; exit 1
fi

# Named counters give the loss actually injected (both tools' requests together).
ip netns exec "$ns" nft -f - <<NFT
table inet zf_bench {
  counter requests {}
  counter dropped {}
  chain input {
    type filter hook input priority 0; policy accept;
    icmp type echo-request counter name "requests"
    icmp type echo-request numgen random mod 100 < $loss_pct counter name "dropped" drop
  }
}
NFT
nft_packets() { ip netns exec "$ns" nft list counter inet zf_bench "$1" | awk '$1 == "packets" {print $2}'; }

# --- collector and agent ----------------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ingest_port=$(free_port); http_port=$(free_port)

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
{
  cat <<YAML
agent:
  id: bench-agent
  state_dir: agent-state
labels:
  department: bench
collector:
  url: https://127.0.0.1:$ingest_port
tls:
  ca: pki/ca.pem
  cert: pki/agents/bench-agent.pem
  key: pki/agents/bench-agent.key
interval: ${report_s}s
probes:
YAML
  for i in $(seq 1 "$n_targets"); do
    printf '  - {link: t%03d, kind: icmp, target: "%s", interval: 1s, timeout: %sms, level: access}\n' \
      "$i" "$net.$i" "$timeout_ms"
  done
} > "$work/agent.yaml"
"$agent_bin" validate --config "$work/agent.yaml" >/dev/null

"$collector_bin" serve --config "$work/collector.yaml" 2>"$work/collector.log" &
pids+=("$!")
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null && break; sleep 0.2; done
"$agent_bin" run --config "$work/agent.yaml" 2>"$work/agent.log" &
agent_pid=$!; pids+=("$agent_pid")

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
scrape() { curl -sf --max-time 5 "http://127.0.0.1:$http_port/metrics" > "$work/metrics.txt"; }
# The sum of the agent's sent counters moves exactly when the collector takes a report (the
# collector applies a whole report under one lock), so it serves as the report clock.
sent_sum() { awk '/^zerofault_link_probes_sent_total\{/ {s += $NF; n++} END {printf "%d %d\n", s, n}' "$work/metrics.txt"; }
save_poll() {
  grep -E '^zerofault_link_(probes_(sent|received)_total|rtt_seconds)\{' "$work/metrics.txt" \
    | sed "s/^/$1 /" >> "$work/polls.txt"
}
# Polls every 0.2 s until a report moves the counters (bounded by two report intervals),
# so that a window starts and ends within 0.2 s of a report.
wait_report() {
  local before now
  before=$(sent_sum)
  for _ in $(seq $((report_s * 10))); do
    sleep 0.2
    scrape || continue
    now=$(sent_sum)
    [ "$now" != "$before" ] && return 0
  done
  echo "no report reached the collector within $((report_s * 2)) s; agent log:" >&2
  tail -20 "$work/agent.log" >&2
  exit 1
}

# Warm-up: wait for a report with all 200 links (the first may come before every target has
# finished a probe), then one more full window of steady probing; the measured window starts
# at the report after that.
scrape || true
for _ in 1 2 3 4; do
  wait_report
  [ "$(sent_sum | cut -d' ' -f2)" -eq "$n_targets" ] && break
done
[ "$(sent_sum | cut -d' ' -f2)" -eq "$n_targets" ] || {
  echo "the collector shows $(sent_sum | cut -d' ' -f2) links, not $n_targets; agent log:" >&2
  tail -20 "$work/agent.log" >&2; exit 1
}
wait_report
wait_report

# --- the measured window ----------------------------------------------------------------
save_poll 0
a0=$(ticks "$agent_pid")
req0=$(nft_packets requests); drop0=$(nft_packets dropped)
# -Q longer than the window: quiet (in loop mode -q alone still prints every reply) and no
# interval summary, which would reset fping's counters; the total comes on SIGINT.
fping -4 -l -p 1000 -t "$timeout_ms" -i "$fping_gap_ms" -Q $((secs * 2)) "${addrs[@]}" \
  >"$work/fping.out" 2>"$work/fping.err" &
fping_pid=$!; pids+=("$fping_pid")
t0=$(date +%s.%N)
for w in $(seq 1 $((secs / report_s))); do
  wait_report
  save_poll "$w"
done
a1=$(ticks "$agent_pid"); f1=$(ticks "$fping_pid")
t1=$(date +%s.%N)
agent_rss=$(status_kb "$agent_pid" VmRSS); agent_hwm=$(status_kb "$agent_pid" VmHWM)
fping_rss=$(status_kb "$fping_pid" VmRSS); fping_hwm=$(status_kb "$fping_pid" VmHWM)
kill -INT "$fping_pid"
for _ in $(seq 50); do kill -0 "$fping_pid" 2>/dev/null || break; sleep 0.1; done
wait "$fping_pid" || true   # fping exits 1 when any target lost a packet
req1=$(nft_packets requests); drop1=$(nft_packets dropped)

# A test run that took addresses of our /24 would have sent some of our probes elsewhere.
if ip -4 -o addr show to "$net.0/24" | grep -v " $host_if " | grep -q .; then
  echo "WARNING: another interface took an address in $net.0/24 during the run; results are suspect" >&2
fi

hz=$(getconf CLK_TCK)
echo "machine: $(nproc) cores, $(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release), kernel $(uname -r), $(uname -m)"
echo "checkout at start: $checkout; $(fping -v 2>&1 | head -1)"
echo "agent ICMP socket: $(grep -o 'socket="[^"]*"' "$work/agent.log" | head -1)"
echo "test hosts: $net.1-$net.$n_targets in namespace $ns; injected loss ${loss_pct}% of echo requests"
# Other work on the machine shares the cores and the raw sockets' ICMP traffic: say how busy it was.
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

python3 - "$work/polls.txt" "$work/fping.err" "$net" "$n_targets" "$loss_pct" "$secs" "$report_s" \
  "$hz" "$a0" "$a1" "$f1" "$t0" "$t1" "$agent_rss" "$agent_hwm" "$fping_rss" "$fping_hwm" \
  "$req0" "$req1" "$drop0" "$drop1" "${PER_TARGET_CSV:-}" <<'PY'
import math, re, sys
from collections import defaultdict

(polls_f, fping_f, net, n_targets, loss_pct, secs, report_s, hz, a0, a1, f1, t0, t1,
 arss, ahwm, frss, fhwm, req0, req1, drop0, drop1, csv_f) = sys.argv[1:]
n_targets, secs, report_s = int(n_targets), int(secs), int(report_s)
p_inj = float(loss_pct) / 100
hz, a0, a1, f1 = float(hz), float(a0), float(a1), float(f1)
wall = float(t1) - float(t0)

def interval99(n, p):
    """Lost counts (lo, hi) with P(X < lo) <= 0.5% and P(X > hi) <= 0.5%, X ~ Binomial(n, p).

    Counts, not ratios: 1 - received/sent and lost/sent can differ in the last bit."""
    if n == 0:
        return (0, 0)
    logpmf = lambda k: (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                        + k * math.log(p) + (n - k) * math.log1p(-p))
    cdf, lo, hi = 0.0, None, n
    for k in range(n + 1):
        cdf += math.exp(logpmf(k))
        if lo is None and cdf >= 0.005:
            lo = k
        if cdf >= 0.995:
            hi = k
            break
    return (lo, hi)

def inside(sent, received):
    lo, hi = interval99(sent, p_inj)
    return lo <= sent - received <= hi

# Agent: per link, the counters and the window mean RTT at each report.
polls = defaultdict(dict)   # poll -> (metric, link) -> value
line_re = re.compile(r'^(\d+) (\w+)\{.*?link="([^"]+)".*\} (\S+)$')
for line in open(polls_f):
    m = line_re.match(line.strip())
    if m:
        polls[int(m[1])][(m[2], m[3])] = float(m[4])
last = max(polls)
agent = {}
for i in range(1, n_targets + 1):
    link = f"t{i:03d}"
    sent = recv = rtt_sum = 0.0
    for w in range(1, last + 1):
        ds = polls[w][("zerofault_link_probes_sent_total", link)] - polls[w - 1][("zerofault_link_probes_sent_total", link)]
        dr = polls[w][("zerofault_link_probes_received_total", link)] - polls[w - 1][("zerofault_link_probes_received_total", link)]
        sent += ds
        recv += dr
        if dr:
            rtt_sum += polls[w][("zerofault_link_rtt_seconds", link)] * dr
    agent[f"{net}.{i}"] = (int(sent), int(recv), rtt_sum / recv if recv else None)

# fping: "ADDR : xmt/rcv/%loss = 120/114/5%, min/avg/max = 0.031/0.052/0.160" (ms).
fping = {}
fre = re.compile(r'^(\S+)\s+: xmt/rcv/%loss = (\d+)/(\d+)/\d+%(?:, min/avg/max = [\d.]+/([\d.]+)/[\d.]+)?')
for line in open(fping_f):
    m = fre.match(line.strip())
    if m:
        fping[m[1]] = (int(m[2]), int(m[3]), float(m[4]) / 1000 if m[4] else None)
missing = [a for a in agent if a not in fping]
if missing:
    sys.exit(f"fping printed no summary for {len(missing)} targets, e.g. {missing[:3]}")

def totals(d):
    s = sum(v[0] for v in d.values()); r = sum(v[1] for v in d.values())
    rtt = sum(v[2] * v[1] for v in d.values() if v[2] is not None) / r
    return s, r, rtt
as_, ar, artt = totals(agent)
fs, fr, frtt = totals(fping)
acpu = (a1 - a0) / hz        # seconds
fcpu = f1 / hz

def in99(d):
    return sum(inside(s, r) for s, r, _ in d.values())

def fmt_interval(n):
    lo, hi = interval99(n, p_inj)
    return f"{lo/n*100:.2f}-{hi/n*100:.2f}"

aloss, floss = 1 - ar / as_, 1 - fr / fs
# Both should have sent one probe per target and second; if not, one fell behind (or a report
# was missed) and the comparison is not of the same work.
for name, sent in (("agent", as_), ("fping", fs)):
    if abs(sent - n_targets * secs) > 0.01 * n_targets * secs:
        print(f"WARNING: {name} sent {sent} probes, expected about {n_targets * secs}", file=sys.stderr)
print(f"window: {wall:.1f} s wall clock ({last} agent reports of {report_s} s); "
      f"both tools' echo requests dropped by nftables: {int(drop1)-int(drop0)} of {int(req1)-int(req0)} "
      f"({(int(drop1)-int(drop0))/max(int(req1)-int(req0),1)*100:.2f}%)")
print()
print("| measure | zerofault-agent | fping | ratio (agent / fping) |")
print("| --- | --- | --- | --- |")
print(f"| probes sent in the window | {as_} | {fs} | {as_/fs:.3f} |")
print(f"| CPU over the window, utime+stime (s) | {acpu:.2f} | {fcpu:.2f} | {acpu/fcpu:.3f} |")
print(f"| CPU per probe (us) | {acpu/as_*1e6:.1f} | {fcpu/fs*1e6:.1f} | {(acpu/as_)/(fcpu/fs):.3f} |")
print(f"| CPU, % of one core | {acpu/wall*100:.2f} | {fcpu/wall*100:.2f} | {acpu/fcpu:.3f} |")
print(f"| RSS at end, VmRSS (MiB) | {float(arss)/1024:.1f} | {float(frss)/1024:.1f} | {float(arss)/float(frss):.2f} |")
print(f"| peak RSS, VmHWM (MiB) | {float(ahwm)/1024:.1f} | {float(fhwm)/1024:.1f} | {float(ahwm)/float(fhwm):.2f} |")
print()
print(f"| agreement (injected loss {loss_pct}%) | zerofault-agent (collector /metrics) | fping | agent - fping |")
print("| --- | --- | --- | --- |")
print(f"| overall loss (%) | {aloss*100:.2f} ({ar} of {as_} answered) | {floss*100:.2f} ({fr} of {fs} answered) | {(aloss-floss)*100:+.2f} pp |")
print(f"| 99% binomial interval of {loss_pct}% for that many probes (%) | {fmt_interval(as_)} | {fmt_interval(fs)} | - |")
print(f"| overall loss inside that interval | {'yes' if inside(as_, ar) else 'NO'} | {'yes' if inside(fs, fr) else 'NO'} | - |")
ain, fin = in99(agent), in99(fping)
print(f"| targets whose loss is inside their own 99% interval | {ain} of {n_targets} | {fin} of {n_targets} | {ain-fin:+d} |")
dl = sorted(abs((1 - agent[a][1]/agent[a][0]) - (1 - fping[a][1]/fping[a][0])) for a in agent)
print(f"| per-target loss, abs(agent - fping): median / max (pp) | - | - | {dl[len(dl)//2]*100:.2f} / {dl[-1]*100:.2f} |")
print(f"| mean RTT, all replies (ms) | {artt*1e3:.4f} | {frtt*1e3:.4f} | {(artt-frtt)*1e6:+.1f} us ({artt/frtt:.3f}x) |")
dr = sorted((agent[a][2] - fping[a][2]) for a in agent if agent[a][2] is not None and fping[a][2] is not None)
print(f"| per-target mean RTT, agent - fping: min / median / max (us) | - | - | "
      f"{dr[0]*1e6:+.1f} / {dr[len(dr)//2]*1e6:+.1f} / {dr[-1]*1e6:+.1f} |")

if csv_f:
    with open(csv_f, "w") as out:
        out.write("target,agent_sent,agent_received,agent_rtt_avg_ms,fping_sent,fping_received,fping_rtt_avg_ms\n")
        for a in agent:
            s, r, t = agent[a]; fs_, fr_, ft = fping[a]
            out.write(f"{a},{s},{r},{'' if t is None else f'{t*1e3:.4f}'},{fs_},{fr_},{'' if ft is None else f'{ft*1e3:.3f}'}\n")
PY
