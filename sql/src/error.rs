//! Errors of setting up the SQL endpoint. Errors of individual queries become SQLSTATEs in
//! `handlers::classify`.

/// Why the endpoint could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error("registering tables: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("setting up pg_catalog: {0}")]
    Catalog(datafusion::error::DataFusionError),
    /// Users, TLS files or limits that cannot be used; the message says which and why.
    #[error("{0}")]
    Config(String),
}

pub type Result<T, E = SqlError> = std::result::Result<T, E>;
