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
    #[error("only SELECT statements are run for the SQL endpoint, not {0:?}")]
    NotAQuery(String),
    #[error("query returned {got} columns, {expected} expected")]
    Shape { expected: usize, got: usize },
    #[error("table {table} has no column {column:?}")]
    UnknownColumn { table: &'static str, column: String },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
