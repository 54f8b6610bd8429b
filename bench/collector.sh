# Sourced by the bench scripts: a collector on loopback serving a SQLite store in a work
# directory, with test certificates, started in the background.
#
#   zf_collector_start BIN WORK [EXTRA_YAML]
#
# Writes WORK/collector.yaml (ports chosen by the kernel, WORK/zerofault.db, EXTRA_YAML
# appended as top-level keys), starts `BIN serve` with its log in WORK/collector.log and
# waits (at most 60 s) until /healthz answers. Sets ZF_PID (the collector's pid, set before
# the wait so that the caller's exit trap can stop it) and ZF_HTTP (host:port of its HTTP
# listener); returns 1, with the log on stderr, if it did not come up.
zf_collector_start() {
  local bin=$1 work=$2 extra=${3:-}
  "$bin" certs --dir "$work/pki" --collector-name 127.0.0.1 --agent bench-0 >/dev/null
  cat >"$work/collector.yaml" <<YAML
listen:
  ingest: 127.0.0.1:0
  http: 127.0.0.1:0
tls:
  ca: $work/pki/ca.pem
  cert: $work/pki/collector.pem
  key: $work/pki/collector.key
storage:
  sqlite:
    path: $work/zerofault.db
$extra
YAML
  "$bin" serve --config "$work/collector.yaml" 2>"$work/collector.log" &
  ZF_PID=$!
  ZF_HTTP=
  local _
  for _ in $(seq 600); do
    ZF_HTTP=$(sed -n 's/.*http listening on \([0-9.:]*\).*/\1/p' "$work/collector.log" | head -1)
    [ -n "$ZF_HTTP" ] && curl -sf "http://$ZF_HTTP/healthz" >/dev/null && return 0
    ZF_HTTP=
    sleep 0.1
  done
  echo "collector did not start" >&2
  cat "$work/collector.log" >&2
  return 1
}
