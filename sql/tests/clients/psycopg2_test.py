#!/usr/bin/env python3
"""psycopg2 against the Log Insight SQL endpoint. See README.md for the checks and fixture.

psycopg2 interpolates parameters on the client and sends simple-protocol queries, so this
covers the simple-query path that many tools (pandas, SQLAlchemy with psycopg2) take.
Prints `ok <name>` / `FAIL <name>: <reason>` per check; exits 0 only if every check passed.
"""
import datetime as dt
import json
import sys
import traceback

import psycopg2
import psycopg2.extensions
import psycopg2.extras

from pgcheck import T0, TYPES_SQL, describe, env, eq, report, summary

PARAM_SQL = (
    "SELECT ts, level, service, host, message FROM logs "
    "WHERE service = %s AND ts >= %s ORDER BY ts"
)


def connect(autocommit=True):
    pg = env()
    conn = psycopg2.connect(
        host=pg["host"],
        port=pg["port"],
        user=pg["user"],
        dbname=pg["database"],
        connect_timeout=10,
    )
    conn.autocommit = autocommit
    return conn


class Checker:
    def __init__(self):
        self.conn = None

    def live_conn(self):
        if self.conn is None or self.conn.closed:
            self.conn = connect()
        return self.conn

    def one(self, sql, args=None):
        with self.live_conn().cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchone()

    def check(self, name, fn):
        try:
            fn()
        except AssertionError as e:
            report(name, f"wrong result: {e}")
        except Exception as e:
            report(name, describe(e))
        else:
            report(name, None)


def main():
    c = Checker()

    def connect_check():
        c.conn = connect()
        eq(c.one("SELECT 1")[0], 1, "SELECT 1")

    c.check("connect", connect_check)

    def count():
        v = c.one("SELECT count(*) FROM logs")[0]
        assert type(v) is int, f"count is {type(v).__name__} {v!r}"
        eq(v, 3, "count")

    c.check("count", count)

    def params():
        with c.live_conn().cursor() as cur:
            cur.execute(PARAM_SQL, ("checkout", T0))
            rows = cur.fetchall()
        eq(len(rows), 2, "row count")
        ts = rows[0][0]
        assert isinstance(ts, dt.datetime), f"ts is {type(ts).__name__}"
        assert ts.tzinfo is not None, f"ts is naive: {ts!r}"
        eq(ts, T0, "ts")
        eq(rows[0][1:], ("ERROR", "checkout", "web-1", "payment timed out"), "row 1")
        eq(rows[1][3], None, "host of row 2")

    c.check("params", params)

    def types():
        with c.live_conn().cursor() as cur:
            cur.execute(TYPES_SQL)
            row = cur.fetchone()
            desc = cur.description
        eq([d.name for d in desc], ["i4", "i8", "f8", "t", "n", "b"], "names")
        i4, i8, f8, t, n, b = row
        assert type(i4) is int and i4 == 1, f"i4 = {i4!r}"
        assert type(i8) is int and i8 == 2, f"i8 = {i8!r}"
        assert type(f8) is float and f8 == 1.5, f"f8 = {f8!r} ({type(f8).__name__})"
        eq(t, "x", "t")
        eq(n, None, "n")
        assert b is True, f"b = {b!r}"
        eq([d.type_code for d in desc], [23, 20, 701, 25, 25, 16], "type OIDs")

    c.check("types", types)

    def json_check():
        v = c.one("SELECT attributes FROM logs WHERE service = 'search'")[0]
        parsed = json.loads(v) if isinstance(v, str) else v
        eq(parsed, {"latency_ms": 12.5}, "attributes")

    c.check("json_attributes", json_check)

    def stats():
        v = c.one("SELECT sum(count) FROM stats")[0]
        eq(int(v), 3, "sum(count)")
        eq(v, 3, "sum(count) value")

    c.check("stats_sum", stats)

    def raw(sql):
        def run():
            with c.live_conn().cursor() as cur:
                cur.execute(sql)
        return run

    c.check("set_application_name", raw("SET application_name = 'x'"))

    def show():
        v = c.one("SHOW server_version")[0]
        assert isinstance(v, str) and v.strip(), f"server_version = {v!r}"

    c.check("show_server_version", show)

    def raw_tx():
        with c.live_conn().cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT count(*) FROM logs")
            eq(cur.fetchone()[0], 3, "count in tx")
            cur.execute("COMMIT")
            cur.execute("BEGIN")
            cur.execute("SELECT 1")
            cur.execute("ROLLBACK")

    c.check("begin_commit_rollback_raw", raw_tx)

    def tx_api():
        # psycopg2's default (non-autocommit) mode: it sends BEGIN before the first statement.
        conn = connect(autocommit=False)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM logs")
                eq(cur.fetchone()[0], 3, "count")
            conn.commit()
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
            conn.rollback()
            with conn:  # commits on exit
                with conn.cursor() as cur:
                    cur.execute("SELECT count(*) FROM logs")
                    eq(cur.fetchone()[0], 3, "count in with-block")
        finally:
            conn.close()

    c.check("transaction_api", tx_api)

    def server_side_cursor():
        # A named cursor: DECLARE ... CURSOR, FETCH FORWARD n, CLOSE inside a transaction
        # (pandas read_sql with chunksize and many ETL tools read this way).
        conn = connect(autocommit=False)
        try:
            with conn.cursor(name="li_cur") as cur:
                cur.itersize = 2
                cur.execute(PARAM_SQL, ("checkout", T0))
                rows = list(cur)
            eq(len(rows), 2, "rows through the named cursor")
            eq(rows[0][0], T0, "ts")
            conn.commit()
        finally:
            conn.close()

    c.check("server_side_named_cursor", server_side_cursor)

    c.check("discard_all", raw("DISCARD ALL"))
    c.check("reset_all", raw("RESET ALL"))
    c.check("deallocate_all", raw("DEALLOCATE ALL"))

    def expect_sqlstate(sql, code):
        def run():
            conn = c.live_conn()
            try:
                with conn.cursor() as cur:
                    cur.execute(sql)
            except psycopg2.Error as e:
                eq(e.pgcode, code, f"SQLSTATE for {sql!r} (message: {str(e).strip()!r})")
            else:
                raise AssertionError(f"{sql!r} succeeded; expected SQLSTATE {code}")
            eq(c.one("SELECT count(*) FROM logs")[0], 3, "count after the error:")
        return run

    c.check("read_only_drop_25006", expect_sqlstate("DROP TABLE logs", "25006"))
    c.check("unknown_table_42P01", expect_sqlstate("SELECT * FROM nope", "42P01"))

    def error_in_tx():
        conn = connect(autocommit=False)
        try:
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT * FROM nope")
            except psycopg2.Error:
                pass
            else:
                raise AssertionError("SELECT * FROM nope succeeded")
            conn.rollback()
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM logs")
                eq(cur.fetchone()[0], 3, "count after rollback")
        finally:
            conn.close()

    c.check("error_in_transaction_then_rollback", error_in_tx)

    if c.conn is not None:
        c.conn.close()
    return summary("psycopg2")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        print("FAIL harness: unexpected exception")
        sys.exit(2)
