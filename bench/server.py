"""Starting `loginsight serve` for the benchmarks: loopback ports chosen by the OS, read back
from the server's ready line."""

import subprocess
import sys
from pathlib import Path

GENLOGS = Path(__file__).resolve().parent.parent.parent / "shared" / "genlogs.py"


def start_server(binary, data_dir, config=None):
    """`(process, http address, pg address)` once the server says it is ready; `config`: a
    TOML file for `--config`."""
    args = [binary, "serve", "--data-dir", str(data_dir), "--http-addr", "127.0.0.1:0", "--pg-addr",
            "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"]
    if config is not None:
        args += ["--config", str(config)]
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    for line in proc.stdout:
        if line.startswith("loginsight ready"):
            fields = dict(f.split("=", 1) for f in line.split()[2:])
            return proc, fields["http"], fields["pg"]
    raise RuntimeError("server exited before it was ready")


def rss_mib(pid):
    """The resident set of process `pid` in MiB (VmRSS), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def ndjson_bodies(path, lines_per_body):
    """The NDJSON file at `path` as request bodies of `lines_per_body` whole lines each:
    `[(bytes, line count)]`."""
    bodies, chunk = [], []
    with open(path, "rb") as f:
        for line in f:
            chunk.append(line)
            if len(chunk) == lines_per_body:
                bodies.append((b"".join(chunk), len(chunk)))
                chunk = []
    if chunk:
        bodies.append((b"".join(chunk), len(chunk)))
    return bodies


def post(conn, body):
    """POSTs one NDJSON body on an `http.client.HTTPConnection`: `(status, Retry-After)`.
    Raises OSError (or http.client's errors) when the connection breaks."""
    conn.request("POST", "/v1/logs", body=body, headers={"Content-Type": "application/x-ndjson"})
    resp = conn.getresponse()
    resp.read()
    return resp.status, resp.getheader("Retry-After")


def metric(http, name):
    """The sum of every series of the Prometheus metric `name` at `http`'s /metrics."""
    import urllib.request
    total = 0.0
    with urllib.request.urlopen(f"http://{http}/metrics", timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"):
                total += float(line.rsplit(" ", 1)[1])
    return total


def genlogs(work, lines, seed):
    """`genlogs.py --lines LINES --seed SEED --no-truth-fields` (../shared) written once into
    the folder `work` and reused: its path."""
    path = Path(work) / f"genlogs-{lines}-{seed}.ndjson"
    if not path.exists():
        subprocess.run([sys.executable, str(GENLOGS), "--lines", str(lines), "--seed", str(seed),
                        "--no-truth-fields", "--out", str(path)], check=True)
    return path
