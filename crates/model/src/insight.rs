//! What travels between the ingest side and the analysis worker: an [`ErrorEvent`] per routed
//! record, and an [`InsightUpdate`] per analysed group. Plain data; the bus decides the wire
//! format and the stores decide the columns.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// One log record that the routing rules sent to analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEvent {
    /// Globally unique (`<instance>-<sequence>`); the key that makes redelivery harmless.
    pub event_id: String,
    /// Event time, microseconds since the Unix epoch (UTC).
    pub ts_us: i64,
    pub service: String,
    pub level: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The mined pattern of the message, when mining is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern_id: Option<String>,
    /// That pattern's template at the time the record was mined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

/// One row of `insights`. Times are microseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Insight {
    /// Stable per (service, pattern): a later analysis of the same pattern updates this row.
    pub id: String,
    pub created_at_us: i64,
    pub service: String,
    pub pattern_id: String,
    pub severity: String,
    pub title: String,
    pub summary: String,
    pub root_cause: Option<String>,
    pub suggested_fix: Option<String>,
    pub confidence: f64,
    pub model: String,
    pub status: String,
    pub first_seen_us: i64,
    pub last_seen_us: i64,
    /// Occurrences counted by this update; stores add the ones they had not seen.
    pub occurrences: i64,
    /// JSON document: examples, template and whatever the analyst cites.
    pub evidence: String,
}

/// An insight together with the events it accounts for. Stores count an event once, however
/// often the update is delivered, by remembering `event_ids`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InsightUpdate {
    pub insight: Insight,
    pub event_ids: Vec<String>,
}

/// What applying updates did: new events counted, and updates that were pure redeliveries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    pub new_events: u64,
    pub insights_written: u64,
    pub duplicates: u64,
}

/// Several updates of one insight in one apply (a large group is split into chunks) are folded
/// into one: the widest time range and the latest analysis.
pub fn fold_updates(updates: &[InsightUpdate]) -> Vec<Insight> {
    let mut order = Vec::new();
    let mut by_id: HashMap<&str, Insight> = HashMap::new();
    for u in updates {
        let i = &u.insight;
        match by_id.get_mut(i.id.as_str()) {
            Some(acc) => {
                let (first, last) = (
                    acc.first_seen_us.min(i.first_seen_us),
                    acc.last_seen_us.max(i.last_seen_us),
                );
                *acc = i.clone();
                acc.first_seen_us = first;
                acc.last_seen_us = last;
            }
            None => {
                order.push(i.id.as_str());
                by_id.insert(i.id.as_str(), i.clone());
            }
        }
    }
    order
        .into_iter()
        .filter_map(|id| by_id.remove(id))
        .collect()
}
