//! Errors of the storage layer.

use std::path::PathBuf;

/// What can go wrong when opening, writing or reading the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        source: duckdb::Error,
    },
    #[error("duckdb: {0}")]
    DuckDb(#[from] duckdb::Error),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// From the arrow that duckdb-rs is built on (see `bridge`).
    #[error("arrow: {0}")]
    DuckArrow(#[from] duckdb::arrow::error::ArrowError),
    /// The data directory's file system has less free space than the reserve kept for
    /// DuckDB's checkpoints, or a write found it full: nothing of the commit was stored.
    #[error("the disk is full: {0}")]
    DiskFull(String),
    #[error("cannot read the free space of {path}: {source}")]
    FreeSpace {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("backup to {path}: {source}")]
    Backup {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} already holds a database; back up into an empty directory")]
    BackupExists(PathBuf),
    #[error("only SELECT statements are run for the SQL endpoint, not {0:?}")]
    NotAQuery(String),
    #[error("query returned {got} columns, {expected} expected")]
    Shape { expected: usize, got: usize },
    #[error("table {table} has no column {column:?}")]
    UnknownColumn { table: &'static str, column: String },
}

impl StoreError {
    /// Whether the disk was full: the commit was refused or rolled back whole, and a later
    /// one succeeds once there is room again.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::DiskFull(_) => true,
            StoreError::DuckDb(e) => e.to_string().contains("No space left on device"),
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
