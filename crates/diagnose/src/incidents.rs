//! Incidents: the error patterns that start bursting together, grouped under the one pattern
//! the ranking names as their root cause, while error patterns that run at a steady rate stay
//! *background* and belong to no incident.
//!
//! The [`Tracker`] is fed per-minute error counts per (service, pattern) and evaluates event
//! time minute by minute, so its answer does not depend on how the counts were batched (a
//! replay of last week's logs in seconds gives the incidents a live feed gave). At each minute:
//!
//! 1. **Bursting.** A pattern bursts when its last `recent` minutes hold at least
//!    `min_burst` errors and their rate is at least `rise` times its rate over the `baseline`
//!    minutes before them. A pattern that was already there when the data began (its first
//!    run starts within `warmup` of the first minute seen) was running before we could see
//!    it, so it only bursts once there is `recent` minutes of its own history to compare.
//! 2. **Joining.** A bursting pattern that is in no open incident joins the most recent open
//!    incident whose services its messages name ("upstream payments timed out" joins the
//!    incident of payments), or whose start its own run began within `join_within` of:
//!    causes and their symptoms start together. The others open one new incident together.
//!    A pattern that is new since before an open incident started, in a service that
//!    incident's errors name, joins it with as few as three errors: a root cause often logs
//!    once per failure while its callers log once per request.
//! 3. **The root.** Every time an incident's members change, [`crate::rank`] ranks them over
//!    the incident's span against the equally long span before it; the top candidate is the
//!    root, the others are its symptoms.
//! 4. **Resolution.** An incident resolves when none of its patterns has logged an error for
//!    `resolve_after`. A later incident with the same root links the earlier one.
//! 5. **Background.** A pattern with errors this minute that is in no open incident, is not
//!    bursting, and has errors in at least three distinct minutes of the lookback is
//!    background: it was there at a steady rate before, so it is nobody's symptom.
//!
//! Pure: no IO, no clock. Time is the minutes of the counts.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::classify::classify;
use crate::peers::mentioned_peers;
use crate::rank::{PatternStat, rank};

const MINUTE_US: i64 = 60_000_000;
/// Examples kept per pattern, for the ranking's peer detection, and how long each may be.
const EXAMPLES: usize = 8;
const EXAMPLE_CHARS: usize = 1_000;
/// Resolved incidents remembered, to link a recurrence to the one before.
const RESOLVED_KEPT: usize = 256;
/// Errors a new pattern needs, in a service an open incident names, to join it.
const NAMED_MIN: u64 = 3;
/// Share of an incident's example messages that must name a service for it to count as named.
const NAMED_SHARE: f64 = 0.3;
/// Distinct minutes with errors in the lookback that make a non-bursting pattern background.
const BACKGROUND_MINUTES: usize = 3;

/// The tracker's thresholds, in minutes and counts; the defaults suit minute-level
/// rollups of a live service.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentConfig {
    /// Minutes without an error of any of its patterns after which an incident resolves.
    pub resolve_after_min: i64,
    /// Minutes of the window whose rate is compared.
    pub recent_min: i64,
    /// Minutes before the recent window that give a pattern's usual rate.
    pub baseline_min: i64,
    /// Errors in the recent window a pattern needs before it can burst: a few stray errors
    /// are noise, not an incident.
    pub min_burst: u64,
    /// How many times its usual rate a pattern must reach to burst.
    pub rise: f64,
    /// A bursting pattern whose run began within this many minutes of an open incident's
    /// start joins it even when its messages name none of its services.
    pub join_within_min: i64,
    /// Patterns whose first run starts within this many minutes of the first minute seen
    /// were already running: they are not new.
    pub warmup_min: i64,
}

impl Default for IncidentConfig {
    fn default() -> Self {
        IncidentConfig {
            resolve_after_min: 10,
            recent_min: 5,
            baseline_min: 30,
            min_burst: 8,
            rise: 3.0,
            join_within_min: 5,
            warmup_min: 2,
        }
    }
}

/// How severe an error pattern (or an incident, its most severe pattern) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Severity {
    Warning,
    #[default]
    Error,
    Critical,
}

impl Severity {
    /// The spelling of `insights.severity`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }

    /// From a log level's name (`CRITICAL`/`FATAL` are critical, `WARN*` a warning, the rest
    /// an error: it was counted as one for a reason).
    pub fn from_level(level: &str) -> Severity {
        let l = level.to_ascii_uppercase();
        if l.starts_with("CRIT") || l.starts_with("FATAL") || l == "EMERG" || l == "ALERT" {
            Severity::Critical
        } else if l.starts_with("WARN") {
            Severity::Warning
        } else {
            Severity::Error
        }
    }
}

/// Errors of one (service, pattern) in one minute.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorCount {
    /// Start of the minute, microseconds since the epoch.
    pub minute_us: i64,
    pub service: String,
    pub pattern_id: String,
    pub severity: Severity,
    pub count: u64,
    /// The first and last error within the minute, microseconds since the epoch.
    pub first_us: i64,
    pub last_us: i64,
    /// A few of the minute's messages (the server sends its first and last). Which peers
    /// an incident's errors name is read from these, so they must be recent: a symptom
    /// pattern that recurs with every incident names a different root each time.
    pub examples: Vec<String>,
}

/// Whether an incident is still going on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Open,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Resolved => "resolved",
        }
    }
}

/// One pattern of an incident.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Member {
    pub service: String,
    pub pattern_id: String,
}

/// An incident: a root pattern and the symptoms the ranking ties to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// Stable: derived from the first root and the minute the incident started.
    pub id: String,
    pub status: Status,
    pub root_service: String,
    pub root_pattern: String,
    /// The root pattern's template.
    pub root_template: String,
    /// `<kind> in <service>: <template>`.
    pub title: String,
    /// Why the root is the root, in plain sentences from the ranking.
    pub root_cause: String,
    /// What usually fixes the root's kind of failure.
    pub suggested_fix: String,
    /// The other patterns, in rank order.
    pub symptoms: Vec<Member>,
    pub severity: Severity,
    pub started_us: i64,
    pub last_seen_us: i64,
    pub resolved_at_us: Option<i64>,
    /// Errors of its patterns since it started.
    pub errors: u64,
    /// The previous incident with the same root, when this one is a recurrence.
    pub previous_id: Option<String>,
}

impl Incident {
    /// Services of the symptoms, each once, without the root's own.
    pub fn symptom_services(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self
            .symptoms
            .iter()
            .map(|m| m.service.as_str())
            .filter(|s| *s != self.root_service)
            .collect();
        set.into_iter().map(str::to_string).collect()
    }

    /// Patterns in the incident (the root and its symptoms): one insight each.
    pub fn pattern_count(&self) -> usize {
        1 + self.symptoms.len()
    }
}

/// What happened to an incident in one [`Tracker::advance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Opened,
    /// Its root, its members or its severity changed.
    Changed,
    /// Its severity rose (also a [`ChangeKind::Changed`], named because it notifies).
    SeverityRose,
    /// Only counts and times moved.
    Counted,
    Resolved,
}

/// An incident after a change, in the order the changes happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub kind: ChangeKind,
    pub incident: Incident,
}

/// Where a pattern stands, for its insight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternMark {
    pub service: String,
    pub pattern_id: String,
    /// The last incident it was part of.
    pub incident_id: Option<String>,
    pub background: bool,
}

type Key = (String, String);

#[derive(Debug, Default)]
struct Track {
    /// Minute index → (count, first µs, last µs).
    minutes: BTreeMap<i64, (u64, i64, i64)>,
    severity: Severity,
    template: String,
    examples: Vec<String>,
    /// The most recent messages from the counts, with their minute.
    samples: std::collections::VecDeque<(i64, String)>,
    described: bool,
    /// First minute of the current run (a run ends after `resolve_after` without errors).
    episode_start: Option<i64>,
    /// Last evaluated minute with errors.
    last_seen: Option<i64>,
    /// Index into `Tracker::incidents` of the last incident it joined.
    incident: Option<usize>,
    /// Minutes it spent in an open incident: they are not its usual rate, so a symptom that
    /// recurs with every incident still bursts in the next one.
    incident_minutes: BTreeSet<i64>,
    background: bool,
    /// What was last reported through [`Tracker::take_marks`].
    reported: Option<(Option<usize>, bool)>,
}

impl Track {
    fn sum(&self, from: i64, to: i64) -> u64 {
        if from > to {
            return 0;
        }
        self.minutes.range(from..=to).map(|(_, (c, _, _))| c).sum()
    }

    /// Errors and minutes in `from..=to` outside incidents: the pattern's usual rate.
    fn usual(&self, from: i64, to: i64) -> (u64, i64) {
        if from > to {
            return (0, 0);
        }
        let excluded = self.incident_minutes.range(from..=to);
        let in_incidents: u64 = excluded
            .clone()
            .filter_map(|m| self.minutes.get(m).map(|(c, _, _)| *c))
            .sum();
        let minutes = to - from + 1 - excluded.count() as i64;
        (self.sum(from, to) - in_incidents, minutes)
    }

    /// Messages from minute `from` on, or the described examples when there are none.
    fn examples_since(&self, from: i64) -> Vec<String> {
        let recent: Vec<String> = self
            .samples
            .iter()
            .filter(|(m, _)| *m >= from)
            .map(|(_, e)| e.clone())
            .collect();
        if recent.is_empty() {
            self.examples.clone()
        } else {
            recent
        }
    }

    fn first_in(&self, from: i64, to: i64) -> Option<i64> {
        if from > to {
            return None;
        }
        self.minutes.range(from..=to).map(|(_, (_, f, _))| *f).min()
    }

    fn last_in(&self, from: i64, to: i64) -> Option<i64> {
        if from > to {
            return None;
        }
        self.minutes.range(from..=to).map(|(_, (_, _, l))| *l).max()
    }
}

/// The incident state of one server: counts in, incidents and pattern marks out.
#[derive(Debug)]
pub struct Tracker {
    config: IncidentConfig,
    patterns: HashMap<Key, Track>,
    /// Every incident still open, and the most recent resolved ones.
    incidents: Vec<Incident>,
    /// Minute index of the first count seen.
    data_start: Option<i64>,
    /// Last minute index evaluated.
    evaluated: Option<i64>,
    /// Newest minute index with counts.
    newest: Option<i64>,
}

fn clip_chars(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

fn clip(s: &str, n: usize) -> String {
    let first = s.lines().next().unwrap_or("");
    match first.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &first[..i]),
        None => first.to_string(),
    }
}

impl Tracker {
    pub fn new(config: IncidentConfig) -> Tracker {
        Tracker {
            config,
            patterns: HashMap::new(),
            incidents: Vec::new(),
            data_start: None,
            evaluated: None,
            newest: None,
        }
    }

    pub fn config(&self) -> &IncidentConfig {
        &self.config
    }

    /// Adds counts. Counts of minutes already evaluated are kept for later windows, but the
    /// past is not evaluated again.
    pub fn observe(&mut self, counts: &[ErrorCount]) {
        for c in counts {
            if c.count == 0 {
                continue;
            }
            let minute = c.minute_us.div_euclid(MINUTE_US);
            self.data_start = Some(self.data_start.map_or(minute, |s| s.min(minute)));
            self.newest = Some(self.newest.map_or(minute, |s| s.max(minute)));
            let track = self
                .patterns
                .entry((c.service.clone(), c.pattern_id.clone()))
                .or_default();
            let e = track
                .minutes
                .entry(minute)
                .or_insert((0, i64::MAX, i64::MIN));
            e.0 += c.count;
            e.1 = e.1.min(c.first_us);
            e.2 = e.2.max(c.last_us);
            track.severity = track.severity.max(c.severity);
            for e in &c.examples {
                if track.samples.len() == EXAMPLES {
                    track.samples.pop_front();
                }
                track
                    .samples
                    .push_back((minute, clip_chars(e, EXAMPLE_CHARS)));
            }
        }
    }

    /// Says where the data begins (its first record of any level, µs). Without it the first
    /// error minute is taken as the beginning, and errors there count as already running.
    pub fn begin_at(&mut self, first_us: i64) {
        let minute = first_us.div_euclid(MINUTE_US);
        self.data_start = Some(self.data_start.map_or(minute, |s| s.min(minute)));
    }

    /// Patterns that have counts but no template or examples yet.
    pub fn undescribed(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .patterns
            .iter()
            .filter(|(_, t)| !t.described)
            .map(|(k, _)| k.clone())
            .collect();
        out.sort();
        out
    }

    /// Gives a pattern its template and a few example messages.
    pub fn describe(
        &mut self,
        service: &str,
        pattern_id: &str,
        template: &str,
        examples: &[String],
    ) {
        if let Some(t) = self
            .patterns
            .get_mut(&(service.to_string(), pattern_id.to_string()))
        {
            t.template = template.to_string();
            t.examples = examples.iter().take(EXAMPLES).cloned().collect();
            t.described = true;
        }
    }

    /// The newest minute with counts (its start, µs).
    pub fn newest_minute_us(&self) -> Option<i64> {
        self.newest.map(|m| m * MINUTE_US)
    }

    /// Open incidents and the most recent resolved ones.
    pub fn incidents(&self) -> &[Incident] {
        &self.incidents
    }

    /// Evaluates every minute up to and including the one starting at `through_us`.
    pub fn advance(&mut self, through_us: i64) -> Vec<Change> {
        let mut changes = Vec::new();
        let Some(start) = self.data_start else {
            return changes;
        };
        let through = through_us.div_euclid(MINUTE_US);
        let mut m = self.evaluated.map_or(start, |e| e + 1);
        while m <= through {
            self.evaluate(m, &mut changes);
            self.evaluated = Some(m);
            m += 1;
        }
        self.prune();
        changes
    }

    /// Patterns whose incident or background mark changed since the last call.
    pub fn take_marks(&mut self) -> Vec<PatternMark> {
        let mut out = Vec::new();
        for ((service, pattern_id), t) in &mut self.patterns {
            let now = (t.incident, t.background);
            if t.reported != Some(now)
                && (t.incident.is_some() || t.background || t.reported.is_some())
            {
                t.reported = Some(now);
                out.push(PatternMark {
                    service: service.clone(),
                    pattern_id: pattern_id.clone(),
                    incident_id: t.incident.map(|i| self.incidents[i].id.clone()),
                    background: t.background,
                });
            }
        }
        out.sort_by(|a, b| (&a.service, &a.pattern_id).cmp(&(&b.service, &b.pattern_id)));
        out
    }

    fn is_open(&self, i: usize) -> bool {
        self.incidents[i].status == Status::Open
    }

    fn bursting(&self, t: &Track, m: i64, start: i64) -> bool {
        let c = &self.config;
        let recent = t.sum(m - c.recent_min + 1, m);
        if recent < c.min_burst {
            return false;
        }
        let pre_existing = t.episode_start.is_some_and(|e| e <= start + c.warmup_min);
        let hist_to = m - c.recent_min;
        let hist_from = (hist_to - c.baseline_min + 1).max(start);
        let (before, avail) = t.usual(hist_from, hist_to);
        if avail < c.recent_min && pre_existing {
            return false;
        }
        if avail <= 0 {
            return true;
        }
        recent as f64 / c.recent_min as f64 >= c.rise * before as f64 / avail as f64
    }

    /// The first error of a burst detected at `m`: in the recent window, the first minute
    /// above the usual rate (any minute with errors, for a pattern with no usual rate).
    fn burst_start(&self, t: &Track, m: i64) -> Option<i64> {
        let c = &self.config;
        let start = self.data_start.unwrap_or(m);
        let hist_to = m - c.recent_min;
        let hist_from = (hist_to - c.baseline_min + 1).max(start);
        let (before, avail) = t.usual(hist_from, hist_to);
        let usual = if avail > 0 {
            before as f64 / avail as f64
        } else {
            0.0
        };
        let from = (m - c.recent_min + 1).max(t.episode_start.unwrap_or(m));
        t.minutes
            .range(from..=m)
            .find(|(_, (n, _, _))| *n as f64 > c.rise * usual)
            .or_else(|| t.minutes.range(from..=m).next())
            .map(|(_, (_, first, _))| *first)
    }

    fn evaluate(&mut self, m: i64, changes: &mut Vec<Change>) {
        // Changes of this minute, where an incident's later state replaces its earlier one.
        let first_change = changes.len();
        let start = self.data_start.unwrap_or(m);
        let c = self.config.clone();
        let mut keys: Vec<Key> = self.patterns.keys().cloned().collect();
        keys.sort();

        // Runs, and who bursts.
        let mut bursting: Vec<Key> = Vec::new();
        for key in &keys {
            let bursts = {
                let t = self.patterns.get_mut(key).expect("key from the map");
                if t.minutes.contains_key(&m) {
                    if t.last_seen.is_none_or(|l| m - l > c.resolve_after_min) {
                        t.episode_start = Some(m);
                    }
                    t.last_seen = Some(m);
                }
                let t = &self.patterns[key];
                self.bursting(t, m, start)
            };
            if bursts {
                bursting.push(key.clone());
            }
        }

        // Bursting patterns outside every open incident join one or open one.
        let mut new: Vec<Key> = bursting
            .into_iter()
            .filter(|k| self.patterns[k].incident.is_none_or(|i| !self.is_open(i)))
            .collect();
        new.sort_by_key(|k| (self.patterns[k].episode_start, k.clone()));
        let mut touched: BTreeSet<usize> = BTreeSet::new();
        let mut opened: Vec<Key> = Vec::new();
        for key in new {
            match self.incident_to_join(&key) {
                Some(i) => {
                    self.patterns.get_mut(&key).expect("key").incident = Some(i);
                    self.incidents[i].symptoms.push(Member {
                        service: key.0.clone(),
                        pattern_id: key.1.clone(),
                    });
                    touched.insert(i);
                }
                None => opened.push(key),
            }
        }
        // New errors, however few, in a service an open incident's errors name: a root cause
        // often logs once per failure while its callers log once per request.
        for i in 0..self.incidents.len() {
            if !self.is_open(i) {
                continue;
            }
            for key in self.named_newcomers(i, m) {
                self.patterns.get_mut(&key).expect("key").incident = Some(i);
                self.incidents[i].symptoms.push(Member {
                    service: key.0,
                    pattern_id: key.1,
                });
                touched.insert(i);
            }
        }
        if !opened.is_empty() {
            let i = self.open(opened, m);
            changes.push(Change {
                kind: ChangeKind::Opened,
                incident: self.incidents[i].clone(),
            });
        }
        for i in touched {
            let before_severity = self.incidents[i].severity;
            self.rerank(i, m);
            let inc = &self.incidents[i];
            let kind = if inc.severity > before_severity {
                ChangeKind::SeverityRose
            } else {
                ChangeKind::Changed
            };
            changes.push(Change {
                kind,
                incident: inc.clone(),
            });
        }

        // Counts, last seen, resolution.
        for i in 0..self.incidents.len() {
            if !self.is_open(i) {
                continue;
            }
            let members = self.members(i);
            let mut count = 0;
            let mut last: Option<i64> = None;
            for key in &members {
                if let Some(t) = self.patterns.get(key)
                    && let Some(&(n, _, l)) = t.minutes.get(&m)
                {
                    count += n;
                    last = Some(last.map_or(l, |x: i64| x.max(l)));
                }
            }
            let inc = &mut self.incidents[i];
            if count > 0 {
                inc.errors += count;
                inc.last_seen_us = inc.last_seen_us.max(last.unwrap_or(m * MINUTE_US));
                match changes[first_change..]
                    .iter_mut()
                    .find(|ch| ch.incident.id == inc.id)
                {
                    Some(ch) => ch.incident = inc.clone(),
                    None => changes.push(Change {
                        kind: ChangeKind::Counted,
                        incident: inc.clone(),
                    }),
                }
            } else if m - inc.last_seen_us.div_euclid(MINUTE_US) >= c.resolve_after_min {
                inc.status = Status::Resolved;
                inc.resolved_at_us = Some((m + 1) * MINUTE_US);
                changes.push(Change {
                    kind: ChangeKind::Resolved,
                    incident: inc.clone(),
                });
            }
        }

        // Minutes in an open incident do not count towards a pattern's usual rate.
        for i in 0..self.incidents.len() {
            if self.is_open(i) {
                for key in self.members(i) {
                    if let Some(t) = self.patterns.get_mut(&key) {
                        t.incident_minutes.insert(m);
                    }
                }
            }
        }

        // Background: steady, not bursting, in no open incident.
        let open: Vec<bool> = (0..self.incidents.len()).map(|i| self.is_open(i)).collect();
        let lookback_from = m - c.recent_min - c.baseline_min + 1;
        for t in self.patterns.values_mut() {
            if !t.minutes.contains_key(&m) {
                continue;
            }
            let in_open = t.incident.is_some_and(|i| open[i]);
            if in_open {
                t.background = false;
                continue;
            }
            let minutes_with_errors = t.minutes.range(lookback_from..=m).count();
            t.background = minutes_with_errors >= BACKGROUND_MINUTES;
        }
    }

    /// The open incident `key` belongs with, if any: the newest whose services it names or
    /// whose start its run began close to.
    fn incident_to_join(&self, key: &Key) -> Option<usize> {
        let t = &self.patterns[key];
        let services = self.services();
        let episode = t.episode_start.unwrap_or(i64::MAX);
        let examples = t.examples_since(episode);
        let named: BTreeSet<&str> = examples
            .iter()
            .chain(std::iter::once(&t.template))
            .flat_map(|e| mentioned_peers(e, &key.0, &services))
            .collect();
        (0..self.incidents.len())
            .rev()
            .filter(|&i| self.is_open(i))
            .find(|&i| {
                let inc = &self.incidents[i];
                let started = inc.started_us.div_euclid(MINUTE_US);
                named.contains(inc.root_service.as_str())
                    || inc
                        .symptoms
                        .iter()
                        .any(|s| named.contains(s.service.as_str()))
                    || episode <= started + self.config.join_within_min
            })
    }

    /// Patterns outside every open incident, in services that incident `i`'s errors name,
    /// with at least [`NAMED_MIN`] errors since it started and none in the baseline before.
    fn named_newcomers(&self, i: usize, m: i64) -> Vec<Key> {
        let services = self.services();
        // A service counts as named when a good share of the members' examples name it:
        // callers also retry and mention random peers.
        let from = self.incidents[i].started_us.div_euclid(MINUTE_US);
        let mut naming: HashMap<&str, usize> = HashMap::new();
        let mut examples = 0usize;
        for (service, pattern) in self.members(i) {
            if let Some(t) = self.patterns.get(&(service.clone(), pattern)) {
                for e in &t.examples_since(from) {
                    examples += 1;
                    for peer in mentioned_peers(e, &service, &services) {
                        *naming.entry(peer).or_default() += 1;
                    }
                }
            }
        }
        let named: BTreeSet<&str> = naming
            .into_iter()
            .filter(|(_, n)| *n as f64 >= NAMED_SHARE * examples as f64)
            .map(|(s, _)| s)
            .collect();
        let start = self.data_start.unwrap_or(from);
        let warmup = self.config.warmup_min;
        let mut out: Vec<Key> = self
            .patterns
            .iter()
            .filter(|((service, _), t)| {
                named.contains(service.as_str())
                    && t.incident.is_none_or(|j| !self.is_open(j))
                    && t.sum(from, m) >= NAMED_MIN
                    // New: nothing in the baseline before the incident, and not running
                    // since the data began.
                    && t.sum(from - self.config.baseline_min, from - 1) == 0
                    && t.minutes.keys().next().is_some_and(|first| *first > start + warmup)
            })
            .map(|(k, _)| k.clone())
            .collect();
        out.sort();
        out
    }

    /// Every service with a tracked pattern, each once: the peers a message may name.
    fn services(&self) -> Vec<&str> {
        let set: BTreeSet<&str> = self.patterns.keys().map(|(s, _)| s.as_str()).collect();
        set.into_iter().collect()
    }

    fn members(&self, i: usize) -> Vec<Key> {
        let inc = &self.incidents[i];
        std::iter::once((inc.root_service.clone(), inc.root_pattern.clone()))
            .chain(
                inc.symptoms
                    .iter()
                    .map(|s| (s.service.clone(), s.pattern_id.clone())),
            )
            .collect()
    }

    fn open(&mut self, keys: Vec<Key>, m: i64) -> usize {
        let started = keys
            .iter()
            .filter_map(|k| {
                let t = &self.patterns[k];
                self.burst_start(t, m)
            })
            .min()
            .unwrap_or(m * MINUTE_US);
        let (root, rest) = keys.split_first().expect("at least one pattern");
        let id = format!(
            "{:016x}",
            model::stable_hash(&[
                root.0.as_bytes(),
                b"\0",
                root.1.as_bytes(),
                b"\0",
                &started.div_euclid(MINUTE_US).to_le_bytes(),
            ])
        );
        let i = self.incidents.len();
        self.incidents.push(Incident {
            id,
            status: Status::Open,
            root_service: root.0.clone(),
            root_pattern: root.1.clone(),
            root_template: String::new(),
            title: String::new(),
            root_cause: String::new(),
            suggested_fix: String::new(),
            symptoms: rest
                .iter()
                .map(|k| Member {
                    service: k.0.clone(),
                    pattern_id: k.1.clone(),
                })
                .collect(),
            severity: Severity::Warning,
            started_us: started,
            last_seen_us: started,
            resolved_at_us: None,
            errors: 0,
            previous_id: None,
        });
        for k in &keys {
            self.patterns.get_mut(k).expect("key").incident = Some(i);
        }
        // Errors before this minute that belong to it (this minute is counted by the caller).
        let from = started.div_euclid(MINUTE_US);
        self.incidents[i].errors = keys.iter().map(|k| self.patterns[k].sum(from, m - 1)).sum();
        self.rerank(i, m);
        let (rs, rp) = (
            self.incidents[i].root_service.clone(),
            self.incidents[i].root_pattern.clone(),
        );
        self.incidents[i].previous_id = self.incidents[..i]
            .iter()
            .rev()
            .find(|p| p.status == Status::Resolved && p.root_service == rs && p.root_pattern == rp)
            .map(|p| p.id.clone());
        i
    }

    /// Ranks an incident's patterns over its span and makes the top one its root.
    fn rerank(&mut self, i: usize, m: i64) {
        let members = self.members(i);
        let from = self.incidents[i].started_us.div_euclid(MINUTE_US);
        let span = (m - from + 1).max(1);
        let stats: Vec<PatternStat> = members
            .iter()
            .map(|k| {
                let t = &self.patterns[k];
                PatternStat {
                    service: k.0.clone(),
                    pattern_id: k.1.clone(),
                    template: t.template.clone(),
                    first_seen_us: t.first_in(from, m).unwrap_or(from * MINUTE_US),
                    last_seen_us: t.last_in(from, m).unwrap_or(from * MINUTE_US),
                    count: t.sum(from, m),
                    baseline_count: t.sum(from - span, from - 1),
                    examples: t.examples_since(from),
                    mentioned_by: 0,
                }
            })
            .collect();
        let ranked = rank(&stats);
        let Some(top) = ranked.first() else { return };
        let root_key = (top.service.clone(), top.pattern_id.clone());
        let template = self.patterns[&root_key].template.clone();
        let category = if template.is_empty() {
            self.patterns[&root_key]
                .examples_since(from)
                .first()
                .map_or(top.category, |e| classify(e))
        } else {
            top.category
        };
        let severity = members
            .iter()
            .map(|k| self.patterns[k].severity)
            .max()
            .unwrap_or_default();
        let inc = &mut self.incidents[i];
        inc.root_service = top.service.clone();
        inc.root_pattern = top.pattern_id.clone();
        inc.root_template = template.clone();
        inc.title = format!(
            "{} in {}: {}",
            category.label(),
            top.service,
            clip(&template, 100)
        );
        inc.root_cause = format!(
            "{} is the likely root cause: {} ({}). {}.",
            top.service,
            category.explanation(),
            category.label(),
            top.reasons.join("; ")
        );
        inc.suggested_fix = category.suggested_fix().to_string();
        inc.symptoms = ranked[1..]
            .iter()
            .map(|c| Member {
                service: c.service.clone(),
                pattern_id: c.pattern_id.clone(),
            })
            .collect();
        inc.severity = severity;
    }

    /// Forgets counts no window can reach and patterns with nothing left, and resolved
    /// incidents beyond the few kept for linking.
    fn prune(&mut self) {
        let Some(m) = self.evaluated else { return };
        let c = &self.config;
        let keep_from = m - c.recent_min - c.baseline_min - c.resolve_after_min;
        // Indices into `incidents` are held by tracks, so resolved incidents are dropped
        // only when the list is long, and the indices are rewritten.
        let resolved = self
            .incidents
            .iter()
            .filter(|i| i.status == Status::Resolved)
            .count();
        if resolved > RESOLVED_KEPT {
            let mut drop = resolved - RESOLVED_KEPT;
            let mut map: Vec<Option<usize>> = Vec::with_capacity(self.incidents.len());
            let mut kept = Vec::new();
            for inc in std::mem::take(&mut self.incidents) {
                if drop > 0 && inc.status == Status::Resolved {
                    drop -= 1;
                    map.push(None);
                } else {
                    map.push(Some(kept.len()));
                    kept.push(inc);
                }
            }
            self.incidents = kept;
            for t in self.patterns.values_mut() {
                t.incident = t.incident.and_then(|i| map[i]);
                t.reported = t.reported.map(|(i, b)| (i.and_then(|i| map[i]), b));
            }
        }
        let open: Vec<bool> = self
            .incidents
            .iter()
            .map(|i| i.status == Status::Open)
            .collect();
        self.patterns.retain(|_, t| {
            t.minutes = t.minutes.split_off(&keep_from);
            t.incident_minutes = t.incident_minutes.split_off(&keep_from);
            // A mark not yet taken keeps its pattern until [`Tracker::take_marks`] has it.
            let untaken = t.reported != Some((t.incident, t.background))
                && (t.incident.is_some() || t.background || t.reported.is_some());
            !t.minutes.is_empty() || t.incident.is_some_and(|i| open[i]) || untaken
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(minute: i64, service: &str, pattern: &str, n: u64) -> ErrorCount {
        ErrorCount {
            minute_us: minute * MINUTE_US,
            service: service.into(),
            pattern_id: pattern.into(),
            severity: Severity::Error,
            count: n,
            first_us: minute * MINUTE_US + 1_000_000,
            last_us: minute * MINUTE_US + 59_000_000,
            examples: Vec::new(),
        }
    }

    fn tracker() -> Tracker {
        Tracker::new(IncidentConfig::default())
    }

    fn describe_all(t: &mut Tracker, texts: &[(&str, &str, &str)]) {
        for (service, pattern, text) in texts {
            t.describe(service, pattern, text, &[text.to_string()]);
        }
    }

    /// A pattern at a steady rate from the start never opens an incident, is marked
    /// background, and is not attached to the incident that starts later.
    #[test]
    fn a_steady_error_pattern_is_background_and_joins_no_incident() {
        let mut t = tracker();
        let mut counts = Vec::new();
        for m in 0..60 {
            counts.push(count(m, "api", "validation", 3));
            if (30..36).contains(&m) {
                counts.push(count(m, "db", "pool", 20));
                counts.push(count(m, "api", "timeout", 10));
            }
        }
        t.observe(&counts);
        describe_all(
            &mut t,
            &[
                ("api", "validation", "validation failed for field email"),
                ("db", "pool", "connection pool exhausted: 10 of 10 in use"),
                ("api", "timeout", "upstream db timed out after 3000ms"),
            ],
        );
        let changes = t.advance(80 * MINUTE_US);
        let opened: Vec<&Change> = changes
            .iter()
            .filter(|c| c.kind == ChangeKind::Opened)
            .collect();
        assert_eq!(opened.len(), 1, "{changes:#?}");
        let inc = t.incidents()[0].clone();
        assert_eq!(
            (inc.root_service.as_str(), inc.root_pattern.as_str()),
            ("db", "pool")
        );
        assert_eq!(
            inc.symptoms,
            vec![Member {
                service: "api".into(),
                pattern_id: "timeout".into()
            }]
        );
        assert_eq!(inc.status, Status::Resolved);
        assert_eq!(inc.errors, 6 * 30);
        let marks = t.take_marks();
        let validation = marks.iter().find(|m| m.pattern_id == "validation").unwrap();
        assert!(validation.background && validation.incident_id.is_none());
        let timeout = marks.iter().find(|m| m.pattern_id == "timeout").unwrap();
        assert_eq!(timeout.incident_id.as_deref(), Some(inc.id.as_str()));
        assert!(!timeout.background);
    }

    /// One advance over hours of counts still reports the marks of patterns it has since
    /// forgotten.
    #[test]
    fn marks_of_long_gone_patterns_are_still_reported() {
        let mut t = tracker();
        t.begin_at(0);
        let mut counts: Vec<ErrorCount> = (5..10).map(|m| count(m, "db", "pool", 20)).collect();
        counts.push(count(300, "api", "late", 1));
        t.observe(&counts);
        t.advance(300 * MINUTE_US);
        let marks = t.take_marks();
        assert!(
            marks
                .iter()
                .any(|m| m.pattern_id == "pool" && m.incident_id.is_some()),
            "{marks:?}"
        );
        assert!(t.take_marks().is_empty());
    }

    /// A background pattern whose rate jumps well above its usual one does burst.
    #[test]
    fn a_background_pattern_whose_rate_triples_bursts() {
        let mut t = tracker();
        let counts: Vec<ErrorCount> = (0..50)
            .map(|m| count(m, "api", "validation", if m >= 40 { 12 } else { 2 }))
            .collect();
        t.observe(&counts);
        describe_all(&mut t, &[("api", "validation", "validation failed")]);
        let changes = t.advance(49 * MINUTE_US);
        assert_eq!(t.incidents().len(), 1, "{changes:#?}");
        assert!(t.incidents()[0].started_us >= 40 * MINUTE_US);
    }

    /// Two or three stray errors are not an incident, however new.
    #[test]
    fn a_few_new_errors_are_no_incident() {
        let mut t = tracker();
        t.observe(&[count(20, "api", "odd", 3), count(21, "api", "odd", 2)]);
        t.advance(40 * MINUTE_US);
        assert!(t.incidents().is_empty());
    }

    /// Errors that begin with the data were running before it: with less history than the
    /// recent window there is nothing to compare, and afterwards their rate is steady.
    #[test]
    fn patterns_present_from_the_first_minute_are_not_new() {
        let mut t = tracker();
        let counts: Vec<ErrorCount> = (0..30).map(|m| count(m, "api", "steady", 10)).collect();
        t.observe(&counts);
        t.advance(29 * MINUTE_US);
        assert!(t.incidents().is_empty());
    }

    /// When the data began well before the first error, errors at the first error minute are
    /// new, not already running.
    #[test]
    fn the_first_errors_after_the_data_began_can_open_an_incident() {
        let counts: Vec<ErrorCount> = (5..10).map(|m| count(m, "db", "pool", 20)).collect();
        let mut t = tracker();
        t.observe(&counts);
        t.advance(12 * MINUTE_US);
        assert!(
            t.incidents().is_empty(),
            "no beginning given: already running"
        );
        let mut t = tracker();
        t.begin_at(0);
        t.observe(&counts);
        t.advance(12 * MINUTE_US);
        assert_eq!(t.incidents().len(), 1);
    }

    /// The same root after a quiet period opens a new incident linked to the first, and a
    /// count-only minute is reported as such.
    #[test]
    fn a_recurrence_opens_a_new_incident_linked_to_the_old_one() {
        let mut t = tracker();
        let mut counts = Vec::new();
        for m in (40..44).chain(80..84) {
            counts.push(count(m, "cache", "oom", 20));
        }
        counts.push(count(0, "api", "start", 1));
        t.observe(&counts);
        describe_all(&mut t, &[("cache", "oom", "OOM command not allowed")]);
        let changes = t.advance(100 * MINUTE_US);
        let kinds: Vec<ChangeKind> = changes.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == ChangeKind::Opened).count(),
            2,
            "{kinds:?}"
        );
        assert!(kinds.contains(&ChangeKind::Counted));
        assert_eq!(
            kinds.iter().filter(|k| **k == ChangeKind::Resolved).count(),
            2
        );
        let (a, b) = (&t.incidents()[0], &t.incidents()[1]);
        assert_ne!(a.id, b.id);
        assert_eq!(b.previous_id.as_deref(), Some(a.id.as_str()));
        assert_eq!(a.resolved_at_us, Some(54 * MINUTE_US));
    }

    /// A symptom that bursts later than the join window still joins when it names the
    /// incident's root service.
    #[test]
    fn a_late_symptom_naming_the_root_joins() {
        let mut t = tracker();
        let mut counts = Vec::new();
        for m in 40..60 {
            counts.push(count(m, "db", "pool", 20));
            if m >= 50 {
                counts.push(count(m, "web", "upstream", 20));
            }
        }
        counts.push(count(0, "x", "start", 1));
        t.observe(&counts);
        describe_all(
            &mut t,
            &[
                ("db", "pool", "connection pool exhausted"),
                ("web", "upstream", "upstream db timed out after 3000ms"),
            ],
        );
        t.advance(60 * MINUTE_US);
        assert_eq!(t.incidents().len(), 1);
        assert_eq!(t.incidents()[0].symptom_services(), vec!["web".to_string()]);
    }

    /// The answer does not depend on how the counts were batched.
    #[test]
    fn batching_does_not_change_the_incidents() {
        let mut counts = Vec::new();
        for m in 0..90 {
            counts.push(count(m, "api", "validation", 2));
            if (40..46).contains(&m) {
                counts.push(count(m, "db", "pool", 20));
                counts.push(count(m, "api", "timeout", 9));
            }
        }
        let texts = [
            ("api", "validation", "validation failed"),
            ("db", "pool", "connection pool exhausted"),
            ("api", "timeout", "upstream db timed out"),
        ];
        let mut whole = tracker();
        whole.observe(&counts);
        describe_all(&mut whole, &texts);
        whole.advance(89 * MINUTE_US);
        let mut stepped = tracker();
        for chunk in counts.chunks(7) {
            stepped.observe(chunk);
            describe_all(&mut stepped, &texts);
            let newest = stepped.newest_minute_us().unwrap();
            stepped.advance(newest - MINUTE_US);
        }
        stepped.advance(89 * MINUTE_US);
        assert_eq!(whole.incidents(), stepped.incidents());
    }
}
