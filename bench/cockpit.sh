#!/usr/bin/env bash
# The cockpit at province size (issue 14), release build, a real collector on loopback.
#
#   bench/cockpit.sh [HOSTS=10000] [LINKS=2000] [REQUESTS=20]
#
# 1. A province made by collector/examples/zf-cockpit-bench.rs (`world`): HOSTS hosts, LINKS
#    links in two domains (11 cities, 90 counties, townships), two city-county links down
#    with the hosts behind them, 1 % of hosts down, 0.3 % silent, one department in
#    maintenance; served by `zerofault-collector serve`, which warms its host table and
#    link engine from the store. The month to date is computed once at start-up.
# 2. REQUESTS requests with curl per page: server time (curl's time to the first byte,
#    which the collector sends when the page is built), time to the last byte, bytes.
# 3. Bytes of a first view: the overview's HTML plus its style sheet and script, as a
#    browser fetches them (no compression is offered by the collector for pages).
# 4. Screenshots of the overview at 1920x1080 in both languages with Debian's chromium
#    (headless), into OUT (default: the run's directory, removed at the end). Whether the
#    page fits the screen is read by bench/cockpit-kiosk.sh (the document's scroll size).
#
# Prints the figures; writes nothing else outside a temporary directory under /var/tmp
# (removed on exit) and OUT.
set -euo pipefail
HOSTS=${1:-10000}
LINKS=${2:-2000}
REQUESTS=${3:-20}
OUT=${OUT:-}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/zerofault-target}
cd "$(dirname "$0")/.."
for tool in curl python3 chromium; do
  command -v "$tool" >/dev/null || { echo "$0: needs $tool" >&2; exit 1; }
done
cargo build -q --release --locked -p zerofault-collector --bin zerofault-collector --example zf-cockpit-bench
BIN=$CARGO_TARGET_DIR/release/zerofault-collector
BENCH=$CARGO_TARGET_DIR/release/examples/zf-cockpit-bench

WORK=$(mktemp -d /var/tmp/zf-cockpit-bench.XXXXXX)
ZF_PID=
cleanup() {
  if [ -n "$ZF_PID" ]; then kill "$ZF_PID" 2>/dev/null || true; wait "$ZF_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
mib() { awk -v f="$2:" '$1 == f { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

checkout="$(git rev-parse --short HEAD 2>/dev/null || echo 'not a git checkout')"
git diff --quiet HEAD -- collector 2>/dev/null || checkout="$checkout (collector differs from it)"
echo "== machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr); $(uptime | sed 's/^ *//'); checkout $checkout; $(chromium --version 2>/dev/null | head -1)"

echo "== 1. world and collector"
"$BENCH" world "$WORK" "$HOSTS" "$LINKS"
# shellcheck source=bench/collector.sh
. bench/collector.sh
zf_collector_start "$BIN" "$WORK" "inventory: $WORK/inventory.yaml"
HTTP=$ZF_HTTP
# The month to date: its first computation runs at start-up.
for _ in $(seq 600); do
  grep -q 'computed the month to date' "$WORK/collector.log" && break
  sleep 0.5
done
grep -o 'host table warmed hosts=[0-9]*\|link engine rebuilt from stored reports reports=[0-9]*\|computed the month to date.*took_ms=[0-9]*' "$WORK/collector.log" || true
echo "collector RSS $(mib "$ZF_PID" VmRSS) MiB"

echo "== 2. server time per page, $REQUESTS requests each (ms: first byte median / max; last byte median; bytes)"
printf '%-34s %10s %10s %10s %10s\n' page "ttfb med" "ttfb max" "total med" bytes
for page in "/" "/?lang=en" "/?kiosk=1" "/host/host-00042" "/host/host-00042?range=30d" \
  "/link/adm-ck003" "/link/pub-kt0100?range=7d" "/department/dept-03" "/datacenter/dc-07" "/month" "/maintenance"; do
  : >"$WORK/times"
  for _ in $(seq "$REQUESTS"); do
    curl -sf -o "$WORK/body" -w '%{time_starttransfer} %{time_total} %{size_download}\n' "http://$HTTP$page" >>"$WORK/times"
  done
  python3 - "$page" "$WORK/times" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[2]) if l.strip()]
ttfb = sorted(r[0] * 1000 for r in rows)
total = sorted(r[1] * 1000 for r in rows)
print(f"{sys.argv[1]:<34} {statistics.median(ttfb):10.1f} {ttfb[-1]:10.1f} {statistics.median(total):10.1f} {int(rows[-1][2]):10d}")
PY
done

echo "== 3. a first view of the overview: bytes"
html=$(curl -sf -o /dev/null -w '%{size_download}' "http://$HTTP/")
css=$(curl -sf -o /dev/null -w '%{size_download}' "http://$HTTP/assets/cockpit.css")
js=$(curl -sf -o /dev/null -w '%{size_download}' "http://$HTTP/assets/cockpit.js")
echo "html $html + css $css + js $js = $((html + css + js)) bytes (target under 500,000)"

echo "== 4. screenshots at 1920x1080"
shots=${OUT:-$WORK}
mkdir -p "$shots"
for lang in zh-CN en; do
  chromium --headless=new --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$WORK/chromium-$lang" --window-size=1920,1080 --hide-scrollbars \
    --screenshot="$shots/cockpit-overview-$lang.png" "http://$HTTP/?lang=$lang" >/dev/null 2>&1
  echo "$shots/cockpit-overview-$lang.png"
done
echo "collector RSS $(mib "$ZF_PID" VmRSS) MiB, peak $(mib "$ZF_PID" VmHWM) MiB"
