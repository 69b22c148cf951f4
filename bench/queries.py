#!/usr/bin/env python3
"""Query benchmark: the same logs in Log Insight (over the Postgres wire), DuckDB native and
PostgreSQL 15, the same queries, side by side in one run.

    python3 bench/queries.py --loginsight target/release/loginsight --scales 1,10

For each scale k it generates (once) 1,000,000 genlogs lines over two hours and writes them k
times, each copy shifted two hours later, so k=10 is 10,000,000 rows over 20 hours. Then:

1. Log Insight: `loginsight serve` on loopback ports, `loginsight bench ingest` of the file, the
   queries through psycopg (one connection, simple protocol as Grafana's driver uses it).
2. DuckDB native: the server is stopped and the very DuckDB file it wrote is opened read-only
   from Python's duckdb, so both answer from the same storage; `stats` is read through the
   same summing view the server uses.
3. PostgreSQL 15: a throwaway cluster (`initdb`, `pg_ctl`), the rows exported from that
   DuckDB file and loaded with COPY, indexes on ts and (service, ts), ANALYZE.

Every query runs once to warm up, then five times; the table shows the medians in ms and the
ratio of Log Insight to DuckDB native. Nothing here asserts a speed. Needs `duckdb` and
`psycopg` from PyPI (`pip install duckdb psycopg[binary]`) and PostgreSQL's binaries on PATH
or under /usr/lib/postgresql/15/bin.
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import psycopg

from server import start_server

HERE = Path(__file__).resolve().parent
GENLOGS = HERE.parent.parent / "shared" / "genlogs.py"
START = datetime(2026, 11, 1, tzinfo=timezone.utc)
SPAN = timedelta(hours=2)
BASE_LINES = 1_000_000
RUNS = 5

# The stored `stats` holds partial rows per commit; readers see them summed (as the server's
# STATS_CTE does).
# The view lives in the temp catalog, whose `main.stats` would be itself: the stored table is
# named with the file's catalog.
STATS_VIEW = (
    "CREATE TEMP VIEW stats AS SELECT minute, service, level, CAST(sum(count) AS BIGINT) AS count, "
    "CAST(sum(bytes) AS BIGINT) AS bytes FROM {catalog}.main.stats GROUP BY minute, service, level"
)


def sum_stats(con):
    catalog = con.execute("SELECT current_database()").fetchone()[0]
    con.execute(STATS_VIEW.format(catalog=catalog))


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def queries(scale):
    """The issue's six queries, the overview dashboard's panels after Grafana's macro
    expansion (time range: the newest two hours; $__interval: 1 minute; $service: all) and
    the TUI's views."""
    end = START + SPAN * scale
    frm, to = iso(end - SPAN), iso(end)
    tf = lambda col: f"{col} BETWEEN '{frm}' AND '{to}'"
    services = "SELECT DISTINCT service FROM stats"
    ten = iso(end - timedelta(minutes=30)), iso(end - timedelta(minutes=20))
    return [
        ("count", "SELECT count(*) FROM logs"),
        (
            "grafana series by level, 2 h",
            "SELECT floor(extract(epoch from ts)/60)*60 AS \"time\", level, count(*) AS n FROM logs "
            f"WHERE {tf('ts')} GROUP BY 1, 2 ORDER BY 1, 2",
        ),
        (
            "errors by service",
            "SELECT service, count(*) AS n FROM logs WHERE level IN ('ERROR', 'FATAL') "
            "GROUP BY service ORDER BY n DESC, service",
        ),
        ("ILIKE count", "SELECT count(*) FROM logs WHERE message ILIKE '%pool exhausted%'"),
        ("last 100", "SELECT * FROM logs ORDER BY ts DESC LIMIT 100"),
        (
            "one service, 10 min",
            f"SELECT count(*) FROM logs WHERE service = 'payments' AND ts >= '{ten[0]}' AND ts < '{ten[1]}'",
        ),
        (
            "panel: log volume by level",
            "SELECT floor(extract(epoch from minute)/60)*60 AS \"time\", level AS metric, sum(count) AS value "
            f"FROM stats WHERE {tf('minute')} AND service IN ({services}) GROUP BY 1, 2 ORDER BY 1",
        ),
        (
            "panel: error rate per service",
            "SELECT floor(extract(epoch from minute)/60)*60 AS \"time\", service AS metric, "
            "1.0 * sum(CASE WHEN level IN ('ERROR', 'FATAL') THEN count ELSE 0 END) / sum(count) AS error_rate "
            f"FROM stats WHERE {tf('minute')} AND service IN ({services}) GROUP BY 1, 2 ORDER BY 1",
        ),
        (
            "panel: top patterns",
            "SELECT template, service, level, count, first_seen, last_seen, pattern_id FROM patterns "
            f"WHERE last_seen >= '{frm}' AND service IN ({services}) ORDER BY count DESC LIMIT 20",
        ),
        (
            "panel: new patterns",
            "SELECT first_seen, template, service, level, count, example, pattern_id FROM patterns "
            f"WHERE {tf('first_seen')} AND service IN ({services}) ORDER BY first_seen DESC LIMIT 20",
        ),
        (
            "panel: logs",
            "SELECT ts AS \"time\", message, level, service, host, trace_id, pattern_id FROM logs "
            f"WHERE {tf('ts')} AND service IN ({services}) AND message ILIKE '%%' ORDER BY ts DESC LIMIT 500",
        ),
        # The TUI's three views as crates/tui/src/db.rs sends them unfiltered, `now()` being
        # the data's end (the data lies in the past).
        (
            "tui: logs",
            "SELECT CAST(ts AS TEXT) AS ts_text, level, service, host, message FROM logs "
            "ORDER BY ts DESC LIMIT 300",
        ),
        (
            "tui: patterns, 1 h",
            "SELECT pattern_id, service, level, template, count, CAST(first_seen AS TEXT) AS first_seen_text, "
            "CAST(last_seen AS TEXT) AS last_seen_text, example, "
            f"first_seen >= TIMESTAMPTZ '{to}' - INTERVAL '1 hour' AS is_new FROM patterns "
            f"WHERE last_seen >= TIMESTAMPTZ '{to}' - INTERVAL '1 hour' ORDER BY count DESC LIMIT 300",
        ),
        (
            "tui: error rates, 1 h",
            "SELECT service, CAST(minute AS TEXT) AS minute_text, "
            "sum(CASE WHEN level IN ('ERROR', 'FATAL') THEN count ELSE 0 END) AS errors, sum(count) AS total "
            f"FROM stats WHERE minute >= TIMESTAMPTZ '{to}' - INTERVAL '1 hour' GROUP BY service, minute "
            "ORDER BY service",
        ),
    ]


def time_ms(run):
    run()
    samples = []
    for _ in range(RUNS):
        t = time.perf_counter()
        run()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def make_data(work, scale):
    base = work / f"base-{BASE_LINES}.ndjson"
    if not base.exists():
        subprocess.run(
            [sys.executable, str(GENLOGS), "--lines", str(BASE_LINES), "--seed", "5", "--no-truth-fields",
             "--start", iso(START), "--minutes", str(SPAN.total_seconds() / 60), "--out", str(base)],
            check=True,
        )
    out = work / f"logs-{BASE_LINES}-x{scale}.ndjson"
    if not out.exists():
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        parts = " UNION ALL ".join(
            f"SELECT strftime(CAST(timestamp AS TIMESTAMP) + INTERVAL {2 * i} HOUR, '%Y-%m-%dT%H:%M:%S.%gZ') "
            f"AS timestamp, level, service, host, message, trace_id FROM b"
            for i in range(scale)
        )
        con.execute(f"CREATE TEMP TABLE b AS SELECT * FROM read_json('{base}')")
        con.execute(f"COPY ({parts}) TO '{out}' (FORMAT json)")
        con.close()
    return out



def run_loginsight(binary, data, rows, work, qs):
    data_dir = work / "li-data"
    shutil.rmtree(data_dir, ignore_errors=True)
    # Nothing is routed to analysis: the builtin analyst working off the ingest's error lines
    # (760,000 events at 10M rows) would hold one of the two cores for the whole run, and
    # this benchmark compares query engines.
    config = work / "no-analysis.toml"
    config.write_text('[routing]\nmin_level = "FATAL"\nkeywords = []\nexclude = ["^"]\n')
    proc, http, pg = start_server(binary, data_dir, config)
    try:
        t = time.perf_counter()
        subprocess.run(
            [binary, "bench", "ingest", "--file", str(data), "--url", f"http://{http}",
             "--batch-lines", "10000", "--concurrency", "4"],
            check=True,
        )
        host, port = pg.rsplit(":", 1)
        with psycopg.connect(host=host, port=port, user="loginsight", dbname="loginsight",
                             autocommit=True, prepare_threshold=None) as conn:
            while conn.execute("SELECT count(*) FROM logs").fetchone()[0] < rows:
                time.sleep(0.5)
            print(f"  ingested {rows:,} rows in {time.perf_counter() - t:.1f} s", file=sys.stderr)
            conn.execute("SELECT count(*) FROM patterns").fetchone()
            results = {name: time_ms(lambda: conn.execute(sql).fetchall()) for name, sql in qs}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=300)
    return results, data_dir / "loginsight.duckdb"


def run_duckdb(db_file, qs):
    con = duckdb.connect(str(db_file), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    sum_stats(con)
    results = {name: time_ms(lambda: con.execute(sql).fetchall()) for name, sql in qs}
    con.close()
    return results


def pg_bin(name):
    found = shutil.which(name)
    return found or f"/usr/lib/postgresql/15/bin/{name}"


def as_pg(args):
    """PostgreSQL refuses to run as root; as root, run it as the `postgres` user."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def run_postgres(db_file, work, qs):
    home = work / "pg"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    os.chmod(work, 0o755)
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
    cluster = home / "data"
    subprocess.run(as_pg([pg_bin("initdb"), "-D", str(cluster), "-U", "postgres", "--auth=trust"]),
                   check=True, stdout=subprocess.DEVNULL)
    port = "54329"
    subprocess.run(as_pg([pg_bin("pg_ctl"), "-D", str(cluster), "-w", "-l", str(home / "log"), "-o",
                          f"-p {port} -k {home} -c listen_addresses=''", "start"]), check=True,
                   stdout=subprocess.DEVNULL)
    try:
        src = duckdb.connect(str(db_file), read_only=True)
        sum_stats(src)
        for table in ("logs", "stats", "patterns"):
            cols = "ts, level, service, host, message, trace_id, pattern_id" if table == "logs" else "*"
            src.execute(f"COPY (SELECT {cols} FROM {table}) TO '{work / (table + '.csv')}' (HEADER false)")
        src.close()
        with psycopg.connect(host=str(home), port=port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute("SET TimeZone = 'UTC'")
            conn.execute("CREATE TABLE logs (ts timestamptz NOT NULL, level text NOT NULL, service text NOT NULL, "
                         "host text, message text NOT NULL, trace_id text, pattern_id text)")
            conn.execute("CREATE TABLE stats (minute timestamptz, service text, level text, count bigint, bytes bigint)")
            conn.execute("CREATE TABLE patterns (pattern_id text, service text, level text, template text, "
                         "count bigint, first_seen timestamptz, last_seen timestamptz, example text)")
            for table in ("logs", "stats", "patterns"):
                with conn.cursor().copy(f"COPY {table} FROM STDIN (FORMAT csv)") as copy:
                    with open(work / (table + ".csv"), "rb") as f:
                        while chunk := f.read(1 << 20):
                            copy.write(chunk)
            conn.execute("CREATE INDEX ON logs (ts)")
            conn.execute("CREATE INDEX ON logs (service, ts)")
            conn.execute("ANALYZE")
            results = {name: time_ms(lambda: conn.execute(sql).fetchall()) for name, sql in qs}
    finally:
        subprocess.run(as_pg([pg_bin("pg_ctl"), "-D", str(cluster), "-m", "fast", "stop"]), check=True,
                       stdout=subprocess.DEVNULL)
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--loginsight", required=True, help="the loginsight binary (a release build)")
    p.add_argument("--scales", default="1,10", help="copies of the 1M-line base, comma-separated")
    p.add_argument("--work", default=None, help="work directory (default: a temporary one)")
    p.add_argument("--skip-postgres", action="store_true")
    p.add_argument("--base-lines", type=int, default=BASE_LINES, help="lines of the base copy (a smoke run: 10000)")
    a = p.parse_args()
    globals()["BASE_LINES"] = a.base_lines
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="li-qbench-"))
    work.mkdir(parents=True, exist_ok=True)
    for scale in (int(s) for s in a.scales.split(",")):
        rows = BASE_LINES * scale
        print(f"== {rows:,} rows", file=sys.stderr)
        data = make_data(work, scale)
        qs = queries(scale)
        ours, db_file = run_loginsight(a.loginsight, data, rows, work, qs)
        native = run_duckdb(db_file, qs)
        pg = {} if a.skip_postgres else run_postgres(db_file, work, qs)
        print(f"\n{rows:,} rows, median of {RUNS} runs, ms (DuckDB native: the duckdb {duckdb.__version__} "
              "Python package)\n")
        print(f"| query | Log Insight | DuckDB native | PostgreSQL 15 | LI / DuckDB | goal 1.3×DuckDB+3 |")
        print("|---|---:|---:|---:|---:|:---:|")
        for name, _ in qs:
            o, n = ours[name], native[name]
            g = "yes" if o <= 1.3 * n + 3 else "no"
            pgv = f"{pg[name]:.1f}" if name in pg else "-"
            print(f"| {name} | {o:.1f} | {n:.1f} | {pgv} | {o / n:.2f} | {g} |")
        sys.stdout.flush()


if __name__ == "__main__":
    os.environ.setdefault("TZ", "UTC")
    main()
