#!/usr/bin/env python3
"""Overload: senders offer several times what the store can take, and memory stays bounded.

    python3 bench/overload.py --loginsight ~/.cache/lrel/target/release/loginsight

1. `loginsight serve` with its default configuration (or `--config`) on loopback ports (mining, routing, the
   analysis queue and the embedded worker all on), fed `genlogs.py` lines (../shared).
2. Calibration: `--calibrate` seconds of 10,000-line requests on 4 connections, back to back.
   The accepted lines/s is the sustainable rate S.
3. Overload: for `--seconds`, `--connections` connections (spread over 4 processes) are paced
   to offer `--factor` × S lines/s between them. A request the server refuses (503 with
   Retry-After, or a connection it closes before reading a body it will not take) is counted
   and not retried: the offer stays at the factor whatever the server answers.
4. The server's RSS (/proc/PID/status) is sampled every 0.2 s throughout; a line every 5 s
   shows offered and accepted lines/s, refusals and RSS.
5. Afterwards `count(*) FROM logs` must be at least the lines of every request answered 200.

Prints the peak RSS of each phase and exits non-zero if an acknowledged line is missing or
the server died. Nothing here asserts a speed or a memory figure: read them.
"""

import argparse
import http.client
import multiprocessing as mp
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

from server import genlogs, metric, ndjson_bodies, post, rss_mib, start_server

PROCESSES = 4
COUNTERS = ["offered", "accepted", "refused", "broken"]


def sender_process(addr, path, body_lines, threads, interval, start_at, stop_at, counters, lock):
    """One of the load processes: `threads` connections, each sending a body every `interval`
    seconds (at once when behind) from `start_at` until `stop_at` (both time.time())."""
    bodies = ndjson_bodies(path, body_lines)
    host, port = addr.rsplit(":", 1)

    def add(name, n):
        with lock:
            counters[name].value += n

    def run(index):
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        due = start_at + interval * index / threads
        i = index
        while True:
            now = time.time()
            if now >= stop_at:
                break
            if due > now:
                time.sleep(min(due - now, stop_at - now))
                continue
            due = max(due + interval, now - interval)
            body, lines = bodies[i % len(bodies)]
            i += threads
            add("offered", lines)
            try:
                status, _ = post(conn, body)
            except (OSError, http.client.HTTPException):
                add("broken", 1)
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=60)
                continue
            if status == 200:
                add("accepted", lines)
            elif status == 503:
                add("refused", 1)
            else:
                add("broken", 1)
        conn.close()

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def phase(name, addr, pid, path, body_lines, connections, rate, seconds):
    """Runs one load phase; returns (counters, peak RSS in MiB, RSS samples)."""
    counters = {c: mp.Value("q", 0, lock=False) for c in COUNTERS}
    lock = mp.Lock()
    per_process = max(1, connections // PROCESSES)
    total_threads = per_process * PROCESSES
    # rate = total_threads * body_lines / interval
    interval = total_threads * body_lines / rate if rate else 0.0
    start_at = time.time() + 2.0  # every process has read the file by then
    stop_at = start_at + seconds
    procs = [mp.Process(target=sender_process,
                        args=(addr, path, body_lines, per_process, interval, start_at, stop_at,
                              counters, lock))
             for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    peak, samples, last = 0.0, [], {c: 0 for c in COUNTERS}
    next_report = start_at + 5
    print(f"\n{name}: {total_threads} connections, {body_lines}-line requests, "
          f"{'as fast as answered' if not rate else f'offering {rate:,.0f} lines/s'}, {seconds} s")
    print("   t | offered lines/s | accepted lines/s | refused req | broken req | RSS MiB")
    while any(p.is_alive() for p in procs):
        time.sleep(0.2)
        rss = rss_mib(pid)
        if rss is None:
            break
        if time.time() >= start_at:
            peak = max(peak, rss)
            samples.append(rss)
        if time.time() >= next_report:
            with lock:
                now = {c: counters[c].value for c in COUNTERS}
            print(f"{next_report - start_at:4.0f} | {(now['offered'] - last['offered']) / 5:15,.0f} | "
                  f"{(now['accepted'] - last['accepted']) / 5:16,.0f} | {now['refused'] - last['refused']:11} | "
                  f"{now['broken'] - last['broken']:10} | {rss:7.0f}", flush=True)
            last = now
            next_report += 5
    for p in procs:
        p.join()
    return {c: counters[c].value for c in COUNTERS}, peak, samples


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--loginsight", required=True, help="the loginsight binary (a release build)")
    p.add_argument("--factor", type=float, default=8.0, help="offered load as a multiple of the sustainable rate")
    p.add_argument("--seconds", type=int, default=60, help="length of the overload phase")
    p.add_argument("--calibrate", type=int, default=20, help="length of the calibration phase")
    p.add_argument("--connections", type=int, default=512)
    p.add_argument("--body-lines", type=int, default=10_000)
    p.add_argument("--lines", type=int, default=1_000_000, help="distinct generated lines to cycle through")
    p.add_argument("--config", help="a TOML file for `serve --config` (default: the defaults)")
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "li-overload"))
    a = p.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    ndjson = genlogs(work, a.lines, 7)
    data_dir = work / "li-data"
    shutil.rmtree(data_dir, ignore_errors=True)
    proc, addr, pg = start_server(a.loginsight, data_dir, a.config)
    failed = False
    try:
        base_rss = rss_mib(proc.pid)
        cal, cal_peak, _ = phase("calibration", addr, proc.pid, ndjson, a.body_lines, PROCESSES, None, a.calibrate)
        sustainable = cal["accepted"] / a.calibrate
        over, over_peak, samples = phase("overload", addr, proc.pid, ndjson, a.body_lines, a.connections,
                                         sustainable * a.factor, a.seconds)
        alive = proc.poll() is None
        host, port = pg.rsplit(":", 1)
        stored = None
        if alive:
            with psycopg.connect(host=host, port=port, user="loginsight", dbname="loginsight",
                                 autocommit=True) as conn:
                stored = conn.execute("SELECT count(*) FROM logs").fetchone()[0]
            overloaded = metric(addr, "loginsight_overloaded_requests_total")
        acked = cal["accepted"] + over["accepted"]
        samples.sort()
        print()
        print(f"RSS at start: {base_rss:.0f} MiB; peak in calibration: {cal_peak:.0f} MiB")
        print(f"sustainable rate S: {sustainable:,.0f} lines/s")
        print(f"overload: offered {over['offered'] / a.seconds:,.0f} lines/s "
              f"({over['offered'] / a.seconds / sustainable:.1f}× S) for {a.seconds} s; accepted "
              f"{over['accepted'] / a.seconds:,.0f} lines/s; {over['refused']} requests refused with 503, "
              f"{over['broken']} connections closed by the server")
        if samples:
            print(f"server RSS during overload: median {samples[len(samples) // 2]:.0f} MiB, "
                  f"peak {over_peak:.0f} MiB")
        if not alive:
            print("the server DIED during the run")
            failed = True
        else:
            print(f"loginsight_overloaded_requests_total: {overloaded:.0f}")
            print(f"lines acknowledged: {acked:,}; rows stored: {stored:,}")
            # More rows than acknowledged would be a request committed whose answer was lost
            # on a broken connection; fewer is a loss.
            failed = stored < acked
            if failed:
                print("LOSS: fewer rows stored than lines acknowledged")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=300)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
