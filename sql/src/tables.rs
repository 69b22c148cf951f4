//! One DataFusion `TableProvider` per table, all reading the DuckDB store with projection,
//! filters and limits pushed down.

mod duck;
mod pushdown;

pub use duck::DuckTable;
