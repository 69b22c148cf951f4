//! The analysis worker: error events in, insight updates out.
//!
//! A batch of [`model::ErrorEvent`]s is grouped by (service, pattern) in [`group`]; each group
//! is handed to an [`Analyst`], and the answer becomes an [`model::InsightUpdate`] that names
//! every event it accounts for, so stores can count each event once however often it is
//! delivered. The same code runs in two places: inside `loginsight serve` on the embedded
//! queue, and as `loginsight worker` on Kafka ([`kafka`]).

pub mod analyst;
pub mod group;
pub mod kafka;

use model::{ErrorEvent, InsightUpdate};

pub use analyst::{Analysis, Analyst, ShapeAnalyst};
pub use group::Group;

/// Most event ids carried by one update; larger groups are split so a Kafka message stays
/// well under the broker's 1 MB default limit.
pub const MAX_EVENTS_PER_UPDATE: usize = 2_000;

/// How the worker cuts batches.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchConfig {
    /// Most events per batch.
    pub max_events: usize,
    /// How long to wait for a batch to fill once its first event arrived.
    pub linger: std::time::Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_events: 1_000,
            linger: std::time::Duration::from_millis(500),
        }
    }
}

/// Analyses one batch: one update per (service, pattern) group, split into chunks of at most
/// [`MAX_EVENTS_PER_UPDATE`] event ids.
pub async fn analyze_batch(analyst: &dyn Analyst, events: Vec<ErrorEvent>) -> Vec<InsightUpdate> {
    let now_us = chrono::Utc::now().timestamp_micros();
    let mut updates = Vec::new();
    for group in group::group(events) {
        let analysis = analyst.analyze(&group).await;
        let insight = analysis.into_insight(&group, analyst.model(), now_us);
        let ids: Vec<String> = group.events.iter().map(|e| e.event_id.clone()).collect();
        for chunk in ids.chunks(MAX_EVENTS_PER_UPDATE) {
            let mut insight = insight.clone();
            insight.occurrences = chunk.len() as i64;
            updates.push(InsightUpdate {
                insight,
                event_ids: chunk.to_vec(),
            });
        }
    }
    updates
}
