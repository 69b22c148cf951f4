// node-postgres (`pg`) against the Log Insight SQL endpoint. See README.md for the checks.
//
// Run from this folder after `npm install` (install-clients.sh does it): node node_pg_test.mjs
// Prints `ok <name>` / `FAIL <name>: <reason>` per check; exits 0 only if every check passed.
// node-pg returns int8 (count(*), sum) as a string by design: checks parse it and check the
// column's type OID instead.
import pg from 'pg';

const T0 = new Date(Date.UTC(2024, 4, 1, 12, 0, 0));
const PARAM_SQL =
  'SELECT ts, level, service, host, message FROM logs WHERE service = $1 AND ts >= $2 ORDER BY ts';
const TYPES_SQL =
  "SELECT 1::int4 AS i4, 2::int8 AS i8, 1.5::float8 AS f8, 'x'::text AS t, NULL::text AS n, true AS b";

const config = () => ({
  host: process.env.PGHOST || '127.0.0.1',
  port: Number(process.env.PGPORT || 5432),
  user: process.env.PGUSER || 'loginsight',
  database: process.env.PGDATABASE || 'loginsight',
  connectionTimeoutMillis: 10000,
  query_timeout: 20000,
});

const results = [];
class Wrong extends Error {}

function report(name, err) {
  results.push([name, err]);
  console.log(err == null ? `ok ${name}` : `FAIL ${name}: ${err}`);
}

function eq(actual, expected, what = '') {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Wrong(`${what} expected ${e}, got ${a}`);
}

function describe(e) {
  if (e instanceof Wrong) return `wrong result: ${e.message}`;
  const code = e && e.code ? ` [SQLSTATE ${e.code}]` : '';
  return `${e && e.constructor ? e.constructor.name : 'Error'}${code}: ${String(e && e.message).replace(/\n/g, ' | ')}`;
}

async function check(name, fn) {
  try {
    await fn();
    report(name, null);
  } catch (e) {
    report(name, describe(e));
  }
}

let shared = null;
async function conn() {
  if (shared == null || shared._ending || shared._connectionError) {
    shared = new pg.Client(config());
    shared.on('error', () => {}); // a dropped connection shows up in the next query
    await shared.connect();
  }
  return shared;
}

async function fresh() {
  const c = new pg.Client(config());
  c.on('error', () => {});
  await c.connect();
  return c;
}

function checkParamRows(res) {
  const rows = res.rows;
  eq(rows.length, 2, 'row count');
  const ts = rows[0].ts;
  if (!(ts instanceof Date)) throw new Wrong(`ts is ${typeof ts} ${JSON.stringify(ts)}, not a Date`);
  eq(ts.getTime(), T0.getTime(), 'ts (ms since epoch)');
  eq([rows[0].level, rows[0].service, rows[0].host, rows[0].message],
    ['ERROR', 'checkout', 'web-1', 'payment timed out'], 'row 1');
  eq(rows[1].host, null, 'host of row 2');
  eq(rows[1].message, 'order placed', 'message of row 2');
  eq(res.fields.map((f) => f.dataTypeID), [1184, 25, 25, 25, 25], 'column type OIDs');
}

async function expectSqlstate(sql, code) {
  const c = await conn();
  let err = null;
  try {
    await c.query(sql);
  } catch (e) {
    err = e;
  }
  if (err == null) throw new Wrong(`${sql} succeeded; expected SQLSTATE ${code}`);
  if (err.code !== code) throw new Wrong(`SQLSTATE for ${sql}: expected ${code}, got ${err.code} (message: ${err.message})`);
  const r = await c.query('SELECT count(*) AS n FROM logs');
  eq(Number(r.rows[0].n), 3, 'count after the error:');
}

async function main() {
  await check('connect', async () => {
    const c = await conn();
    // A bare `SELECT 1` is int8 here (DataFusion), int4 in PostgreSQL; node-pg gives int8 as
    // a string, so compare the number.
    const r = await c.query('SELECT 1 AS one');
    eq(Number(r.rows[0].one), 1, 'SELECT 1');
  });

  await check('count', async () => {
    const r = await (await conn()).query('SELECT count(*) FROM logs');
    const f = r.fields[0];
    eq(f.dataTypeID, 20, 'count(*) type OID');
    const v = r.rows[0][f.name];
    eq(Number(v), 3, 'count');
    if (!Number.isInteger(Number(v))) throw new Wrong(`count is not an integer: ${v}`);
  });

  await check('params', async () => {
    checkParamRows(await (await conn()).query(PARAM_SQL, ['checkout', T0]));
  });

  await check('params_iso_string_timestamp', async () => {
    checkParamRows(await (await conn()).query(PARAM_SQL, ['checkout', '2024-05-01T12:00:00Z']));
  });

  await check('named_prepared_statement_2x', async () => {
    const c = await conn();
    // The first run sends Parse(q1)+Bind+Execute; the second only Bind+Execute to q1.
    for (let i = 1; i <= 2; i++) {
      const r = await c.query({ name: 'q1', text: PARAM_SQL, values: ['checkout', T0] });
      try {
        checkParamRows(r);
      } catch (e) {
        throw new Wrong(`run ${i}: ${e.message}`);
      }
    }
    const r = await c.query({ name: 'q1', text: PARAM_SQL, values: ['search', T0] });
    eq(r.rows.map((x) => x.message), ['slow query'], 'run 3 with other values');
  });

  await check('types', async () => {
    const r = await (await conn()).query(TYPES_SQL);
    eq(r.fields.map((f) => f.name), ['i4', 'i8', 'f8', 't', 'n', 'b'], 'names');
    eq(r.fields.map((f) => f.dataTypeID), [23, 20, 701, 25, 25, 16], 'type OIDs');
    const row = r.rows[0];
    eq(typeof row.i4, 'number', 'typeof i4');
    eq(row.i4, 1, 'i4');
    eq(row.i8, '2', 'i8 (node-pg returns int8 as a string)');
    eq(typeof row.f8, 'number', 'typeof f8');
    eq(row.f8, 1.5, 'f8');
    eq(row.t, 'x', 't');
    eq(row.n, null, 'n');
    eq(row.b, true, 'b');
  });

  await check('types_rowmode_array_with_param', async () => {
    const r = await (await conn()).query({
      text: 'SELECT $1::int4 AS i4, $2::float8 AS f8, $3::bool AS b', values: [7, 2.25, false], rowMode: 'array',
    });
    eq(r.rows[0], [7, 2.25, false], 'row');
  });

  await check('json_attributes', async () => {
    const r = await (await conn()).query("SELECT attributes FROM logs WHERE service = 'search'");
    let v = r.rows[0].attributes;
    if (typeof v === 'string') v = JSON.parse(v);
    eq(v, { latency_ms: 12.5 }, 'attributes');
  });

  await check('stats_sum', async () => {
    const r = await (await conn()).query('SELECT sum(count) AS s FROM stats');
    eq(Number(r.rows[0].s), 3, 'sum(count)');
  });

  const raw = (sql) => async () => { await (await conn()).query(sql); };
  await check('set_application_name', raw("SET application_name = 'x'"));

  await check('show_server_version', async () => {
    const r = await (await conn()).query('SHOW server_version');
    const v = r.rows[0][r.fields[0].name];
    if (typeof v !== 'string' || !v.trim()) throw new Wrong(`server_version = ${JSON.stringify(v)}`);
  });

  await check('begin_commit_rollback', async () => {
    const c = await conn();
    await c.query('BEGIN');
    const r = await c.query('SELECT count(*) AS n FROM logs WHERE service = $1', ['checkout']);
    eq(Number(r.rows[0].n), 2, 'count in tx');
    await c.query('COMMIT');
    await c.query('BEGIN');
    await c.query('SELECT 1');
    await c.query('ROLLBACK');
  });

  await check('discard_all', raw('DISCARD ALL'));
  await check('reset_all', raw('RESET ALL'));
  await check('deallocate_all', raw('DEALLOCATE ALL'));

  await check('pool_query_3x', async () => {
    const pool = new pg.Pool({ ...config(), max: 1 });
    pool.on('error', () => {});
    try {
      for (let i = 0; i < 3; i++) {
        const r = await pool.query('SELECT count(*) AS n FROM logs WHERE service = $1', ['search']);
        eq(Number(r.rows[0].n), 1, `pool query ${i + 1}`);
      }
    } finally {
      await pool.end();
    }
  });

  await check('read_only_drop_25006', () => expectSqlstate('DROP TABLE logs', '25006'));
  await check('unknown_table_42P01', () => expectSqlstate('SELECT * FROM nope', '42P01'));

  await check('unknown_table_42P01_extended', async () => {
    const c = await fresh();
    try {
      let err = null;
      try {
        await c.query('SELECT * FROM nope WHERE x = $1', [1]);
      } catch (e) {
        err = e;
      }
      if (err == null) throw new Wrong('succeeded');
      if (err.code !== '42P01') throw new Wrong(`SQLSTATE expected 42P01, got ${err.code} (message: ${err.message})`);
      const r = await c.query('SELECT count(*) AS n FROM logs WHERE service = $1', ['checkout']);
      eq(Number(r.rows[0].n), 2, 'count after the error:');
    } finally {
      await c.end();
    }
  });

  if (shared) await shared.end().catch(() => {});
  const failed = results.filter(([, e]) => e != null).length;
  console.log(`node-pg: ${results.length - failed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

const timer = setTimeout(() => {
  console.log('FAIL harness: timed out after 120s');
  process.exit(2);
}, 120000);
main().then(
  (code) => { clearTimeout(timer); process.exit(code); },
  (e) => { console.log(`FAIL harness: ${e && e.stack}`); process.exit(2); },
);
