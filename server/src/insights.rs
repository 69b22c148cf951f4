//! The results path: insight updates → the insights store (the DuckDB file, or PostgreSQL with
//! `--insights-url`), and with Kafka, the consumer of `ai.insights.processed` that feeds it.
//! Either store counts an event once however often its update is delivered.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bus::{BatchConsumer, KafkaConfig, envelope};
use insights_pg::PgInsights;
use model::{Applied, InsightUpdate};
use store::StoreRef;
use tokio::sync::watch;

use crate::metrics::Metrics;

/// Where insights are kept.
#[derive(Debug, Clone)]
pub enum InsightStore {
    DuckDb(StoreRef),
    Postgres(PgInsights),
}

impl InsightStore {
    /// Stores `updates` and then removes the analysis-queue events `ack` (embedded mode). With
    /// DuckDB both happen in one transaction; with PostgreSQL the queue is acknowledged only
    /// after PostgreSQL committed, so a crash in between redelivers, never loses.
    pub async fn apply(
        &self,
        store: &StoreRef,
        updates: Vec<InsightUpdate>,
        ack: Vec<u64>,
    ) -> anyhow::Result<Applied> {
        match self {
            InsightStore::DuckDb(db) => {
                let db = db.clone();
                Ok(
                    tokio::task::spawn_blocking(move || db.apply_insights(&updates, &ack))
                        .await??,
                )
            }
            InsightStore::Postgres(pg) => {
                let applied = pg.apply(&updates).await?;
                let store = store.clone();
                tokio::task::spawn_blocking(move || store.queue_ack(&ack)).await??;
                Ok(applied)
            }
        }
    }

    /// The SQL endpoint's source for `insights` when it is not the DuckDB table.
    pub fn sql_source(&self) -> Option<Arc<dyn sql::BatchSource>> {
        match self {
            InsightStore::DuckDb(_) => None,
            InsightStore::Postgres(pg) => Some(Arc::new(PgSource(pg.clone()))),
        }
    }
}

#[derive(Debug)]
struct PgSource(PgInsights);

#[async_trait::async_trait]
impl sql::BatchSource for PgSource {
    async fn batches(&self) -> Result<Vec<arrow::array::RecordBatch>, String> {
        self.0
            .batches()
            .await
            .map_err(|e| format!("reading insights from PostgreSQL: {e}"))
    }
}

/// Opens the configured insights store.
pub async fn open(url: &str, store: &StoreRef) -> anyhow::Result<InsightStore> {
    if url.is_empty() {
        return Ok(InsightStore::DuckDb(store.clone()));
    }
    let pg = PgInsights::connect(url)
        .await
        .context("cannot open the PostgreSQL insights store")?;
    tracing::info!(url = %insights_pg::redact_url(url), "insights stored in PostgreSQL");
    Ok(InsightStore::Postgres(pg))
}

/// Consumes `ai.insights.processed` and stores every update; offsets are committed only after
/// the store committed. Runs until `stop`.
pub async fn consume_results(
    kafka: KafkaConfig,
    group: String,
    store: StoreRef,
    sink: InsightStore,
    metrics: Metrics,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let consumer = BatchConsumer::new(&kafka, &group, &kafka.insights_topic)?;
    let mut backoff = worker::retry::Backoff::default();
    while !*stop.borrow() {
        let messages = tokio::select! {
            m = consumer.next_batch(500, Duration::from_millis(200)) => m?,
            _ = stop.changed() => break,
        };
        if messages.is_empty() {
            continue;
        }
        let mut updates = Vec::with_capacity(messages.len());
        for m in &messages {
            match envelope::decode_update(&m.payload) {
                Ok(u) => updates.push(u),
                Err(err) => {
                    metrics.malformed_messages.inc();
                    tracing::warn!(partition = m.partition, offset = m.offset, error = %err, "skipping unreadable insight update");
                }
            }
        }
        // Until the store takes them, the batch is retried; nothing is committed.
        loop {
            match sink.apply(&store, updates.clone(), Vec::new()).await {
                Ok(applied) => {
                    metrics.record_cost(Metrics::cost(&updates));
                    metrics.record_applied(applied);
                    backoff.reset();
                    break;
                }
                Err(err) => {
                    tracing::error!(error = %format!("{err:#}"), "storing insights failed; retrying");
                    if !backoff.wait(&mut stop).await {
                        consumer.close(Duration::from_secs(5)).await;
                        return Ok(());
                    }
                }
            }
        }
        consumer.commit(&messages).await?;
    }
    consumer.close(Duration::from_secs(5)).await;
    Ok(())
}
