//! Removing old data: rows of `logs` older than the retention (or the oldest ones, while the
//! database is larger than its disk budget), old `stats` minutes, patterns last seen before
//! the retention that no insight names, and old insights.
//!
//! `logs` is deleted in time slices, each its own short transaction under the writer lock, so
//! a commit waits for one slice at most, never for the whole pass. DuckDB does not give a
//! deleted row's space back on `DELETE`: a checkpoint drops the row groups whose rows are all
//! deleted and rewrites thin ones, and the freed blocks are reused by later writes (a file
//! whose free blocks are at its end is truncated). Under steady ingest with a retention the
//! file therefore stops growing rather than shrinking; `bench`-style numbers are in
//! docs/operations.md.

use duckdb::types::{TimeUnit, Value};

use crate::{Result, Store};

/// How much one retention pass removed, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expired {
    pub logs: u64,
    pub stats: u64,
    pub patterns: u64,
    pub insights: u64,
    pub incidents: u64,
}

impl Expired {
    pub fn is_empty(&self) -> bool {
        *self == Expired::default()
    }
}

/// What the database file holds, from DuckDB's own accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskUsage {
    /// Size of the database file and its write-ahead log, as `du` sees them.
    pub file_bytes: u64,
    /// Bytes in blocks that hold data, plus the write-ahead log: what the data takes; the
    /// rest of the file is free blocks that later writes reuse.
    pub used_bytes: u64,
}

/// One stored row group of `logs` (see [`Store::logs_row_groups`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowGroup {
    pub bytes: u64,
    /// `None` when DuckDB keeps no statistics for it (no stored `ts` segment).
    pub newest_us: Option<i64>,
}

/// Rows one slice of a `logs` deletion aims at: DuckDB deletes ~100k rows in tens of
/// milliseconds, which a commit can wait for.
const SLICE_ROWS: i64 = 100_000;
/// The first slice's span; later slices adapt to the data's density.
const FIRST_SLICE_US: i64 = 3_600_000_000;

fn timestamp(us: i64) -> Value {
    Value::Timestamp(TimeUnit::Microsecond, us)
}

impl Store {
    /// Deletes `logs` rows with `ts` before `before_us` (UTC microseconds), oldest first, in
    /// slices of about [`SLICE_ROWS`] rows, each its own transaction. Returns the rows deleted.
    pub fn expire_logs(&self, before_us: i64) -> Result<u64> {
        let mut deleted = 0u64;
        let mut span = FIRST_SLICE_US;
        loop {
            let oldest: Option<i64> = self.reader()?.query_row(
                "SELECT epoch_us(min(ts)) FROM logs WHERE ts < ?",
                [timestamp(before_us)],
                |r| r.get(0),
            )?;
            let Some(oldest) = oldest else { break };
            let upto = oldest.saturating_add(span).min(before_us);
            let n = self
                .writer()
                .execute("DELETE FROM logs WHERE ts < ?", [timestamp(upto)])?
                as i64;
            deleted += n as u64;
            // Aim the next slice at SLICE_ROWS from this one's density, within 1 s … 30 days.
            span = if n > 0 {
                (span as i128 * SLICE_ROWS as i128 / n as i128) as i64
            } else {
                span.saturating_mul(4)
            }
            .clamp(1_000_000, 30 * 86_400_000_000);
            if upto >= before_us {
                break;
            }
        }
        Ok(deleted)
    }

    /// Deletes `stats` minutes before `before_us`.
    pub fn expire_stats(&self, before_us: i64) -> Result<u64> {
        Ok(self
            .writer()
            .execute("DELETE FROM stats WHERE minute < ?", [timestamp(before_us)])?
            as u64)
    }

    /// Deletes insights last seen before `before_us`, and the record of counted events older
    /// than that (an event that old is never redelivered).
    pub fn expire_insights(&self, before_us: i64) -> Result<u64> {
        let conn = self.writer();
        let mut deleted = 0;
        crate::in_transaction(&conn, || {
            deleted = conn.execute(
                "DELETE FROM insights WHERE last_seen < ?",
                [timestamp(before_us)],
            )? as u64;
            conn.execute(
                "DELETE FROM insight_events WHERE seen_at < ?",
                [timestamp(before_us)],
            )?;
            Ok(())
        })?;
        Ok(deleted)
    }

    /// Deletes resolved incidents last seen before `before_us`; an open one stays however old.
    pub fn expire_incidents(&self, before_us: i64) -> Result<u64> {
        Ok(self.writer().execute(
            "DELETE FROM incidents WHERE status = 'resolved' AND last_seen < ?",
            [timestamp(before_us)],
        )? as u64)
    }

    /// Deletes patterns last seen before `before_us`, except those an insight names: in this
    /// database's `insights`, or in `referenced` (`(service, pattern_id)` pairs of insights
    /// kept elsewhere, PostgreSQL).
    pub fn expire_patterns(&self, before_us: i64, referenced: &[(String, String)]) -> Result<u64> {
        let conn = self.writer();
        let mut deleted = 0;
        crate::in_transaction(&conn, || {
            conn.execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS kept_patterns (service VARCHAR, pattern_id VARCHAR);
                 DELETE FROM kept_patterns;",
            )?;
            if !referenced.is_empty() {
                let mut appender = conn.appender("kept_patterns")?;
                for (service, pattern) in referenced {
                    appender.append_row([service.as_str(), pattern.as_str()])?;
                }
                appender.flush()?;
            }
            deleted = conn.execute(
                "DELETE FROM patterns p WHERE last_seen < ?
                   AND NOT EXISTS (SELECT 1 FROM insights i
                                   WHERE i.service = p.service AND i.pattern_id = p.pattern_id)
                   AND NOT EXISTS (SELECT 1 FROM kept_patterns k
                                   WHERE k.service = p.service AND k.pattern_id = p.pattern_id)",
                [timestamp(before_us)],
            )? as u64;
            Ok(())
        })?;
        Ok(deleted)
    }

    /// The stored row groups of `logs`, in storage order: the bytes of the blocks each
    /// occupies and its newest `ts` (UTC microseconds). DuckDB frees space a row group at a
    /// time, once all of its rows are deleted, so this is what a disk budget cuts by. Row
    /// groups only in the write-ahead log are not listed: checkpoint first.
    pub fn logs_row_groups(&self) -> Result<Vec<RowGroup>> {
        let conn = self.reader()?;
        let block_size: i64 = conn.query_row(
            "SELECT block_size FROM pragma_database_size() WHERE database_name = current_database()",
            [],
            |r| r.get(0),
        )?;
        let mut stmt = conn.prepare(
            "SELECT row_group_id,
                    count(DISTINCT block_id) FILTER (WHERE block_id >= 0),
                    epoch_us(max(TRY_CAST(stats.max AS TIMESTAMP))
                        FILTER (WHERE column_name = 'ts' AND segment_type = 'TIMESTAMP'))
             FROM pragma_storage_info('logs')
             GROUP BY row_group_id ORDER BY row_group_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(RowGroup {
                bytes: (r.get::<_, i64>(1)?.max(0) * block_size) as u64,
                newest_us: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How large the database is, and how much of it holds data.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let (block_size, used_blocks): (i64, i64) = self.reader()?.query_row(
            "SELECT block_size, used_blocks FROM pragma_database_size() \
             WHERE database_name = current_database()",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let len = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let wal = len(&crate::backup::wal_of(&self.path));
        Ok(DiskUsage {
            file_bytes: len(&self.path) + wal,
            used_bytes: (block_size.max(0) * used_blocks.max(0)) as u64 + wal,
        })
    }
}
