//! Log records and their columnar form: the builder that turns normalised records into one Arrow
//! `RecordBatch` of the `logs` schema, and the per-minute `stats` rollup of the same records.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, Int64Builder, StringArray, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::schema::{self, UTC};
use crate::time::EpochMicros;

/// One normalised log record, as every source produces it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// When the event happened (the receive time when the payload had none).
    pub ts: EpochMicros,
    /// When the server received it.
    pub received_at: EpochMicros,
    /// Canonical level name (see [`crate::Level`]) or the sender's own, upper-cased.
    pub level: String,
    pub service: String,
    pub host: Option<String>,
    pub message: String,
    pub trace_id: Option<String>,
    /// JSON object text with every payload field that has no column of its own.
    pub attributes: Option<String>,
    /// The ingestion channel: `http`, `datadog`, `firehose`, `otlp`, `syslog`, `file`, …
    pub source: &'static str,
    /// Size of the record as received, in bytes; summed into `stats.bytes`.
    pub size: u64,
}

/// A [`LogRecord`] whose text is borrowed, e.g. from the request body it was parsed from: what
/// the fast normalisers push, so a line's fields are copied once, into the Arrow buffers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordRef<'a> {
    pub ts: EpochMicros,
    pub received_at: EpochMicros,
    pub level: &'a str,
    pub service: &'a str,
    pub host: Option<&'a str>,
    pub message: &'a str,
    pub trace_id: Option<&'a str>,
    pub attributes: Option<&'a str>,
    pub source: &'static str,
    pub size: u64,
}

const MICROS_PER_MINUTE: i64 = 60_000_000;

/// Accumulates records column by column into a `logs` batch.
#[derive(Debug)]
pub struct LogBatchBuilder {
    ts: TimestampMicrosecondBuilder,
    received_at: TimestampMicrosecondBuilder,
    level: StringBuilder,
    service: StringBuilder,
    host: StringBuilder,
    message: StringBuilder,
    trace_id: StringBuilder,
    attributes: StringBuilder,
    source: StringBuilder,
    stats: StatsRollup,
}

impl Default for LogBatchBuilder {
    fn default() -> Self {
        Self::with_capacity(1024)
    }
}

impl LogBatchBuilder {
    pub fn with_capacity(rows: usize) -> Self {
        let ts = || TimestampMicrosecondBuilder::with_capacity(rows).with_timezone(UTC);
        let text = || StringBuilder::with_capacity(rows, rows * 16);
        LogBatchBuilder {
            ts: ts(),
            received_at: ts(),
            level: text(),
            service: text(),
            host: text(),
            message: StringBuilder::with_capacity(rows, rows * 128),
            trace_id: text(),
            attributes: text(),
            source: text(),
            stats: StatsRollup::default(),
        }
    }

    pub fn push(&mut self, r: &LogRecord) {
        self.push_ref(&RecordRef {
            ts: r.ts,
            received_at: r.received_at,
            level: &r.level,
            service: &r.service,
            host: r.host.as_deref(),
            message: &r.message,
            trace_id: r.trace_id.as_deref(),
            attributes: r.attributes.as_deref(),
            source: r.source,
            size: r.size,
        });
    }

    pub fn push_ref(&mut self, r: &RecordRef<'_>) {
        self.ts.append_value(r.ts);
        self.received_at.append_value(r.received_at);
        self.level.append_value(r.level);
        self.service.append_value(r.service);
        self.host.append_option(r.host);
        self.message.append_value(r.message);
        self.trace_id.append_option(r.trace_id);
        self.attributes.append_option(r.attributes);
        self.source.append_value(r.source);
        self.stats.add(r.ts, r.service, r.level, r.size);
    }

    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Finishes the `logs` batch and the `stats` rows that roll it up. `pattern_id` is left
    /// null: the pipeline's miner fills it in just before the batch is stored.
    pub fn finish(mut self) -> Result<(RecordBatch, StatsRollup), ArrowError> {
        let rows = self.len();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.ts.finish()),
            Arc::new(self.received_at.finish()),
            Arc::new(self.level.finish()),
            Arc::new(self.service.finish()),
            Arc::new(self.host.finish()),
            Arc::new(self.message.finish()),
            Arc::new(self.trace_id.finish()),
            Arc::new(self.attributes.finish()),
            Arc::new(self.source.finish()),
            Arc::new(StringArray::new_null(rows)),
        ];
        let batch = RecordBatch::try_new(schema::logs(), columns)?;
        Ok((batch, self.stats))
    }
}

/// Per-minute counts and bytes by (service, level): the rows a batch adds to `stats`.
///
/// Keyed service → level → minute, so that adding a line looks its group up by the borrowed
/// names and allocates only for a group it has not seen.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StatsRollup {
    groups: HashMap<String, Levels>,
}

/// A service's groups: level → minute → (count, bytes).
type Levels = HashMap<String, HashMap<EpochMicros, (i64, i64)>>;

impl StatsRollup {
    pub fn add(&mut self, ts: EpochMicros, service: &str, level: &str, bytes: u64) {
        let minute = ts.div_euclid(MICROS_PER_MINUTE) * MICROS_PER_MINUTE;
        let levels = match self.groups.get_mut(service) {
            Some(levels) => levels,
            None => self.groups.entry(service.to_string()).or_default(),
        };
        let minutes = match levels.get_mut(level) {
            Some(minutes) => minutes,
            None => levels.entry(level.to_string()).or_default(),
        };
        let entry = minutes.entry(minute).or_default();
        entry.0 += 1;
        entry.1 += bytes as i64;
    }

    /// Folds another rollup into this one (group commit merges the rollups of its requests).
    pub fn merge(&mut self, other: StatsRollup) {
        for (service, levels) in other.groups {
            let mine = self.groups.entry(service).or_default();
            for (level, minutes) in levels {
                let mine = mine.entry(level).or_default();
                for (minute, (count, bytes)) in minutes {
                    let entry = mine.entry(minute).or_default();
                    entry.0 += count;
                    entry.1 += bytes;
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The (count, bytes) of one (minute, service, level) group.
    pub fn get(&self, minute: EpochMicros, service: &str, level: &str) -> Option<(i64, i64)> {
        self.groups.get(service)?.get(level)?.get(&minute).copied()
    }

    /// The number of (minute, service, level) groups.
    pub fn len(&self) -> usize {
        self.groups
            .values()
            .flat_map(|levels| levels.values())
            .map(HashMap::len)
            .sum()
    }

    /// The rollup as a batch of the `stats` schema.
    pub fn to_batch(&self) -> Result<RecordBatch, ArrowError> {
        let n = self.len();
        let mut minute = TimestampMicrosecondBuilder::with_capacity(n).with_timezone(UTC);
        let mut service = StringBuilder::new();
        let mut level = StringBuilder::new();
        let mut count = Int64Builder::with_capacity(n);
        let mut bytes = Int64Builder::with_capacity(n);
        for (s, levels) in &self.groups {
            for (l, minutes) in levels {
                for (m, (c, b)) in minutes {
                    minute.append_value(*m);
                    service.append_value(s);
                    level.append_value(l);
                    count.append_value(*c);
                    bytes.append_value(*b);
                }
            }
        }
        RecordBatch::try_new(
            schema::stats(),
            vec![
                Arc::new(minute.finish()),
                Arc::new(service.finish()),
                Arc::new(level.finish()),
                Arc::new(count.finish()),
                Arc::new(bytes.finish()),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ts: i64, service: &str, level: &str, size: u64) -> LogRecord {
        LogRecord {
            ts,
            received_at: ts,
            level: level.into(),
            service: service.into(),
            host: None,
            message: "m".into(),
            trace_id: None,
            attributes: None,
            source: "http",
            size,
        }
    }

    #[test]
    fn rollup_groups_by_minute_service_level() {
        let mut b = LogBatchBuilder::default();
        b.push(&record(0, "a", "INFO", 10));
        b.push(&record(59_999_999, "a", "INFO", 5));
        b.push(&record(60_000_000, "a", "INFO", 1));
        b.push(&record(1, "b", "ERROR", 2));
        let (batch, stats) = b.finish().unwrap();
        assert_eq!(batch.num_rows(), 4);
        assert_eq!(batch.schema(), schema::logs());
        let rows = stats.to_batch().unwrap();
        assert_eq!(rows.num_rows(), 3);
        assert_eq!(stats.get(0, "a", "INFO"), Some((2, 15)));
        assert_eq!(stats.get(60_000_000, "a", "INFO"), Some((1, 1)));
        assert_eq!(stats.get(0, "b", "ERROR"), Some((1, 2)));
        assert_eq!(stats.len(), 3);
    }

    #[test]
    fn merge_adds_counts() {
        let mut a = StatsRollup::default();
        a.add(0, "s", "INFO", 3);
        let mut b = StatsRollup::default();
        b.add(0, "s", "INFO", 4);
        b.add(0, "s", "WARN", 1);
        a.merge(b);
        assert_eq!(a.get(0, "s", "INFO"), Some((2, 7)));
        assert_eq!(a.len(), 2);
    }
}
