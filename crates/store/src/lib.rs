//! Storage: the DuckDB database file that holds `logs`, `stats`, `insights`, `patterns` and
//! `incidents`.
//!
//! This is the only crate that names `duckdb`. It owns the DDL, appends Arrow batches in one
//! transaction per group commit, and answers scans with projection, filters and limits pushed
//! down into DuckDB's SQL. Everything above it speaks Arrow and the small [`Filter`] language.
//!
//! DuckDB stores time as `TIMESTAMP` holding UTC; the `UTC` zone of the Arrow schemas in `model`
//! is stripped on the way in and put back on the way out, so no time-zone extension is needed.

mod alerts;
mod backup;
mod bridge;
mod error;
mod filter;
mod incidents;
mod insights;
mod queue;
mod retention;
mod tables;

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arrow::array::{Array, RecordBatch, RecordBatchOptions};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Schema, SchemaRef};
use duckdb::Connection;
use model::{Applied, ErrorEvent, InsightUpdate, PatternDelta, PatternMerge, StatsRollup};

pub use alerts::{AlertRow, NewNotification, PendingNotification};
pub use backup::BackupReport;
pub use error::{Result, StoreError};
pub use filter::{CmpOp, Filter, Scalar};
pub use incidents::{ERROR_LEVELS, ErrorMinute, IncidentRow, PatternMark};
pub use queue::QueuedEvent;
pub use retention::{DiskUsage, Expired, RowGroup};
pub use tables::Table;

/// Name of the database file inside the data directory.
pub const DB_FILE: &str = "loginsight.duckdb";

/// A scan of one table: which columns, which rows, how many.
#[derive(Debug, Clone, PartialEq)]
pub struct Scan {
    pub table: Table,
    /// Column names in output order. Empty means "rows only": the scan yields one batch with no
    /// columns whose row count is the number of matching rows (what `count(*)` needs).
    pub columns: Vec<String>,
    /// Rows must satisfy every filter.
    pub filters: Vec<Filter>,
    pub limit: Option<usize>,
}

/// DuckDB's own limits, set on the database when it is opened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreOptions {
    /// DuckDB's `memory_limit` (e.g. `"512MB"`); `None`: DuckDB's default, 80% of the memory.
    pub memory_limit: Option<String>,
    /// DuckDB's worker threads; `None`: one per core.
    pub threads: Option<usize>,
    /// DuckDB's `wal_autocheckpoint`: how much its write-ahead log grows before a commit
    /// checkpoints it into the file; `None`: DuckDB's default (16 MB).
    pub wal_autocheckpoint: Option<String>,
    /// Free space kept on the data directory's file system: a commit that finds less is
    /// refused with [`StoreError::DiskFull`] before it writes anything. DuckDB survives a full
    /// disk while appending to its write-ahead log, but a checkpoint that runs out of space
    /// invalidates the open database; this reserve (at least a checkpoint's worth) keeps
    /// checkpoints from ever getting there. `None`: no check.
    pub min_free_bytes: Option<u64>,
}

/// How long a delivery key is remembered.
pub const DELIVERY_KEY_TTL_HOURS: u32 = 24;

/// Everything one group commit writes, in one transaction.
#[derive(Debug, Default)]
pub struct Commit {
    /// `logs` batches in the `model::schema::logs()` schema.
    pub logs: Vec<RecordBatch>,
    /// Their per-minute rollup.
    pub stats: StatsRollup,
    /// Patterns merged away since the last commit, applied before `patterns`.
    pub merges: Vec<PatternMerge>,
    /// Changes to the `patterns` table.
    pub patterns: Vec<PatternDelta>,
    /// Records routed to analysis, appended to the analysis queue (their `event_id` is
    /// assigned by the store).
    pub errors: Vec<ErrorEvent>,
    /// Delivery ids of the requests in this commit (a Firehose request id, a Datadog event
    /// id): remembered with the rows, so a retried delivery is recognised.
    pub delivery_keys: Vec<String>,
}

/// The open database. Cheap to share: writes go through one connection under a mutex (the
/// pipeline's group commit is its only user), and every scan opens its own connection to the
/// same database so reads never wait for writes.
pub struct Store {
    path: PathBuf,
    writer: Mutex<Connection>,
    /// Only cloned from, so opening a reader never waits for a commit in progress.
    seed: Mutex<Connection>,
    /// Reader connections kept between queries, each with its `stats` view (see [`Reader`]).
    readers: Mutex<Vec<Connection>>,
    /// `CREATE TEMP VIEW stats …` for a new reader, naming the stored table by its catalog.
    stats_view: String,
    /// Random id of this database, the prefix of its event ids.
    instance: String,
    /// Next analysis-queue sequence number; only advanced under the writer lock.
    next_seq: AtomicU64,
    /// See [`StoreOptions::min_free_bytes`].
    min_free_bytes: Option<u64>,
    /// The largest `logs.ts` committed, in UTC microseconds (`i64::MIN` while `logs` is empty):
    /// where a newest-first read starts looking.
    newest_ts: AtomicI64,
}

pub type StoreRef = Arc<Store>;

/// Readers kept at most: the SQL endpoint's concurrent queries rarely exceed it, and a
/// connection beyond it is closed rather than kept.
const KEPT_READERS: usize = 16;

/// A reader connection, given back to the store when dropped.
struct Reader<'a> {
    store: &'a Store,
    conn: Option<Connection>,
}

impl std::ops::Deref for Reader<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("present until dropped")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        let mut kept = self.store.readers.lock().unwrap_or_else(|p| p.into_inner());
        // A statement that failed may have left a transaction open; such a connection is
        // closed, not kept.
        if kept.len() < KEPT_READERS && conn.is_autocommit() {
            kept.push(conn);
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir`, applies the DDL and compacts the
    /// `stats` partials left by earlier runs.
    pub fn open(data_dir: &Path) -> Result<Store> {
        Store::open_with(data_dir, &StoreOptions::default())
    }

    /// [`Store::open`] with DuckDB's memory limit, threads and checkpoint size set.
    pub fn open_with(data_dir: &Path, options: &StoreOptions) -> Result<Store> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(DB_FILE);
        let conn = Connection::open(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        conn.execute_batch(tables::DDL)?;
        conn.execute_batch(queue::DDL)?;
        conn.execute_batch(insights::DDL)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS delivery_keys (key VARCHAR PRIMARY KEY, stored_at TIMESTAMP NOT NULL)",
        )?;
        tables::compact_stats(&conn)?;
        let instance = match queue::meta_get(&conn, "instance_id")? {
            Some(id) => id,
            None => {
                // Random keys of the std hasher: unique enough for an instance id, no extra
                // dependency.
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_u128(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos())
                        .unwrap_or_default(),
                );
                h.write_u32(std::process::id());
                let id = format!("{:016x}", h.finish());
                queue::meta_set(&conn, "instance_id", &id)?;
                id
            }
        };
        let next_seq = queue::meta_get(&conn, "queue_seq")?
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        let newest_ts: Option<i64> =
            conn.query_row("SELECT epoch_us(max(ts)) FROM logs", [], |r| r.get(0))?;
        // Settings are per database: every connection cloned from this one shares them.
        let threads = options.threads.map(|n| n.max(1).to_string());
        for (name, value) in [
            ("memory_limit", &options.memory_limit),
            ("wal_autocheckpoint", &options.wal_autocheckpoint),
            ("threads", &threads),
        ] {
            if let Some(value) = value {
                let value = value.replace('\'', "''");
                conn.execute_batch(&format!("SET {name} = '{value}'"))?;
            }
        }
        // Every connection of this database, the readers that run pushed-down queries above
        // all, can neither read nor write files (`read_csv`, `COPY … TO`, `ATTACH`, extension
        // loading), and no statement can change that back. The store itself needs neither.
        conn.execute_batch("SET enable_external_access = false; SET lock_configuration = true;")?;
        let catalog: String = conn.query_row("SELECT current_database()", [], |r| r.get(0))?;
        let stats_view = tables::stats_view(&catalog);
        let seed = conn.try_clone()?;
        Ok(Store {
            path,
            writer: Mutex::new(conn),
            seed: Mutex::new(seed),
            readers: Mutex::new(Vec::new()),
            stats_view,
            instance,
            next_seq: AtomicU64::new(next_seq),
            newest_ts: AtomicI64::new(newest_ts.unwrap_or(i64::MIN)),
            min_free_bytes: options.min_free_bytes,
        })
    }

    /// Bytes available to this process on the data directory's file system.
    pub fn free_bytes(&self) -> Result<u64> {
        let dir = self.dir();
        let stat = rustix::fs::statvfs(dir).map_err(|e| StoreError::FreeSpace {
            path: dir.to_path_buf(),
            source: e.into(),
        })?;
        Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
    }

    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// The random id of this database; event ids are `<instance>-<sequence>`.
    pub fn instance_id(&self) -> &str {
        &self.instance
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn writer(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave DuckDB half-written: the transaction
        // was either committed or is rolled back when the connection is next used.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A reader connection: a kept one, or a new one. Each names `stats` (the summed
    /// partials, as clients see the table) with a temporary view, which DuckDB inlines into
    /// every query like a derived table: filters on `minute` and `service` reach the stored
    /// table, which a common table expression, materialized when named twice, would stop.
    fn reader(&self) -> Result<Reader<'_>> {
        let kept = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match kept {
            Some(conn) => conn,
            None => {
                let conn = {
                    let seed = self.seed.lock().unwrap_or_else(|p| p.into_inner());
                    seed.try_clone()?
                };
                conn.execute_batch(&self.stats_view)?;
                conn
            }
        };
        Ok(Reader {
            store: self,
            conn: Some(conn),
        })
    }

    /// Writes a group commit in one transaction: either everything in it is durable when this
    /// returns `Ok`, or nothing is.
    pub fn commit(&self, commit: &Commit) -> Result<()> {
        if let Some(reserve) = self.min_free_bytes {
            let free = self.free_bytes()?;
            if free < reserve {
                return Err(StoreError::DiskFull(format!(
                    "{free} bytes free in {}, below the {reserve} kept for checkpoints",
                    self.dir().display()
                )));
            }
        }
        let conn = self.writer();
        let started = std::time::Instant::now();
        let mut steps = [std::time::Duration::ZERO; 4];
        in_transaction(&conn, || {
            for merge in &commit.merges {
                tables::merge_pattern(&conn, merge)?;
            }
            let mut appender = conn.appender(Table::Logs.name())?;
            for batch in &commit.logs {
                appender.append_record_batch(to_storage(batch)?)?;
            }
            appender.flush()?;
            drop(appender);
            steps[0] = started.elapsed();
            if !commit.stats.is_empty() {
                let mut appender = conn.appender(Table::Stats.name())?;
                appender.append_record_batch(to_storage(&commit.stats.to_batch()?)?)?;
                appender.flush()?;
            }
            steps[1] = started.elapsed();
            tables::upsert_patterns(&conn, &commit.patterns)?;
            steps[2] = started.elapsed();
            if !commit.delivery_keys.is_empty() {
                let mut appender = conn.appender("delivery_keys")?;
                let now = duckdb::types::Value::Timestamp(
                    duckdb::types::TimeUnit::Microsecond,
                    chrono::Utc::now().timestamp_micros(),
                );
                for key in &commit.delivery_keys {
                    appender.append_row(duckdb::params![key, now])?;
                }
                appender.flush()?;
            }
            if !commit.errors.is_empty() {
                let first = self.next_seq.load(Ordering::SeqCst);
                let last = first + commit.errors.len() as u64 - 1;
                queue::enqueue(&conn, first, &commit.errors)?;
                queue::meta_set(&conn, "queue_seq", &last.to_string())?;
            }
            steps[3] = started.elapsed();
            Ok(())
        })?;
        tracing::debug!(
            rows = commit.logs.iter().map(RecordBatch::num_rows).sum::<usize>(),
            logs_us = steps[0].as_micros() as u64,
            stats_us = (steps[1] - steps[0]).as_micros() as u64,
            patterns_us = (steps[2] - steps[1]).as_micros() as u64,
            keys_queue_us = (steps[3] - steps[2]).as_micros() as u64,
            commit_us = (started.elapsed() - steps[3]).as_micros() as u64,
            "commit steps"
        );
        // Advanced only once committed; a failed commit reuses the numbers it did not keep.
        self.next_seq
            .fetch_add(commit.errors.len() as u64, Ordering::SeqCst);
        if let Some(newest) = commit.logs.iter().filter_map(newest_ts).max() {
            self.newest_ts.fetch_max(newest, Ordering::SeqCst);
        }
        Ok(())
    }

    /// The largest `ts` ever committed to `logs` (UTC microseconds), or `None` before the
    /// first row. It only grows: retention removes the oldest rows, so this is the newest row
    /// unless every row has been removed, and readers treat it as an upper bound.
    pub fn newest_ts(&self) -> Option<i64> {
        let newest = self.newest_ts.load(Ordering::SeqCst);
        (newest != i64::MIN).then_some(newest)
    }

    /// Whether a delivery with this key was committed (within [`DELIVERY_KEY_TTL_HOURS`]).
    pub fn delivery_seen(&self, key: &str) -> Result<bool> {
        // A reader: the check must not wait for a commit in progress (the pipeline tracks the
        // keys of groups not yet committed itself).
        let conn = self.reader()?;
        let n: i64 = conn.query_row(
            "SELECT count(*) FROM delivery_keys WHERE key = ?",
            [key],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }

    /// Forgets delivery keys older than [`DELIVERY_KEY_TTL_HOURS`]; senders stop retrying
    /// long before (Firehose after at most 2 hours, Datadog within minutes).
    pub fn prune_delivery_keys(&self) -> Result<()> {
        self.writer().execute_batch(&format!(
            "DELETE FROM delivery_keys WHERE stored_at < now()::TIMESTAMP - INTERVAL {DELIVERY_KEY_TTL_HOURS} HOUR"
        ))?;
        Ok(())
    }

    /// The oldest `max` events of the analysis queue, in order.
    pub fn queue_head(&self, max: usize) -> Result<Vec<QueuedEvent>> {
        queue::head(&*self.reader()?, &self.instance, max)
    }

    /// Events waiting in the analysis queue.
    pub fn queue_len(&self) -> Result<u64> {
        queue::len(&*self.reader()?)
    }

    /// Removes handled events from the analysis queue.
    pub fn queue_ack(&self, seqs: &[u64]) -> Result<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        let conn = self.writer();
        in_transaction(&conn, || queue::remove(&conn, seqs))
    }

    /// Applies insight updates to `insights` and removes the queue events they came from, in
    /// one transaction: an event leaves the queue exactly when its insight is stored.
    pub fn apply_insights(&self, updates: &[InsightUpdate], ack: &[u64]) -> Result<Applied> {
        let conn = self.writer();
        let mut applied = Applied::default();
        in_transaction(&conn, || {
            applied = insights::apply(&conn, updates)?;
            queue::remove(&conn, ack)
        })?;
        Ok(applied)
    }

    /// Appends `logs` batches and their `stats` rollup in one transaction.
    pub fn append_logs(&self, batches: &[RecordBatch], stats: &StatsRollup) -> Result<()> {
        self.commit(&Commit {
            logs: batches.to_vec(),
            stats: stats.clone(),
            ..Commit::default()
        })
    }

    /// Per-minute error counts of the rows that arrived in `(after_us, until_us]` (UTC
    /// microseconds of `received_at`), for the incident tracker. Reads only what arrived in
    /// that span: `received_at` grows with each commit, so DuckDB's zone maps skip the rest.
    pub fn error_minutes(&self, after_us: i64, until_us: i64) -> Result<Vec<ErrorMinute>> {
        incidents::error_minutes(&*self.reader()?, after_us, until_us)
    }

    /// The earliest `ts` of the rows that arrived in `(after_us, until_us]`: where the data
    /// the incident tracker reads begins.
    pub fn first_ts_between(&self, after_us: i64, until_us: i64) -> Result<Option<i64>> {
        incidents::first_ts(&*self.reader()?, after_us, until_us)
    }

    /// The templates of `(service, pattern_id)` keys, as `(service, pattern_id, template)`.
    pub fn pattern_templates(
        &self,
        keys: &[(String, String)],
    ) -> Result<Vec<(String, String, String)>> {
        incidents::templates(&*self.reader()?, keys)
    }

    /// Upserts `incidents` and sets the insights' incident marks, in one transaction.
    pub fn save_incidents(&self, rows: &[IncidentRow], marks: &[PatternMark]) -> Result<()> {
        let conn = self.writer();
        in_transaction(&conn, || incidents::save(&conn, rows, marks))
    }

    /// Stores an alert rule's state.
    pub fn save_alert(&self, alert: &AlertRow) -> Result<()> {
        alerts::save_alert(&self.writer(), alert)
    }

    /// An alert rule's stored state, to carry on after a restart.
    pub fn load_alert(&self, name: &str) -> Result<Option<AlertRow>> {
        alerts::load_alert(&*self.reader()?, name)
    }

    /// Adds notifications to the outbox in one transaction, each `dedup_key` once; returns
    /// how many were new.
    pub fn enqueue_notifications(&self, now_us: i64, items: &[NewNotification]) -> Result<u64> {
        let conn = self.writer();
        let mut added = 0;
        in_transaction(&conn, || {
            added = alerts::enqueue(&conn, now_us, items)?;
            Ok(())
        })?;
        Ok(added)
    }

    /// Pending notifications whose next attempt is due, oldest first.
    pub fn due_notifications(&self, now_us: i64, max: usize) -> Result<Vec<PendingNotification>> {
        alerts::due(&*self.reader()?, now_us, max)
    }

    /// Records an attempt to send notification `id`.
    pub fn settle_notification(
        &self,
        id: i64,
        status: &str,
        error: Option<&str>,
        now_us: i64,
        next_attempt_us: Option<i64>,
    ) -> Result<()> {
        alerts::settle(&self.writer(), id, status, error, now_us, next_attempt_us)
    }

    /// Deletes sent and failed notifications created before `before_us`.
    pub fn expire_notifications(&self, before_us: i64) -> Result<u64> {
        alerts::expire(&self.writer(), before_us)
    }

    /// The pattern miner's saved model: one JSON document per pattern.
    pub fn load_pattern_states(&self) -> Result<Vec<String>> {
        let conn = self.writer();
        let mut stmt = conn.prepare("SELECT state FROM pattern_state")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Replaces the pattern miner's saved model.
    pub fn save_pattern_states(&self, states: &[(String, String)]) -> Result<()> {
        let conn = self.writer();
        in_transaction(&conn, || {
            conn.execute_batch("DELETE FROM pattern_state")?;
            let mut appender = conn.appender("pattern_state")?;
            for (id, state) in states {
                appender.append_row([id.as_str(), state.as_str()])?;
            }
            appender.flush()?;
            Ok(())
        })
    }

    /// Writes everything in the write-ahead log into the database file. Called on shutdown so
    /// the next start does not have to replay it, and by retention so that deleted rows'
    /// blocks come free.
    pub fn checkpoint(&self) -> Result<()> {
        self.writer().execute_batch("CHECKPOINT")?;
        Ok(())
    }

    /// Runs one read-only query that the SQL endpoint generated from a validated DataFusion
    /// plan over the tables clients see, handing each batch, cast to `schema`, to `sink` until
    /// the result ends or `sink` returns `false`. Where a table as clients see it differs from
    /// the stored one (`stats`), the reader's view of that name stands in. Only `SELECT` text
    /// is accepted, and the connection can touch no file. Blocking.
    pub fn query(
        &self,
        select: &str,
        schema: &SchemaRef,
        sink: &mut dyn FnMut(RecordBatch) -> bool,
    ) -> Result<()> {
        if !select
            .trim_start()
            .to_ascii_uppercase()
            .starts_with("SELECT")
        {
            return Err(StoreError::NotAQuery(select.chars().take(60).collect()));
        }
        tracing::debug!(sql = select, "duckdb query");
        let conn = self.reader()?;
        let mut stmt = conn.prepare(select)?;
        let _ = stmt.stream_arrow([])?;
        while let Some(array) = stmt.step()? {
            if array.num_columns() != schema.fields().len() {
                return Err(StoreError::Shape {
                    expected: schema.fields().len(),
                    got: array.num_columns(),
                });
            }
            if !sink(from_storage(array, schema)?) {
                break;
            }
        }
        Ok(())
    }

    /// Runs `scan`, handing each batch (in the table's Arrow schema, projected) to `sink`
    /// until the result ends or `sink` returns `false`. Blocking: call it from a blocking
    /// thread.
    pub fn scan(&self, scan: &Scan, sink: &mut dyn FnMut(RecordBatch) -> bool) -> Result<()> {
        let conn = self.reader()?;
        let table = scan.table;
        let full = table.schema();
        let mut params = Vec::new();
        let mut where_sql = String::new();
        for (i, f) in scan.filters.iter().enumerate() {
            where_sql.push_str(if i == 0 { " WHERE " } else { " AND " });
            f.render(table, &mut where_sql, &mut params)?;
        }
        let limit_sql = scan
            .limit
            .map(|n| format!(" LIMIT {n}"))
            .unwrap_or_default();

        if scan.columns.is_empty() {
            let sql = format!(
                "SELECT count(*) FROM (SELECT 1 FROM {}{where_sql}{limit_sql})",
                table.source_sql()
            );
            let rows: i64 =
                conn.query_row(&sql, duckdb::params_from_iter(params.iter()), |r| r.get(0))?;
            let batch = RecordBatch::try_new_with_options(
                Arc::new(Schema::empty()),
                vec![],
                &RecordBatchOptions::new().with_row_count(Some(rows as usize)),
            )?;
            sink(batch);
            return Ok(());
        }

        let mut fields = Vec::with_capacity(scan.columns.len());
        let mut select = String::new();
        for (i, name) in scan.columns.iter().enumerate() {
            let field = full
                .field_with_name(name)
                .map_err(|_| StoreError::UnknownColumn {
                    table: table.name(),
                    column: name.clone(),
                })?;
            fields.push(field.clone());
            if i > 0 {
                select.push_str(", ");
            }
            select.push_str(&filter::quote_ident(name));
        }
        let schema: SchemaRef = Arc::new(Schema::new(fields));
        let sql = format!(
            "SELECT {select} FROM {}{where_sql}{limit_sql}",
            table.source_sql()
        );
        tracing::debug!(sql, "duckdb scan");
        let mut stmt = conn.prepare(&sql)?;
        // Executes in streaming mode; batches are then pulled one by one with `step`, which
        // reports errors instead of panicking as the iterator would.
        let _ = stmt.stream_arrow(duckdb::params_from_iter(params.iter()))?;
        while let Some(array) = stmt.step()? {
            let batch = from_storage(array, &schema)?;
            if !sink(batch) {
                break;
            }
        }
        Ok(())
    }
}

/// The largest `ts` of a `logs` batch, in microseconds.
fn newest_ts(batch: &RecordBatch) -> Option<i64> {
    let column = batch.column_by_name("ts")?;
    let micros = column
        .as_any()
        .downcast_ref::<arrow::array::TimestampMicrosecondArray>()?;
    arrow::compute::max(micros)
}

/// Runs `work` in one transaction on `conn`: committed if it succeeds, rolled back if not.
fn in_transaction(conn: &Connection, work: impl FnOnce() -> Result<()>) -> Result<()> {
    conn.execute_batch("BEGIN TRANSACTION")?;
    match work() {
        Ok(()) => Ok(conn.execute_batch("COMMIT")?),
        Err(err) => {
            if let Err(rollback) = conn.execute_batch("ROLLBACK") {
                tracing::error!(error = %rollback, "rollback after a failed transaction failed");
            }
            Err(err)
        }
    }
}

/// Strips the time zone from timestamp columns: DuckDB stores them as zone-less `TIMESTAMP`.
fn to_storage(batch: &RecordBatch) -> Result<duckdb::arrow::record_batch::RecordBatch> {
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        match field.data_type() {
            DataType::Timestamp(unit, Some(_)) => {
                let plain = DataType::Timestamp(*unit, None);
                columns.push(cast(column, &plain)?);
                fields.push(field.as_ref().clone().with_data_type(plain));
            }
            _ => {
                columns.push(column.clone());
                fields.push(field.as_ref().clone());
            }
        }
    }
    bridge::to_duck(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Converts a DuckDB result chunk into `schema`, putting the UTC zone back on timestamps and
/// casting any type DuckDB widened or narrowed (e.g. `sum` results) to the declared one.
fn from_storage(
    chunk: duckdb::arrow::array::StructArray,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let array = bridge::from_duck(chunk)?;
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(array.columns()) {
        if column.data_type() == field.data_type() {
            columns.push(column.clone());
        } else {
            columns.push(cast(column, field.data_type())?);
        }
    }
    let options = RecordBatchOptions::new().with_row_count(Some(array.len()));
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &options,
    )?)
}
