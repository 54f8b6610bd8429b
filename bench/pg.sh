# Sourced by the bench scripts that run on PostgreSQL: a private PostgreSQL server as
# tests/src/postgres.rs starts one (Debian's initdb/pg_ctl, a directory under $WORK, a port
# on 127.0.0.1, run as `nobody` when the script runs as root because PostgreSQL refuses
# root; fsync and synchronous_commit at their defaults, on; statements over 250 ms, autovacuum
# runs over 1 s and checkpoints are written to its log, which the scripts keep).
# env PG_OPTS: more server settings, e.g. "-c max_wal_size=4GB" (the defaults otherwise).
#   pg_find                 sets PGBIN (env ZEROFAULT_PG_BINDIR overrides), or exits
#   pg_start PORT           initdb + start, database `zerofault` owned by user zerofault;
#                           sets PG_PORT, PG_STARTED, PSQL (an array: psql with its options)
#   pg_stop                 immediate stop (for cleanup traps; a no-op if not started)
#   pg_cpu_ticks            CPU ticks (utime+stime) of the server so far: the postmaster's
#                           own, its reaped children's and its live backends'
#   pg_url                  the connection URL for a collector's storage.postgres.url

pg_find() {
  PGBIN=${ZEROFAULT_PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)}
  [ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/pg_ctl" ] ||
    { echo "$0: no initdb/pg_ctl (apt-get install postgresql, or set ZEROFAULT_PG_BINDIR)" >&2; exit 1; }
  command -v psql >/dev/null || { echo "$0: needs psql (apt-get install postgresql-client)" >&2; exit 1; }
  if [ "$(id -u)" = 0 ]; then
    command -v setpriv >/dev/null || { echo "$0: needs setpriv (util-linux) to run PostgreSQL as nobody" >&2; exit 1; }
    AS_PG=(setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups --)
  else
    AS_PG=()
  fi
  PG_STARTED=
}

pg_start() {
  PG_PORT=$1
  mkdir "$WORK/pg"
  chmod 711 "$WORK"
  if [ "$(id -u)" = 0 ]; then chown nobody: "$WORK/pg"; fi
  "${AS_PG[@]}" "$PGBIN/initdb" -D "$WORK/pg/data" -U zerofault --auth=trust -E UTF8 --locale=C \
    >"$WORK/pg/initdb.log" 2>&1 || { cat "$WORK/pg/initdb.log" >&2; exit 1; }
  # Set before the start: a start that times out may still leave a server running, which
  # pg_stop must then stop.
  PG_STARTED=1
  "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/server.log" -w -t 60 \
    -o "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c shared_buffers=128MB -c max_connections=50 -c log_min_duration_statement=250 -c log_autovacuum_min_duration=1000 ${PG_OPTS:-}" \
    start >/dev/null || { cat "$WORK/pg/server.log" >&2; exit 1; }
  PSQL=(psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U zerofault)
  "${PSQL[@]}" -d postgres -c "CREATE DATABASE zerofault"
  echo "== PostgreSQL $("${PSQL[@]}" -d zerofault -c 'SHOW server_version') on 127.0.0.1:$PG_PORT (fsync $("${PSQL[@]}" -d zerofault -c 'SHOW fsync'), synchronous_commit $("${PSQL[@]}" -d zerofault -c 'SHOW synchronous_commit'))"
}

pg_stop() {
  if [ -n "${PG_STARTED:-}" ]; then
    "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m immediate stop >/dev/null 2>&1 || true
    PG_STARTED=
  fi
}

pg_cpu_ticks() {
  local master
  master=$(head -1 "$WORK/pg/data/postmaster.pid")
  # One read of every process's stat (a backend's command name has no space, so its parent
  # is field 4); processes that end meanwhile are skipped by cat.
  { awk '{print $14 + $15 + $16 + $17}' "/proc/$master/stat"
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v p="$master" '$4 == p {print $14 + $15}'
  } | awk '{s += $1} END {printf "%d", s}'
}

pg_url() { echo "postgresql://zerofault@127.0.0.1:$PG_PORT/zerofault"; }
