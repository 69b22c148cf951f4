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

    let metrics_url = format!("{}/metrics", url.trim_end_matches('/'));
    let before = stage_seconds(&client, &metrics_url).await;
    let progress = crate::progress::lines(Some(total_lines as u64));
    let began = Instant::now();
    let results: Vec<anyhow::Result<(u64, f64)>> = futures::stream::iter(bodies)
        .map(|body| {
            let client = client.clone();
            let endpoint = endpoint.clone();
            let progress = progress.clone();
            async move {
                let sent = Instant::now();
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
                Ok((accepted, sent.elapsed().as_secs_f64()))
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = began.elapsed().as_secs_f64();
    progress.finish_and_clear();
    let mut accepted = 0;
    let mut latencies = Vec::with_capacity(results.len());
    for r in results {
        let (n, latency) = r?;
        accepted += n;
        latencies.push(latency);
    }
    latencies.sort_by(f64::total_cmp);
    let after = stage_seconds(&client, &metrics_url).await;
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
    println!(
        "latency:     p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms per request",
        percentile(&latencies, 0.50) * 1e3,
        percentile(&latencies, 0.99) * 1e3,
        latencies.last().copied().unwrap_or(0.0) * 1e3
    );
    match (before, after) {
        (Some(before), Some(after)) => {
            println!(
                "server cost per stage (from /metrics; share of the elapsed time of one core):"
            );
            for (stage, seconds) in &after {
                let spent = seconds - before.get(stage).copied().unwrap_or(0.0);
                println!(
                    "  {stage:<7} {:>7.2} µs/line  {:>5.1}% of a core",
                    spent * 1e6 / accepted.max(1) as f64,
                    spent * 100.0 / elapsed
                );
            }
        }
        _ => println!("server cost per stage: /metrics not readable"),
    }
    Ok(())
}

/// The `p` quantile of sorted `values` (nearest rank).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// `loginsight_stage_seconds_total{stage="…"}` from the server's `/metrics`, by stage.
async fn stage_seconds(
    client: &reqwest::Client,
    url: &str,
) -> Option<std::collections::BTreeMap<String, f64>> {
    let text = client.get(url).send().await.ok()?.text().await.ok()?;
    Some(parse_stage_seconds(&text))
}

/// The stage counters of a Prometheus text exposition.
fn parse_stage_seconds(text: &str) -> std::collections::BTreeMap<String, f64> {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("loginsight_stage_seconds_total{stage=\"")?;
            let (stage, value) = rest.split_once("\"}")?;
            Some((stage.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_counters_are_read_from_the_exposition() {
        let text = "# HELP loginsight_stage_seconds Time\n\
                    loginsight_stage_seconds_total{stage=\"mine\"} 1.5\n\
                    loginsight_stage_seconds_total{stage=\"commit\"} 0.25\n\
                    loginsight_ingested_records_total 10\n";
        let stages = parse_stage_seconds(text);
        assert_eq!(stages.len(), 2);
        assert_eq!(stages["mine"], 1.5);
        assert_eq!(stages["commit"], 0.25);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.5), 50.0);
        assert_eq!(percentile(&values, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
