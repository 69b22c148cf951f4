//! The pipeline: batches from every source → the store, with group commit. It alone
//! acknowledges: a source's `submit` returns only after its rows are committed in DuckDB, and
//! with them the analysis-queue entries of the records the routing rules selected.
//!
//! One writer thread owns the writes. It takes the first waiting batch, merges whatever else
//! is already queued (up to `max_commit_rows`), appends them all and the `stats` rollup in one
//! transaction, and then answers every request of the group. Under load this turns many small
//! commits into few large ones without delaying a lone request.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;

use arrow::record_batch::RecordBatch;
use model::{LogBatchBuilder, StatsRollup};
use store::{Commit, StoreRef};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::metrics::Metrics;
use crate::mining::PatternStage;
use crate::route::Router;

/// Requests waiting for the writer; beyond this, sources wait (backpressure).
const QUEUE_DEPTH: usize = 256;

/// Why a batch was not stored. Nothing of a failed batch is stored.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PipelineError {
    #[error("the server is shutting down")]
    Closed,
    #[error("the batch could not be built: {0}")]
    Build(String),
    #[error("storing the batch failed: {0}")]
    Store(String),
}

struct Job {
    batch: RecordBatch,
    stats: StatsRollup,
    /// A delivery id: a job whose key was committed before is not stored again.
    key: Option<String>,
    done: oneshot::Sender<Result<Outcome, PipelineError>>,
}

/// What became of a submitted batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Stored,
    /// Its delivery key was already committed: a retry, nothing stored again.
    Duplicate,
}

/// What the writer thread does besides writing: mining, routing, and telling the consumers
/// of the analysis queue that it grew.
pub struct Stages {
    /// The pattern stage, or `None` when mining is switched off.
    pub patterns: Option<PatternStage>,
    pub router: Router,
    /// Notified after a commit that queued events.
    pub queued: Arc<Notify>,
    pub metrics: Metrics,
}

/// The handle sources submit to. Cloning is cheap; the writer stops when every handle is gone.
#[derive(Clone)]
pub struct Pipeline {
    jobs: mpsc::Sender<Job>,
}

impl Pipeline {
    /// Starts the writer thread. Join the handle after dropping every `Pipeline` to wait for
    /// the last commit and the final checkpoint.
    pub fn start(
        store: StoreRef,
        max_commit_rows: usize,
        stages: Stages,
    ) -> std::io::Result<(Pipeline, JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let writer = std::thread::Builder::new()
            .name("loginsight-writer".into())
            .spawn(move || write_loop(store, rx, max_commit_rows, stages))?;
        Ok((Pipeline { jobs: tx }, writer))
    }

    /// Stores the records of `builder`; returns how many once they are committed.
    pub async fn submit(&self, builder: LogBatchBuilder) -> Result<usize, PipelineError> {
        Ok(self.submit_once(builder, None).await?.0)
    }

    /// Like [`Pipeline::submit`], for a delivery that senders retry under the same `key`: a
    /// key already committed (within a day) stores nothing and reports [`Outcome::Duplicate`].
    pub async fn submit_once(
        &self,
        builder: LogBatchBuilder,
        key: Option<String>,
    ) -> Result<(usize, Outcome), PipelineError> {
        if builder.is_empty() {
            return Ok((0, Outcome::Stored));
        }
        let (batch, stats) = builder
            .finish()
            .map_err(|e| PipelineError::Build(e.to_string()))?;
        let rows = batch.num_rows();
        let (done, wait) = oneshot::channel();
        self.jobs
            .send(Job {
                batch,
                stats,
                key,
                done,
            })
            .await
            .map_err(|_| PipelineError::Closed)?;
        let outcome = wait.await.map_err(|_| PipelineError::Closed)??;
        Ok((rows, outcome))
    }
}

fn write_loop(
    store: StoreRef,
    mut jobs: mpsc::Receiver<Job>,
    max_commit_rows: usize,
    mut stages: Stages,
) {
    let mut pruned = std::time::Instant::now();
    while let Some(first) = jobs.blocking_recv() {
        let mut rows = first.batch.num_rows();
        let mut group = vec![first];
        while rows < max_commit_rows {
            match jobs.try_recv() {
                Ok(job) => {
                    rows += job.batch.num_rows();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        let mut commit = Commit::default();
        let mut waiters = Vec::with_capacity(group.len());
        for job in group {
            if let Some(key) = job.key {
                let seen = commit.delivery_keys.contains(&key)
                    || store.delivery_seen(&key).unwrap_or_else(|err| {
                        // Unknown: store it; a duplicate beats a loss.
                        tracing::warn!(error = %err, "cannot check a delivery key");
                        false
                    });
                if seen {
                    rows -= job.batch.num_rows();
                    let _ = job.done.send(Ok(Outcome::Duplicate));
                    continue;
                }
                commit.delivery_keys.push(key);
            }
            commit.stats.merge(job.stats);
            commit.logs.push(job.batch);
            waiters.push(job.done);
        }
        if waiters.is_empty() {
            continue;
        }
        let result = write_group(&store, &mut commit, &mut stages);
        if let Err(err) = &result {
            tracing::error!(error = %err, rows, "group commit failed");
        } else {
            tracing::debug!(rows, requests = waiters.len(), "group commit");
            stages.metrics.ingested.inc_by(rows as u64);
            count_sources(&commit.logs, &stages.metrics);
            if !commit.errors.is_empty() {
                stages.metrics.routed.inc_by(commit.errors.len() as u64);
                stages.queued.notify_one();
            }
        }
        for waiter in waiters {
            // The request may have gone away (client disconnected); its rows are stored anyway.
            let _ = waiter.send(result.clone().map(|()| Outcome::Stored));
        }
        if let Some(stage) = stages.patterns.as_mut() {
            stage.maybe_save(&store, false);
        }
        if pruned.elapsed() > std::time::Duration::from_secs(3600) {
            pruned = std::time::Instant::now();
            if let Err(err) = store.prune_delivery_keys() {
                tracing::warn!(error = %err, "pruning delivery keys failed");
            }
        }
    }
    if let Some(stage) = stages.patterns.as_mut() {
        stage.maybe_save(&store, true);
    }
    if let Err(err) = store.checkpoint() {
        tracing::error!(error = %err, "checkpoint on shutdown failed");
    }
}

/// Committed records per `source` column value, for `/metrics`.
fn count_sources(batches: &[RecordBatch], metrics: &Metrics) {
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for batch in batches {
        let Some(column) = batch.column_by_name("source") else {
            continue;
        };
        let Some(values) = column.as_any().downcast_ref::<arrow::array::StringArray>() else {
            continue;
        };
        for value in values.iter().flatten() {
            *counts.entry(value).or_default() += 1;
        }
    }
    for (source, n) in counts {
        metrics
            .source_records
            .get_or_create(&vec![("source", source.to_string())])
            .inc_by(n);
    }
}

fn write_group(
    store: &StoreRef,
    commit: &mut Commit,
    stages: &mut Stages,
) -> Result<(), PipelineError> {
    let started = std::time::Instant::now();
    if let Some(stage) = stages.patterns.as_mut() {
        let mined = stage
            .mine(&mut commit.logs)
            .map_err(|e| PipelineError::Build(format!("{e:#}")))?;
        commit.patterns = mined.deltas;
        commit.merges = mined.merges;
    }
    let templates: HashMap<String, String> = commit
        .patterns
        .iter()
        .map(|d| (d.pattern_id.clone(), d.template.clone()))
        .collect();
    commit.errors = stages.router.select(&commit.logs, &templates);
    let mined_at = started.elapsed();
    store
        .commit(commit)
        .map_err(|e| PipelineError::Store(e.to_string()))?;
    tracing::debug!(
        mine_ms = mined_at.as_millis() as u64,
        commit_ms = (started.elapsed() - mined_at).as_millis() as u64,
        patterns = commit.patterns.len(),
        merges = commit.merges.len(),
        routed = commit.errors.len(),
        "group written"
    );
    Ok(())
}
