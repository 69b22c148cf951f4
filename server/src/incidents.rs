//! The incident tracker: every `[incidents] every` it reads the per-minute error counts of
//! what arrived since its last pass, advances `diagnose::Tracker` through event time, and
//! writes the incidents it changed to `incidents` and each pattern's incident and background
//! mark to its insight (in DuckDB or PostgreSQL).
//!
//! Only `serve` runs it, so with Kafka and many workers there is still one tracker. Its state
//! is memory: on start it reads back the last `lookback` of arrivals, which rebuilds the same
//! incidents (their ids come from their root and start), so a restart updates rows rather than
//! adding them. Event time advances with the newest minute seen; when nothing arrives it
//! advances with the wall clock, so an incident resolves even after its logs stop.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use diagnose::{Change, ChangeKind, ErrorCount, Incident, IncidentConfig, Severity, Tracker};
use serde::Deserialize;
use serde_json::json;
use store::{IncidentRow, PatternMark, StoreRef};
use tokio::sync::watch;

use crate::insights::InsightStore;
use crate::metrics::Metrics;
use crate::notify::{Event, Outbox};

const MINUTE_US: i64 = 60_000_000;

/// `[incidents]`: grouping related error patterns into incidents.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IncidentsConfig {
    /// Track incidents at all.
    pub enabled: bool,
    /// How often a pass reads what arrived (humantime, `"15s"`).
    pub every: String,
    /// Quiet period after which an incident resolves (humantime, whole minutes).
    pub resolve_after: String,
}

impl Default for IncidentsConfig {
    fn default() -> Self {
        IncidentsConfig {
            enabled: true,
            every: "15s".into(),
            resolve_after: "10m".into(),
        }
    }
}

impl IncidentsConfig {
    /// The pass interval and the tracker's thresholds, or what is wrong with them.
    pub fn resolve(&self) -> anyhow::Result<(Duration, IncidentConfig)> {
        let every = humantime::parse_duration(&self.every)
            .map_err(|e| anyhow::anyhow!("incidents.every = {:?}: {e}", self.every))?;
        if every.is_zero() {
            anyhow::bail!("incidents.every must be above zero");
        }
        let quiet = humantime::parse_duration(&self.resolve_after).map_err(|e| {
            anyhow::anyhow!("incidents.resolve_after = {:?}: {e}", self.resolve_after)
        })?;
        let minutes = (quiet.as_secs() / 60) as i64;
        if minutes < 1 {
            anyhow::bail!("incidents.resolve_after must be at least one minute");
        }
        Ok((
            every,
            IncidentConfig {
                resolve_after_min: minutes,
                ..IncidentConfig::default()
            },
        ))
    }
}

/// Runs passes until `stop`.
pub async fn run(
    every: Duration,
    config: IncidentConfig,
    store: StoreRef,
    insights: InsightStore,
    metrics: Metrics,
    outbox: Outbox,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let lookback_us =
        (config.recent_min + config.baseline_min + config.resolve_after_min + 5) * MINUTE_US;
    let mut state = State {
        tracker: Tracker::new(config),
        read_until_us: chrono::Utc::now().timestamp_micros() - lookback_us,
        newest_seen: None,
        marks: HashMap::new(),
    };
    loop {
        if let Err(err) = state.pass(&store, &insights, &metrics, &outbox).await {
            metrics.incident_failures.inc();
            tracing::warn!(error = %format!("{err:#}"), "incident pass failed; retrying at the next interval");
        }
        metrics.incident_passes.inc();
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
    }
}

struct State {
    tracker: Tracker,
    /// Arrivals up to here have been read.
    read_until_us: i64,
    /// The newest event minute seen and when it was first seen, for advancing event time
    /// with the wall clock when nothing arrives.
    newest_seen: Option<(i64, Instant)>,
    /// Every pattern's current mark, sent on each pass until the pattern is forgotten, so an
    /// insight written after its mark still gets it.
    marks: HashMap<(String, String), PatternMark>,
}

impl State {
    async fn pass(
        &mut self,
        store: &StoreRef,
        insights: &InsightStore,
        metrics: &Metrics,
        outbox: &Outbox,
    ) -> anyhow::Result<()> {
        // A margin behind now: a commit in progress may carry an earlier `received_at`.
        let until = chrono::Utc::now().timestamp_micros() - 2_000_000;
        let after = self.read_until_us;
        let s = store.clone();
        let (first, rows) = tokio::task::spawn_blocking(move || {
            let first = s.first_ts_between(after, until)?;
            let rows = s.error_minutes(after, until)?;
            Ok::<_, store::StoreError>((first, rows))
        })
        .await??;
        if let Some(first) = first {
            self.tracker.begin_at(first);
        }
        self.read_until_us = until.max(after);
        let counts: Vec<ErrorCount> = rows
            .into_iter()
            .map(|r| ErrorCount {
                minute_us: r.minute_us,
                severity: Severity::from_level(&r.level),
                service: r.service,
                pattern_id: r.pattern_id,
                count: r.count,
                first_us: r.first_us,
                last_us: r.last_us,
                examples: vec![r.first_message, r.last_message],
            })
            .collect();
        self.tracker.observe(&counts);
        let missing = self.tracker.undescribed();
        if !missing.is_empty() {
            let s = store.clone();
            let templates =
                tokio::task::spawn_blocking(move || s.pattern_templates(&missing)).await??;
            for (service, pattern, template) in templates {
                self.tracker.describe(&service, &pattern, &template, &[]);
            }
        }
        let Some(newest) = self.tracker.newest_minute_us() else {
            return Ok(());
        };
        let now = Instant::now();
        let since = match self.newest_seen {
            Some((minute, at)) if minute == newest => at,
            _ => {
                self.newest_seen = Some((newest, now));
                now
            }
        };
        // The newest minute may still be filling; with nothing new for a while, event time
        // moves on with the clock.
        let idle_us = now.duration_since(since).as_micros() as i64;
        let through = newest - MINUTE_US + idle_us;
        let changes = self.tracker.advance(through);
        for m in self.tracker.take_marks() {
            self.marks.insert(
                (m.service.clone(), m.pattern_id.clone()),
                PatternMark {
                    service: m.service,
                    pattern_id: m.pattern_id,
                    incident_id: m.incident_id,
                    background: m.background,
                },
            );
        }
        let rows = latest_rows(&changes);
        for c in &changes {
            let kind = match c.kind {
                ChangeKind::Opened => "opened",
                ChangeKind::Resolved => "resolved",
                ChangeKind::SeverityRose => "severity_rose",
                ChangeKind::Changed => "changed",
                ChangeKind::Counted => continue,
            };
            metrics
                .incident_changes
                .get_or_create(&vec![("kind", kind)])
                .inc();
            tracing::info!(id = %c.incident.id, kind, title = %c.incident.title, "incident");
            if kind != "changed" && outbox.incident_notifies(c.incident.severity.as_str()) {
                let i = &c.incident;
                let event = Event {
                    kind: "incident",
                    event: kind,
                    subject: i.id.clone(),
                    fingerprint: i.id.clone(),
                    title: i.title.clone(),
                    severity: i.severity.as_str().to_string(),
                    service: Some(i.root_service.clone()),
                    root_cause: Some(i.root_cause.clone()),
                    suggested_fix: Some(i.suggested_fix.clone()),
                    value: Some(i.errors as f64),
                    labels: [("symptoms".to_string(), i.symptom_services().join(", "))]
                        .into_iter()
                        .collect(),
                    started_us: i.started_us,
                    // A severity rises at most once to each level.
                    occurrence: if kind == "severity_rose" {
                        i.severity.as_str().to_string()
                    } else {
                        String::new()
                    },
                };
                // Enqueued before the rows are saved: a failure here retries the whole pass,
                // and the dedup key makes the second enqueue a no-op.
                outbox
                    .enqueue(&event, &outbox.notify_config().notifiers)
                    .await?;
            }
        }
        let marks: Vec<PatternMark> = self.marks.values().cloned().collect();
        let s = store.clone();
        let duck_marks = match insights {
            InsightStore::DuckDb(_) => marks.clone(),
            InsightStore::Postgres(_) => Vec::new(),
        };
        tokio::task::spawn_blocking(move || s.save_incidents(&rows, &duck_marks)).await??;
        if let InsightStore::Postgres(pg) = insights {
            let tuples: Vec<(String, String, Option<String>, bool)> = marks
                .into_iter()
                .map(|m| (m.service, m.pattern_id, m.incident_id, m.background))
                .collect();
            pg.mark(&tuples).await?;
        }
        // Patterns the tracker has forgotten keep the mark their insight has.
        if self.marks.len() > 50_000 {
            self.marks.clear();
        }
        Ok(())
    }
}

/// The last state of each changed incident, as rows.
fn latest_rows(changes: &[Change]) -> Vec<IncidentRow> {
    let mut latest: HashMap<&str, &Incident> = HashMap::new();
    for c in changes {
        latest.insert(&c.incident.id, &c.incident);
    }
    let mut rows: Vec<IncidentRow> = latest.into_values().map(row).collect();
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    rows
}

fn row(i: &Incident) -> IncidentRow {
    IncidentRow {
        id: i.id.clone(),
        status: i.status.as_str().into(),
        severity: i.severity.as_str().into(),
        title: i.title.clone(),
        root_service: i.root_service.clone(),
        root_pattern: i.root_pattern.clone(),
        root_cause: i.root_cause.clone(),
        symptom_services: json!(i.symptom_services()).to_string(),
        symptom_patterns: json!(
            i.symptoms
                .iter()
                .map(|s| json!({"service": s.service, "pattern_id": s.pattern_id}))
                .collect::<Vec<_>>()
        )
        .to_string(),
        started_us: i.started_us,
        last_seen_us: i.last_seen_us,
        resolved_at_us: i.resolved_at_us,
        insight_count: i.pattern_count() as i64,
        errors: i.errors as i64,
        previous_id: i.previous_id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_parse_and_bad_values_are_named() {
        let (every, config) = IncidentsConfig::default().resolve().unwrap();
        assert_eq!(every, Duration::from_secs(15));
        assert_eq!(config.resolve_after_min, 10);
        let bad = IncidentsConfig {
            resolve_after: "20s".into(),
            ..IncidentsConfig::default()
        };
        let err = bad.resolve().unwrap_err().to_string();
        assert!(err.contains("resolve_after"), "{err}");
    }
}
