//! The pipeline: batches from every source → the store, with group commit. It alone
//! acknowledges: a source's `submit` returns only after its rows are committed in DuckDB, and
//! with them the analysis-queue entries of the records the routing rules selected.
//!
//! Two threads own the writes. The writer mines and routes each request as it arrives and
//! adds it to the group the commit thread takes next; the commit thread takes the whole group
//! whenever it is free, appends the rows, the `stats` rollup, the pattern changes and the
//! queued events in one transaction, and then answers every request of the group. A lone
//! request is committed at once; under load, whatever arrives during one commit is the next
//! (up to `max_commit_rows`), so commits grow with the load, and mining overlaps committing.
//! Groups commit in the order they were mined; a request whose mining merged patterns waits
//! until the rows gathered before it are committed, so its merge re-points them when its own
//! commit runs.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use arrow::record_batch::RecordBatch;
use model::{LogBatchBuilder, StatsRollup};
use store::{Commit, StoreRef};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

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
    /// More records wait for their commit than `max_pending_bytes` allows: the sender should
    /// retry later (HTTP 503 with `Retry-After`, gRPC `RESOURCE_EXHAUSTED`).
    #[error("the server is busy: more records wait for the store than it holds in memory")]
    Overloaded,
    /// The data directory's disk is (nearly) full: retry later (HTTP 503 with `Retry-After`,
    /// gRPC `UNAVAILABLE`); ingest resumes once there is room.
    #[error("{0}")]
    DiskFull(String),
}

/// How much the pipeline takes in.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most rows in one group commit.
    pub max_commit_rows: usize,
    /// Most bytes of records (Arrow memory) admitted and not yet committed.
    pub max_pending_bytes: usize,
    /// How long a request waits for room before it is refused.
    pub admit_wait: std::time::Duration,
}

/// Admission permits count KiB, so that a budget of any size fits the semaphore's `u32`.
const PERMIT_BYTES: usize = 1024;

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
    /// Room for records admitted and not yet committed.
    room: MemoryBudget,
    admit_wait: std::time::Duration,
    metrics: Metrics,
}

impl Pipeline {
    /// Starts the writer: a thread that groups, mines and routes, and a thread that commits
    /// and answers. Join the handle after dropping every `Pipeline` to wait for the last
    /// commit and the final checkpoint.
    pub fn start(
        store: StoreRef,
        limits: Limits,
        stages: Stages,
    ) -> std::io::Result<(Pipeline, JoinHandle<()>)> {
        let max_commit_rows = limits.max_commit_rows;
        let metrics = stages.metrics.clone();
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        // The writer mines each request as it arrives and adds it to the group the commit
        // thread takes next: mining overlaps the commit, and what arrives during a commit
        // becomes the next one.
        let shared = Arc::new(Shared::default());
        let in_flight = Arc::new(Mutex::new(HashSet::new()));
        let committer = {
            let store = store.clone();
            let done = Done {
                metrics: stages.metrics.clone(),
                queued: stages.queued.clone(),
                in_flight: in_flight.clone(),
            };
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("loginsight-commit".into())
                .spawn(move || commit_loop(store, &shared, done))?
        };
        let writer = std::thread::Builder::new()
            .name("loginsight-writer".into())
            .spawn(move || {
                let mut stages = stages;
                prepare_loop(
                    &store,
                    rx,
                    max_commit_rows,
                    &mut stages,
                    &shared,
                    &in_flight,
                );
                // Every request is in: the committer commits what is gathered and stops.
                if committer.join().is_err() {
                    tracing::error!("the commit thread panicked");
                }
                if let Some(stage) = stages.patterns.as_mut() {
                    stage.maybe_save(&store, true);
                }
                if let Err(err) = store.checkpoint() {
                    tracing::error!(error = %err, "checkpoint on shutdown failed");
                }
            })?;
        let pipeline = Pipeline {
            jobs: tx,
            room: MemoryBudget::new(limits.max_pending_bytes),
            admit_wait: limits.admit_wait,
            metrics,
        };
        Ok((pipeline, writer))
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
        self.send(builder, key, Some(self.admit_wait)).await
    }

    /// Like [`Pipeline::submit`], but waits as long as it takes for room instead of answering
    /// [`PipelineError::Overloaded`]: for sources with nobody to tell "busy" (syslog), whose
    /// waiting stops their reading.
    pub async fn submit_waiting(&self, builder: LogBatchBuilder) -> Result<usize, PipelineError> {
        Ok(self.send(builder, None, None).await?.0)
    }

    async fn send(
        &self,
        builder: LogBatchBuilder,
        key: Option<String>,
        admit_wait: Option<std::time::Duration>,
    ) -> Result<(usize, Outcome), PipelineError> {
        if builder.is_empty() {
            return Ok((0, Outcome::Stored));
        }
        let (batch, stats) = builder
            .finish()
            .map_err(|e| PipelineError::Build(e.to_string()))?;
        let rows = batch.num_rows();
        // Held until the batch is committed (or refused): what waits in memory is bounded.
        let _permit = self
            .admit(batch.get_array_memory_size(), admit_wait)
            .await?;
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

    /// Bytes of records admitted and not yet committed.
    pub fn pending_bytes(&self) -> usize {
        self.room.held_bytes()
    }

    /// Room for `bytes` of records, waiting for it up to `wait` (`None`: as long as it takes).
    async fn admit(
        &self,
        bytes: usize,
        wait: Option<std::time::Duration>,
    ) -> Result<OwnedSemaphorePermit, PipelineError> {
        let admitted = self.room.admit(bytes, wait).await;
        if let Err(PipelineError::Overloaded) = admitted {
            self.metrics.overloaded.inc();
        }
        admitted
    }
}

/// A budget of memory, counted in KiB permits so that a budget of any size fits the
/// semaphore's `u32`: what waits for the store here, and HTTP request bodies being read in
/// `sources::http`. A holder keeps its permit until its work is answered.
#[derive(Clone)]
pub struct MemoryBudget {
    room: Arc<Semaphore>,
    /// The whole budget, in KiB: one holder never asks for more.
    total: u32,
}

impl MemoryBudget {
    pub fn new(bytes: usize) -> MemoryBudget {
        let total = bytes
            .div_ceil(PERMIT_BYTES)
            .clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize)) as u32;
        MemoryBudget {
            room: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// Room for `bytes`, waiting for it up to `wait` (`None`: as long as it takes);
    /// [`PipelineError::Overloaded`] when the wait runs out.
    pub async fn admit(
        &self,
        bytes: usize,
        wait: Option<std::time::Duration>,
    ) -> Result<OwnedSemaphorePermit, PipelineError> {
        let permits = (bytes.div_ceil(PERMIT_BYTES) as u64).clamp(1, u64::from(self.total)) as u32;
        if let Ok(permit) = self.room.clone().try_acquire_many_owned(permits) {
            return Ok(permit);
        }
        let acquire = self.room.clone().acquire_many_owned(permits);
        let acquired = match wait {
            Some(wait) => tokio::time::timeout(wait, acquire).await,
            None => Ok(acquire.await),
        };
        match acquired {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(PipelineError::Closed),
            Err(_) => Err(PipelineError::Overloaded),
        }
    }

    /// Bytes held now.
    pub fn held_bytes(&self) -> usize {
        (self.total as usize).saturating_sub(self.room.available_permits()) * PERMIT_BYTES
    }
}

/// A group mined and routed, on its way to the commit thread.
#[derive(Default)]
struct Prepared {
    commit: Commit,
    rows: usize,
    waiters: Vec<oneshot::Sender<Result<Outcome, PipelineError>>>,
    /// Where each pattern's delta sits in `commit.patterns`.
    delta_of: HashMap<String, usize>,
}

impl Prepared {
    /// Adds one mined request. Its merges, if any, come first: the caller hands over a group
    /// before a request whose mining merged patterns joins it.
    fn add(&mut self, part: Commit, done: oneshot::Sender<Result<Outcome, PipelineError>>) {
        self.rows += part.logs.iter().map(RecordBatch::num_rows).sum::<usize>();
        self.commit.logs.extend(part.logs);
        self.commit.stats.merge(part.stats);
        self.commit.merges.extend(part.merges);
        self.commit.errors.extend(part.errors);
        self.commit.delivery_keys.extend(part.delivery_keys);
        for delta in part.patterns {
            match self.delta_of.get(&delta.pattern_id) {
                Some(&i) => self.commit.patterns[i].absorb(delta),
                None => {
                    self.delta_of
                        .insert(delta.pattern_id.clone(), self.commit.patterns.len());
                    self.commit.patterns.push(delta);
                }
            }
        }
        self.waiters.push(done);
    }
}

/// The group being gathered, shared by the writer (which adds to it) and the commit thread
/// (which takes all of it when it is free).
#[derive(Default)]
struct Shared {
    state: Mutex<Gathering>,
    /// Signalled when a request is added, when the group is taken, and at the end.
    changed: Condvar,
}

#[derive(Default)]
struct Gathering {
    group: Prepared,
    /// The writer has stopped: the commit thread takes what is left and ends.
    closed: bool,
}

/// What the commit thread needs besides the store.
struct Done {
    metrics: Metrics,
    queued: Arc<Notify>,
    /// Delivery keys of groups prepared but not yet committed: a retry that arrives meanwhile
    /// is a duplicate too, though the store does not know the key yet.
    in_flight: Arc<Mutex<HashSet<String>>>,
}

/// Mines and routes each request as it arrives and adds it to the group the commit thread
/// takes next (whatever arrived during the previous commit, its mining done by then). A
/// delivery already stored, or in a group not yet committed, is answered as a duplicate.
fn prepare_loop(
    store: &StoreRef,
    mut jobs: mpsc::Receiver<Job>,
    max_commit_rows: usize,
    stages: &mut Stages,
    shared: &Shared,
    in_flight: &Mutex<HashSet<String>>,
) {
    while let Some(job) = jobs.blocking_recv() {
        if let Some(key) = &job.key {
            let in_group = lock(in_flight).contains(key);
            let seen = in_group
                || store.delivery_seen(key).unwrap_or_else(|err| {
                    // Unknown: store it; a duplicate beats a loss.
                    tracing::warn!(error = %err, "cannot check a delivery key");
                    false
                });
            if seen {
                let _ = job.done.send(Ok(Outcome::Duplicate));
                continue;
            }
        }
        let mut part = Commit {
            logs: vec![job.batch],
            stats: job.stats,
            delivery_keys: job.key.into_iter().collect(),
            ..Commit::default()
        };
        if let Err(err) = mine_and_route(&mut part, stages) {
            tracing::error!(error = %err, "preparing a batch failed");
            let _ = job.done.send(Err(err));
            continue;
        }
        let mut gathering = lock(&shared.state);
        // A merge re-points the rows already stored when its commit runs, so the rows gathered
        // so far are committed first; and a full group waits for the commit thread.
        while gathering.group.rows > 0
            && (!part.merges.is_empty() || gathering.group.rows >= max_commit_rows)
        {
            gathering = shared
                .changed
                .wait(gathering)
                .unwrap_or_else(|p| p.into_inner());
        }
        lock(in_flight).extend(part.delivery_keys.iter().cloned());
        gathering.group.add(part, job.done);
        shared.changed.notify_all();
        drop(gathering);
        if let Some(stage) = stages.patterns.as_mut() {
            stage.maybe_save(store, false);
        }
    }
    lock(&shared.state).closed = true;
    shared.changed.notify_all();
}

/// Commits each prepared group in one transaction, in order, and then answers its requests.
fn commit_loop(store: StoreRef, shared: &Shared, done: Done) {
    let mut pruned = std::time::Instant::now();
    loop {
        let group = {
            let mut gathering = lock(&shared.state);
            loop {
                if gathering.group.rows > 0 {
                    break std::mem::take(&mut gathering.group);
                }
                if gathering.closed {
                    return;
                }
                gathering = shared
                    .changed
                    .wait(gathering)
                    .unwrap_or_else(|p| p.into_inner());
            }
        };
        // Room again for a full group's writer, or for a request that merged patterns.
        shared.changed.notify_all();
        let Prepared {
            commit,
            rows,
            waiters,
            ..
        } = group;
        let started = std::time::Instant::now();
        let result = store.commit(&commit).map_err(|e| {
            if e.is_disk_full() {
                done.metrics.disk_full.inc_by(waiters.len() as u64);
                PipelineError::DiskFull(e.to_string())
            } else {
                PipelineError::Store(e.to_string())
            }
        });
        done.metrics.record_stage("commit", started.elapsed());
        {
            let mut in_flight = lock(&done.in_flight);
            for key in &commit.delivery_keys {
                in_flight.remove(key);
            }
        }
        if let Err(err) = &result {
            tracing::error!(error = %err, rows, "group commit failed");
        } else {
            tracing::debug!(
                rows,
                requests = waiters.len(),
                commit_ms = started.elapsed().as_millis() as u64,
                "group commit"
            );
            done.metrics.ingested.inc_by(rows as u64);
            count_sources(&commit.logs, &done.metrics);
            if !commit.errors.is_empty() {
                done.metrics.routed.inc_by(commit.errors.len() as u64);
                done.queued.notify_one();
            }
        }
        for waiter in waiters {
            // The request may have gone away (client disconnected); its rows are stored anyway.
            let _ = waiter.send(result.clone().map(|()| Outcome::Stored));
        }
        if pruned.elapsed() > std::time::Duration::from_secs(3600) {
            pruned = std::time::Instant::now();
            if let Err(err) = store.prune_delivery_keys() {
                tracing::warn!(error = %err, "pruning delivery keys failed");
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // What these mutexes guard (the key set, the gathered group) is whole between statements;
    // a panic in another thread cannot leave it half-changed.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
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

/// Mines and routes one request: fills `pattern_id`, the `patterns` changes and the events
/// for the analysis queue.
fn mine_and_route(commit: &mut Commit, stages: &mut Stages) -> Result<(), PipelineError> {
    let started = std::time::Instant::now();
    if let Some(stage) = stages.patterns.as_mut() {
        let mined = stage
            .mine(&mut commit.logs)
            .map_err(|e| PipelineError::Build(format!("{e:#}")))?;
        commit.patterns = mined.deltas;
        commit.merges = mined.merges;
    }
    let mined_at = started.elapsed();
    let templates: HashMap<String, String> = commit
        .patterns
        .iter()
        .map(|d| (d.pattern_id.clone(), d.template.clone()))
        .collect();
    commit.errors = stages.router.select(&commit.logs, &templates);
    let routed_at = started.elapsed();
    stages.metrics.record_stage("mine", mined_at);
    stages.metrics.record_stage("route", routed_at - mined_at);
    tracing::debug!(
        mine_ms = mined_at.as_millis() as u64,
        route_ms = (routed_at - mined_at).as_millis() as u64,
        patterns = commit.patterns.len(),
        merges = commit.merges.len(),
        routed = commit.errors.len(),
        "group prepared"
    );
    Ok(())
}
