#!/usr/bin/env python3
"""Kill -9 under load: no acknowledged line is lost.

    python3 bench/durability.py --loginsight target/release/loginsight

Starts `loginsight serve` on loopback ports, sends NDJSON requests of 5,000 numbered lines
from four threads, kills the server with SIGKILL after a few seconds, starts it again on the
same data directory and checks through the SQL endpoint that every request answered 200
has all its lines stored (requests cut off by the kill may be stored whole or not at all;
never in part). Prints the counts; exits non-zero on a loss.
"""

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
import urllib.request

import psycopg

from server import start_server

LINES = 5000



def body(request):
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return "".join(
        json.dumps({"timestamp": now, "level": "ERROR" if i % 50 == 0 else "INFO",
                    "service": f"svc-{i % 7}", "message": f"durable request {request} line {i} of {LINES}"}) + "\n"
        for i in range(LINES)
    ).encode()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--loginsight", required=True)
    p.add_argument("--seconds", type=float, default=4.0, help="load before the kill")
    a = p.parse_args()
    data_dir = tempfile.mkdtemp(prefix="li-durability-")
    proc, http, _ = start_server(a.loginsight, data_dir)
    acked, lock, stop = [], threading.Lock(), threading.Event()
    counter = iter(range(1_000_000))

    def sender():
        while not stop.is_set():
            with lock:
                request = next(counter)
            req = urllib.request.Request(f"http://{http}/v1/logs", data=body(request),
                                         headers={"Content-Type": "application/x-ndjson"})
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    if resp.status == 200:
                        with lock:
                            acked.append(request)
            except OSError:
                return

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(a.seconds)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stop.set()
    for t in threads:
        t.join()
    proc, _, pg = start_server(a.loginsight, data_dir)
    try:
        host, port = pg.rsplit(":", 1)
        with psycopg.connect(host=host, port=port, user="loginsight", dbname="loginsight", autocommit=True) as conn:
            rows = conn.execute(
                "SELECT split_part(message, ' ', 3) AS request, count(*) FROM logs "
                "WHERE message LIKE 'durable request %' GROUP BY 1"
            ).fetchall()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=300)
    stored = {int(r): n for r, n in rows}
    lost = [r for r in acked if stored.get(r, 0) != LINES]
    partial = [r for r, n in stored.items() if n != LINES]
    print(f"acknowledged requests: {len(acked)} ({len(acked) * LINES:,} lines)")
    print(f"stored requests after kill -9 and restart: {len(stored)} ({sum(stored.values()):,} lines)")
    print(f"acknowledged but not stored whole: {len(lost)}; stored in part: {len(partial)}")
    sys.exit(1 if lost or partial else 0)


if __name__ == "__main__":
    main()
