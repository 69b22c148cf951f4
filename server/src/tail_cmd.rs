//! `loginsight tail PATH… --to URL`: the file tail as a standalone shipper. Records go to a
//! server's `POST /v1/logs` as gzip NDJSON; each batch carries an `Idempotency-Key`, so a batch
//! sent again after a crash or a lost answer is stored once (see `sources::tail`).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use tokio::sync::watch;

use crate::sources::tail::{Sink, SinkError, TailOptions};

#[derive(Debug, Clone, clap::Args)]
pub struct TailArgs {
    /// Files or glob patterns to follow ('/var/log/app/*.log'); new matches are picked up
    #[arg(required = true)]
    pub paths: Vec<String>,
    /// The server: its HTTP address (http://host:8080) or its /v1/logs URL
    #[arg(long, env = "LOGINSIGHT_URL")]
    pub to: String,
    /// Bearer token sent as `Authorization: Bearer …`
    #[arg(long, env = "LOGINSIGHT_TOKEN")]
    pub token: Option<String>,
    /// Where read offsets are kept [default: ~/.local/state/loginsight/tail.json]
    #[arg(long, env = "LOGINSIGHT_TAIL_STATE")]
    pub state: Option<PathBuf>,
    /// Service of records that name none [default: the file name up to its first dot]
    #[arg(long)]
    pub service: Option<String>,
    /// How often files are checked, in milliseconds
    #[arg(long, default_value_t = 250)]
    pub poll_ms: u64,
}

struct HttpSink {
    client: reqwest::Client,
    url: String,
    token: Option<String>,
    /// Lines the server took (drawn only on a terminal).
    progress: indicatif::ProgressBar,
}

impl Sink for HttpSink {
    async fn deliver(
        &mut self,
        objects: Vec<(Value, usize)>,
        key: String,
    ) -> Result<(), SinkError> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for (object, _) in &objects {
            serde_json::to_writer(&mut gz, object)
                .and_then(|()| gz.write_all(b"\n").map_err(serde_json::Error::io))
                .map_err(|e| SinkError::Closed(format!("cannot encode a record: {e}")))?;
        }
        let body = gz
            .finish()
            .map_err(|e| SinkError::Closed(format!("cannot compress a batch: {e}")))?;
        let mut request = self
            .client
            .post(&self.url)
            .header("content-type", "application/x-ndjson")
            .header("content-encoding", "gzip")
            .header("idempotency-key", key)
            .body(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| SinkError::Retry(format!("{}: {e}", self.url)))?;
        let status = response.status();
        if status.is_success() {
            self.progress.inc(objects.len() as u64);
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        // Whatever the status, the lines stay unsent: an auth or config problem is fixed on
        // the server, and the shipper picks up where it stopped.
        Err(SinkError::Retry(format!(
            "{} answered {status}: {text}",
            self.url
        )))
    }
}

fn default_state() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("loginsight").join("tail.json")
}

/// The `/v1/logs` URL of `to`: a bare server address gets the path added.
fn logs_url(to: &str) -> anyhow::Result<String> {
    let url = reqwest::Url::parse(to).with_context(|| format!("--to {to:?} is not a URL"))?;
    if url.path() == "/" || url.path().is_empty() {
        Ok(url.join("/v1/logs")?.to_string())
    } else {
        Ok(url.to_string())
    }
}

pub async fn run(args: TailArgs) -> anyhow::Result<()> {
    let url = logs_url(&args.to)?;
    let mut options = TailOptions::new(args.paths, args.state.unwrap_or_else(default_state));
    options.service = args.service;
    options.poll = Duration::from_millis(args.poll_ms.max(10));
    crate::sources::tail::check(&options)?;
    let sink = HttpSink {
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .context("cannot build the HTTP client")?,
        url: url.clone(),
        token: args.token,
        progress: crate::progress::lines(None),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    tracing::info!(%url, state = %options.state_file.display(), "shipping");
    let mut task = tokio::spawn(crate::sources::tail::run(options, sink, stop_rx));
    tokio::select! {
        () = crate::serve::wait_for_signal() => {
            let _ = stop_tx.send(true);
            task.await.context("tail task")?
        }
        // The tail only ends by itself on a state-file error.
        done = &mut task => done.context("tail task")?,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_address_gets_the_logs_path() {
        assert_eq!(
            logs_url("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080/v1/logs"
        );
        assert_eq!(
            logs_url("http://h:1/v1/logs").unwrap(),
            "http://h:1/v1/logs"
        );
        assert!(logs_url("not a url").is_err());
    }
}
