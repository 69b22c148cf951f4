#!/usr/bin/env python3
"""Soak: steady ingest for a long while, with queries, file rotation and broker restarts beside
it; at the end every acknowledged line is stored exactly once, and RSS is shown over time.

    python3 bench/soak.py --loginsight ~/.cache/lrel/target/release/loginsight --minutes 30
    python3 bench/soak.py --loginsight … --minutes 30 --kafka     # with tansu and a worker

1. `loginsight serve` with its default configuration (mining, routing, the analysis queue and
   its analyst all on) on loopback ports, tailing `WORK/tail/*.log`. With `--kafka`, a tansu
   broker (in-memory) on a free port is the bus, and one `loginsight worker` does the analysis.
2. The rate: `--rate` lines/s, or `--share` (0.8) of the rate measured first by a
   `--calibrate`-second run of 10,000-line requests on 4 connections back to back (those lines
   are counted too).
3. For `--minutes`:
   - 4 HTTP senders share the rate with 5,000-line requests of `genlogs.py` lines. Each request
     carries an `Idempotency-Key`; a 503 is retried after its Retry-After, a broken connection
     at once, under the same key, so a retry never stores a request twice.
   - a writer appends `--tail-rate` plain-text lines a second to WORK/tail/app.log and rotates
     it (rename to app.log.N, new app.log) every `--rotate-every` seconds;
   - a reader runs the TUI's and the dashboards' kinds of query in turn over the SQL endpoint,
     one every `--query-every` seconds;
   - with `--kafka`, the broker is killed and started again (empty: in-memory storage) every
     `--broker-every` seconds.
4. A line a minute: lines/s acknowledged, tail lines written, the server's RSS (and the
   worker's), query p50/p99 and failures, 503 retries.
5. At the end the writers stop and the script waits (up to 3 minutes) for the tail to be read;
   `count(*) FROM logs` must equal the HTTP lines acknowledged plus the tail lines written.

Exits non-zero on a mismatch or a dead server. Nothing here asserts a speed: read the figures.
"""

import argparse
import http.client
import itertools
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg

from server import genlogs, ndjson_bodies, post, rss_mib, start_server

SENDERS = 4
BODY_LINES = 5000

QUERIES = [
    "SELECT count(*) FROM logs",
    "SELECT ts, level, service, host, message FROM logs ORDER BY ts DESC LIMIT 100",
    "SELECT floor(extract(epoch from minute)/60)*60 AS \"time\", level AS metric, sum(count) AS value "
    "FROM stats WHERE minute >= now() - INTERVAL '2 hours' GROUP BY 1, 2 ORDER BY 1",
    "SELECT service, count(*) AS n FROM logs WHERE level IN ('ERROR', 'FATAL') GROUP BY service ORDER BY n DESC",
    "SELECT template, service, level, count FROM patterns ORDER BY count DESC LIMIT 20",
    "SELECT count(*) FROM logs WHERE message ILIKE '%soak tail%'",
    "SELECT service, title, severity FROM insights ORDER BY last_seen DESC LIMIT 50",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


class Broker:
    """tansu with in-memory storage on a fixed loopback port: a restart is an empty broker."""

    def __init__(self, port):
        self.port, self.proc = port, None

    def start(self):
        url = f"tcp://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(["tansu", "broker", "--storage-engine", "memory://tansu/",
                                      "--listener-url", url, "--advertised-listener-url", url],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Totals:
    def __init__(self):
        self.lock = threading.Lock()
        self.acked = 0          # HTTP lines answered 200
        self.retries = 0        # 503s retried
        self.reconnects = 0     # broken connections retried
        self.tail_lines = 0     # lines written to the tailed files
        self.rotations = 0
        self.restarts = 0       # broker restarts
        self.query_ms = []      # latencies since the last report
        self.query_failures = 0
        self.query_errors = []

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)


def send(conn_factory, body, totals, stop_hard):
    """Sends one body until it is acknowledged (503 and broken connections retried under one
    Idempotency-Key); returns the connection to use next."""
    key = uuid.uuid4().hex
    conn = conn_factory()
    while not stop_hard.is_set():
        try:
            conn.request("POST", "/v1/logs", body=body,
                         headers={"Content-Type": "application/x-ndjson", "Idempotency-Key": key})
            resp = conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException):
            totals.add(reconnects=1)
            conn.close()
            time.sleep(0.2)
            conn = conn_factory(new=True)
            continue
        if resp.status == 200:
            return True
        if resp.status == 503:
            totals.add(retries=1)
            time.sleep(float(resp.getheader("Retry-After") or 1))
            continue
        raise RuntimeError(f"unexpected answer {resp.status}")
    return False


def http_sender(addr, bodies, index, rate, totals, stop, stop_hard):
    host, port = addr.rsplit(":", 1)
    state = {"conn": None}

    def conn_factory(new=False):
        if state["conn"] is None or new:
            state["conn"] = http.client.HTTPConnection(host, int(port), timeout=120)
        return state["conn"]

    interval = SENDERS * BODY_LINES / rate
    due = time.time() + interval * index / SENDERS
    for i in itertools.count(index, SENDERS):
        if stop.is_set():
            return
        now = time.time()
        if due > now:
            time.sleep(due - now)
        due = max(due + interval, time.time() - interval)
        body, lines = bodies[i % len(bodies)]
        if send(conn_factory, body, totals, stop_hard):
            totals.add(acked=lines)


def tail_writer(directory, rate, rotate_every, totals, stop):
    path = directory / "app.log"
    f = open(path, "a")
    n, started, rotated_at, generation = 0, time.time(), time.time(), 0
    while not stop.is_set():
        # Write in 10 ms steps to hold the rate.
        target = int((time.time() - started) * rate)
        if target > n:
            ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            f.write("".join(f"{ts} INFO soak tail line {k} of generation {generation}\n" for k in range(n, target)))
            f.flush()
            totals.add(tail_lines=target - n)
            n = target
        if time.time() - rotated_at >= rotate_every:
            f.close()
            generation += 1
            os.rename(path, directory / f"app.log.{generation}")
            f = open(path, "a")
            rotated_at = time.time()
            totals.add(rotations=1)
        time.sleep(0.01)
    f.close()


def reader(pg, every, totals, stop):
    host, port = pg.rsplit(":", 1)
    conn = None
    for sql in itertools.cycle(QUERIES):
        if stop.wait(every):
            break
        try:
            if conn is None:
                conn = psycopg.connect(host=host, port=port, user="loginsight", dbname="loginsight",
                                       autocommit=True, connect_timeout=10)
            t = time.perf_counter()
            conn.execute(sql).fetchall()
            ms = (time.perf_counter() - t) * 1000
            with totals.lock:
                totals.query_ms.append(ms)
        except psycopg.Error as e:
            with totals.lock:
                totals.query_failures += 1
                totals.query_errors.append(f"{sql[:40]}…: {e}")
            conn = None
    if conn is not None:
        conn.close()


def calibrate(addr, bodies, seconds):
    """Lines/s accepted from 4 connections sending 10,000-line requests back to back."""
    host, port = addr.rsplit(":", 1)
    big = [(b"".join(b for b, _ in bodies[i:i + 2]), sum(n for _, n in bodies[i:i + 2]))
           for i in range(0, len(bodies) - 1, 2)]
    accepted, lock, stop_at = [0], threading.Lock(), time.time() + seconds

    def run(index):
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        for i in itertools.count(index, SENDERS):
            if time.time() >= stop_at:
                break
            body, lines = big[i % len(big)]
            status, _ = post(conn, body)
            if status == 200:
                with lock:
                    accepted[0] += lines
        conn.close()

    started = time.time()
    threads = [threading.Thread(target=run, args=(t,)) for t in range(SENDERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return accepted[0], accepted[0] / (time.time() - started)


def count_logs(pg):
    host, port = pg.rsplit(":", 1)
    with psycopg.connect(host=host, port=port, user="loginsight", dbname="loginsight",
                         autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM logs").fetchone()[0]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--loginsight", required=True, help="the loginsight binary (a release build)")
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--rate", type=float, help="HTTP lines/s (default: --share of the calibrated rate)")
    p.add_argument("--share", type=float, default=0.8)
    p.add_argument("--calibrate", type=int, default=20)
    p.add_argument("--tail-rate", type=float, default=1000)
    p.add_argument("--rotate-every", type=float, default=60)
    p.add_argument("--query-every", type=float, default=2)
    p.add_argument("--kafka", action="store_true", help="use a tansu broker and a loginsight worker")
    p.add_argument("--broker-every", type=float, default=600, help="seconds between broker restarts")
    p.add_argument("--lines", type=int, default=1_000_000, help="distinct generated lines to cycle through")
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "li-soak"))
    a = p.parse_args()

    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    ndjson = genlogs(work, a.lines, 11)
    bodies = ndjson_bodies(ndjson, BODY_LINES)
    data_dir, tail_dir = work / "li-data", work / "tail"
    shutil.rmtree(data_dir, ignore_errors=True)
    shutil.rmtree(tail_dir, ignore_errors=True)
    tail_dir.mkdir()
    config = work / "soak.toml"
    lines = ["[sources]", f"tail = [\"{tail_dir}/*.log\"]"]
    broker = worker = None
    if a.kafka:
        broker = Broker(free_port())
        broker.start()
        lines += ["[bus]", f"brokers = \"127.0.0.1:{broker.port}\""]
    config.write_text("\n".join(lines) + "\n")

    proc, addr, pg = start_server(a.loginsight, data_dir, config)
    if a.kafka:
        worker = subprocess.Popen([a.loginsight, "worker", "--brokers", f"127.0.0.1:{broker.port}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    totals = Totals()
    failed = False
    try:
        if a.rate:
            rate, calibrated = a.rate, 0
        else:
            calibrated, measured = calibrate(addr, bodies, a.calibrate)
            rate = measured * a.share
            print(f"calibration: {measured:,.0f} lines/s accepted; soaking at {a.share:.0%}: {rate:,.0f} lines/s")
        totals.acked = calibrated
        stop, stop_hard = threading.Event(), threading.Event()
        threads = [threading.Thread(target=http_sender, args=(addr, bodies, i, rate, totals, stop, stop_hard))
                   for i in range(SENDERS)]
        threads.append(threading.Thread(target=tail_writer, args=(tail_dir, a.tail_rate, a.rotate_every, totals, stop)))
        threads.append(threading.Thread(target=reader, args=(pg, a.query_every, totals, stop)))
        for t in threads:
            t.start()

        started = time.time()
        end = started + a.minutes * 60
        next_restart = started + a.broker_every
        next_report = started + 60
        last_acked, last_tail = totals.acked, 0
        rss_peak, rss_minute, worker_peak = 0.0, 0.0, 0.0
        print("minute | HTTP lines/s acked | tail lines | RSS MiB (peak in minute) | worker RSS | "
              "queries | p50 ms | p99 ms | failed | 503 retries | reconnects | rotations | broker restarts",
              flush=True)
        while time.time() < end:
            time.sleep(1)
            rss = rss_mib(proc.pid)
            if rss is None:
                print("the server DIED")
                failed = True
                break
            rss_minute = max(rss_minute, rss)
            if worker is not None:
                worker_peak = max(worker_peak, rss_mib(worker.pid) or 0)
            if broker is not None and time.time() >= next_restart:
                broker.stop()
                time.sleep(2)
                broker.start()
                totals.add(restarts=1)
                next_restart += a.broker_every
            if time.time() >= next_report:
                with totals.lock:
                    ms, totals.query_ms = sorted(totals.query_ms), []
                    acked, tail = totals.acked, totals.tail_lines
                    row = (totals.query_failures, totals.retries, totals.reconnects, totals.rotations,
                           totals.restarts)
                p50 = statistics.median(ms) if ms else float("nan")
                p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))] if ms else float("nan")
                wrss = f"{rss_mib(worker.pid) or 0:.0f}" if worker is not None else "-"
                print(f"{(next_report - started) / 60:6.0f} | {(acked - last_acked) / 60:18,.0f} | "
                      f"{tail - last_tail:10,} | {rss_minute:24.0f} | {wrss:>10} | {len(ms):7} | "
                      f"{p50:6.1f} | {p99:6.1f} | {row[0]:6} | {row[1]:11} | {row[2]:10} | {row[3]:9} | "
                      f"{row[4]:15}", flush=True)
                rss_peak = max(rss_peak, rss_minute)
                rss_minute, last_acked, last_tail = 0.0, acked, tail
                next_report += 60
        stop.set()
        for t in threads[SENDERS:]:
            t.join()
        # Senders finish the request in hand (acknowledged or, if the server is gone, given up).
        if failed:
            stop_hard.set()
        for t in threads[:SENDERS]:
            t.join()
        rss_peak = max(rss_peak, rss_minute)

        if not failed:
            expected = totals.acked + totals.tail_lines
            deadline = time.time() + 180
            stored = count_logs(pg)
            while stored < expected and time.time() < deadline:
                time.sleep(2)
                stored = count_logs(pg)
            elapsed = time.time() - started
            print()
            print(f"soaked {elapsed / 60:.1f} min at {rate:,.0f} HTTP lines/s offered: "
                  f"{totals.acked:,} HTTP lines acknowledged ({calibrated:,} in calibration), "
                  f"{totals.tail_lines:,} tail lines in {totals.rotations + 1} files")
            print(f"server RSS peak: {rss_peak:.0f} MiB" + (f"; worker RSS peak: {worker_peak:.0f} MiB" if worker else ""))
            print(f"queries: {totals.query_failures} failed" +
                  (f" (first: {totals.query_errors[0]})" if totals.query_errors else ""))
            print(f"rows stored: {stored:,}; expected: {expected:,}")
            if stored != expected:
                print("MISMATCH between what was acknowledged or written and what is stored")
                failed = True
    finally:
        for child in (worker, proc):
            if child is not None and child.poll() is None:
                child.send_signal(signal.SIGTERM)
                child.wait(timeout=300)
        if broker is not None:
            broker.stop()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
