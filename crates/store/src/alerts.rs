//! Alert rule state and the notification outbox. The state survives a restart, so a firing
//! alert is not announced again; a notification is a row before it is a request, and is
//! settled (sent, or failed for good) only after the receiver answered.

use duckdb::types::{TimeUnit, Value};
use duckdb::{Connection, OptionalExt};

use crate::Result;

/// One row of `alerts`. Times are UTC microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    pub name: String,
    pub state: String,
    pub since_us: Option<i64>,
    pub last_value: Option<f64>,
    pub last_error: Option<String>,
    pub last_evaluated_us: Option<i64>,
    pub fingerprint: String,
    /// JSON object.
    pub labels: String,
    pub last_notified_us: Option<i64>,
}

/// A notification to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub notifier: String,
    pub event: String,
    pub subject: String,
    pub fingerprint: String,
    pub body: String,
    /// Enqueued once: a second notification with the same key is dropped.
    pub dedup_key: String,
}

/// A notification waiting to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingNotification {
    pub id: i64,
    pub created_at_us: i64,
    pub notifier: String,
    pub event: String,
    pub body: String,
    pub attempts: i64,
}

fn ts(us: i64) -> Value {
    Value::Timestamp(TimeUnit::Microsecond, us)
}

pub(crate) fn save_alert(conn: &Connection, a: &AlertRow) -> Result<()> {
    conn.execute(
        "INSERT INTO alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET state = excluded.state, since = excluded.since,
           last_value = excluded.last_value, last_error = excluded.last_error,
           last_evaluated = excluded.last_evaluated, fingerprint = excluded.fingerprint,
           labels = excluded.labels, last_notified = excluded.last_notified",
        duckdb::params![
            a.name,
            a.state,
            a.since_us.map(ts),
            a.last_value,
            a.last_error,
            a.last_evaluated_us.map(ts),
            a.fingerprint,
            a.labels,
            a.last_notified_us.map(ts),
        ],
    )?;
    Ok(())
}

pub(crate) fn load_alert(conn: &Connection, name: &str) -> Result<Option<AlertRow>> {
    Ok(conn
        .query_row(
            "SELECT name, state, epoch_us(since), last_value, last_error, epoch_us(last_evaluated),
                    fingerprint, labels, epoch_us(last_notified)
             FROM alerts WHERE name = ?",
            [name],
            |r| {
                Ok(AlertRow {
                    name: r.get(0)?,
                    state: r.get(1)?,
                    since_us: r.get(2)?,
                    last_value: r.get(3)?,
                    last_error: r.get(4)?,
                    last_evaluated_us: r.get(5)?,
                    fingerprint: r.get(6)?,
                    labels: r.get(7)?,
                    last_notified_us: r.get(8)?,
                })
            },
        )
        .optional()?)
}

/// Enqueues `items` (skipping any whose `dedup_key` is already there); returns how many.
pub(crate) fn enqueue(conn: &Connection, now_us: i64, items: &[NewNotification]) -> Result<u64> {
    let mut added = 0;
    let mut next: i64 = conn.query_row(
        "SELECT coalesce(max(id), 0) + 1 FROM notifications",
        [],
        |r| r.get(0),
    )?;
    let mut exists = conn.prepare("SELECT count(*) FROM notifications WHERE dedup_key = ?")?;
    let mut insert = conn.prepare(
        "INSERT INTO notifications VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, NULL, NULL, ?, ?)",
    )?;
    for n in items {
        let seen: i64 = exists.query_row([&n.dedup_key], |r| r.get(0))?;
        if seen > 0 {
            continue;
        }
        insert.execute(duckdb::params![
            next,
            ts(now_us),
            n.notifier,
            n.event,
            n.subject,
            n.fingerprint,
            n.body,
            ts(now_us),
            n.dedup_key,
        ])?;
        next += 1;
        added += 1;
    }
    Ok(added)
}

pub(crate) fn due(conn: &Connection, now_us: i64, max: usize) -> Result<Vec<PendingNotification>> {
    let mut stmt = conn.prepare(
        "SELECT id, epoch_us(created_at), notifier, event, body, attempts FROM notifications
         WHERE status = 'pending' AND next_attempt <= ? ORDER BY id LIMIT ?",
    )?;
    let rows = stmt.query_map(duckdb::params![ts(now_us), max as i64], |r| {
        Ok(PendingNotification {
            id: r.get(0)?,
            created_at_us: r.get(1)?,
            notifier: r.get(2)?,
            event: r.get(3)?,
            body: r.get(4)?,
            attempts: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
}

/// Records one attempt: `status` is `sent`, `failed`, or `pending` with the next attempt's time.
pub(crate) fn settle(
    conn: &Connection,
    id: i64,
    status: &str,
    error: Option<&str>,
    now_us: i64,
    next_attempt_us: Option<i64>,
) -> Result<()> {
    conn.execute(
        "UPDATE notifications SET status = ?, attempts = attempts + 1, last_error = ?,
           sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END,
           next_attempt = coalesce(?, next_attempt)
         WHERE id = ?",
        duckdb::params![
            status,
            error,
            status,
            ts(now_us),
            next_attempt_us.map(ts),
            id
        ],
    )?;
    Ok(())
}

/// Deletes settled notifications created before `before_us`.
pub(crate) fn expire(conn: &Connection, before_us: i64) -> Result<u64> {
    Ok(conn.execute(
        "DELETE FROM notifications WHERE status <> 'pending' AND created_at < ?",
        [ts(before_us)],
    )? as u64)
}
