"""What the Python client programs share: the fixture's constants, the connection settings
from the environment, and the `ok` / `FAIL` reporting every program prints.

Each program imports it from its own folder (Python puts a script's folder on sys.path).
"""
import datetime as dt
import os

UTC = dt.timezone.utc
# The first fixture row's timestamp (see README.md).
T0 = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
TYPES_SQL = (
    "SELECT 1::int4 AS i4, 2::int8 AS i8, 1.5::float8 AS f8, 'x'::text AS t, "
    "NULL::text AS n, true AS b"
)

results = []  # (name, error-or-None), in the order the checks ran


def env():
    """PGHOST, PGPORT, PGUSER, PGDATABASE with the defaults the tests use."""
    return dict(
        host=os.environ.get("PGHOST", "127.0.0.1"),
        port=os.environ.get("PGPORT", "5432"),
        user=os.environ.get("PGUSER", "loginsight"),
        database=os.environ.get("PGDATABASE", "loginsight"),
    )


def describe(e):
    """An exception as `module.Type [SQLSTATE xxxxx]: message` on one line."""
    code = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
    msg = str(e).strip().replace("\n", " | ")
    return f"{type(e).__module__}.{type(e).__name__}" + (f" [SQLSTATE {code}]" if code else "") + f": {msg}"


def report(name, err):
    results.append((name, err))
    print(f"ok {name}" if err is None else f"FAIL {name}: {err}", flush=True)


def eq(actual, expected, what=""):
    assert actual == expected, f"{what} expected {expected!r}, got {actual!r}"


def summary(client):
    """Prints `CLIENT: N passed, M failed` and returns the exit status."""
    failed = [n for n, e in results if e is not None]
    print(f"{client}: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0
