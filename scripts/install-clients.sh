#!/usr/bin/env bash
# Installs what the real-client SQL tests (sql/tests/clients/) need on a Debian 12 machine,
# as root: psql, pgjdbc, Go + lib/pq (Debian packages, so no Go module download), the Python
# drivers (psycopg 3, psycopg2, asyncpg), the OpenTelemetry SDK, and node-postgres (into sql/tests/clients/node_modules).
# Idempotent: whatever is already there is skipped, so a second run takes a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS_DIR="$PWD/sql/tests/clients"

log() { printf '[install-clients] %s\n' "$*"; }

# --- apt ---------------------------------------------------------------------------------
need_apt=()
command -v psql >/dev/null || need_apt+=(postgresql-client)
[[ -f /usr/share/java/postgresql.jar ]] || need_apt+=(libpostgresql-jdbc-java)
command -v go >/dev/null || need_apt+=(golang-go)
[[ -d /usr/share/gocode/src/github.com/lib/pq ]] || need_apt+=(golang-github-lib-pq-dev)
command -v javac >/dev/null || need_apt+=(default-jdk-headless)
command -v node >/dev/null || need_apt+=(nodejs)
command -v tmux >/dev/null || need_apt+=(tmux)
command -v logger >/dev/null || need_apt+=(bsdutils)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v npm >/dev/null || need_apt+=(npm)
command -v python3 >/dev/null || need_apt+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
if ((${#need_apt[@]})); then
  log "apt: ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
else
  log "apt: nothing to install"
fi

# --- pip ---------------------------------------------------------------------------------
need_pip=()
python3 -c 'import psycopg, psycopg_binary' 2>/dev/null || need_pip+=('psycopg[binary]')
python3 -c 'import psycopg2' 2>/dev/null || need_pip+=(psycopg2-binary)
python3 -c 'import asyncpg' 2>/dev/null || need_pip+=(asyncpg)
# PyYAML: the docker-compose.yml validation test reads the file with it.
python3 -c 'import yaml' 2>/dev/null || need_pip+=(PyYAML)
# The OpenTelemetry Python SDK and its OTLP exporters (gRPC and HTTP), for the OTLP source tests.
python3 -c 'import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.grpc, opentelemetry.exporter.otlp.proto.http' 2>/dev/null ||
  need_pip+=(opentelemetry-sdk opentelemetry-exporter-otlp-proto-grpc opentelemetry-exporter-otlp-proto-http)
if ((${#need_pip[@]})); then
  log "pip: ${need_pip[*]}"
  pip_flags=(--quiet --disable-pip-version-check --no-input)
  # Debian's own python3 refuses system-wide pip installs (PEP 668) unless told otherwise.
  if python3 -c 'import sys, sysconfig, os; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) else 1)'; then
    pip_flags+=(--break-system-packages)
  fi
  python3 -m pip install "${pip_flags[@]}" "${need_pip[@]}"
else
  log "pip: nothing to install"
fi

# --- npm (node-postgres, local to the clients folder) ------------------------------------
# npm records what it installed in node_modules/.package-lock.json; reinstall when that is
# missing or older than package.json / package-lock.json.
installed="$CLIENTS_DIR/node_modules/.package-lock.json"
if [[ -f "$CLIENTS_DIR/node_modules/pg/package.json" && -f "$installed" &&
  ! "$CLIENTS_DIR/package.json" -nt "$installed" && ! "$CLIENTS_DIR/package-lock.json" -nt "$installed" ]]; then
  log "npm: nothing to install"
else
  log "npm: pg into $CLIENTS_DIR/node_modules"
  if [[ -f "$CLIENTS_DIR/package-lock.json" ]]; then
    (cd "$CLIENTS_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  else
    (cd "$CLIENTS_DIR" && npm install --no-audit --no-fund --loglevel=error)
  fi
fi

log "versions: $(psql --version | head -1); go $(go env GOVERSION); node $(node --version);" \
  "$(python3 -c 'import psycopg, psycopg2, asyncpg; print("psycopg", psycopg.__version__, "psycopg2", psycopg2.__version__.split()[0], "asyncpg", asyncpg.__version__)');" \
  "pg $(node -p "require('$CLIENTS_DIR/node_modules/pg/package.json').version")"
