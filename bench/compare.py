#!/usr/bin/env python3
"""Ingest benchmark: the same generated log lines into PostgreSQL 15 (`COPY`), DuckDB's own
`read_json` and Log Insight (NDJSON over HTTP, every stage on), side by side in one run.

    python3 bench/compare.py --loginsight ~/.cache/loginsight-release/release/loginsight

1. The lines: `genlogs.py --lines N --seed 5 --no-truth-fields` (../shared/genlogs.py), written
   once into the work directory and reused.
2. PostgreSQL 15: a throwaway cluster (`initdb`, `pg_ctl`, fsync on, as shipped), a `logs`
   table with the same columns, the lines pre-converted to CSV (not timed), then a timed
   `COPY logs FROM STDIN` through psycopg. Disk: `pg_total_relation_size`.
3. DuckDB native: `CREATE TABLE logs AS SELECT … FROM read_json(…)` into a new file with the
   same columns, then `CHECKPOINT`, timed together. Disk: the file.
4. Log Insight: `loginsight serve` with its default configuration (mining, routing, the
   analysis queue and the embedded worker all on), `loginsight bench ingest` of the file
   (its output, with request latency and the server's per-stage cost, is printed as is).
   Disk: the data directory after a clean shutdown.

Prints lines/s, MB/s and disk/raw for each, and the ratios of Log Insight to the others.
Nothing here asserts a speed. Needs `duckdb` and `psycopg` from PyPI and PostgreSQL's binaries
on PATH or under /usr/lib/postgresql/15/bin.
"""

import argparse
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import psycopg

from server import genlogs, start_server

COLUMNS = ["timestamp", "level", "service", "host", "message", "trace_id"]


def dir_size(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def pg_bin(name):
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not candidates:
        sys.exit(f"cannot find PostgreSQL's {name}")
    return str(candidates[-1])


def as_postgres(args):
    """PostgreSQL refuses to run as root: run its tools as `postgres` then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + args
    return args


def postgres_copy(ndjson, work):
    csv_path = work / "logs.csv"
    if not csv_path.exists():
        with open(ndjson) as src, open(csv_path, "w", newline="") as dst:
            out = csv.writer(dst)
            for line in src:
                obj = json.loads(line)
                out.writerow([obj.get(c) for c in COLUMNS])
    cluster = work / "pg"
    shutil.rmtree(cluster, ignore_errors=True)
    cluster.mkdir()
    if os.geteuid() == 0:
        shutil.chown(cluster, "postgres", "postgres")
        os.chmod(work, 0o755)
    subprocess.run(as_postgres([pg_bin("initdb"), "-D", str(cluster), "-U", "postgres", "-A", "trust"]),
                   check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    subprocess.run(as_postgres([pg_bin("pg_ctl"), "-D", str(cluster), "-w", "-l", str(cluster / "log"),
                                "-o", f"-p {port} -k /tmp -c listen_addresses=127.0.0.1", "start"]),
                   check=True, stdout=subprocess.DEVNULL)
    try:
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute("CREATE TABLE logs (ts timestamptz, level text, service text, host text, "
                         "message text, trace_id text)")
            began = time.perf_counter()
            with conn.cursor() as cur:
                with cur.copy("COPY logs FROM STDIN (FORMAT csv)") as copy:
                    with open(csv_path, "rb") as f:
                        while chunk := f.read(1 << 20):
                            copy.write(chunk)
            elapsed = time.perf_counter() - began
            disk = conn.execute("SELECT pg_total_relation_size('logs')").fetchone()[0]
            rows = conn.execute("SELECT count(*) FROM logs").fetchone()[0]
    finally:
        subprocess.run(as_postgres([pg_bin("pg_ctl"), "-D", str(cluster), "-w", "-m", "fast", "stop"]),
                       stdout=subprocess.DEVNULL)
    return rows, elapsed, disk


def duckdb_read_json(ndjson, work):
    path = work / "native.duckdb"
    for p in (path, Path(str(path) + ".wal")):
        p.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    con.execute("SET enable_progress_bar = false")
    began = time.perf_counter()
    con.execute(
        "CREATE TABLE logs AS SELECT CAST(\"timestamp\" AS TIMESTAMP) AS ts, level, service, host, "
        "message, trace_id FROM read_json(?, format = 'newline_delimited', columns = {"
        "'timestamp': 'VARCHAR', 'level': 'VARCHAR', 'service': 'VARCHAR', 'host': 'VARCHAR', "
        "'message': 'VARCHAR', 'trace_id': 'VARCHAR'})", [str(ndjson)])
    con.execute("CHECKPOINT")
    elapsed = time.perf_counter() - began
    rows = con.execute("SELECT count(*) FROM logs").fetchone()[0]
    con.close()
    return rows, elapsed, path.stat().st_size


def loginsight(binary, ndjson, work, batch_lines, concurrency):
    data_dir = work / "li-data"
    shutil.rmtree(data_dir, ignore_errors=True)
    proc, http, _ = start_server(binary, data_dir)
    try:
        out = subprocess.run([binary, "bench", "ingest", "--file", str(ndjson), "--url", f"http://{http}",
                              "--batch-lines", str(batch_lines), "--concurrency", str(concurrency)],
                             check=True, capture_output=True, text=True).stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=300)
    print(out, end="")
    accepted = int(re.search(r"(\d+) accepted", out).group(1))
    elapsed = float(re.search(r"elapsed:\s+([\d.]+) s", out).group(1))
    return accepted, elapsed, dir_size(data_dir)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--loginsight", required=True, help="the loginsight binary (a release build)")
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--batch-lines", type=int, default=10_000)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "li-compare"))
    p.add_argument("--only", default="postgres,duckdb,loginsight",
                   help="comma-separated subset of the systems")
    a = p.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    ndjson = genlogs(work, a.lines, a.seed)
    raw = ndjson.stat().st_size
    only = set(a.only.split(","))

    results = {}
    if "postgres" in only:
        print("PostgreSQL 15 COPY …", flush=True)
        results["PostgreSQL 15 COPY (CSV)"] = postgres_copy(ndjson, work)
    if "duckdb" in only:
        print("DuckDB read_json …", flush=True)
        results[f"DuckDB {duckdb.__version__} read_json"] = duckdb_read_json(ndjson, work)
    if "loginsight" in only:
        print("Log Insight over HTTP …", flush=True)
        results["Log Insight (HTTP NDJSON, every stage on)"] = loginsight(
            a.loginsight, ndjson, work, a.batch_lines, a.concurrency)

    print()
    print(f"{a.lines:,} lines, {raw / 1e6:.1f} MB of NDJSON; Log Insight: {a.batch_lines}-line requests, "
          f"{a.concurrency} in flight")
    print("| system | rows | seconds | lines/s | MB/s | disk / raw |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (rows, elapsed, disk) in results.items():
        print(f"| {name} | {rows:,} | {elapsed:.2f} | {rows / elapsed:,.0f} | {raw / 1e6 / elapsed:.1f} | "
              f"{disk / raw:.2f} |")
    ours = [r for n, r in results.items() if n.startswith("Log Insight")]
    if ours:
        li_rate = ours[0][0] / ours[0][1]
        for name, (rows, elapsed, _) in results.items():
            if not name.startswith("Log Insight"):
                print(f"Log Insight / {name}: {li_rate / (rows / elapsed):.2f}×")


if __name__ == "__main__":
    main()
