//! Configuration of `loginsight serve`: one struct, read from a TOML file, overridden by
//! environment variables and flags (flags > env > file > defaults).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// Everything `serve` needs. Every field is documented in `config/loginsight.example.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// Directory holding the DuckDB database file (`loginsight.duckdb`).
    pub data_dir: PathBuf,
    /// Address of the HTTP ingest endpoint.
    pub http_addr: SocketAddr,
    /// Address of the Postgres-wire SQL endpoint.
    pub pg_addr: SocketAddr,
    /// Largest accepted request body in bytes, before and after decompression.
    pub max_body_bytes: usize,
    /// Most rows written in one group commit; concurrent requests are merged up to this size.
    pub max_commit_rows: usize,
    /// Mine every message into a pattern (`logs.pattern_id`, the `patterns` table).
    pub mine_patterns: bool,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            data_dir: PathBuf::from("./data"),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            pg_addr: SocketAddr::from(([127, 0, 0, 1], 5433)),
            max_body_bytes: 32 * 1024 * 1024,
            max_commit_rows: 200_000,
            mine_patterns: true,
        }
    }
}

/// Values given on the command line or in `LOGINSIGHT_*` variables; each one present replaces
/// the file's value.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ServeOverrides {
    /// TOML configuration file (see config/loginsight.example.toml).
    #[arg(long, env = "LOGINSIGHT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory for the DuckDB database [default: ./data]
    #[arg(long, env = "LOGINSIGHT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// HTTP ingest address [default: 127.0.0.1:8080]
    #[arg(long, env = "LOGINSIGHT_HTTP_ADDR")]
    pub http_addr: Option<SocketAddr>,
    /// Postgres-wire SQL address [default: 127.0.0.1:5433]
    #[arg(long, env = "LOGINSIGHT_PG_ADDR")]
    pub pg_addr: Option<SocketAddr>,
    /// Largest request body in bytes [default: 32 MiB]
    #[arg(long, env = "LOGINSIGHT_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Most rows per group commit [default: 200000]
    #[arg(long, env = "LOGINSIGHT_MAX_COMMIT_ROWS")]
    pub max_commit_rows: Option<usize>,
    /// Mine message patterns: true or false [default: true]
    #[arg(long, env = "LOGINSIGHT_MINE_PATTERNS")]
    pub mine_patterns: Option<bool>,
}

impl ServeConfig {
    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> anyhow::Result<ServeConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    /// The file (if any) with the overrides applied, validated.
    pub fn load(overrides: &ServeOverrides) -> anyhow::Result<ServeConfig> {
        let mut config = match &overrides.config {
            Some(path) => ServeConfig::from_file(path)?,
            None => ServeConfig::default(),
        };
        let o = overrides.clone();
        if let Some(v) = o.data_dir {
            config.data_dir = v;
        }
        if let Some(v) = o.http_addr {
            config.http_addr = v;
        }
        if let Some(v) = o.pg_addr {
            config.pg_addr = v;
        }
        if let Some(v) = o.max_body_bytes {
            config.max_body_bytes = v;
        }
        if let Some(v) = o.max_commit_rows {
            config.max_commit_rows = v;
        }
        if let Some(v) = o.mine_patterns {
            config.mine_patterns = v;
        }
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if self.max_body_bytes < 1024 {
            bail!(
                "max_body_bytes must be at least 1024, got {}",
                self.max_body_bytes
            );
        }
        if self.max_commit_rows == 0 {
            bail!("max_commit_rows must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses_and_matches_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/loginsight.example.toml");
        let config = ServeConfig::from_file(&path).unwrap();
        assert_eq!(config, ServeConfig::default());
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "data_dir = \"/from/file\"\nhttp_addr = \"127.0.0.1:9000\"\n",
        )
        .unwrap();
        let overrides = ServeOverrides {
            config: Some(file),
            http_addr: Some("127.0.0.1:9100".parse().unwrap()),
            ..Default::default()
        };
        let config = ServeConfig::load(&overrides).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/from/file"));
        assert_eq!(config.http_addr.port(), 9100);
        assert_eq!(config.pg_addr.port(), 5433);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = toml::from_str::<ServeConfig>("http_adr = \"x\"").unwrap_err();
        assert!(err.to_string().contains("http_adr"), "{err}");
    }
}
