#!/usr/bin/env bash
# Time to first query: a fresh clone, an empty target directory, the README's run command
# (`cargo run --release -- serve`), until psql gets an answer. Prints the seconds, and keeps
# cargo's per-crate build timings (cargo-timings/) in the work directory.
#   bench/first_query.sh [WORK_DIR]     (default /tmp/loginsight-first-query; emptied first)
# The crate registry is left as it is (downloads are a matter of the network, not the build).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-/tmp/loginsight-first-query}"
rm -rf "$work" && mkdir -p "$work"
git clone -q "$repo" "$work/clone"
cd "$work/clone"
export CARGO_TARGET_DIR="$work/target" CARGO_TERM_COLOR=never
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
start=$(date +%s)
# --timings: the build writes cargo-timings/cargo-timing.html; serve's own flags pick free ports.
cargo run --release --timings -- serve --data-dir "$work/data" --pg-addr "127.0.0.1:$pg_port" \
  --http-addr 127.0.0.1:0 --grpc-addr 127.0.0.1:0 >"$work/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
until psql -h 127.0.0.1 -p "$pg_port" -U loginsight -d loginsight -Atc 'SELECT 1' >/dev/null 2>&1; do
  if ! kill -0 $pid 2>/dev/null; then
    echo "serve exited before answering; see $work/serve.log" >&2
    exit 1
  fi
  sleep 2
done
end=$(date +%s)
echo "time to first query: $((end - start)) s ($(( (end - start) / 60 )) min $(( (end - start) % 60 )) s)"
grep -E "Finished|Compiling libduckdb-sys" "$work/serve.log" | tail -2 || true
