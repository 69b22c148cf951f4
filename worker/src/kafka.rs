//! `loginsight worker`: the analysis loop on Kafka. Consumes `logs.to.analyze` in batches as a
//! member of one consumer group, publishes the updates to `ai.insights.processed`, and commits
//! the batch's offsets only after every update was acknowledged by the broker. A crash between
//! publishing and committing redelivers the batch; the insight stores count each event once.

use std::sync::Arc;
use std::time::Duration;

use bus::{BatchConsumer, KafkaConfig, Producer, envelope};
use tokio::sync::watch;

use crate::{BatchConfig, Processor};

/// Counters a worker reports when it stops (and logs as it goes).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WorkerTotals {
    pub batches: u64,
    pub events: u64,
    pub updates: u64,
    pub malformed: u64,
    pub calls: u64,
    pub tokens: u64,
}

/// Runs until `stop` turns true; the current batch is finished (or left uncommitted) first.
pub async fn run(
    kafka: &KafkaConfig,
    group_id: &str,
    batch: &BatchConfig,
    processor: Arc<Processor>,
    mut stop: watch::Receiver<bool>,
) -> Result<WorkerTotals, bus::BusError> {
    bus::check_and_create_topics(kafka).await?;
    let consumer = BatchConsumer::new(kafka, group_id, &kafka.analyze_topic)?;
    let producer = Producer::new(kafka)?;
    let mut totals = WorkerTotals::default();
    tracing::info!(topic = %kafka.analyze_topic, group = group_id, "worker consuming");
    while !*stop.borrow() {
        let messages = tokio::select! {
            m = consumer.next_batch(batch.max_events, batch.linger) => m?,
            _ = stop.changed() => break,
        };
        if messages.is_empty() {
            continue;
        }
        let mut events = Vec::with_capacity(messages.len());
        for m in &messages {
            match envelope::decode_event(&m.payload) {
                Ok(e) => events.push(e),
                Err(err) => {
                    // A message no version of us can read would block the partition forever
                    // if it were retried; it is logged and skipped.
                    totals.malformed += 1;
                    tracing::warn!(partition = m.partition, offset = m.offset, error = %err, "skipping unreadable message");
                }
            }
        }
        totals.events += events.len() as u64;
        let (updates, stats) = processor.process(events).await;
        totals.calls += stats.calls;
        totals.tokens += stats.tokens;
        let encoded: Vec<(String, Vec<u8>)> = updates
            .iter()
            .map(|u| (u.insight.service.clone(), envelope::encode_update(u)))
            .collect();
        let mut pending = encoded;
        let mut backoff = crate::retry::Backoff::default();
        loop {
            let results = producer.send_all(&kafka.insights_topic, &pending).await;
            let failed: Vec<(String, Vec<u8>)> = pending
                .into_iter()
                .zip(results)
                .filter_map(|(m, r)| match r {
                    Ok(()) => None,
                    Err(err) => {
                        tracing::warn!(error = %err, "publishing an insight update failed; retrying");
                        Some(m)
                    }
                })
                .collect();
            if failed.is_empty() {
                break;
            }
            if *stop.borrow() {
                // Not committed: the batch is redelivered to whoever consumes next.
                consumer.close(Duration::from_secs(5)).await;
                return Ok(totals);
            }
            tokio::time::sleep(backoff.next_delay()).await;
            pending = failed;
        }
        consumer.commit(&messages).await?;
        totals.batches += 1;
        totals.updates += updates.len() as u64;
        tracing::info!(
            events = messages.len(),
            updates = updates.len(),
            "batch analysed and committed"
        );
    }
    consumer.close(Duration::from_secs(5)).await;
    Ok(totals)
}
