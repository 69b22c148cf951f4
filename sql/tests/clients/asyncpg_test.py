#!/usr/bin/env python3
"""asyncpg against the Log Insight SQL endpoint. See README.md for the checks and fixture.

asyncpg always uses the extended protocol with binary result format, prepares (names) every
statement it runs with arguments, and looks up any type OID it has no built-in codec for
with an introspection query against pg_catalog (array columns take that path).
Prints `ok <name>` / `FAIL <name>: <reason>` per check; exits 0 only if every check passed.
"""
import asyncio
import datetime as dt
import json
import sys
import traceback

import asyncpg

from pgcheck import T0, TYPES_SQL, describe, env, eq, report, summary

PARAM_SQL = (
    "SELECT ts, level, service, host, message FROM logs "
    "WHERE service = $1 AND ts >= $2 ORDER BY ts"
)
TIMEOUT = 20


def dsn_kwargs():
    pg = env()
    return dict(
        host=pg["host"],
        port=int(pg["port"]),
        user=pg["user"],
        database=pg["database"],
        timeout=10,
        command_timeout=TIMEOUT,
    )


async def connect():
    return await asyncpg.connect(**dsn_kwargs())


def check_param_rows(rows):
    eq(len(rows), 2, "row count")
    ts = rows[0]["ts"]
    assert isinstance(ts, dt.datetime), f"ts is {type(ts).__name__}"
    assert ts.tzinfo is not None, f"ts is naive: {ts!r}"
    eq(ts, T0, "ts")
    eq(tuple(rows[0])[1:], ("ERROR", "checkout", "web-1", "payment timed out"), "row 1")
    eq(rows[1]["host"], None, "host of row 2")
    eq(rows[1]["message"], "order placed", "message of row 2")


class Checker:
    def __init__(self):
        self.conn = None

    async def live_conn(self):
        if self.conn is None or self.conn.is_closed():
            self.conn = await connect()
        return self.conn

    async def check(self, name, coro_fn):
        try:
            await asyncio.wait_for(coro_fn(), TIMEOUT + 5)
        except AssertionError as e:
            report(name, f"wrong result: {e}")
        except asyncio.TimeoutError:
            report(name, f"timed out after {TIMEOUT + 5}s")
        except Exception as e:
            report(name, describe(e))
        else:
            report(name, None)


async def main():
    c = Checker()

    async def connect_check():
        c.conn = await connect()
        eq(await c.conn.fetchval("SELECT 1"), 1, "SELECT 1")

    await c.check("connect", connect_check)

    async def count():
        v = await (await c.live_conn()).fetchval("SELECT count(*) FROM logs")
        assert type(v) is int, f"count is {type(v).__name__} {v!r}"
        eq(v, 3, "count")

    await c.check("count", count)

    async def params():
        check_param_rows(await (await c.live_conn()).fetch(PARAM_SQL, "checkout", T0))

    await c.check("params_fetch_binary", params)

    async def prepared():
        conn = await c.live_conn()
        stmt = await conn.prepare(PARAM_SQL)
        ptypes = [t.name for t in stmt.get_parameters()]
        eq(ptypes, ["text", "timestamptz"], "parameter types from Describe")
        attrs = [(a.name, a.type.name) for a in stmt.get_attributes()]
        eq(
            attrs,
            [("ts", "timestamptz"), ("level", "text"), ("service", "text"), ("host", "text"), ("message", "text")],
            "result columns",
        )
        for i in range(3):
            rows = await stmt.fetch("checkout", T0)
            try:
                check_param_rows(rows)
            except AssertionError as e:
                raise AssertionError(f"execution {i + 1}: {e}")
        eq(await stmt.fetchval("search", T0), T0.replace(minute=1), "fetchval with other args")

    await c.check("prepare_and_execute_3x", prepared)

    async def prepared_count():
        stmt = await (await c.live_conn()).prepare("SELECT count(*) FROM logs WHERE service = $1")
        for svc, n in [("checkout", 2), ("search", 1), ("nope", 0), ("checkout", 2)]:
            eq(await stmt.fetchval(svc), n, f"count for {svc}")

    await c.check("prepare_count_rebind", prepared_count)

    async def types():
        row = await (await c.live_conn()).fetchrow(TYPES_SQL)
        eq(list(row.keys()), ["i4", "i8", "f8", "t", "n", "b"], "names")
        assert type(row["i4"]) is int and row["i4"] == 1, f"i4 = {row['i4']!r}"
        assert type(row["i8"]) is int and row["i8"] == 2, f"i8 = {row['i8']!r}"
        assert type(row["f8"]) is float and row["f8"] == 1.5, f"f8 = {row['f8']!r}"
        eq(row["t"], "x", "t")
        eq(row["n"], None, "n")
        assert row["b"] is True, f"b = {row['b']!r}"

    await c.check("types", types)

    async def types_prepared_oids():
        stmt = await (await c.live_conn()).prepare(TYPES_SQL)
        eq([a.type.name for a in stmt.get_attributes()], ["int4", "int8", "float8", "text", "text", "bool"], "types")

    await c.check("types_column_oids", types_prepared_oids)

    async def json_check():
        v = await (await c.live_conn()).fetchval("SELECT attributes FROM logs WHERE service = 'search'")
        parsed = json.loads(v) if isinstance(v, str) else v
        eq(parsed, {"latency_ms": 12.5}, "attributes")

    await c.check("json_attributes", json_check)

    async def stats():
        v = await (await c.live_conn()).fetchval("SELECT sum(count) FROM stats")
        eq(int(v), 3, "sum(count)")

    await c.check("stats_sum", stats)

    async def introspect_array():
        # int8[] has no built-in codec in asyncpg: it runs its type-introspection queries
        # (SELECT current_setting('jit'), set_config('jit', 'off', false); then a recursive CTE
        # over pg_type / pg_namespace / pg_range / pg_attribute) before decoding the column.
        conn = await connect()
        try:
            eq(await conn.fetchval("SELECT make_array(1, 2) AS a"), [1, 2], "make_array(1, 2)")
        finally:
            await conn.close()

    await c.check("introspection_array_column", introspect_array)

    async def introspect_array_agg():
        conn = await connect()
        try:
            v = await conn.fetchval("SELECT array_agg(level ORDER BY ts) FROM logs WHERE service = $1", "checkout")
            eq(v, ["ERROR", "INFO"], "array_agg(level)")
        finally:
            await conn.close()

    await c.check("introspection_text_array_agg", introspect_array_agg)

    async def introspection_query():
        # The type-introspection query itself (what asyncpg runs for an unknown OID), sent
        # directly so its failure shows separately from the jit probe that precedes it.
        conn = await connect()
        try:
            rows = await conn.fetch(conn._intro_query, [1016])
            names = sorted(r["name"] for r in rows)
            eq(names, ["_int8", "int8"], "introspected types for OID 1016")
        finally:
            await conn.close()

    await c.check("introspection_query_direct", introspection_query)

    async def record_column():
        v = await (await c.live_conn()).fetchval("SELECT named_struct('a', 1) AS s")
        eq(tuple(v), (1,), "named_struct('a', 1)")

    await c.check("record_column_binary", record_column)

    async def set_type_codec():
        conn = await connect()
        try:
            await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
            eq(await conn.fetchval("SELECT count(*) FROM logs"), 3, "count after set_type_codec")
        finally:
            await conn.close()

    await c.check("set_type_codec_json", set_type_codec)

    def raw(sql):
        async def run():
            await (await c.live_conn()).execute(sql)
        return run

    await c.check("set_application_name", raw("SET application_name = 'x'"))

    async def show():
        v = await (await c.live_conn()).fetchval("SHOW server_version")
        assert isinstance(v, str) and v.strip(), f"server_version = {v!r}"

    await c.check("show_server_version", show)

    async def raw_tx():
        conn = await c.live_conn()
        await conn.execute("BEGIN")
        eq(await conn.fetchval("SELECT count(*) FROM logs"), 3, "count in tx")
        await conn.execute("COMMIT")
        await conn.execute("BEGIN")
        await conn.execute("SELECT 1")
        await conn.execute("ROLLBACK")

    await c.check("begin_commit_rollback_raw", raw_tx)

    async def tx_api():
        conn = await c.live_conn()
        async with conn.transaction():
            eq(await conn.fetchval("SELECT count(*) FROM logs WHERE service = $1", "search"), 1, "count")
        tr = conn.transaction()
        await tr.start()
        await conn.fetchval("SELECT 1")
        await tr.rollback()
        eq(conn.is_in_transaction(), False, "in transaction after rollback")

    await c.check("transaction_api", tx_api)

    async def tx_api_readonly():
        # asyncpg sends BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY for this.
        conn = await c.live_conn()
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            eq(await conn.fetchval("SELECT count(*) FROM logs"), 3, "count")

    await c.check("transaction_api_readonly_repeatable_read", tx_api_readonly)

    await c.check("discard_all", raw("DISCARD ALL"))
    await c.check("reset_all", raw("RESET ALL"))
    await c.check("deallocate_all", raw("DEALLOCATE ALL"))

    # The statements of asyncpg's reset query, one by one.
    await c.check("reset_part_select_pg_advisory_unlock_all", raw("SELECT pg_advisory_unlock_all()"))
    await c.check("reset_part_close_all", raw("CLOSE ALL"))
    await c.check("reset_part_unlisten_star", raw("UNLISTEN *"))

    async def conn_reset():
        # Connection.reset() sends get_reset_query(): for a server reporting a PostgreSQL
        # version that is "SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;".
        conn = await connect()
        try:
            await conn.reset()
            eq(await conn.fetchval("SELECT count(*) FROM logs"), 3, "count after reset")
        finally:
            await conn.close()

    await c.check("connection_reset_query", conn_reset)

    async def pool():
        # A pool resets each connection on release (Connection.reset, above).
        p = await asyncpg.create_pool(**dsn_kwargs(), min_size=1, max_size=1)
        try:
            for i in range(3):
                async with p.acquire() as conn:
                    eq(await conn.fetchval("SELECT count(*) FROM logs WHERE service = $1", "checkout"), 2, f"acquire {i + 1}")
        finally:
            await asyncio.wait_for(p.close(), 10)

    await c.check("pool_acquire_release_3x", pool)

    def expect_sqlstate(sql, code):
        async def run():
            conn = await c.live_conn()
            try:
                await conn.execute(sql)
            except asyncpg.PostgresError as e:
                eq(e.sqlstate, code, f"SQLSTATE for {sql!r} (message: {str(e).strip()!r})")
            else:
                raise AssertionError(f"{sql!r} succeeded; expected SQLSTATE {code}")
            eq(await conn.fetchval("SELECT count(*) FROM logs"), 3, "count after the error:")
        return run

    await c.check("read_only_drop_25006", expect_sqlstate("DROP TABLE logs", "25006"))
    await c.check("unknown_table_42P01", expect_sqlstate("SELECT * FROM nope", "42P01"))

    async def unknown_table_prepared():
        conn = await c.live_conn()
        try:
            await conn.fetch("SELECT * FROM nope WHERE x = $1", 1)
        except asyncpg.PostgresError as e:
            eq(e.sqlstate, "42P01", f"SQLSTATE (message: {str(e).strip()!r})")
        else:
            raise AssertionError("succeeded")
        eq(await conn.fetchval("SELECT count(*) FROM logs WHERE service = $1", "search"), 1, "count after the error:")

    await c.check("unknown_table_42P01_extended", unknown_table_prepared)

    async def drop_prepared():
        conn = await c.live_conn()
        try:
            await conn.prepare("DROP TABLE logs")
        except asyncpg.PostgresError as e:
            eq(e.sqlstate, "25006", f"SQLSTATE (message: {str(e).strip()!r})")
        else:
            raise AssertionError("DROP TABLE logs prepared without error")
        eq(await conn.fetchval("SELECT count(*) FROM logs"), 3, "count after the error:")

    await c.check("read_only_drop_25006_extended", drop_prepared)

    if c.conn is not None and not c.conn.is_closed():
        await c.conn.close()
    return summary("asyncpg")


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except Exception:
        traceback.print_exc()
        print("FAIL harness: unexpected exception")
        sys.exit(2)
