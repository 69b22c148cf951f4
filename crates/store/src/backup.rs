//! Online backup: a consistent copy of the whole database, taken while ingest goes on.
//!
//! One process owns the file, so the copy is made by that process: every stored table is read
//! in one read transaction (DuckDB's snapshot: everything committed before it began, nothing
//! after) and appended, as Arrow chunks, to a new database in the target directory. Commits are
//! never held up; the snapshot only keeps DuckDB from reclaiming rows deleted meanwhile until
//! it ends. The copy is written under a temporary name, checkpointed (no write-ahead log
//! remains), synced, and only then renamed to `loginsight.duckdb`: a directory holding that
//! name holds a complete backup, which `serve --data-dir` opens like any data directory.

use std::path::{Path, PathBuf};

use duckdb::Connection;
use duckdb::arrow::array::Array;

use crate::{DB_FILE, Result, Store, StoreError};

/// What a backup copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The backup's database file.
    pub path: PathBuf,
    /// Rows copied per table, in the order copied.
    pub tables: Vec<(String, u64)>,
    /// Size of the backup file.
    pub bytes: u64,
}

impl Store {
    /// Copies the database into `dir` (created if missing; it must not hold a database yet).
    /// Blocking: run it on a blocking thread.
    pub fn backup_to(&self, dir: &Path) -> Result<BackupReport> {
        let io = |source| StoreError::Backup {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let target = dir.join(DB_FILE);
        if target.exists() {
            return Err(StoreError::BackupExists(target));
        }
        let partial = dir.join(format!("{DB_FILE}.partial"));
        for stale in [partial.clone(), wal_of(&partial)] {
            match std::fs::remove_file(&stale) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
                _ => {}
            }
        }
        let copy = Connection::open(&partial).map_err(|source| StoreError::Open {
            path: partial.clone(),
            source,
        })?;
        let reader = self.reader()?;
        reader.execute_batch("BEGIN TRANSACTION")?;
        let copied = copy_tables(&reader, &copy);
        // The read transaction ends whatever happened; a failed copy leaves only the partial file.
        let ended = reader.execute_batch("COMMIT");
        let tables = copied?;
        ended?;
        copy.execute_batch("CHECKPOINT")?;
        drop(copy);
        let file = std::fs::File::open(&partial).map_err(io)?;
        file.sync_all().map_err(io)?;
        let bytes = file.metadata().map_err(io)?.len();
        std::fs::rename(&partial, &target).map_err(io)?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(BackupReport {
            path: target,
            tables,
            bytes,
        })
    }
}

/// Creates every stored table of `from`'s database in `to` with its own DDL (keys included)
/// and appends its rows.
fn copy_tables(from: &Connection, to: &Connection) -> Result<Vec<(String, u64)>> {
    let catalog: String = from.query_row("SELECT current_database()", [], |r| r.get(0))?;
    let tables: Vec<(String, String)> = {
        let mut stmt = from.prepare(
            "SELECT table_name, sql FROM duckdb_tables() \
             WHERE database_name = current_database() AND schema_name = 'main' AND NOT temporary \
             ORDER BY table_name",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut copied = Vec::with_capacity(tables.len());
    for (name, ddl) in tables {
        to.execute_batch(&ddl)?;
        let quoted = crate::filter::quote_ident(&name);
        // Named by catalog: a reader's temporary `stats` view would shadow the stored table.
        let source = format!(
            "SELECT * FROM {}.main.{quoted}",
            crate::filter::quote_ident(&catalog)
        );
        let mut stmt = from.prepare(&source)?;
        let _ = stmt.stream_arrow([])?;
        let mut appender = to.appender(&name)?;
        let mut rows = 0u64;
        while let Some(chunk) = stmt.step()? {
            rows += chunk.len() as u64;
            appender.append_record_batch(chunk.into())?;
        }
        appender.flush()?;
        copied.push((name, rows));
    }
    Ok(copied)
}

pub(crate) fn wal_of(path: &Path) -> PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push(".wal");
    wal.into()
}
