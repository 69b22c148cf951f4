//! `loginsight`: the one user-facing binary.
//!
//! `serve` hosts the whole pipeline in one process: sources → normalise → pipeline (mine,
//! route, group commit into DuckDB) → analysis (embedded worker, or the Kafka relay) →
//! insights → the Postgres-wire SQL endpoint. `worker` is the analysis worker on Kafka.
//! `tail` follows files and ships them to a server. `demo` sends a generated workload with
//! incidents to one. `bench` measures a running server from outside.

mod alerts;
mod analysis;
mod backup_cmd;
mod bench;
mod config;
mod demo;
mod incidents;
mod insights;
mod metrics;
mod mining;
mod notify;
mod on_demand;
mod patterns_csv;
mod pipeline;
mod progress;
mod relay;
mod retention;
mod route;
mod serve;
mod sources;
mod tail_cmd;
mod worker_cmd;

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
    Serve(Box<config::ServeOverrides>),
    /// Run an analysis worker on Kafka (`logs.to.analyze` → `ai.insights.processed`).
    Worker(worker_cmd::WorkerArgs),
    /// Mine patterns from one message per line (FILE, or stdin) and print CSV
    /// `line,pattern_id,template`.
    Patterns {
        /// Input file; standard input when absent.
        file: Option<std::path::PathBuf>,
    },
    /// Send a generated workload with three cascading incidents to a running server
    /// (several services, normal traffic, root causes and their symptoms), to try it out.
    Demo(demo::DemoArgs),
    /// Follow log files and ship their lines to a server (`--to http://host:8080`).
    Tail(tail_cmd::TailArgs),
    /// Ask a running server for an online backup of its database into a directory (restore:
    /// `serve --data-dir` that directory).
    Backup(backup_cmd::BackupArgs),
    /// Print a SCRAM secret for `[sql] users` from a password read on standard input.
    HashPassword {
        /// The user name the entry is for.
        #[arg(long, default_value = "loginsight")]
        user: String,
    },
    /// Measure a running server.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Watch insights, patterns, stats and logs in the terminal (a SQL client).
    Tui(loginsight_tui::TuiArgs),
}

/// `loginsight hash-password`: the password comes from stdin so it stays out of the shell
/// history and the process list.
fn hash_password(user: &str) -> anyhow::Result<()> {
    let mut password = String::new();
    std::io::stdin().read_line(&mut password)?;
    let password = password.trim_end_matches(['\n', '\r']);
    anyhow::ensure!(!password.is_empty(), "no password on standard input");
    anyhow::ensure!(!user.contains(':'), "a user name cannot contain ':'");
    println!("{user}:{}", sql::scram_secret(password));
    Ok(())
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
            Command::Serve(overrides) => serve::run(*overrides).await,
            Command::Worker(args) => worker_cmd::run(args).await,
            Command::Patterns { file } => patterns_csv::run(file.as_deref()),
            Command::Tail(args) => tail_cmd::run(args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Backup(args) => backup_cmd::run(args).await,
            Command::HashPassword { user } => hash_password(&user),
            Command::Bench(cmd) => bench::run(cmd).await,
            Command::Tui(args) => loginsight_tui::run(args).await,
        }
    });
    // Every command has finished its own work by now; a blocking task still running (a name
    // lookup, a read on a terminal) must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("loginsight: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
