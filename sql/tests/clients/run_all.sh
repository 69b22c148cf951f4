#!/usr/bin/env bash
# Runs every real-client test program against a running Log Insight SQL endpoint.
#   usage: run_all.sh HOST PGPORT
# Assumes scripts/install-clients.sh ran and the fixture (README.md) was ingested.
# Prints each program's `ok` / `FAIL` lines, then `N passed, M failed` over all checks;
# exits non-zero if any check (or any program as a whole) failed.
set -euo pipefail

if (($# != 2)); then
  echo "usage: $0 HOST PGPORT" >&2
  exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
export PGHOST="$1" PGPORT="$2"
export PGUSER="${PGUSER:-loginsight}" PGDATABASE="${PGDATABASE:-loginsight}"
unset PGPASSWORD PGSSLMODE PGOPTIONS || true

JDBC_JAR=/usr/share/java/postgresql.jar
PROGRAM_TIMEOUT=300
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

total_ok=0
total_fail=0
declare -a summary=()

# run NAME 'SHELL COMMAND': runs one program, echoes its output, and counts its ok/FAIL lines.
# A program that exits non-zero without a FAIL line (a crash, a build error) counts as one failure.
run() {
  local name="$1" cmd="$2"
  local out="$work/$name.out" rc=0
  printf '\n== %s\n' "$name"
  timeout --kill-after=10 "$PROGRAM_TIMEOUT" bash -c "$cmd" >"$out" 2>&1 </dev/null || rc=$?
  cat "$out"
  local ok fail
  ok=$(grep -c '^ok ' "$out" || true)
  fail=$(grep -c '^FAIL ' "$out" || true)
  if ((rc != 0 && fail == 0)); then
    echo "FAIL $name: program exited with status $rc without reporting a failed check"
    fail=1
  elif ((rc == 0 && fail > 0)); then
    echo "FAIL $name: program printed FAIL lines but exited 0"
    fail=$((fail + 1))
  fi
  if ((ok + fail == 0)); then
    echo "FAIL $name: no check ran"
    fail=1
  fi
  total_ok=$((total_ok + ok))
  total_fail=$((total_fail + fail))
  summary+=("$(printf '%-10s %3d ok, %3d failed (exit %d)' "$name" "$ok" "$fail" "$rc")")
}

export here work JDBC_JAR
run psycopg3 'python3 "$here/psycopg3_test.py"'
run psycopg2 'python3 "$here/psycopg2_test.py"'
run asyncpg 'python3 "$here/asyncpg_test.py"'
run node-pg 'node "$here/node_pg_test.mjs"'
run pgjdbc 'javac -d "$work/jdbc" -cp "$JDBC_JAR" "$here/JdbcTest.java" &&
  java -cp "$work/jdbc:$JDBC_JAR" JdbcTest'
# GOPATH mode against Debian's golang-github-lib-pq-dev: nothing is downloaded.
run lib-pq 'cd "$here" && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= \
  go build -o "$work/libpq_go_test" ./libpq_go_test && "$work/libpq_go_test"'

printf '\n== summary\n'
printf '%s\n' "${summary[@]}"
echo "$total_ok passed, $total_fail failed"
((total_fail == 0))
