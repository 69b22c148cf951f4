//! `loginsight backup --to DIR`: asks a running server for an online backup. The server owns
//! the database file, so it writes the copy itself (`POST /v1/admin/backup`), into DIR on its
//! own machine; restoring is starting `serve --data-dir DIR`.

use std::path::PathBuf;

use anyhow::{Context, bail};

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// Directory the backup is written to, on the server's machine; it must not hold a
    /// database yet
    #[arg(long)]
    pub to: PathBuf,
    /// The server's HTTP address
    #[arg(long, env = "LOGINSIGHT_URL", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Bearer token sent as `Authorization: Bearer …` (one of the server's sources.tokens)
    #[arg(long, env = "LOGINSIGHT_TOKEN")]
    pub token: Option<String>,
}

pub async fn run(args: BackupArgs) -> anyhow::Result<()> {
    // A relative path means the caller's directory; the server is usually on this machine.
    let dir = if args.to.is_absolute() {
        args.to.clone()
    } else {
        std::env::current_dir()
            .context("cannot resolve --to against the current directory")?
            .join(&args.to)
    };
    let url = format!("{}/v1/admin/backup", args.server.trim_end_matches('/'));
    let mut request = reqwest::Client::new()
        .post(&url)
        .json(&serde_json::json!({ "dir": dir }));
    if let Some(token) = &args.token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach the server at {url}"))?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .with_context(|| format!("unreadable answer from {url} ({status})"))?;
    if !status.is_success() {
        bail!(
            "backup refused ({status}): {}",
            body["error"].as_str().unwrap_or("no reason given")
        );
    }
    println!(
        "backup written to {} ({} bytes in {:.1} s)",
        body["path"].as_str().unwrap_or_default(),
        body["bytes"],
        body["seconds"].as_f64().unwrap_or_default()
    );
    if let Some(tables) = body["tables"].as_object() {
        for (table, rows) in tables {
            println!("  {table}: {rows} rows");
        }
    }
    Ok(())
}
