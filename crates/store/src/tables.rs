//! The tables: their DuckDB DDL and how each is read.

use arrow::datatypes::SchemaRef;
use duckdb::Connection;

use crate::Result;

/// Every table the store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Logs,
    Stats,
    Insights,
    Patterns,
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
    source VARCHAR NOT NULL
);
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
";

const STATS_SOURCE: &str = "(SELECT minute, service, level, CAST(sum(count) AS BIGINT) AS count, \
     CAST(sum(bytes) AS BIGINT) AS bytes FROM stats GROUP BY minute, service, level) AS stats";

impl Table {
    pub const ALL: [Table; 4] = [Table::Logs, Table::Stats, Table::Insights, Table::Patterns];

    /// The name SQL clients use.
    pub fn name(self) -> &'static str {
        match self {
            Table::Logs => "logs",
            Table::Stats => "stats",
            Table::Insights => "insights",
            Table::Patterns => "patterns",
        }
    }

    /// The Arrow schema of the table as clients see it.
    pub fn schema(self) -> SchemaRef {
        match self {
            Table::Logs => model::schema::logs(),
            Table::Stats => model::schema::stats(),
            Table::Insights => model::schema::insights(),
            Table::Patterns => model::schema::patterns(),
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
