//! The shared vocabulary of Log Insight: log records, severity levels and the Arrow schemas of
//! every table (`logs`, `stats`, `insights`, `patterns`), and the events and insights that
//! travel between the ingest side and the analysis worker.
//!
//! This crate sits at the leaf of the dependency graph. It does no IO, knows no wire format and
//! runs no async code; conversions from payloads live in the server's normalisers, and storage
//! lives in `store`.

mod batch;
mod hash;
mod insight;
mod level;
mod pattern;
pub mod schema;
mod time;

pub use batch::{LogBatchBuilder, LogRecord, RecordRef, StatsRollup};
pub use hash::stable_hash;
pub use insight::{
    Applied, ErrorEvent, Folded, Insight, InsightUpdate, UpdateKind, fold_updates, insights_batch,
};
pub use level::Level;
pub use pattern::{PatternDelta, PatternMerge};
pub use time::{
    EpochMicros, TimestampError, epoch_int_to_micros, epoch_to_micros, parse_timestamp,
};
