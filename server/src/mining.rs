//! The pattern stage of the pipeline: every record's message is mined into a template, its
//! `pattern_id` filled in, and the changes to the `patterns` table collected for the same
//! commit. Runs on the writer thread, so records are mined in commit order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use arrow::array::{ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::TimestampMicrosecondType;
use model::{Level, PatternDelta, PatternMerge};
use patterns::{Miner, MinerConfig, PatternId, PatternState, Redirects};
use store::Store;

/// How often the miner's model is saved while it changes (and always on shutdown).
const SAVE_EVERY: Duration = Duration::from_secs(30);
/// Longest example message kept per pattern.
const EXAMPLE_CHARS: usize = 1000;

/// Column positions in `model::schema::logs()`.
const TS: usize = 0;
const LEVEL: usize = 2;
const SERVICE: usize = 3;
const MESSAGE: usize = 5;
const PATTERN_ID: usize = 9;

/// The miner plus what is needed to persist it.
pub struct PatternStage {
    miner: Miner,
    dirty: bool,
    saved_at: Instant,
}

/// What one group contributes to the `patterns` table.
#[derive(Debug, Default)]
pub struct Mined {
    pub deltas: Vec<PatternDelta>,
    pub merges: Vec<PatternMerge>,
}

struct Acc {
    service: String,
    level: Option<Level>,
    other_level: Option<String>,
    template: Arc<str>,
    count: i64,
    first: i64,
    last: i64,
    example: String,
}

impl Acc {
    fn absorb(&mut self, other: Acc) {
        self.count += other.count;
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
        self.level = self.level.max(other.level);
        if self.other_level.is_none() {
            self.other_level = other.other_level;
        }
    }
}

impl PatternStage {
    /// Restores the miner from the model saved in `store`, so pattern ids survive restarts.
    pub fn load(store: &Store) -> anyhow::Result<PatternStage> {
        let mut states = Vec::new();
        for json in store.load_pattern_states()? {
            states.push(
                serde_json::from_str::<PatternState>(&json).context(
                    "a saved pattern state is not valid; was it written by this version?",
                )?,
            );
        }
        let restored = states.len();
        let miner = Miner::restore(MinerConfig::default(), states)?;
        tracing::info!(patterns = restored, "pattern miner restored");
        Ok(PatternStage {
            miner,
            dirty: false,
            saved_at: Instant::now(),
        })
    }

    /// Mines every row of `batches`, fills their `pattern_id` column and returns the changes
    /// to `patterns`. Ids retired by a merge during this group are resolved to their survivor
    /// before anything is written, so no stored row carries a retired id.
    pub fn mine(&mut self, batches: &mut [RecordBatch]) -> anyhow::Result<Mined> {
        let mut row_ids: Vec<Vec<PatternId>> = Vec::with_capacity(batches.len());
        let mut acc: HashMap<PatternId, Acc> = HashMap::new();
        let mut redirects = Redirects::default();
        let mut merge_order: Vec<PatternId> = Vec::new();
        for batch in batches.iter() {
            let ts = batch.column(TS).as_primitive::<TimestampMicrosecondType>();
            let level = batch.column(LEVEL).as_string::<i32>();
            let service = batch.column(SERVICE).as_string::<i32>();
            let message = batch.column(MESSAGE).as_string::<i32>();
            let mut ids = Vec::with_capacity(batch.num_rows());
            for row in 0..batch.num_rows() {
                let svc = service.value(row);
                let msg = message.value(row);
                let m = self.miner.mine(svc, msg);
                redirects.record(&m);
                merge_order.extend(m.merged.iter().copied());
                let t = ts.value(row);
                let lvl = level.value(row);
                let entry = acc.entry(m.pattern_id).or_insert_with(|| Acc {
                    service: svc.to_string(),
                    level: None,
                    other_level: None,
                    template: m.template.clone(),
                    count: 0,
                    first: t,
                    last: t,
                    example: msg.chars().take(EXAMPLE_CHARS).collect(),
                });
                entry.template = m.template;
                entry.count += 1;
                entry.first = entry.first.min(t);
                entry.last = entry.last.max(t);
                match Level::parse(lvl) {
                    Some(l) => entry.level = entry.level.max(Some(l)),
                    None if entry.other_level.is_none() => {
                        entry.other_level = Some(lvl.to_string())
                    }
                    None => {}
                }
                ids.push(m.pattern_id);
            }
            row_ids.push(ids);
        }
        self.dirty |= !acc.is_empty();

        let resolve = |id| redirects.resolve(id);
        for (batch, ids) in batches.iter_mut().zip(row_ids) {
            let column: StringArray = ids
                .into_iter()
                .map(|id| Some(resolve(id).to_string()))
                .collect();
            let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
            columns[PATTERN_ID] = Arc::new(column);
            *batch = RecordBatch::try_new(batch.schema(), columns)?;
        }
        // Fold what retired patterns gathered in this group into their survivors. A merge is
        // reported on a row of the survivor, so the survivor always has its own entry, with
        // the current template.
        let mut finals: HashMap<PatternId, Acc> = HashMap::new();
        let mut retired = Vec::new();
        for (id, a) in acc {
            let survivor = resolve(id);
            if survivor == id {
                finals.insert(id, a);
            } else {
                retired.push((survivor, a));
            }
        }
        for (survivor, a) in retired {
            match finals.get_mut(&survivor) {
                Some(s) => s.absorb(a),
                None => {
                    finals.insert(survivor, a);
                }
            }
        }
        let deltas = finals
            .into_iter()
            .map(|(id, a)| PatternDelta {
                pattern_id: id.to_string(),
                service: a.service,
                level: a
                    .level
                    .map(|l| l.as_str().to_string())
                    .or(a.other_level)
                    .unwrap_or_else(|| Level::Info.as_str().to_string()),
                template: a.template.to_string(),
                count: a.count,
                first_seen: a.first,
                last_seen: a.last,
                example: a.example,
            })
            .collect();
        let merges = merge_order
            .into_iter()
            .map(|retired| PatternMerge {
                retired: retired.to_string(),
                survivor: resolve(retired).to_string(),
            })
            .collect();
        Ok(Mined { deltas, merges })
    }

    /// Saves the miner's model if it changed and `force` or enough time has passed.
    pub fn maybe_save(&mut self, store: &Store, force: bool) {
        if !self.dirty || (!force && self.saved_at.elapsed() < SAVE_EVERY) {
            return;
        }
        let states: Vec<(String, String)> = self
            .miner
            .snapshot()
            .into_iter()
            .filter_map(|s| {
                serde_json::to_string(&s)
                    .ok()
                    .map(|json| (s.id.to_string(), json))
            })
            .collect();
        match store.save_pattern_states(&states) {
            Ok(()) => {
                self.dirty = false;
                self.saved_at = Instant::now();
                tracing::debug!(patterns = states.len(), "pattern model saved");
            }
            Err(err) => tracing::error!(error = %err, "saving the pattern model failed"),
        }
    }
}
