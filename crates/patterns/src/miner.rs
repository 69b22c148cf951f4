//! The online miner: per-service pattern tables, generalisation, eviction and persistence.
//!
//! Grouping works in three tiers, cheapest first:
//! 1. **Exact**: the masked key (see [`crate::mask`]) is looked up in a per-service cache of
//!    keys already seen. Almost every message ends here.
//! 2. **Generalised**: patterns that have wildcard positions learnt from data are scanned
//!    (only those with the same token count and frame signature).
//! 3. **New**: otherwise a pattern is created. Its id is a stable hash of service and masked
//!    key, so the same first message yields the same id in any process.
//!
//! Generalisation: for every constant token position of a new pattern, the template with
//! that position blanked (its "skeleton") is remembered with the value seen there. When one
//! skeleton has collected `generalize_after` distinct values, the position is evidently a
//! variable (user names, host names, file names) and the patterns sharing the skeleton are
//! merged into the oldest one, whose id survives. Two or three values are not enough: that is
//! what enumerations (`from RUNNING to SUCCEEDED`, `modify`/`view`) look like, and logs keep
//! those apart. This is the token-position cardinality idea from IPLoM/Brain, done online.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::{ConfigError, MinerConfig};
use crate::hash::{FastMap, mix, stable_hash, token_hash};
use crate::mask::{WILDCARD, mask_message};

/// Stable pattern id: 64 bits, shown and serialised as 16 lowercase hex characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PatternId(pub u64);

impl std::fmt::Display for PatternId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl std::str::FromStr for PatternId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(PatternId)
    }
}

impl Serialize for PatternId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PatternId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The result of mining one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// The pattern the message belongs to now.
    pub pattern_id: PatternId,
    /// The pattern's current template, variables as `<*>`; stack-frame signature lines
    /// follow the first line after `'\n'`.
    pub template: Arc<str>,
    /// The message created this pattern.
    pub is_new: bool,
    /// Patterns merged into `pattern_id` by this call (their ids are retired; messages
    /// recorded under them now belong to `pattern_id`). Usually empty.
    pub merged: Vec<PatternId>,
}

/// Persistent state of one pattern: what [`Miner::snapshot`] returns and
/// [`Miner::restore`] takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatternState {
    /// Stable id.
    pub id: PatternId,
    /// Service the pattern belongs to.
    pub service: String,
    /// First-line template tokens; `<*>` for variables.
    pub tokens: Vec<String>,
    /// Positions in `tokens` that were generalised from data (they match any token, while
    /// other `<*>` only match masked variables).
    #[serde(default)]
    pub generalized: Vec<u32>,
    /// Stack-frame signature, `'\n'`-separated; empty for one-line messages.
    #[serde(default)]
    pub frames: String,
    /// Messages matched so far.
    pub count: u64,
    /// Miner clock (messages mined by this miner, across restores) at the first match.
    pub first_seen: u64,
    /// Miner clock at the latest match.
    pub last_seen: u64,
}

/// A template position.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// Literal token (may contain masked parts such as `uid=<*>`).
    Const(Box<str>),
    /// A masked variable: matches only a masked token.
    Var,
    /// Generalised from data: matches any token.
    Any,
}

impl Tok {
    fn text(&self) -> &str {
        match self {
            Tok::Const(s) => s,
            Tok::Var | Tok::Any => WILDCARD,
        }
    }

    fn matches(&self, tok: &str) -> bool {
        match self {
            Tok::Const(s) => **s == *tok,
            Tok::Var => tok == WILDCARD,
            Tok::Any => true,
        }
    }
}

struct Cluster {
    id: PatternId,
    /// Creation order within the service; the oldest of merged patterns keeps its id.
    serial: u64,
    tokens: Vec<Tok>,
    frames: Box<str>,
    /// Hash of `frames`; part of every skeleton and of the generalised-pattern index.
    frames_hash: u64,
    template: Arc<str>,
    count: u64,
    first_seen: u64,
    last_seen: u64,
    /// Skeleton keys this cluster is registered under (for cleanup).
    skeletons: Vec<u64>,
    generalized: bool,
}

impl Cluster {
    fn render(tokens: &[Tok], frames: &str) -> Arc<str> {
        let mut s = String::new();
        for (i, t) in tokens.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(t.text());
        }
        if !frames.is_empty() {
            s.push('\n');
            s.push_str(frames);
        }
        Arc::from(s)
    }
}

/// One value seen at a skeleton's blank position.
#[derive(Clone, Copy)]
struct SkelValue {
    value: u64,
    slot: u32,
}

#[derive(Default)]
struct Service {
    name: Arc<str>,
    slots: Vec<Option<Cluster>>,
    free: Vec<u32>,
    live: usize,
    next_serial: u64,
    /// Masked key -> (slot, serial); the serial detects reuse of a freed slot.
    exact: FastMap<Box<str>, (u32, u64)>,
    /// (token count, frames hash) -> slots of generalised clusters, oldest first.
    general: FastMap<(usize, u64), Vec<u32>>,
    skeletons: FastMap<u64, Vec<SkelValue>>,
}

/// The online template miner. See the module docs for the algorithm.
pub struct Miner {
    config: MinerConfig,
    services: FastMap<Box<str>, Service>,
    clock: u64,
    key: String,
    toks: Vec<(usize, usize)>,
}

impl std::fmt::Debug for Miner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Miner")
            .field("config", &self.config)
            .field("services", &self.services.len())
            .field("patterns", &self.pattern_count())
            .finish()
    }
}

impl Miner {
    /// A miner with no patterns.
    pub fn new(config: MinerConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            services: FastMap::default(),
            clock: 0,
            key: String::new(),
            toks: Vec::new(),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &MinerConfig {
        &self.config
    }

    /// Number of live patterns over all services.
    pub fn pattern_count(&self) -> usize {
        self.services.values().map(|s| s.live).sum()
    }

    /// Number of live patterns of one service.
    pub fn service_pattern_count(&self, service: &str) -> usize {
        self.services.get(service).map_or(0, |s| s.live)
    }

    /// Mines one message of `service`: returns its pattern, creating or generalising
    /// patterns as needed. Never panics; any UTF-8 input is accepted.
    pub fn mine(&mut self, service: &str, message: &str) -> Match {
        self.clock += 1;
        let clock = self.clock;
        let cfg = &self.config;
        let n_tokens = mask_message(message, cfg.max_tokens, cfg.max_frames, &mut self.key);
        let svc = match self.services.get_mut(service) {
            Some(s) => s,
            None => self
                .services
                .entry(Box::from(service))
                .or_insert_with(|| Service {
                    name: Arc::from(service),
                    ..Service::default()
                }),
        };

        // Tier 1: exact key.
        if let Some(&(slot, serial)) = svc.exact.get(self.key.as_str())
            && let Some(c) = svc.cluster_mut(slot).filter(|c| c.serial == serial)
        {
            return hit(c, clock);
        }

        // Tier 2: generalised patterns of the same shape.
        let key = self.key.as_str();
        let (head, frames) = key.split_once('\n').unwrap_or((key, ""));
        self.toks.clear();
        let mut pos = 0usize;
        for t in head.split(' ') {
            if !head.is_empty() {
                self.toks.push((pos, pos + t.len()));
            }
            pos += t.len() + 1;
        }
        debug_assert!(self.toks.len() == n_tokens || head.is_empty());
        let tok = |i: usize| -> &str { &head[self.toks[i].0..self.toks[i].1] };
        let frames_hash = stable_hash(&[frames.as_bytes()]);
        let cap = cfg
            .max_patterns_per_service
            .saturating_mul(cfg.cache_factor);
        if let Some(list) = svc.general.get(&(self.toks.len(), frames_hash)) {
            let found = list.iter().copied().find(|&slot| {
                svc.slots[slot as usize].as_ref().is_some_and(|c| {
                    *c.frames == *frames
                        && c.tokens.iter().enumerate().all(|(i, t)| t.matches(tok(i)))
                })
            });
            if let Some(slot) = found {
                svc.remember(key, slot, cap);
                let c = svc.cluster_mut(slot).expect("slot found above is live");
                return hit(c, clock);
            }
        }

        // Tier 3: a new pattern.
        if svc.live >= cfg.max_patterns_per_service {
            svc.evict_coldest();
        }
        let tokens: Vec<Tok> = (0..self.toks.len())
            .map(|i| match tok(i) {
                WILDCARD => Tok::Var,
                t => Tok::Const(Box::from(t)),
            })
            .collect();
        let id = PatternId(stable_hash(&[service.as_bytes(), key.as_bytes()]));
        let slot = svc.insert(Cluster {
            id,
            serial: 0,
            template: Cluster::render(&tokens, frames),
            tokens,
            frames: Box::from(frames),
            frames_hash,
            count: 1,
            first_seen: clock,
            last_seen: clock,
            skeletons: Vec::new(),
            generalized: false,
        });
        let (slot, merged) = svc.register(slot, cfg);
        svc.remember(key, slot, cap);
        let c = svc.cluster_mut(slot).expect("registered slot is live");
        Match {
            pattern_id: c.id,
            template: c.template.clone(),
            is_new: merged.is_none(),
            merged: merged.unwrap_or_default(),
        }
    }

    /// All live patterns, for persistence. Order: by service, then creation order.
    pub fn snapshot(&self) -> Vec<PatternState> {
        let mut names: Vec<&Box<str>> = self.services.keys().collect();
        names.sort();
        let mut out = Vec::with_capacity(self.pattern_count());
        for name in names {
            let svc = &self.services[name];
            let mut clusters: Vec<&Cluster> = svc.slots.iter().flatten().collect();
            clusters.sort_by_key(|c| c.serial);
            out.extend(clusters.into_iter().map(|c| {
                PatternState {
                    id: c.id,
                    service: svc.name.to_string(),
                    tokens: c.tokens.iter().map(|t| t.text().to_string()).collect(),
                    generalized: c
                        .tokens
                        .iter()
                        .enumerate()
                        .filter(|(_, t)| **t == Tok::Any)
                        .map(|(i, _)| i as u32)
                        .collect(),
                    frames: c.frames.to_string(),
                    count: c.count,
                    first_seen: c.first_seen,
                    last_seen: c.last_seen,
                }
            }));
        }
        out
    }

    /// A miner holding `states` (from [`Miner::snapshot`], possibly of an older process):
    /// the same messages map to the same ids. If a service has more states than the cap, the
    /// most recently seen are kept.
    pub fn restore(config: MinerConfig, states: Vec<PatternState>) -> Result<Self, ConfigError> {
        let mut miner = Self::new(config)?;
        let mut states = states;
        // Oldest first, so serials (and thus which id survives a merge) keep their order.
        states.sort_by(|a, b| {
            (&a.service, a.first_seen, a.id).cmp(&(&b.service, b.first_seen, b.id))
        });
        let cap = miner.config.max_patterns_per_service;
        let cache_cap = cap.saturating_mul(miner.config.cache_factor);
        let mut key = String::new();
        for st in states {
            miner.clock = miner.clock.max(st.last_seen);
            let svc = match miner.services.get_mut(st.service.as_str()) {
                Some(s) => s,
                None => miner
                    .services
                    .entry(Box::from(st.service.as_str()))
                    .or_insert_with(|| Service {
                        name: Arc::from(st.service.as_str()),
                        ..Service::default()
                    }),
            };
            if svc.live >= cap {
                svc.evict_coldest();
            }
            let tokens: Vec<Tok> = st
                .tokens
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    if st.generalized.contains(&(i as u32)) {
                        Tok::Any
                    } else if t == WILDCARD {
                        Tok::Var
                    } else {
                        // Tokens never contain spaces or newlines; repair foreign input.
                        Tok::Const(Box::from(t.replace([' ', '\n', '\r', '\t'], "_")))
                    }
                })
                .collect();
            let generalized = tokens.contains(&Tok::Any);
            let frames = st.frames.replace('\r', "");
            let slot = svc.insert(Cluster {
                id: st.id,
                serial: 0,
                template: Cluster::render(&tokens, &frames),
                tokens,
                frames_hash: stable_hash(&[frames.as_bytes()]),
                frames: Box::from(frames),
                count: st.count,
                first_seen: st.first_seen,
                last_seen: st.last_seen,
                skeletons: Vec::new(),
                generalized,
            });
            if generalized {
                svc.mark_general(slot);
            } else {
                svc.register_only(slot, &miner.config);
                let c = svc.slots[slot as usize].as_ref().expect("just inserted");
                key.clear();
                key.push_str(&c.template);
                svc.remember(&key, slot, cache_cap);
            }
        }
        Ok(miner)
    }
}

fn hit(c: &mut Cluster, clock: u64) -> Match {
    c.count += 1;
    c.last_seen = clock;
    Match {
        pattern_id: c.id,
        template: c.template.clone(),
        is_new: false,
        merged: Vec::new(),
    }
}

/// Skeleton key of `tokens` with position `blank` blanked.
fn skeleton_key(sum: u64, tokens: &[Tok], blank: usize, frames_hash: u64) -> u64 {
    let own = position_hash(&tokens[blank], blank);
    let hole = mix(0x9e37_79b9_7f4a_7c15 ^ blank as u64);
    mix(sum.wrapping_sub(own).wrapping_add(hole) ^ mix(tokens.len() as u64) ^ frames_hash)
}

fn position_hash(t: &Tok, i: usize) -> u64 {
    let h = match t {
        Tok::Const(s) => token_hash(s),
        Tok::Var => 0x5555_5555_5555_5555,
        Tok::Any => 0xaaaa_aaaa_aaaa_aaaa,
    };
    mix(h ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

impl Service {
    fn cluster_mut(&mut self, slot: u32) -> Option<&mut Cluster> {
        self.slots.get_mut(slot as usize).and_then(Option::as_mut)
    }

    fn insert(&mut self, mut c: Cluster) -> u32 {
        c.serial = self.next_serial;
        self.next_serial += 1;
        self.live += 1;
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(c);
                slot
            }
            None => {
                self.slots.push(Some(c));
                (self.slots.len() - 1) as u32
            }
        }
    }

    /// Caches `key -> slot`; the cache is bounded by dropping it whole when full (it only
    /// saves the tier-2 scan, and refills from traffic).
    fn remember(&mut self, key: &str, slot: u32, cap: usize) {
        if self.exact.len() >= cap.max(1) {
            self.exact.clear();
        }
        if let Some(c) = self.slots[slot as usize].as_ref() {
            self.exact.insert(Box::from(key), (slot, c.serial));
        }
    }

    fn mark_general(&mut self, slot: u32) {
        let Some(c) = self.slots[slot as usize].as_ref() else {
            return;
        };
        let list = self
            .general
            .entry((c.tokens.len(), c.frames_hash))
            .or_default();
        if !list.contains(&slot) {
            list.push(slot);
            // Oldest first: a message matching two generalised patterns goes to the older.
            let slots = &self.slots;
            list.sort_by_key(|&s| slots[s as usize].as_ref().map_or(u64::MAX, |c| c.serial));
        }
    }

    /// Removes a cluster and every index entry pointing at it; returns it.
    fn remove(&mut self, slot: u32) -> Option<Cluster> {
        let c = self.slots.get_mut(slot as usize)?.take()?;
        self.live -= 1;
        self.free.push(slot);
        for key in &c.skeletons {
            if let Some(vals) = self.skeletons.get_mut(key) {
                vals.retain(|v| v.slot != slot);
                if vals.is_empty() {
                    self.skeletons.remove(key);
                }
            }
        }
        let shape = (c.tokens.len(), c.frames_hash);
        if c.generalized
            && let Some(list) = self.general.get_mut(&shape)
        {
            list.retain(|&s| s != slot);
            if list.is_empty() {
                self.general.remove(&shape);
            }
        }
        // Exact-cache entries die lazily: their serial no longer matches.
        Some(c)
    }

    /// Evicts the least recently seen cluster (ties: least often seen, then oldest).
    fn evict_coldest(&mut self) {
        let coldest = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|c| (c.last_seen, c.count, c.serial, i)))
            .min();
        if let Some((.., slot)) = coldest {
            self.remove(slot as u32);
        }
    }

    /// Registers the skeletons of a new cluster without generalising (used by restore).
    fn register_only(&mut self, slot: u32, cfg: &MinerConfig) {
        let _ = self.register_inner(slot, cfg, false);
    }

    /// Registers a new cluster's skeletons and generalises when one reaches
    /// `generalize_after` distinct values. Returns the slot now holding the message and, if
    /// a merge happened, the retired ids (excluding the new cluster's own).
    fn register(&mut self, slot: u32, cfg: &MinerConfig) -> (u32, Option<Vec<PatternId>>) {
        match self.register_inner(slot, cfg, true) {
            Some((blank, members)) => {
                self.generalize(slot, blank, members, cfg.min_constant_tokens)
            }
            None => (slot, None),
        }
    }

    fn register_inner(
        &mut self,
        slot: u32,
        cfg: &MinerConfig,
        trigger: bool,
    ) -> Option<(usize, Vec<u32>)> {
        let c = self.slots[slot as usize].as_ref()?;
        let consts = c
            .tokens
            .iter()
            .filter(|t| matches!(t, Tok::Const(_)))
            .count();
        // Blanking one constant must leave enough constants to keep the template meaningful.
        if consts < cfg.min_constant_tokens + 1 {
            return None;
        }
        let sum = c
            .tokens
            .iter()
            .enumerate()
            .fold(0u64, |acc, (i, t)| acc.wrapping_add(position_hash(t, i)));
        let mut keys = Vec::with_capacity(consts);
        let mut values = Vec::with_capacity(consts);
        for (i, t) in c.tokens.iter().enumerate() {
            if let Tok::Const(s) = t {
                keys.push((i, skeleton_key(sum, &c.tokens, i, c.frames_hash)));
                values.push(token_hash(s));
            }
        }
        let mut fired = None;
        for (&(i, key), value) in keys.iter().zip(values) {
            let vals = self.skeletons.entry(key).or_default();
            if !vals.iter().any(|v| v.value == value) {
                vals.push(SkelValue { value, slot });
            }
            if trigger && fired.is_none() && vals.len() >= cfg.generalize_after {
                fired = Some((i, vals.iter().map(|v| v.slot).collect::<Vec<_>>()));
            }
        }
        if let Some(c) = self.slots[slot as usize].as_mut() {
            c.skeletons = keys.into_iter().map(|(_, k)| k).collect();
        }
        fired
    }

    /// Merges `members` into the oldest of them with position `blank` (and any other position
    /// where they disagree) turned into a wildcard.
    fn generalize(
        &mut self,
        new_slot: u32,
        blank: usize,
        mut members: Vec<u32>,
        min_constants: usize,
    ) -> (u32, Option<Vec<PatternId>>) {
        members.sort_unstable();
        members.dedup();
        members.retain(|&s| self.slots.get(s as usize).is_some_and(Option::is_some));
        let Some(&root) = members.iter().min_by_key(|&&s| {
            self.slots[s as usize]
                .as_ref()
                .map_or(u64::MAX, |c| c.serial)
        }) else {
            return (new_slot, None);
        };
        let mut merged_ids = Vec::new();
        let mut tokens = self.slots[root as usize]
            .as_ref()
            .map(|c| c.tokens.clone())
            .unwrap_or_default();
        if let Some(t) = tokens.get_mut(blank) {
            *t = Tok::Any;
        }
        // Members may disagree elsewhere too (the root may be generalised already); the
        // merged template must still say something.
        for &s in &members {
            if let Some(c) = self.slots[s as usize].as_ref() {
                for (t, o) in tokens.iter_mut().zip(&c.tokens) {
                    if t != o {
                        *t = Tok::Any;
                    }
                }
            }
        }
        if tokens.iter().filter(|t| matches!(t, Tok::Const(_))).count() < min_constants {
            return (new_slot, None);
        }
        let (mut count, mut first, mut last) = (0u64, u64::MAX, 0u64);
        for &s in &members {
            if s == root {
                continue;
            }
            if let Some(c) = self.remove(s) {
                for (t, o) in tokens.iter_mut().zip(&c.tokens) {
                    if t != o {
                        *t = Tok::Any;
                    }
                }
                count += c.count;
                first = first.min(c.first_seen);
                last = last.max(c.last_seen);
                if s != new_slot {
                    merged_ids.push(c.id);
                }
            }
        }
        if let Some(c) = self.slots[root as usize].as_mut() {
            c.count += count;
            c.first_seen = c.first_seen.min(first);
            c.last_seen = c.last_seen.max(last);
            c.template = Cluster::render(&tokens, &c.frames);
            c.tokens = tokens;
            c.generalized = true;
        }
        self.mark_general(root);
        (root, Some(merged_ids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn miner() -> Miner {
        Miner::new(MinerConfig::default()).unwrap()
    }

    #[test]
    fn same_shape_same_pattern() {
        let mut m = miner();
        let a = m.mine("svc", "Served block blk_1 to /10.0.0.1");
        let b = m.mine("svc", "Served block blk_2 to /10.0.0.9");
        assert!(a.is_new && !b.is_new);
        assert_eq!(a.pattern_id, b.pattern_id);
        assert_eq!(&*b.template, "Served block <*> to <*>");
        assert_eq!(a.pattern_id.to_string().len(), 16);
        // Services are separate namespaces.
        let c = m.mine("other", "Served block blk_3 to /10.0.0.2");
        assert!(c.is_new);
        assert_ne!(c.pattern_id, a.pattern_id);
    }

    #[test]
    fn generalises_and_keeps_oldest_id() {
        let mut m = miner();
        let first = m.mine("s", "session closed for user alice");
        for u in ["bob", "carol"] {
            assert!(m.mine("s", &format!("session closed for user {u}")).is_new);
        }
        let g = m.mine("s", "session closed for user dave");
        assert_eq!(g.pattern_id, first.pattern_id);
        assert_eq!(&*g.template, "session closed for user <*>");
        assert_eq!(g.merged.len(), 2);
        let later = m.mine("s", "session closed for user erin");
        assert_eq!(later.pattern_id, first.pattern_id);
        assert!(!later.is_new);
        // Two or three values are an enumeration and stay apart.
        let x = m.mine("s", "Transitioned from NEW to RUNNING now");
        let y = m.mine("s", "Transitioned from NEW to DONE now");
        assert_ne!(x.pattern_id, y.pattern_id);
    }

    #[test]
    fn restore_keeps_ids() {
        let msgs = [
            "session closed for user alice",
            "session closed for user bob",
            "session closed for user carol",
            "session closed for user dave",
            "Received block blk_1 of size 42 from /10.0.0.1",
            "java.io.IOException: x\n\tat a.B.c(B.java:1)",
            "Starting service web",
        ];
        let mut m = miner();
        let before: Vec<PatternId> = msgs.iter().map(|s| m.mine("s", s).pattern_id).collect();
        let final_before: Vec<PatternId> = msgs.iter().map(|s| m.mine("s", s).pattern_id).collect();
        let snap = m.snapshot();
        let json = serde_json::to_string(&snap).unwrap();
        let states: Vec<PatternState> = serde_json::from_str(&json).unwrap();
        assert_eq!(states, snap);
        let mut r = Miner::restore(MinerConfig::default(), states).unwrap();
        assert_eq!(r.pattern_count(), m.pattern_count());
        for (s, id) in msgs.iter().zip(&final_before) {
            let got = r.mine("s", s);
            assert_eq!(got.pattern_id, *id, "{s}");
            assert!(!got.is_new);
        }
        assert_eq!(before[0], final_before[0]);
        // A brand-new message gets the same id in both processes.
        assert_eq!(
            m.mine("s", "never seen 1").pattern_id,
            r.mine("s", "never seen 2").pattern_id
        );
        assert_eq!(r.snapshot().len(), m.snapshot().len());
    }

    #[test]
    fn stack_traces_group_by_place() {
        let mut m = miner();
        let t = |line: u32, method: &str| {
            format!(
                "java.lang.NullPointerException: oops {line}\n\tat com.foo.Bar.{method}(Bar.java:{line})\n\tat com.foo.Main.main(Main.java:9)"
            )
        };
        let a = m.mine("s", &t(10, "baz"));
        let b = m.mine("s", &t(12, "baz"));
        let c = m.mine("s", &t(10, "qux"));
        assert_eq!(a.pattern_id, b.pattern_id);
        assert_ne!(a.pattern_id, c.pattern_id);
        assert!(a.template.contains("at com.foo.Bar.baz(Bar.java:<*>)"));
        let py = |f: &str| {
            format!(
                "Traceback (most recent call last):\n  File \"/app/m.py\", line 3, in {f}\nKeyError: 'x'"
            )
        };
        let p1 = m.mine("s", &py("load"));
        let p2 = m.mine("s", &py("load"));
        let p3 = m.mine("s", &py("save"));
        assert_eq!(p1.pattern_id, p2.pattern_id);
        assert_ne!(p1.pattern_id, p3.pattern_id);
    }

    #[test]
    fn memory_is_bounded() {
        let cfg = MinerConfig {
            max_patterns_per_service: 50,
            ..MinerConfig::default()
        };
        let mut m = Miner::new(cfg).unwrap();
        // Letters only, so nothing is masked: every message is a distinct pattern.
        let word = |mut i: usize| {
            let mut w = String::new();
            loop {
                w.push(char::from(b'a' + (i % 26) as u8));
                i /= 26;
                if i == 0 {
                    return w;
                }
            }
        };
        for i in 0..20_000usize {
            let msg = format!("op {} and {} end", word(i), word(i.wrapping_mul(7919)));
            m.mine("s", &msg);
            assert!(m.service_pattern_count("s") <= 50);
            let svc = &m.services["s"];
            assert!(svc.exact.len() <= 50 * 16);
        }
        assert_eq!(m.service_pattern_count("s"), 50);
        let svc = &m.services["s"];
        // Index entries die with their clusters.
        let live: usize = svc.skeletons.values().map(Vec::len).sum();
        assert!(live <= 50 * 6, "{live}");
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        let mut m = miner();
        for s in [
            "",
            " ",
            "\n",
            "\r\n",
            "<*>",
            "<*> <*>",
            "\u{feff}x",
            "a\0b",
            "\"unterminated",
        ] {
            m.mine("", s);
        }
        let huge = "x1 y ".repeat(200_000);
        let r = m.mine("s", &huge);
        assert!(r.template.len() < 4096);
    }
}
