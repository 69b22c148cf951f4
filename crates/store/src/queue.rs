//! The analysis queue: error records routed to analysis, written in the same transaction as
//! their `logs` rows. In embedded mode it is the queue the in-process worker consumes; with
//! Kafka it is the outbox (spool) the relay drains into `logs.to.analyze`. Either way a row is
//! deleted only after its consumer has durably handled it, so the queue is at-least-once and
//! survives restarts.

use duckdb::Connection;
use duckdb::types::{TimeUnit, Value};
use model::ErrorEvent;

use crate::Result;

/// A queued event and its position in the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedEvent {
    pub seq: u64,
    pub event: ErrorEvent,
}

pub(crate) const DDL: &str = "
CREATE TABLE IF NOT EXISTS analysis_queue (
    seq BIGINT PRIMARY KEY,
    ts TIMESTAMP NOT NULL,
    service VARCHAR NOT NULL,
    level VARCHAR NOT NULL,
    message VARCHAR NOT NULL,
    host VARCHAR,
    trace_id VARCHAR,
    pattern_id VARCHAR,
    template VARCHAR
);
-- Small facts about this database: its instance id and the queue's high-water mark, which
-- must survive an empty queue so event ids are never reused.
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
";

/// Reads a `meta` value.
pub(crate) fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>> {
    let mut stmt = conn.prepare("SELECT value FROM meta WHERE key = ?")?;
    let mut rows = stmt.query([key])?;
    Ok(match rows.next()? {
        Some(row) => Some(row.get(0)?),
        None => None,
    })
}

pub(crate) fn meta_set(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )?;
    Ok(())
}

/// Appends `events` with sequence numbers from `first_seq` on. The event ids given by the
/// caller are ignored: the id is derived from the sequence when the event is read.
pub(crate) fn enqueue(conn: &Connection, first_seq: u64, events: &[ErrorEvent]) -> Result<()> {
    let mut appender = conn.appender("analysis_queue")?;
    for (i, e) in events.iter().enumerate() {
        appender.append_row(duckdb::params![
            (first_seq + i as u64) as i64,
            Value::Timestamp(TimeUnit::Microsecond, e.ts_us),
            e.service,
            e.level,
            e.message,
            e.host,
            e.trace_id,
            e.pattern_id,
            e.template,
        ])?;
    }
    appender.flush()?;
    Ok(())
}

/// The oldest `max` events, in queue order.
pub(crate) fn head(conn: &Connection, instance: &str, max: usize) -> Result<Vec<QueuedEvent>> {
    let mut stmt = conn.prepare(
        "SELECT seq, epoch_us(ts), service, level, message, host, trace_id, pattern_id, template
         FROM analysis_queue ORDER BY seq LIMIT ?",
    )?;
    let rows = stmt.query_map([max as i64], |r| {
        let seq: i64 = r.get(0)?;
        Ok(QueuedEvent {
            seq: seq as u64,
            event: ErrorEvent {
                event_id: format!("{instance}-{seq}"),
                ts_us: r.get(1)?,
                service: r.get(2)?,
                level: r.get(3)?,
                message: r.get(4)?,
                host: r.get(5)?,
                trace_id: r.get(6)?,
                pattern_id: r.get(7)?,
                template: r.get(8)?,
            },
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Deletes the given sequence numbers, as few contiguous ranges.
pub(crate) fn remove(conn: &Connection, seqs: &[u64]) -> Result<()> {
    let mut sorted = seqs.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut stmt = conn.prepare("DELETE FROM analysis_queue WHERE seq BETWEEN ? AND ?")?;
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        stmt.execute([start as i64, end as i64])?;
        i += 1;
    }
    Ok(())
}

pub(crate) fn len(conn: &Connection) -> Result<u64> {
    let n: i64 = conn.query_row("SELECT count(*) FROM analysis_queue", [], |r| r.get(0))?;
    Ok(n as u64)
}
