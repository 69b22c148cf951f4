"""Starting `loginsight serve` for the benchmarks: loopback ports chosen by the OS, read back
from the server's ready line."""

import subprocess


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
