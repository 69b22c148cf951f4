//! Retention: the background task that keeps the data directory from filling the disk.
//!
//! Every `retention_interval` it removes `logs` rows older than `retention` (by `ts`), the
//! oldest `logs` rows while the data is larger than `max_disk`, `stats` minutes older than
//! `stats_retention`, insights last seen before `insights_retention` (in DuckDB or PostgreSQL)
//! and resolved incidents last seen before it,
//! and patterns last seen before `retention` that no insight names. The store deletes in short
//! slices, so ingest and queries go on meanwhile; a checkpoint then frees the deleted rows'
//! blocks for reuse. A failed pass is logged, counted and tried again at the next interval.

use std::time::Duration;

use store::StoreRef;
use tokio::sync::watch;

use crate::insights::InsightStore;
use crate::metrics::Metrics;

/// What retention keeps, resolved from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub logs: Option<Duration>,
    pub stats: Option<Duration>,
    pub insights: Option<Duration>,
    pub max_disk: Option<u64>,
    pub interval: Duration,
}

impl RetentionPolicy {
    pub fn is_off(&self) -> bool {
        self.logs.is_none()
            && self.stats.is_none()
            && self.insights.is_none()
            && self.max_disk.is_none()
    }
}

/// Under `max_disk`, data is removed down to this share of the budget, so one pass makes room
/// for a while instead of a few rows at every pass.
const DISK_TARGET: f64 = 0.9;
/// Cuts a pass makes at most to get under `max_disk`.
const DISK_ROUNDS: usize = 4;

/// Runs retention passes until `stop`.
pub async fn run(
    policy: RetentionPolicy,
    store: StoreRef,
    insights: InsightStore,
    metrics: Metrics,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    if policy.is_off() {
        return Ok(());
    }
    // Every table's series exists from the start, at 0, rather than from its first deletion.
    for table in ["logs", "stats", "patterns", "insights", "incidents"] {
        metrics
            .retention_deleted
            .get_or_create(&vec![("table", table)])
            .inc_by(0);
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(policy.interval) => {}
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
        if let Err(err) = pass(&policy, &store, &insights, &metrics).await {
            metrics.retention_failures.inc();
            tracing::warn!(error = %format!("{err:#}"), "retention pass failed; retrying at the next interval");
        }
        // Counted when done, so a client can wait for a pass that started after its write.
        metrics.retention_passes.inc();
    }
}

fn micros_ago(now_us: i64, age: Duration) -> i64 {
    now_us.saturating_sub(i64::try_from(age.as_micros()).unwrap_or(i64::MAX))
}

/// Runs one blocking store call on a blocking thread.
async fn on_store<T: Send + 'static>(
    store: &StoreRef,
    call: impl FnOnce(&store::Store) -> store::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let store = store.clone();
    Ok(tokio::task::spawn_blocking(move || call(&store)).await??)
}

/// One pass: each table's expiry, then the disk budget.
pub async fn pass(
    policy: &RetentionPolicy,
    store: &StoreRef,
    insights: &InsightStore,
    metrics: &Metrics,
) -> anyhow::Result<store::Expired> {
    let now = chrono::Utc::now().timestamp_micros();
    let mut expired = store::Expired::default();
    if let Some(age) = policy.logs {
        let before = micros_ago(now, age);
        expired.logs += on_store(store, move |s| s.expire_logs(before)).await?;
    }
    if let Some(age) = policy.stats {
        let before = micros_ago(now, age);
        expired.stats = on_store(store, move |s| s.expire_stats(before)).await?;
    }
    if let Some(age) = policy.insights {
        // Incidents follow the insights they group, wherever those are kept.
        let before = micros_ago(now, age);
        expired.incidents = on_store(store, move |s| s.expire_incidents(before)).await?;
    }
    let mut referenced = Vec::new();
    match insights {
        InsightStore::DuckDb(_) => {
            if let Some(age) = policy.insights {
                let before = micros_ago(now, age);
                expired.insights = on_store(store, move |s| s.expire_insights(before)).await?;
            }
        }
        InsightStore::Postgres(pg) => {
            if let Some(age) = policy.insights {
                expired.insights = pg.expire(micros_ago(now, age)).await?;
            }
            if policy.logs.is_some() {
                referenced = pg.referenced_patterns().await?;
            }
        }
    }
    if let Some(age) = policy.logs {
        let before = micros_ago(now, age);
        expired.patterns = on_store(store, move |s| s.expire_patterns(before, &referenced)).await?;
    }
    if !expired.is_empty() {
        on_store(store, |s| s.checkpoint()).await?;
    }
    if let Some(budget) = policy.max_disk {
        expired.logs += fit_disk(store, budget).await?;
    }
    let disk = on_store(store, |s| s.disk_usage()).await?;
    metrics.db_file_bytes.set(disk.file_bytes as i64);
    metrics.db_used_bytes.set(disk.used_bytes as i64);
    for (table, n) in [
        ("logs", expired.logs),
        ("stats", expired.stats),
        ("patterns", expired.patterns),
        ("insights", expired.insights),
        ("incidents", expired.incidents),
    ] {
        metrics
            .retention_deleted
            .get_or_create(&vec![("table", table)])
            .inc_by(n);
    }
    if !expired.is_empty() {
        tracing::info!(
            logs = expired.logs,
            stats = expired.stats,
            patterns = expired.patterns,
            insights = expired.insights,
            incidents = expired.incidents,
            file_bytes = disk.file_bytes,
            used_bytes = disk.used_bytes,
            "retention removed old data"
        );
    }
    Ok(expired)
}

/// Removes the oldest `logs` rows until the data takes at most `budget` bytes (aiming at
/// [`DISK_TARGET`] of it). DuckDB frees space a whole row group at a time, so the cut is made
/// at row-group boundaries: everything up to the newest `ts` of the oldest row groups whose
/// blocks cover the excess. The file keeps its size, its freed blocks reused by new rows.
async fn fit_disk(store: &StoreRef, budget: u64) -> anyhow::Result<u64> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
        let mut deleted = 0;
        if store.disk_usage()?.used_bytes <= budget {
            return Ok(0);
        }
        // The write-ahead log's rows into row groups, which is what can be measured and cut.
        store.checkpoint()?;
        for _ in 0..DISK_ROUNDS {
            let used = store.disk_usage()?.used_bytes;
            if used <= budget {
                break;
            }
            let excess = used - (budget as f64 * DISK_TARGET) as u64;
            let groups = store.logs_row_groups()?;
            let mut covered = 0;
            let mut cut = None;
            // The newest row group is kept: it holds what was just written.
            for group in groups.iter().take(groups.len().saturating_sub(1)) {
                covered += group.bytes;
                cut = cut.max(group.newest_us);
                if covered >= excess {
                    break;
                }
            }
            let Some(cut) = cut else {
                tracing::warn!(
                    used,
                    budget,
                    "over max_disk with no logs row group left to remove"
                );
                break;
            };
            let n = store.expire_logs(cut.saturating_add(1))?;
            store.checkpoint()?;
            deleted += n;
            if n == 0 || store.disk_usage()?.used_bytes >= used {
                // Nothing more came free this time (rows of those groups still live); the
                // next pass looks again rather than cutting deeper now.
                break;
            }
        }
        Ok(deleted)
    })
    .await?
}
