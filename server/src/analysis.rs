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

/// While the queue is long, batches grow up to this many times `batch.max_events`: the cost of
/// a batch follows its (service, pattern) groups, not its events, so a long queue drains with
/// fewer context reads per event.
const MAX_BATCH_GROWTH: usize = 16;

pub struct EmbeddedWorker {
    pub store: StoreRef,
    pub sink: InsightStore,
    pub processor: Arc<Processor>,
    pub batch: BatchConfig,
    /// The worker's share of the machine while ingest is busy (see `worker.share_under_ingest`).
    pub share_under_ingest: f64,
    pub queued: Arc<Notify>,
    pub metrics: Metrics,
}

impl EmbeddedWorker {
    /// Runs until `stop`; the batch in progress is finished first.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut backoff = worker::retry::Backoff::default();
        let mut max = self.batch.max_events;
        while !*stop.borrow() {
            let store = self.store.clone();
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
            // A full batch means a long queue: take more next time; a short one, back to the
            // configured size.
            let full = head.len() >= max;
            let started = std::time::Instant::now();
            let ingested = self.metrics.ingested.get();
            let seqs: Vec<u64> = head.iter().map(|q| q.seq).collect();
            let events = head.into_iter().map(|q| q.event).collect();
            let (updates, _) = self.processor.process(events).await;
            let cost = Metrics::cost(&updates);
            match self.sink.apply(&self.store, updates, seqs).await {
                Ok(applied) => {
                    self.metrics.record_cost(cost);
                    self.metrics.record_applied(applied);
                    backoff.reset();
                    max = if full {
                        (max * 2).min(self.batch.max_events * MAX_BATCH_GROWTH)
                    } else {
                        self.batch.max_events
                    };
                    // Ingest went on meanwhile: leave it the rest of the machine.
                    if self.metrics.ingested.get() > ingested {
                        let pause = pause_for(started.elapsed(), self.share_under_ingest);
                        tokio::select! {
                            _ = tokio::time::sleep(pause) => {}
                            _ = stop.changed() => {}
                        }
                    }
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

/// How long to wait after a batch that took `busy`, to use at most `share` of the time.
fn pause_for(busy: Duration, share: f64) -> Duration {
    let share = share.clamp(0.01, 1.0);
    busy.mul_f64(1.0 / share - 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_leaves_ingest_the_rest() {
        let busy = Duration::from_millis(100);
        assert_eq!(pause_for(busy, 0.25), Duration::from_millis(300));
        assert_eq!(pause_for(busy, 1.0), Duration::ZERO);
        assert_eq!(pause_for(busy, 0.5), busy);
    }
}
