//! Writing `insights`: updates are applied idempotently. Every event an update accounts for is
//! remembered in `insight_events`; an event already there is not counted again, and an update
//! whose events were all seen is a redelivery and changes nothing.

use std::collections::HashMap;

use duckdb::Connection;
use duckdb::types::{TimeUnit, Value};
use model::{Applied, InsightUpdate, UpdateKind, fold_updates};

use crate::Result;

pub(crate) const DDL: &str = "
CREATE TABLE IF NOT EXISTS insight_events (
    event_id VARCHAR PRIMARY KEY,
    insight_id VARCHAR NOT NULL,
    seen_at TIMESTAMP NOT NULL
);
-- Staging for one apply's event ids, so they are checked and inserted with one statement each.
CREATE TABLE IF NOT EXISTS insight_event_stage (event_id VARCHAR, insight_id VARCHAR);
";

/// Applies `updates` on `conn`, inside the caller's transaction.
pub(crate) fn apply(conn: &Connection, updates: &[InsightUpdate]) -> Result<Applied> {
    let mut applied = Applied::default();
    if updates.is_empty() {
        return Ok(applied);
    }
    conn.execute_batch("DELETE FROM insight_event_stage")?;
    let mut appender = conn.appender("insight_event_stage")?;
    for u in updates {
        for event in &u.event_ids {
            appender.append_row([event.as_str(), u.insight.id.as_str()])?;
        }
    }
    appender.flush()?;
    drop(appender);

    const NEW: &str = "FROM insight_event_stage s WHERE NOT EXISTS \
                       (SELECT 1 FROM insight_events e WHERE e.event_id = s.event_id)";
    let mut new_per_insight: HashMap<String, i64> = HashMap::new();
    {
        let mut stmt = conn.prepare(&format!(
            "SELECT insight_id, count(DISTINCT event_id) {NEW} GROUP BY insight_id"
        ))?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (id, n) = row?;
            new_per_insight.insert(id, n);
        }
    }
    conn.execute_batch(&format!(
        "INSERT INTO insight_events
         SELECT event_id, any_value(insight_id), now()::TIMESTAMP {NEW} GROUP BY event_id;
         DELETE FROM insight_event_stage;"
    ))?;

    let mut upsert = conn.prepare(&format!(
        "{INSERT} ON CONFLICT (id) DO UPDATE SET {ANALYSIS}, {COUNTS}"
    ))?;
    let mut count = conn.prepare(&format!("{INSERT} ON CONFLICT (id) DO UPDATE SET {COUNTS}"))?;
    for folded in fold_updates(updates) {
        let new = new_per_insight
            .get(&folded.insight.id)
            .copied()
            .unwrap_or(0);
        if folded.is_redelivery(new) {
            applied.duplicates += 1;
            continue;
        }
        let statement = match folded.kind {
            UpdateKind::CountOnly => &mut count,
            UpdateKind::Analysis | UpdateKind::Refresh => &mut upsert,
        };
        let insight = folded.insight;
        let ts = |us: i64| Value::Timestamp(TimeUnit::Microsecond, us);
        statement.execute(duckdb::params![
            insight.id,
            ts(insight.created_at_us),
            insight.service,
            insight.pattern_id,
            insight.severity,
            insight.title,
            insight.summary,
            insight.root_cause,
            insight.suggested_fix,
            insight.confidence,
            insight.model,
            insight.status,
            ts(insight.first_seen_us),
            ts(insight.last_seen_us),
            new,
            insight.evidence,
        ])?;
        applied.new_events += new as u64;
        applied.insights_written += 1;
    }
    Ok(applied)
}

const INSERT: &str = "INSERT INTO insights (id, created_at, service, pattern_id, severity, title,
    summary, root_cause, suggested_fix, confidence, model, status, first_seen, last_seen,
    occurrences, evidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const ANALYSIS: &str = "severity = excluded.severity, title = excluded.title,
    summary = excluded.summary, root_cause = excluded.root_cause,
    suggested_fix = excluded.suggested_fix, confidence = excluded.confidence,
    model = excluded.model, status = excluded.status, evidence = excluded.evidence";
const COUNTS: &str = "first_seen = least(insights.first_seen, excluded.first_seen),
    last_seen = greatest(insights.last_seen, excluded.last_seen),
    occurrences = insights.occurrences + excluded.occurrences";
