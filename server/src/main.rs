//! `loginsight`: the one user-facing binary.
//!
//! `serve` hosts the whole pipeline in one process: sources → normalise → pipeline (group
//! commit into DuckDB) → the Postgres-wire SQL endpoint. `bench` measures it from outside.

mod bench;
mod config;
mod mining;
mod normalise;
mod patterns_csv;
mod pipeline;
mod serve;
mod sources;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "loginsight",
    version,
    about = "Log analytics: ingest logs, query them with SQL"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: HTTP ingest, DuckDB storage and the Postgres-wire SQL endpoint.
    Serve(config::ServeOverrides),
    /// Mine patterns from one message per line (FILE, or stdin) and print CSV
    /// `line,pattern_id,template`.
    Patterns {
        /// Input file; standard input when absent.
        file: Option<std::path::PathBuf>,
    },
    /// Measure a running server.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOGINSIGHT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("loginsight: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(overrides) => serve::run(overrides).await,
            Command::Patterns { file } => patterns_csv::run(file.as_deref()),
            Command::Bench(cmd) => bench::run(cmd).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("loginsight: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
