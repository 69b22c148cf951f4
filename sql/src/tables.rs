//! One DataFusion `TableProvider` per table: `DuckTable` reads the DuckDB store with
//! projection, filters and limits pushed down; `ExternalTable` reads a small table kept
//! elsewhere (insights in PostgreSQL).

pub mod analyze;
mod duck;
mod external;
mod pushdown;

pub use duck::DuckTable;
pub use external::{BatchSource, ExternalTable};
