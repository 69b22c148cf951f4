#!/usr/bin/env bash
# Starts the services the bus tests use and exports where they are:
#   LOGINSIGHT_TEST_KAFKA   tansu (Kafka protocol, in-memory storage) on a loopback port
#   LOGINSIGHT_TEST_PG_URL  PostgreSQL 15 (initdb in a temp dir, trust auth, loopback only)
# Source it, then call `services_start`; `services_stop` (also run on EXIT) stops both by PID.
# Tests that must stop a broker themselves start private ones.

services_dir=""
tansu_pid=""

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_port() {
  for _ in $(seq 1 150); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  echo "nothing listens on 127.0.0.1:$1 ($2)" >&2
  return 1
}

# PostgreSQL refuses to run as root; CI runs as root, so the server runs as `postgres`.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

services_start() {
  services_dir=$(mktemp -d /tmp/loginsight-ci.XXXXXX)
  # mktemp makes it 0700; the postgres user must be able to reach its data directory inside.
  chmod 755 "$services_dir"
  local kport pport
  kport=$(free_port)
  tansu broker --storage-engine memory://tansu/ \
    --listener-url "tcp://127.0.0.1:$kport" --advertised-listener-url "tcp://127.0.0.1:$kport" \
    >"$services_dir/tansu.log" 2>&1 &
  tansu_pid=$!
  wait_port "$kport" tansu
  export LOGINSIGHT_TEST_KAFKA="127.0.0.1:$kport"

  pport=$(free_port)
  mkdir -p "$services_dir/pg"
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$services_dir/pg"
  as_pg initdb -D "$services_dir/pg/data" -U postgres -A trust --no-sync >/dev/null
  as_pg pg_ctl -D "$services_dir/pg/data" -w -l "$services_dir/pg/log" \
    -o "-p $pport -k $services_dir/pg -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  export LOGINSIGHT_TEST_PG_URL="postgres://postgres@127.0.0.1:$pport/postgres"
  echo "tansu pid $tansu_pid on $LOGINSIGHT_TEST_KAFKA; postgres on 127.0.0.1:$pport"
}

services_stop() {
  if [ -n "$tansu_pid" ]; then
    kill "$tansu_pid" 2>/dev/null || true
    wait "$tansu_pid" 2>/dev/null || true
    tansu_pid=""
  fi
  if [ -n "$services_dir" ] && [ -f "$services_dir/pg/data/postmaster.pid" ]; then
    as_pg pg_ctl -D "$services_dir/pg/data" -m fast -w stop >/dev/null || true
  fi
  [ -n "$services_dir" ] && rm -rf "$services_dir"
  services_dir=""
}
