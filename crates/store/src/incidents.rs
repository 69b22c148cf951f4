//! What the incident tracker reads and writes: per-minute error counts of the patterns in
//! `logs`, taken by arrival (`received_at`) so a pass reads only what arrived since the last
//! one, and the `incidents` rows and the insights' incident marks it keeps up to date.

use duckdb::Connection;
use duckdb::types::{TimeUnit, Value};

use crate::Result;

/// The levels whose records are errors for incidents: those the analysis routes by level.
pub const ERROR_LEVELS: &[&str] = &["ERROR", "CRITICAL", "FATAL", "ALERT", "EMERG", "EMERGENCY"];

/// Errors of one (service, pattern, level) in one minute of event time.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorMinute {
    pub minute_us: i64,
    pub service: String,
    pub pattern_id: String,
    pub level: String,
    pub count: u64,
    pub first_us: i64,
    pub last_us: i64,
    /// The minute's first and last message.
    pub first_message: String,
    pub last_message: String,
}

/// One row of `incidents`. Times are UTC microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRow {
    pub id: String,
    pub status: String,
    pub severity: String,
    pub title: String,
    pub root_service: String,
    pub root_pattern: String,
    pub root_cause: String,
    /// JSON arrays.
    pub symptom_services: String,
    pub symptom_patterns: String,
    pub started_us: i64,
    pub last_seen_us: i64,
    pub resolved_at_us: Option<i64>,
    pub insight_count: i64,
    pub errors: i64,
    pub previous_id: Option<String>,
}

/// Where a pattern's insight stands: the last incident it was part of, and whether it is
/// background.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternMark {
    pub service: String,
    pub pattern_id: String,
    pub incident_id: Option<String>,
    pub background: bool,
}

/// The error counts of rows that arrived in `(after_us, until_us]`.
pub(crate) fn error_minutes(
    conn: &Connection,
    after_us: i64,
    until_us: i64,
) -> Result<Vec<ErrorMinute>> {
    let levels = ERROR_LEVELS
        .iter()
        .map(|l| format!("'{l}'"))
        .collect::<Vec<_>>()
        .join(", ");
    // `arg_min`/`arg_max` keep one message each per group, whatever the group's size.
    let mut stmt = conn.prepare(&format!(
        "SELECT epoch_us(time_bucket(INTERVAL 1 MINUTE, ts)) AS minute, service,
                pattern_id, upper(level) AS lvl, count(*), epoch_us(min(ts)), epoch_us(max(ts)),
                arg_min(message, ts), arg_max(message, ts)
         FROM logs
         WHERE received_at > make_timestamp(?) AND received_at <= make_timestamp(?)
           AND upper(level) IN ({levels}) AND pattern_id IS NOT NULL
         GROUP BY ALL ORDER BY minute"
    ))?;
    let rows = stmt.query_map([after_us, until_us], |r| {
        Ok(ErrorMinute {
            minute_us: r.get(0)?,
            service: r.get(1)?,
            pattern_id: r.get(2)?,
            level: r.get(3)?,
            count: r.get::<_, i64>(4)? as u64,
            first_us: r.get(5)?,
            last_us: r.get(6)?,
            first_message: r.get(7)?,
            last_message: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
}

/// The earliest `ts` of the rows that arrived in `(after_us, until_us]`, of any level.
pub(crate) fn first_ts(conn: &Connection, after_us: i64, until_us: i64) -> Result<Option<i64>> {
    Ok(conn.query_row(
        "SELECT epoch_us(min(ts)) FROM logs
         WHERE received_at > make_timestamp(?) AND received_at <= make_timestamp(?)",
        [after_us, until_us],
        |r| r.get(0),
    )?)
}

/// The templates of `keys` (`(service, pattern_id)`), from `patterns`.
pub(crate) fn templates(
    conn: &Connection,
    keys: &[(String, String)],
) -> Result<Vec<(String, String, String)>> {
    let mut stmt =
        conn.prepare("SELECT template FROM patterns WHERE service = ? AND pattern_id = ?")?;
    let mut out = Vec::new();
    for (service, pattern) in keys {
        let mut rows = stmt.query([service, pattern])?;
        if let Some(row) = rows.next()? {
            out.push((service.clone(), pattern.clone(), row.get(0)?));
        }
    }
    Ok(out)
}

/// Upserts `incidents` and sets the marks on the insights of those patterns, inside the
/// caller's transaction. An insight written after its mark gets it on a later pass: the
/// caller sends every mark it holds, and only rows that differ are updated.
pub(crate) fn save(
    conn: &Connection,
    incidents: &[IncidentRow],
    marks: &[PatternMark],
) -> Result<()> {
    let ts = |us: i64| Value::Timestamp(TimeUnit::Microsecond, us);
    let mut upsert = conn.prepare(
        "INSERT INTO incidents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, severity = excluded.severity,
           title = excluded.title, root_service = excluded.root_service,
           root_pattern = excluded.root_pattern, root_cause = excluded.root_cause,
           symptom_services = excluded.symptom_services,
           symptom_patterns = excluded.symptom_patterns, started = excluded.started,
           last_seen = excluded.last_seen, resolved_at = excluded.resolved_at,
           insight_count = excluded.insight_count, errors = excluded.errors,
           previous_id = excluded.previous_id",
    )?;
    for i in incidents {
        upsert.execute(duckdb::params![
            i.id,
            i.status,
            i.severity,
            i.title,
            i.root_service,
            i.root_pattern,
            i.root_cause,
            i.symptom_services,
            i.symptom_patterns,
            ts(i.started_us),
            ts(i.last_seen_us),
            i.resolved_at_us.map(ts),
            i.insight_count,
            i.errors,
            i.previous_id,
        ])?;
    }
    if marks.is_empty() {
        return Ok(());
    }
    conn.execute_batch("DELETE FROM pattern_mark_stage")?;
    let mut appender = conn.appender("pattern_mark_stage")?;
    for m in marks {
        appender.append_row(duckdb::params![
            m.service,
            m.pattern_id,
            m.incident_id,
            m.background
        ])?;
    }
    appender.flush()?;
    drop(appender);
    conn.execute_batch(
        "UPDATE insights SET incident_id = m.incident_id, background = m.background
         FROM pattern_mark_stage m
         WHERE insights.service = m.service AND insights.pattern_id = m.pattern_id
           AND (insights.incident_id IS DISTINCT FROM m.incident_id
                OR insights.background IS DISTINCT FROM m.background);
         DELETE FROM pattern_mark_stage;",
    )?;
    Ok(())
}
