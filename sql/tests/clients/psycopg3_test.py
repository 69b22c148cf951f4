#!/usr/bin/env python3
"""psycopg 3 against the Log Insight SQL endpoint. See README.md for the checks and fixture.

Prints `ok <name>` / `FAIL <name>: <reason>` per check; exits 0 only if every check passed.
"""
import datetime as dt
import json
import os
import sys
import traceback

import psycopg

from pgcheck import T0, TYPES_SQL, describe, env, eq, report, summary

PARAM_SQL = (
    "SELECT ts, level, service, host, message FROM logs "
    "WHERE service = %s AND ts >= %s ORDER BY ts"
)


def conninfo():
    pg = env()
    return dict(
        host=pg["host"],
        port=pg["port"],
        user=pg["user"],
        dbname=pg["database"],
        connect_timeout=10,
    )


def connect(**kw):
    return psycopg.connect(**conninfo(), autocommit=True, **kw)


class Reported(Exception):
    """A failure whose message is already in report form (from a child process)."""


class Checker:
    def __init__(self):
        self.conn = None

    def live_conn(self):
        """The shared connection; reopened if a previous check broke it."""
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.conn = connect()
        return self.conn

    def check(self, name, fn):
        try:
            fn()
        except Reported as e:
            report(name, str(e))
        except AssertionError as e:
            report(name, f"wrong result: {e}")
        except Exception as e:  # the exact server/driver error is the useful part
            report(name, describe(e))
        else:
            report(name, None)


def expect_sqlstate(conn, sql, code):
    try:
        conn.execute(sql)
    except psycopg.Error as e:
        eq(e.sqlstate, code, f"SQLSTATE for {sql!r} (message: {str(e).strip()!r})")
    else:
        raise AssertionError(f"{sql!r} succeeded; expected SQLSTATE {code}")
    eq(conn.execute("SELECT 1").fetchone()[0], 1, "connection after the error:")


def check_param_rows(rows):
    eq(len(rows), 2, "row count")
    ts, level, service, host, message = rows[0]
    assert isinstance(ts, dt.datetime), f"ts is {type(ts).__name__}, not datetime"
    assert ts.tzinfo is not None, f"ts is naive: {ts!r}"
    eq(ts, T0, "ts")
    eq((level, service, host, message), ("ERROR", "checkout", "web-1", "payment timed out"), "row 1")
    eq(rows[1][3], None, "host of row 2")
    eq(rows[1][4], "order placed", "message of row 2")


def check_types_row(row, desc):
    names = [d.name for d in desc]
    eq(names, ["i4", "i8", "f8", "t", "n", "b"], "column names")
    i4, i8, f8, t, n, b = row
    assert type(i4) is int and i4 == 1, f"i4 = {i4!r} ({type(i4).__name__})"
    assert type(i8) is int and i8 == 2, f"i8 = {i8!r} ({type(i8).__name__})"
    assert type(f8) is float and f8 == 1.5, f"f8 = {f8!r} ({type(f8).__name__})"
    eq(t, "x", "t")
    eq(n, None, "n")
    assert b is True, f"b = {b!r} ({type(b).__name__})"
    oids = [d.type_code for d in desc]
    eq(oids, [23, 20, 701, 25, 25, 16], "column type OIDs")


def subcheck_named_cursor(with_params, binary=False):
    """DECLARE ... CURSOR (extended protocol), Describe portal, FETCH FORWARD, CLOSE.

    With `binary`, each FETCH is sent with the extended protocol asking for binary results:
    its Describe must give the cursor's columns, and its rows must come in binary."""
    conn = psycopg.connect(**conninfo())
    try:
        with conn.cursor(name="li_cur", binary=binary) as cur:
            cur.itersize = 1
            if with_params:
                cur.execute(PARAM_SQL, ("checkout", T0))
            else:
                cur.execute(PARAM_SQL.replace("%s", "'checkout'", 1).replace("%s", "'2024-05-01T12:00:00Z'"))
            desc = cur.description
            assert desc is not None and [d.name for d in desc] == ["ts", "level", "service", "host", "message"], (
                f"cursor description after DECLARE (from Describe portal) is {desc!r}"
            )
            first = cur.fetchone()
            rows = [first] + cur.fetchall()
            check_param_rows(rows)
            if binary:
                eq(cur.pgresult.fformat(0), 1, "format of the FETCH result's ts column (1 = binary)")
        conn.commit()
    finally:
        conn.close()


SUBCHECKS = {
    "named_cursor_params": lambda: subcheck_named_cursor(True),
    "named_cursor_plain": lambda: subcheck_named_cursor(False),
    "named_cursor_binary": lambda: subcheck_named_cursor(True, binary=True),
}


def run_subcheck(name):
    import subprocess

    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--subcheck", name],
        capture_output=True, text=True, timeout=60,
    )
    if proc.returncode == 0:
        return
    out = (proc.stdout.strip().splitlines() or [""])[-1]
    if proc.returncode < 0:
        raise Reported(f"the client process died with signal {-proc.returncode}; last output: {out!r}")
    raise Reported(out or proc.stderr.strip()[-300:])


def subcheck_main(name):
    try:
        SUBCHECKS[name]()
    except AssertionError as e:
        print(f"wrong result: {e}")
        return 1
    except Exception as e:
        print(describe(e))
        return 1
    return 0


def main():
    c = Checker()

    def connect_check():
        c.conn = connect()
        eq(c.conn.execute("SELECT 1").fetchone()[0], 1, "SELECT 1")

    c.check("connect", connect_check)

    def count(prepare):
        def run():
            v = c.live_conn().execute("SELECT count(*) FROM logs", prepare=prepare).fetchone()[0]
            assert type(v) is int, f"count is {type(v).__name__} {v!r}"
            eq(v, 3, "count")
        return run

    c.check("count", count(None))
    c.check("count_prepare_true", count(True))

    def param(prepare):
        def run():
            rows = c.live_conn().execute(PARAM_SQL, ("checkout", T0), prepare=prepare).fetchall()
            check_param_rows(rows)
        return run

    c.check("params", param(None))
    c.check("params_prepare_false", param(False))
    c.check("params_prepare_true", param(True))

    def params_auto_prepared():
        # psycopg prepares a query server-side on its own once it ran prepare_threshold (5) times.
        conn = connect()
        try:
            for i in range(8):
                rows = conn.execute(PARAM_SQL, ("checkout", T0)).fetchall()
                try:
                    check_param_rows(rows)
                except AssertionError as e:
                    raise AssertionError(f"execution {i + 1}: {e}")
        finally:
            conn.close()

    c.check("params_auto_prepared_8x", params_auto_prepared)

    def params_binary():
        with c.live_conn().cursor(binary=True) as cur:
            cur.execute(PARAM_SQL, ("checkout", T0))
            check_param_rows(cur.fetchall())

    c.check("params_binary_cursor", params_binary)

    def types(binary, prepare):
        def run():
            with c.live_conn().cursor(binary=binary) as cur:
                cur.execute(TYPES_SQL, prepare=prepare)
                check_types_row(cur.fetchone(), cur.description)
        return run

    c.check("types", types(False, None))
    c.check("types_prepare_true", types(False, True))
    c.check("types_binary_cursor", types(True, None))

    def json_check():
        rows = c.live_conn().execute("SELECT attributes FROM logs WHERE service = 'search'").fetchall()
        eq(len(rows), 1, "rows")
        v = rows[0][0]
        parsed = json.loads(v) if isinstance(v, str) else v
        eq(parsed, {"latency_ms": 12.5}, "attributes")

    c.check("json_attributes", json_check)

    def json_param():
        rows = c.live_conn().execute(
            "SELECT attributes FROM logs WHERE service = %s AND attributes IS NOT NULL", ("search",)
        ).fetchall()
        eq([json.loads(r[0]) for r in rows], [{"latency_ms": 12.5}], "attributes")

    c.check("json_attributes_param", json_param)

    def stats():
        v = c.live_conn().execute("SELECT sum(count) FROM stats").fetchone()[0]
        assert isinstance(v, int) or (hasattr(v, "as_integer_ratio") and v == int(v)), f"sum is {type(v).__name__}"
        eq(int(v), 3, "sum(count)")

    c.check("stats_sum", stats)

    def raw(sql):
        def run():
            c.live_conn().execute(sql)
        return run

    c.check("set_application_name", raw("SET application_name = 'x'"))

    def show():
        v = c.live_conn().execute("SHOW server_version").fetchone()[0]
        assert isinstance(v, str) and v.strip(), f"server_version = {v!r}"

    c.check("show_server_version", show)

    def raw_tx():
        # A fresh connection with no prepared statements: only BEGIN/COMMIT/ROLLBACK go out.
        conn = connect()
        try:
            conn.execute("BEGIN")
            eq(conn.execute("SELECT count(*) FROM logs").fetchone()[0], 3, "count in tx")
            conn.execute("COMMIT")
            conn.execute("BEGIN")
            conn.execute("SELECT 1")
            conn.execute("ROLLBACK")
        finally:
            conn.close()

    c.check("begin_commit_rollback_raw", raw_tx)

    def rollback_with_prepared():
        # After a ROLLBACK, psycopg drops its prepared-statement cache and, if the session has
        # server-side prepared statements (prepare=True, or any query run 5+ times), sends
        # `DEALLOCATE ALL` itself. The server must accept that or every such ROLLBACK fails.
        conn = connect()
        try:
            eq(conn.execute("SELECT count(*) FROM logs", prepare=True).fetchone()[0], 3, "count")
            conn.execute("BEGIN")
            conn.execute("SELECT 1")
            conn.execute("ROLLBACK")
            eq(conn.execute("SELECT count(*) FROM logs", prepare=True).fetchone()[0], 3, "count after")
        finally:
            conn.close()

    c.check("rollback_with_prepared_statements", rollback_with_prepared)

    def tx_api_with_prepared():
        conn = psycopg.connect(**conninfo())
        try:
            eq(conn.execute("SELECT count(*) FROM logs", prepare=True).fetchone()[0], 3, "count")
            conn.rollback()
            eq(conn.execute("SELECT count(*) FROM logs", prepare=True).fetchone()[0], 3, "count after")
            conn.rollback()
        finally:
            conn.close()

    c.check("transaction_api_rollback_with_prepared", tx_api_with_prepared)

    def tx_api():
        # Non-autocommit connection: psycopg sends BEGIN itself, then COMMIT / ROLLBACK.
        conn = psycopg.connect(**conninfo())
        try:
            eq(conn.execute("SELECT count(*) FROM logs").fetchone()[0], 3, "count in implicit tx")
            conn.commit()
            conn.execute("SELECT 1")
            conn.rollback()
            with conn.transaction():
                eq(conn.execute("SELECT count(*) FROM logs").fetchone()[0], 3, "count in transaction()")
        finally:
            conn.close()

    c.check("transaction_api", tx_api)

    def error_in_tx():
        # A failed statement inside a transaction, then ROLLBACK, leaves a usable connection.
        conn = psycopg.connect(**conninfo())
        try:
            try:
                conn.execute("SELECT * FROM nope")
            except psycopg.Error:
                pass
            else:
                raise AssertionError("SELECT * FROM nope succeeded")
            conn.rollback()
            eq(conn.execute("SELECT count(*) FROM logs").fetchone()[0], 3, "count after rollback")
        finally:
            conn.close()

    c.check("error_in_transaction_then_rollback", error_in_tx)

    # Named (server-side) cursors run in a child process: when the server answers psycopg's
    # Describe of the cursor's portal with no columns, psycopg's C extension can crash the
    # whole interpreter on the FETCH that follows, which must not take the other checks along.
    c.check("server_side_named_cursor", lambda: run_subcheck("named_cursor_params"))
    c.check("server_side_named_cursor_no_params", lambda: run_subcheck("named_cursor_plain"))
    c.check("server_side_named_cursor_binary", lambda: run_subcheck("named_cursor_binary"))

    c.check("discard_all", raw("DISCARD ALL"))
    c.check("reset_all", raw("RESET ALL"))
    c.check("deallocate_all", raw("DEALLOCATE ALL"))

    def after_session():
        eq(c.live_conn().execute("SELECT count(*) FROM logs", prepare=True).fetchone()[0], 3, "count")

    c.check("query_after_session_statements", after_session)

    c.check("read_only_drop_25006", lambda: expect_sqlstate(c.live_conn(), "DROP TABLE logs", "25006"))
    c.check("unknown_table_42P01", lambda: expect_sqlstate(c.live_conn(), "SELECT * FROM nope", "42P01"))

    if c.conn is not None:
        c.conn.close()

    return summary("psycopg3")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--subcheck":
        sys.exit(subcheck_main(sys.argv[2]))
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        print("FAIL harness: unexpected exception")
        sys.exit(2)
