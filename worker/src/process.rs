//! One batch through the analysis: group by (service, pattern), read each group's context,
//! decide whether it needs a model call, call the analyst, and turn the answers into insight
//! updates. A known pattern that has not changed materially costs no call: its insight only
//! gets the new occurrences. So a batch of 10,000 errors of 5 patterns costs at most 5 calls,
//! and the next batch of the same patterns none.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;

use model::{ErrorEvent, InsightUpdate, UpdateKind};

use crate::analyst::{Analysis, Analyst};
use crate::context::{Context, Existing, SqlContext};
use crate::{Group, MAX_EVENTS_PER_UPDATE, group};

/// A pattern silent for this long that comes back is analysed again.
const QUIET_US: i64 = 10 * 60 * 1_000_000;

/// Most insights remembered locally (for when the store cannot be asked).
const KNOWN_CAPACITY: usize = 10_000;

/// What a batch cost and did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchStats {
    pub groups: u64,
    pub analysed: u64,
    pub count_only: u64,
    pub failed: u64,
    pub calls: u64,
    pub tokens: u64,
}

impl BatchStats {
    pub fn add(&mut self, other: BatchStats) {
        self.groups += other.groups;
        self.analysed += other.analysed;
        self.count_only += other.count_only;
        self.failed += other.failed;
        self.calls += other.calls;
        self.tokens += other.tokens;
    }
}

/// The analysis step shared by the in-process worker, `loginsight worker` and `analyze()`.
pub struct Processor {
    analyst: Arc<dyn Analyst>,
    context: Option<SqlContext>,
    redactor: redact::Redactor,
    known: Mutex<HashMap<String, Existing>>,
}

/// Whether a known insight deserves a new analysis for this group.
fn material_change(existing: &Existing, group: &Group, model: &str) -> bool {
    if existing.model != model {
        // Analysed by another analyst (e.g. before an API key was configured).
        return true;
    }
    let n = group.events.len() as f64;
    if existing.status == "failed" {
        return n >= 10.0;
    }
    // A new episode: the pattern was quiet for a while and is back in force; what caused it
    // last time need not be what causes it now.
    if n >= 10.0 && group.first_seen_us() - existing.last_seen_us > QUIET_US {
        return true;
    }
    // A rate spike: this batch's rate is five times the insight's rate so far. Both spans
    // get the same one-minute floor, so a steady burst split over batches is no spike.
    let span_s = ((group.last_seen_us() - group.first_seen_us()) as f64 / 1e6).max(60.0);
    let hist_s = ((existing.last_seen_us - existing.first_seen_us) as f64 / 1e6).max(60.0);
    let hist_rate = existing.occurrences.max(1) as f64 / hist_s;
    n >= 20.0 && n / span_s > 5.0 * hist_rate
}

impl Processor {
    pub fn new(
        analyst: Arc<dyn Analyst>,
        context: Option<SqlContext>,
        redactor: redact::Redactor,
    ) -> Processor {
        Processor {
            analyst,
            context,
            redactor,
            known: Mutex::new(HashMap::new()),
        }
    }

    pub fn model(&self) -> &str {
        self.analyst.model()
    }

    /// The whole context of a group that will be analysed, with its stored insight.
    async fn context_of(&self, group: &Group, existing: Option<Existing>) -> Context {
        let context = match &self.context {
            Some(source) => source.context(group).await.unwrap_or_else(|err| {
                tracing::warn!(error = %err, "analysing without store context");
                Context::default()
            }),
            None => Context::default(),
        };
        Context {
            existing,
            ..context
        }
    }

    /// The stored insight of `group` (or the one this processor last wrote), without the rest
    /// of the context: enough to decide whether the group is analysed again.
    async fn existing_of(&self, group: &Group) -> Option<Existing> {
        let stored = match &self.context {
            Some(source) => source.existing(group).await.unwrap_or_else(|err| {
                tracing::warn!(error = %err, "deciding without the stored insight");
                None
            }),
            None => None,
        };
        stored.or_else(|| {
            let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            known.get(&group.insight_id()).cloned()
        })
    }

    fn remember(&self, id: String, existing: Existing) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() >= KNOWN_CAPACITY && !known.contains_key(&id) {
            known.clear();
        }
        known.insert(id, existing);
    }

    /// Books an analyst's answer: a failure becomes a failed insight with the reason.
    fn settle(
        &self,
        group: &Group,
        result: Result<Analysis, crate::AnalystError>,
        stats: &mut BatchStats,
    ) -> (Analysis, &'static str) {
        match result {
            Ok(analysis) => {
                stats.analysed += 1;
                stats.calls += u64::from(analysis.calls);
                stats.tokens += analysis.tokens;
                (analysis, "open")
            }
            Err(err) => {
                stats.failed += 1;
                tracing::warn!(service = %group.service, pattern = %group.pattern_id, error = %err, "analysis failed");
                (Analysis::failed(group, &err.to_string()), "failed")
            }
        }
    }

    /// Every planned analysis at once; the analyst bounds its own concurrency.
    async fn analyse_all(
        &self,
        planned: &[(Group, Context, bool)],
    ) -> Vec<Option<Result<Analysis, crate::AnalystError>>> {
        futures::future::join_all(planned.iter().map(|(group, context, analyse)| async move {
            if *analyse {
                Some(self.analyst.analyze(group, context).await)
            } else {
                None
            }
        }))
        .await
    }

    /// Analyses a batch from the queue.
    pub async fn process(&self, events: Vec<ErrorEvent>) -> (Vec<InsightUpdate>, BatchStats) {
        let now_us = chrono::Utc::now().timestamp_micros();
        let model = self.analyst.model().to_string();
        let mut stats = BatchStats::default();
        // Contexts in order (one connection), then the analyses together. The whole context
        // (scans of `logs` around the group) is read only for a group that will be analysed;
        // the others, most groups in steady state, only add occurrences.
        let mut planned = Vec::new();
        for group in group::group(events) {
            stats.groups += 1;
            let existing = self.existing_of(&group).await;
            let analyse = existing
                .as_ref()
                .is_none_or(|existing| material_change(existing, &group, &model));
            let context = if analyse {
                self.context_of(&group, existing).await
            } else {
                Context {
                    existing,
                    ..Context::default()
                }
            };
            planned.push((group, context, analyse));
        }
        let outcomes = self.analyse_all(&planned).await;
        let mut updates = Vec::new();
        for ((group, context, _), outcome) in planned.into_iter().zip(outcomes) {
            let (calls_before, tokens_before) = (stats.calls, stats.tokens);
            let (insight, kind) = match (outcome, &context.existing) {
                (Some(result), _) => {
                    let (analysis, status) = self.settle(&group, result, &mut stats);
                    let insight =
                        analysis.into_insight(&group, &model, status, now_us, &self.redactor);
                    (insight, UpdateKind::Analysis)
                }
                (None, existing) => {
                    stats.count_only += 1;
                    // The row exists; only counts and times change. The fields still describe
                    // the group in case the row was lost and must be recreated.
                    let (model, status) = existing.as_ref().map_or((model.as_str(), "open"), |e| {
                        (e.model.as_str(), e.status.as_str())
                    });
                    let analysis = Analysis::failed(&group, "not analysed yet");
                    let mut insight =
                        analysis.into_insight(&group, model, status, now_us, &self.redactor);
                    insight.summary = String::new();
                    (insight, UpdateKind::CountOnly)
                }
            };
            let cost = (stats.calls - calls_before, stats.tokens - tokens_before);
            let previous = context.existing.clone();
            self.remember(
                insight.id.clone(),
                Existing {
                    occurrences: previous.as_ref().map_or(0, |e| e.occurrences)
                        + group.events.len() as i64,
                    model: insight.model.clone(),
                    status: insight.status.clone(),
                    first_seen_us: previous.as_ref().map_or(insight.first_seen_us, |e| {
                        e.first_seen_us.min(insight.first_seen_us)
                    }),
                    last_seen_us: previous.as_ref().map_or(insight.last_seen_us, |e| {
                        e.last_seen_us.max(insight.last_seen_us)
                    }),
                },
            );
            let ids: Vec<String> = group.events.iter().map(|e| e.event_id.clone()).collect();
            let (mut calls, mut tokens) = (cost.0, cost.1);
            for chunk in ids.chunks(MAX_EVENTS_PER_UPDATE) {
                let mut insight = insight.clone();
                insight.occurrences = chunk.len() as i64;
                updates.push(InsightUpdate {
                    insight,
                    event_ids: chunk.to_vec(),
                    kind,
                    calls: std::mem::take(&mut calls),
                    tokens: std::mem::take(&mut tokens),
                });
            }
        }
        (updates, stats)
    }

    /// Analyses `events` now regardless of what is stored (`analyze()` in SQL). The updates
    /// refresh the analysis without counting the events again.
    pub async fn analyze_now(&self, events: Vec<ErrorEvent>) -> (Vec<InsightUpdate>, BatchStats) {
        let now_us = chrono::Utc::now().timestamp_micros();
        let mut stats = BatchStats::default();
        let mut planned = Vec::new();
        for group in group::group(events) {
            stats.groups += 1;
            let existing = self.existing_of(&group).await;
            let context = self.context_of(&group, existing).await;
            planned.push((group, context, true));
        }
        let outcomes = self.analyse_all(&planned).await;
        let mut updates = Vec::new();
        for ((group, _, _), outcome) in planned.into_iter().zip(outcomes) {
            let Some(result) = outcome else { continue };
            let (calls_before, tokens_before) = (stats.calls, stats.tokens);
            let (analysis, status) = self.settle(&group, result, &mut stats);
            let insight =
                analysis.into_insight(&group, self.analyst.model(), status, now_us, &self.redactor);
            updates.push(InsightUpdate {
                insight,
                event_ids: Vec::new(),
                kind: UpdateKind::Refresh,
                calls: stats.calls - calls_before,
                tokens: stats.tokens - tokens_before,
            });
        }
        (updates, stats)
    }
}
