//! The embedded analysis worker: with no Kafka configured, the worker's code runs inside
//! `serve`, reading the analysis queue in the DuckDB file. An event leaves the queue only in
//! the transaction that stores its insight (or, with PostgreSQL insights, right after it).

use std::sync::Arc;
use std::time::Duration;

use store::StoreRef;
use tokio::sync::{Notify, watch};
use worker::context::{ContextConfig, SqlContext};
use worker::{Analyst, BatchConfig, BuiltinAnalyst, OpenAiAnalyst, OpenAiConfig, Processor};

use crate::config::AnalystConfig;

use crate::insights::InsightStore;
use crate::metrics::Metrics;

/// The analysis step as configured: the analyst (an OpenAI-compatible model when `kind` is
/// `openai`, or `auto` with an API key; the builtin analyst otherwise), redaction, and context
/// read over the SQL endpoint at `sql_url`.
pub fn processor(config: &AnalystConfig, sql_url: Option<String>) -> anyhow::Result<Processor> {
    let redactor = redact::Redactor::new(&config.redaction())
        .map_err(|e| anyhow::anyhow!("analyst.redact: {e}"))?;
    let key = config.api_key();
    let analyst: Arc<dyn Analyst> = match (config.kind.as_str(), key) {
        ("builtin", _) | ("auto", None) => Arc::new(BuiltinAnalyst),
        ("openai" | "auto", key) => Arc::new(OpenAiAnalyst::new(
            OpenAiConfig {
                base_url: config.base_url.clone(),
                model: config.model.clone(),
                // Local servers (Ollama, llama.cpp) take any key.
                api_key: key.unwrap_or_default(),
                timeout: Duration::from_secs(config.timeout_secs.max(1)),
                max_concurrency: config.max_concurrency.max(1),
                hourly_token_budget: config.hourly_token_budget,
                max_retries: config.max_retries,
                context_tokens: config.context_tokens.max(100),
            },
            redactor.clone(),
        )),
        (other, _) => anyhow::bail!("analyst.kind must be auto, builtin or openai, got {other:?}"),
    };
    tracing::info!(model = analyst.model(), "analyst");
    let context = sql_url.map(|url| {
        SqlContext::new(
            url,
            ContextConfig {
                window: Duration::from_secs(config.window_secs),
                ..ContextConfig::default()
            },
        )
    });
    Ok(Processor::new(analyst, context, redactor))
}

/// How often the queue is looked at when nobody says it grew (covers events left by an
/// earlier run).
const IDLE_POLL: Duration = Duration::from_secs(2);

pub struct EmbeddedWorker {
    pub store: StoreRef,
    pub sink: InsightStore,
    pub processor: Arc<Processor>,
    pub batch: BatchConfig,
    pub queued: Arc<Notify>,
    pub metrics: Metrics,
}

impl EmbeddedWorker {
    /// Runs until `stop`; the batch in progress is finished first.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut backoff = worker::retry::Backoff::default();
        while !*stop.borrow() {
            let store = self.store.clone();
            let max = self.batch.max_events;
            let mut head = match tokio::task::spawn_blocking(move || store.queue_head(max)).await {
                Ok(Ok(head)) => head,
                Ok(Err(err)) => {
                    tracing::error!(error = %err, "reading the analysis queue failed");
                    Vec::new()
                }
                Err(err) => {
                    tracing::error!(error = %err, "the queue reader panicked");
                    Vec::new()
                }
            };
            if head.is_empty() {
                tokio::select! {
                    _ = self.queued.notified() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = stop.changed() => break,
                }
                continue;
            }
            if head.len() < max {
                // Give the batch its linger to fill, then take what is there.
                tokio::select! {
                    _ = tokio::time::sleep(self.batch.linger) => {}
                    _ = stop.changed() => {}
                }
                let store = self.store.clone();
                if let Ok(Ok(more)) =
                    tokio::task::spawn_blocking(move || store.queue_head(max)).await
                {
                    head = more;
                }
            }
            let seqs: Vec<u64> = head.iter().map(|q| q.seq).collect();
            let events = head.into_iter().map(|q| q.event).collect();
            let (updates, _) = self.processor.process(events).await;
            let cost = Metrics::cost(&updates);
            match self.sink.apply(&self.store, updates, seqs).await {
                Ok(applied) => {
                    self.metrics.record_cost(cost);
                    self.metrics.record_applied(applied);
                    backoff.reset();
                }
                Err(err) => {
                    // The events stay queued and are analysed again.
                    tracing::error!(error = %format!("{err:#}"), "storing insights failed; retrying");
                    if !backoff.wait(&mut stop).await {
                        break;
                    }
                }
            }
        }
    }
}
