//! The Arrow schemas of the tables, as SQL clients see them.
//!
//! Every field is nullable: DuckDB reports all result columns as nullable, and keeping the
//! declared schema identical to what a scan yields avoids schema mismatches inside DataFusion.
//! Timestamps are microseconds in UTC (`timestamptz` on the Postgres wire).

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The time zone carried by every timestamp column.
pub const UTC: &str = "UTC";

/// `Timestamp(µs, UTC)`, the type of every time column.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
}

fn ts(name: &str) -> Field {
    Field::new(name, timestamp_type(), true)
}

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn int(name: &str) -> Field {
    Field::new(name, DataType::Int64, true)
}

static LOGS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        ts("ts"),
        ts("received_at"),
        text("level"),
        text("service"),
        text("host"),
        text("message"),
        text("trace_id"),
        // JSON object text: every input field that has no column of its own.
        text("attributes"),
        // The ingestion channel ("http", "datadog", …), not a field of the payload.
        text("source"),
        // The mined message template the record belongs to (see `patterns`).
        text("pattern_id"),
    ]))
});

static STATS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        ts("minute"),
        text("service"),
        text("level"),
        int("count"),
        int("bytes"),
    ]))
});

static INSIGHTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        text("id"),
        ts("created_at"),
        text("service"),
        text("pattern_id"),
        text("severity"),
        text("title"),
        text("summary"),
        text("root_cause"),
        text("suggested_fix"),
        Field::new("confidence", DataType::Float64, true),
        text("model"),
        text("status"),
        ts("first_seen"),
        ts("last_seen"),
        int("occurrences"),
        text("evidence"),
        // The last incident its pattern was part of (see `incidents`).
        text("incident_id"),
        // Its pattern ran at a steady rate before: part of no incident, nobody's symptom.
        Field::new("background", DataType::Boolean, true),
    ]))
});

static INCIDENTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        text("id"),
        // `open` or `resolved`.
        text("status"),
        text("severity"),
        text("title"),
        text("root_service"),
        text("root_pattern"),
        text("root_cause"),
        // JSON arrays: the symptoms' services, and `{service, pattern_id}` objects.
        text("symptom_services"),
        text("symptom_patterns"),
        ts("started"),
        ts("last_seen"),
        ts("resolved_at"),
        // Patterns in it (the root and its symptoms): one insight each.
        int("insight_count"),
        int("errors"),
        // The earlier incident with the same root, when this one is a recurrence.
        text("previous_id"),
    ]))
});

static PATTERNS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        text("pattern_id"),
        text("service"),
        text("level"),
        text("template"),
        int("count"),
        ts("first_seen"),
        ts("last_seen"),
        text("example"),
    ]))
});

/// `logs`: one row per log record.
pub fn logs() -> SchemaRef {
    LOGS.clone()
}

/// `stats`: per-minute rollup of `logs` by service and level; `bytes` is the size of the
/// records as received.
pub fn stats() -> SchemaRef {
    STATS.clone()
}

/// `insights`: root-cause analyses produced by the worker.
pub fn insights() -> SchemaRef {
    INSIGHTS.clone()
}

static ALERTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        text("name"),
        // `inactive`, `pending` or `firing`.
        text("state"),
        // When it entered that state.
        ts("since"),
        Field::new("last_value", DataType::Float64, true),
        text("last_error"),
        ts("last_evaluated"),
        // Hash of the rule's name and labels: one notification thread per fingerprint.
        text("fingerprint"),
        // JSON object.
        text("labels"),
        ts("last_notified"),
    ]))
});

static NOTIFICATIONS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        int("id"),
        ts("created_at"),
        text("notifier"),
        // `firing`, `resolved` (alerts); `opened`, `severity_rose`, `resolved` (incidents).
        text("event"),
        // The alert rule's name or the incident id.
        text("subject"),
        text("fingerprint"),
        // The request body sent, after redaction.
        text("body"),
        // `pending`, `sent` or `failed`.
        text("status"),
        int("attempts"),
        text("last_error"),
        ts("sent_at"),
        ts("next_attempt"),
    ]))
});

/// `alerts`: each alert rule's state.
pub fn alerts() -> SchemaRef {
    ALERTS.clone()
}

/// `notifications`: the outbox of notifications and what became of them.
pub fn notifications() -> SchemaRef {
    NOTIFICATIONS.clone()
}

/// `incidents`: error patterns that burst together, under the root the ranking names.
pub fn incidents() -> SchemaRef {
    INCIDENTS.clone()
}

/// `patterns`: message templates mined from `logs`.
pub fn patterns() -> SchemaRef {
    PATTERNS.clone()
}
