//! The outbox relay (Kafka mode): drains the analysis queue in the DuckDB file into
//! `logs.to.analyze`, oldest first, keyed by service. An event is deleted from the queue only
//! after Kafka acknowledged it (`acks=all`), so while the brokers are down the queue is the
//! spool: ingest goes on, `/metrics` shows the backlog, and delivery resumes when they return.

use std::time::Duration;

use bus::{KafkaConfig, Producer, envelope};
use store::StoreRef;
use tokio::sync::{Notify, watch};

use crate::metrics::Metrics;

/// Events sent per round trip.
const CHUNK: usize = 1_000;

pub async fn run(
    kafka: KafkaConfig,
    store: StoreRef,
    queued: std::sync::Arc<Notify>,
    metrics: Metrics,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut producer = Producer::new(&kafka)?;
    let mut backoff = worker::retry::Backoff::default();
    while !*stop.borrow() {
        let reader = store.clone();
        let head = tokio::task::spawn_blocking(move || reader.queue_head(CHUNK)).await??;
        if head.is_empty() {
            tokio::select! {
                _ = queued.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = stop.changed() => break,
            }
            continue;
        }
        let messages: Vec<(String, Vec<u8>)> = head
            .iter()
            .map(|q| (q.event.service.clone(), envelope::encode_event(&q.event)))
            .collect();
        let results = producer.send_all(&kafka.analyze_topic, &messages).await;
        let mut delivered = Vec::with_capacity(head.len());
        let mut first_error = None;
        let mut failed = 0u64;
        for (q, r) in head.iter().zip(results) {
            match r {
                Ok(()) => delivered.push(q.seq),
                Err(err) => {
                    failed += 1;
                    first_error.get_or_insert(err);
                }
            }
        }
        if !delivered.is_empty() {
            let n = delivered.len() as u64;
            let acker = store.clone();
            tokio::task::spawn_blocking(move || acker.queue_ack(&delivered)).await??;
            metrics.published.inc_by(n);
        }
        match first_error {
            None => backoff.reset(),
            Some(err) => {
                metrics.publish_failures.inc_by(failed);
                tracing::warn!(error = %err, "Kafka did not take spooled events; they stay in the spool");
                // A broker that came back empty (or a deleted topic) needs its topics again,
                // and a fresh producer: an idempotent producer's identity belongs to the
                // cluster that issued it.
                if let Err(err) = bus::check_and_create_topics(&kafka).await {
                    tracing::warn!(error = %err, "Kafka still unavailable");
                }
                producer = Producer::new(&kafka)?;
                if !backoff.wait(&mut stop).await {
                    break;
                }
            }
        }
    }
    Ok(())
}
