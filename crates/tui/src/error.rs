//! The errors that stop the TUI before or while it owns the terminal. Everything that goes
//! wrong later (a lost connection, a failing query) is shown on screen instead.

/// Why `loginsight tui` could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// `--url` is not a connection URL tokio-postgres accepts.
    #[error("invalid --url {url}: {reason}")]
    Url {
        /// The URL, password masked.
        url: String,
        /// The parser's complaint.
        reason: String,
    },
    /// The terminal could not be set up or written.
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
}

/// `Result` with [`TuiError`].
pub type Result<T, E = TuiError> = std::result::Result<T, E>;
