//! `loginsight bench`: load generators that measure a running server from outside, the way a
//! shipper would use it. Figures go to stdout; nothing here asserts a speed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use futures::StreamExt;

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Send an NDJSON file to POST /v1/logs in batches and report lines/s and MB/s.
    Ingest {
        /// NDJSON file, e.g. from `python3 genlogs.py --lines 1000000 --out logs.ndjson`.
        #[arg(long)]
        file: PathBuf,
        /// Base URL of the server.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Lines per request.
        #[arg(long, default_value_t = 5000)]
        batch_lines: usize,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
}

pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Ingest {
            file,
            url,
            batch_lines,
            concurrency,
        } => ingest(file, url, batch_lines.max(1), concurrency.max(1)).await,
    }
}

async fn ingest(
    file: PathBuf,
    url: String,
    batch_lines: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let data = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    // Split into requests of whole lines up front, so the timed part is only the sending.
    let mut bodies = Vec::new();
    let mut start = 0;
    let mut lines_in_body = 0;
    let mut total_lines = 0usize;
    for (i, b) in data.iter().enumerate() {
        if *b == b'\n' {
            lines_in_body += 1;
            if lines_in_body == batch_lines {
                bodies.push(bytes::Bytes::copy_from_slice(&data[start..=i]));
                total_lines += lines_in_body;
                start = i + 1;
                lines_in_body = 0;
            }
        }
    }
    if start < data.len() {
        let tail = &data[start..];
        total_lines += lines_in_body + usize::from(!tail.ends_with(b"\n"));
        bodies.push(bytes::Bytes::copy_from_slice(tail));
    }
    let total_bytes = data.len();
    let client = Arc::new(reqwest::Client::new());
    let endpoint = format!("{}/v1/logs", url.trim_end_matches('/'));

    let progress = crate::progress::lines(Some(total_lines as u64));
    let began = Instant::now();
    let results: Vec<anyhow::Result<u64>> = futures::stream::iter(bodies)
        .map(|body| {
            let client = client.clone();
            let endpoint = endpoint.clone();
            let progress = progress.clone();
            async move {
                let response = client
                    .post(&endpoint)
                    .header("content-type", "application/x-ndjson")
                    .body(body)
                    .send()
                    .await?;
                let status = response.status();
                let reply: serde_json::Value = response.json().await?;
                if !status.is_success() {
                    bail!("server answered {status}: {reply}");
                }
                let accepted = reply["accepted"].as_u64().unwrap_or(0);
                progress.inc(accepted);
                Ok(accepted)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = began.elapsed().as_secs_f64();
    progress.finish_and_clear();
    let mut accepted = 0;
    for r in results {
        accepted += r?;
    }
    println!("file:        {}", file.display());
    println!("lines:       {total_lines} sent, {accepted} accepted");
    println!("bytes:       {total_bytes}");
    println!(
        "requests:    {} of {batch_lines} lines, {concurrency} in flight",
        total_lines.div_ceil(batch_lines)
    );
    println!("elapsed:     {elapsed:.3} s");
    println!(
        "throughput:  {:.0} lines/s, {:.1} MB/s",
        accepted as f64 / elapsed,
        total_bytes as f64 / 1e6 / elapsed
    );
    Ok(())
}
