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
    /// How the store applies it; absent in messages of older workers (an analysis).
    #[serde(default)]
    pub kind: UpdateKind,
    /// Model calls and tokens the analysis cost (on the first update of a group only), so
    /// whoever applies updates can account for them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub calls: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// How a store applies an update.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateKind {
    /// A new analysis with the events it covers: new events are counted and the analysis
    /// replaces the stored one (unless every event was already seen: a redelivery changes
    /// nothing).
    #[default]
    Analysis,
    /// Only new occurrences of a known insight: counts and times change, the analysis stays.
    CountOnly,
    /// A fresh analysis of events already counted (`analyze()`): the analysis is replaced,
    /// counts stay.
    Refresh,
}

/// One insight's updates of an apply, merged.
#[derive(Debug, Clone, PartialEq)]
pub struct Folded {
    pub insight: Insight,
    /// [`UpdateKind::CountOnly`] when no update carried an analysis; [`UpdateKind::Refresh`]
    /// when one refreshed it (applied even if no event is new).
    pub kind: UpdateKind,
}

impl Folded {
    /// Whether applying this, with `new_events` of its events not seen before, changes
    /// nothing: a redelivery. A refresh always applies (it carries no events).
    pub fn is_redelivery(&self, new_events: i64) -> bool {
        new_events == 0 && self.kind != UpdateKind::Refresh
    }
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
pub fn fold_updates(updates: &[InsightUpdate]) -> Vec<Folded> {
    let mut order = Vec::new();
    let mut by_id: HashMap<&str, Folded> = HashMap::new();
    for u in updates {
        let i = &u.insight;
        match by_id.get_mut(i.id.as_str()) {
            Some(acc) => {
                let (first, last) = (
                    acc.insight.first_seen_us.min(i.first_seen_us),
                    acc.insight.last_seen_us.max(i.last_seen_us),
                );
                // A count-only update never replaces an analysis it follows.
                if u.kind != UpdateKind::CountOnly || acc.kind == UpdateKind::CountOnly {
                    acc.insight = i.clone();
                }
                acc.insight.first_seen_us = first;
                acc.insight.last_seen_us = last;
                acc.kind = match (acc.kind, u.kind) {
                    (UpdateKind::Refresh, _) | (_, UpdateKind::Refresh) => UpdateKind::Refresh,
                    (UpdateKind::Analysis, _) | (_, UpdateKind::Analysis) => UpdateKind::Analysis,
                    _ => UpdateKind::CountOnly,
                };
            }
            None => {
                order.push(i.id.as_str());
                by_id.insert(
                    i.id.as_str(),
                    Folded {
                        insight: i.clone(),
                        kind: u.kind,
                    },
                );
            }
        }
    }
    order
        .into_iter()
        .filter_map(|id| by_id.remove(id))
        .collect()
}

/// `insights` rows as one batch in [`crate::schema::insights`].
pub fn insights_batch(
    insights: &[Insight],
) -> Result<arrow::array::RecordBatch, arrow::error::ArrowError> {
    use arrow::array::{
        ArrayRef, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
    };
    use std::sync::Arc;
    let text = |f: &dyn Fn(&Insight) -> Option<&str>| -> ArrayRef {
        Arc::new(insights.iter().map(f).collect::<StringArray>())
    };
    let time = |f: &dyn Fn(&Insight) -> i64| -> ArrayRef {
        Arc::new(
            insights
                .iter()
                .map(|i| Some(f(i)))
                .collect::<TimestampMicrosecondArray>()
                .with_timezone(crate::schema::UTC),
        )
    };
    arrow::array::RecordBatch::try_new(
        crate::schema::insights(),
        vec![
            text(&|i| Some(&i.id)),
            time(&|i| i.created_at_us),
            text(&|i| Some(&i.service)),
            text(&|i| Some(&i.pattern_id)),
            text(&|i| Some(&i.severity)),
            text(&|i| Some(&i.title)),
            text(&|i| Some(&i.summary)),
            text(&|i| i.root_cause.as_deref()),
            text(&|i| i.suggested_fix.as_deref()),
            Arc::new(
                insights
                    .iter()
                    .map(|i| Some(i.confidence))
                    .collect::<Float64Array>(),
            ),
            text(&|i| Some(&i.model)),
            text(&|i| Some(&i.status)),
            time(&|i| i.first_seen_us),
            time(&|i| i.last_seen_us),
            Arc::new(
                insights
                    .iter()
                    .map(|i| Some(i.occurrences))
                    .collect::<Int64Array>(),
            ),
            text(&|i| Some(&i.evidence)),
            // The incident tracker sets these on the stored row, not the analysis.
            text(&|_| None),
            Arc::new(arrow::array::BooleanArray::new_null(insights.len())),
        ],
    )
}
