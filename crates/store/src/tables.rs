//! The tables: their DuckDB DDL and how each is read.

use arrow::datatypes::SchemaRef;
use duckdb::Connection;

use crate::Result;

/// Every table the store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Logs,
    Stats,
    Insights,
    Patterns,
    Incidents,
    Alerts,
    Notifications,
}

/// Tables are created in the Arrow column order of `model::schema`, which the appender relies
/// on. `stats` holds partial rollups (one row per group per commit, so ingest never updates a
/// row in place); reads sum them and start-up compacts them.
pub(crate) const DDL: &str = "
CREATE TABLE IF NOT EXISTS logs (
    ts TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL,
    level VARCHAR NOT NULL,
    service VARCHAR NOT NULL,
    host VARCHAR,
    message VARCHAR NOT NULL,
    trace_id VARCHAR,
    attributes VARCHAR,
    source VARCHAR NOT NULL,
    pattern_id VARCHAR
);
-- Databases created before pattern mining lack the column; ADD COLUMN appends it last, which
-- is where the Arrow schema has it.
ALTER TABLE logs ADD COLUMN IF NOT EXISTS pattern_id VARCHAR;
CREATE TABLE IF NOT EXISTS stats (
    minute TIMESTAMP NOT NULL,
    service VARCHAR NOT NULL,
    level VARCHAR NOT NULL,
    count BIGINT NOT NULL,
    bytes BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS insights (
    id VARCHAR PRIMARY KEY,
    created_at TIMESTAMP NOT NULL,
    service VARCHAR,
    pattern_id VARCHAR,
    severity VARCHAR,
    title VARCHAR,
    summary VARCHAR,
    root_cause VARCHAR,
    suggested_fix VARCHAR,
    confidence DOUBLE,
    model VARCHAR,
    status VARCHAR,
    first_seen TIMESTAMP,
    last_seen TIMESTAMP,
    occurrences BIGINT,
    evidence VARCHAR
);
-- Databases created before incidents lack these; ADD COLUMN appends them last, as the Arrow
-- schema has them.
ALTER TABLE insights ADD COLUMN IF NOT EXISTS incident_id VARCHAR;
ALTER TABLE insights ADD COLUMN IF NOT EXISTS background BOOLEAN;
CREATE TABLE IF NOT EXISTS incidents (
    id VARCHAR PRIMARY KEY,
    status VARCHAR NOT NULL,
    severity VARCHAR,
    title VARCHAR,
    root_service VARCHAR,
    root_pattern VARCHAR,
    root_cause VARCHAR,
    symptom_services VARCHAR,
    symptom_patterns VARCHAR,
    started TIMESTAMP,
    last_seen TIMESTAMP,
    resolved_at TIMESTAMP,
    insight_count BIGINT,
    errors BIGINT,
    previous_id VARCHAR
);
CREATE TABLE IF NOT EXISTS alerts (
    name VARCHAR PRIMARY KEY,
    state VARCHAR NOT NULL,
    since TIMESTAMP,
    last_value DOUBLE,
    last_error VARCHAR,
    last_evaluated TIMESTAMP,
    fingerprint VARCHAR,
    labels VARCHAR,
    last_notified TIMESTAMP
);
-- The notification outbox: a row is written before anything is sent and settled after, so a
-- notifier outage or a restart loses nothing. `dedup_key` makes enqueueing idempotent.
CREATE TABLE IF NOT EXISTS notifications (
    id BIGINT PRIMARY KEY,
    created_at TIMESTAMP NOT NULL,
    notifier VARCHAR NOT NULL,
    event VARCHAR NOT NULL,
    subject VARCHAR NOT NULL,
    fingerprint VARCHAR NOT NULL,
    body VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    attempts BIGINT NOT NULL,
    last_error VARCHAR,
    sent_at TIMESTAMP,
    next_attempt TIMESTAMP,
    dedup_key VARCHAR NOT NULL
);
-- Staging for one pass's incident marks of patterns.
CREATE TABLE IF NOT EXISTS pattern_mark_stage (
    service VARCHAR, pattern_id VARCHAR, incident_id VARCHAR, background BOOLEAN
);
CREATE TABLE IF NOT EXISTS patterns (
    pattern_id VARCHAR NOT NULL,
    service VARCHAR NOT NULL,
    level VARCHAR,
    template VARCHAR NOT NULL,
    count BIGINT NOT NULL,
    first_seen TIMESTAMP,
    last_seen TIMESTAMP,
    example VARCHAR,
    PRIMARY KEY (pattern_id, service)
);
-- Staging for one commit's pattern changes, so they are upserted with one statement: DuckDB's
-- ON CONFLICT costs milliseconds per statement but little per row.
CREATE TABLE IF NOT EXISTS pattern_delta (
    pattern_id VARCHAR,
    service VARCHAR,
    level VARCHAR,
    template VARCHAR,
    count BIGINT,
    first_us BIGINT,
    last_us BIGINT,
    example VARCHAR
);
-- The miner's model (one JSON state per pattern), so pattern ids survive restarts.
CREATE TABLE IF NOT EXISTS pattern_state (
    pattern_id VARCHAR NOT NULL,
    state VARCHAR NOT NULL
);
";

/// `stats` as clients see it: the partial rows of each commit summed. The body names the stored
/// table with its schema, so it reads the same whether or not a view of the same name shadows it.
macro_rules! stats_summed {
    () => {
        "SELECT minute, service, level, CAST(sum(count) AS BIGINT) AS count, \
         CAST(sum(bytes) AS BIGINT) AS bytes FROM main.stats GROUP BY minute, service, level"
    };
}

const STATS_SOURCE: &str = concat!("(", stats_summed!(), ") AS stats");

/// `stats` for pushed-down queries: a temporary view of the same name on each reader
/// connection, shadowing the stored table (a temporary object is found before `main`'s).
pub(crate) fn stats_view(catalog: &str) -> String {
    let quoted = format!("\"{}\"", catalog.replace('"', "\"\""));
    format!(
        "CREATE TEMP VIEW stats AS {}",
        stats_summed!().replace("FROM main.stats", &format!("FROM {quoted}.main.stats"))
    )
}

impl Table {
    pub const ALL: [Table; 7] = [
        Table::Logs,
        Table::Stats,
        Table::Insights,
        Table::Patterns,
        Table::Incidents,
        Table::Alerts,
        Table::Notifications,
    ];

    /// The name SQL clients use.
    pub fn name(self) -> &'static str {
        match self {
            Table::Logs => "logs",
            Table::Stats => "stats",
            Table::Insights => "insights",
            Table::Patterns => "patterns",
            Table::Incidents => "incidents",
            Table::Alerts => "alerts",
            Table::Notifications => "notifications",
        }
    }

    /// The Arrow schema of the table as clients see it.
    pub fn schema(self) -> SchemaRef {
        match self {
            Table::Logs => model::schema::logs(),
            Table::Stats => model::schema::stats(),
            Table::Insights => model::schema::insights(),
            Table::Patterns => model::schema::patterns(),
            Table::Incidents => model::schema::incidents(),
            Table::Alerts => model::schema::alerts(),
            Table::Notifications => model::schema::notifications(),
        }
    }

    /// What a scan selects from: the table itself, or for `stats` the summed partials.
    pub(crate) fn source_sql(self) -> &'static str {
        match self {
            Table::Stats => STATS_SOURCE,
            other => other.name(),
        }
    }
}

/// Replaces the partial `stats` rows with one row per group, in one transaction, when the
/// partials outnumber the groups by enough to matter.
pub(crate) fn compact_stats(conn: &Connection) -> Result<()> {
    let (rows, groups): (i64, i64) = conn.query_row(
        "SELECT count(*), (SELECT count(*) FROM (SELECT DISTINCT minute, service, level FROM stats)) FROM stats",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if rows <= groups + groups / 2 {
        return Ok(());
    }
    conn.execute_batch(&format!(
        "BEGIN TRANSACTION;
         CREATE TEMP TABLE stats_compacted AS SELECT * FROM {STATS_SOURCE};
         DELETE FROM stats;
         INSERT INTO stats SELECT minute, service, level, count, bytes FROM stats_compacted;
         DROP TABLE stats_compacted;
         COMMIT;"
    ))?;
    tracing::info!(rows, groups, "compacted stats");
    Ok(())
}

/// Folds a retired pattern into its survivor: its count and time range into the survivor's
/// row (or the row is renamed when the survivor has none yet), its rows in `logs` re-pointed.
/// Rows of a pattern are never older than its `first_seen`, which keeps the `logs` update to
/// the recent row groups.
pub(crate) fn merge_pattern(conn: &Connection, merge: &model::PatternMerge) -> Result<()> {
    let retired: Option<(Option<i64>, String)> = conn
        .query_row(
            "SELECT epoch_us(first_seen), service FROM patterns WHERE pattern_id = ?",
            [&merge.retired],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map(Some)
        .or_else(|e| match e {
            duckdb::Error::QueryReturnedNoRows => Ok(None),
            other => Err(other),
        })?;
    let Some((first_seen, service)) = retired else {
        return Ok(());
    };
    let survivor_exists: bool = conn.query_row(
        "SELECT count(*) > 0 FROM patterns WHERE pattern_id = ? AND service = ?",
        duckdb::params![merge.survivor, service],
        |r| r.get(0),
    )?;
    if survivor_exists {
        conn.execute(
            "UPDATE patterns SET
               count = patterns.count + r.count,
               first_seen = least(patterns.first_seen, r.first_seen),
               last_seen = greatest(patterns.last_seen, r.last_seen)
             FROM (SELECT count, first_seen, last_seen FROM patterns
                   WHERE pattern_id = ? AND service = ?) AS r
             WHERE patterns.pattern_id = ? AND patterns.service = ?",
            duckdb::params![merge.retired, service, merge.survivor, service],
        )?;
        conn.execute(
            "DELETE FROM patterns WHERE pattern_id = ? AND service = ?",
            duckdb::params![merge.retired, service],
        )?;
    } else {
        conn.execute(
            "UPDATE patterns SET pattern_id = ? WHERE pattern_id = ? AND service = ?",
            duckdb::params![merge.survivor, merge.retired, service],
        )?;
    }
    match first_seen {
        Some(since) => conn.execute(
            "UPDATE logs SET pattern_id = ? WHERE pattern_id = ? AND ts >= make_timestamp(?)",
            duckdb::params![merge.survivor, merge.retired, since],
        )?,
        None => conn.execute(
            "UPDATE logs SET pattern_id = ? WHERE pattern_id = ?",
            duckdb::params![merge.survivor, merge.retired],
        )?,
    };
    Ok(())
}

const LEVEL_ORDER: &str = "['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL']";

/// Adds a commit's pattern changes: new patterns are inserted, known ones get their count,
/// time range, template and (if more severe) level updated.
pub(crate) fn upsert_patterns(conn: &Connection, deltas: &[model::PatternDelta]) -> Result<()> {
    if deltas.is_empty() {
        return Ok(());
    }
    conn.execute_batch("DELETE FROM pattern_delta")?;
    let mut appender = conn.appender("pattern_delta")?;
    for d in deltas {
        appender.append_row(duckdb::params![
            d.pattern_id,
            d.service,
            d.level,
            d.template,
            d.count,
            d.first_seen,
            d.last_seen,
            d.example
        ])?;
    }
    appender.flush()?;
    drop(appender);
    conn.execute_batch(&format!(
        "INSERT INTO patterns
         SELECT pattern_id, service, level, template, count, make_timestamp(first_us),
                make_timestamp(last_us), example
         FROM pattern_delta
         ON CONFLICT (pattern_id, service) DO UPDATE SET
           count = patterns.count + excluded.count,
           first_seen = least(patterns.first_seen, excluded.first_seen),
           last_seen = greatest(patterns.last_seen, excluded.last_seen),
           template = excluded.template,
           level = CASE WHEN coalesce(list_position({LEVEL_ORDER}, excluded.level), 0)
                           > coalesce(list_position({LEVEL_ORDER}, patterns.level), 0)
                        THEN excluded.level ELSE patterns.level END;
         DELETE FROM pattern_delta;"
    ))?;
    Ok(())
}
