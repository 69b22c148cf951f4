//! The embedded analysis worker: with no Kafka configured, the worker's code runs inside
//! `serve`, reading the analysis queue in the DuckDB file. An event leaves the queue only in
//! the transaction that stores its insight (or, with PostgreSQL insights, right after it).

use std::sync::Arc;
use std::time::Duration;

use store::StoreRef;
use tokio::sync::{Notify, watch};
use worker::{Analyst, BatchConfig, analyze_batch};

use crate::insights::InsightStore;
use crate::metrics::Metrics;

/// How often the queue is looked at when nobody says it grew (covers events left by an
/// earlier run).
const IDLE_POLL: Duration = Duration::from_secs(2);

pub struct EmbeddedWorker {
    pub store: StoreRef,
    pub sink: InsightStore,
    pub analyst: Arc<dyn Analyst>,
    pub batch: BatchConfig,
    pub queued: Arc<Notify>,
    pub metrics: Metrics,
}

impl EmbeddedWorker {
    /// Runs until `stop`; the batch in progress is finished first.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(200);
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
            let updates = analyze_batch(self.analyst.as_ref(), events).await;
            match self.sink.apply(&self.store, updates, seqs).await {
                Ok(applied) => {
                    self.metrics.record_applied(applied);
                    backoff = Duration::from_millis(200);
                }
                Err(err) => {
                    // The events stay queued and are analysed again.
                    tracing::error!(error = %format!("{err:#}"), "storing insights failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => break,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }
}
