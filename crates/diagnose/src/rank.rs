//! Cross-service ranking: which error pattern in a time window is most likely the root cause.
//!
//! Every pattern gets a score that is a sum of independent, explainable terms; each term that
//! contributes also adds one plain sentence to the candidate's `reasons`, so the analyst can
//! show *why* a pattern ranks first. The terms, and why each is there:
//!
//! | term | value | why |
//! |------|-------|-----|
//! | kind | +2.0 cause, +0.5 unknown, 0 symptom, -0.5 validation | pool exhausted, OOM, TLS ... start incidents; timeouts and 5xx are what callers see of them; bad input rarely explains an outage |
//! | named by others | +1.0 · ln(1 + mentioned_by) | callers name the service they fail to reach; logarithmic, because 300 vs 30 mentions matters, 3000 vs 300 much less |
//! | names a failing peer | -1.5 · share of its examples naming another service with errors | "upstream X timed out" blames X: this pattern is downstream of X's trouble |
//! | novelty | +1.0 · min(1, count / 5) new; +0.8 · min(1, log10(rise)) when the rate rose ≥ 2×; -0.5 when it fell below half | incidents start with errors that were not there before; steady background errors are not the incident |
//! | onset (new patterns of ≥ 5 occurrences only) | +0.3 + 0.7 · min(1, lead / 30 s) when it started before every other service's such errors; -0.5 · min(1, lag / 120 s) otherwise | causes precede effects, but clocks and sampling are noisy, so this is a tie-breaker, not a verdict. A pattern that also occurred in the previous window has no onset in this one (its first occurrence is just the window's start), and one or two stray new errors are background, not the start of a burst |
//! | volume | +0.25 · ln(1 + count) | more occurrences, more weight, but symptoms fan out and outnumber causes, so the weight is small |
//!
//! Weights are chosen so that no single weak term can outvote the strong ones: a cause-kind
//! pattern named by many callers wins over far more numerous timeouts in those callers. They
//! were checked against the synthetic incidents of `genlogs.py` (see
//! `tests/genlogs_ranking.rs`) and against the hand-made cases below, without using any
//! service or template name of the generator.

use std::collections::{BTreeSet, HashMap};

use crate::classify::{Category, classify};
use crate::peers::mentioned_peers;

/// What the worker knows about one error pattern in the analysis window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatternStat {
    /// Service the pattern belongs to.
    pub service: String,
    /// Stable pattern id (as mined by the `patterns` crate).
    pub pattern_id: String,
    /// The pattern's template, variables as `<*>`.
    pub template: String,
    /// First occurrence inside the window, microseconds since the epoch.
    pub first_seen_us: i64,
    /// Last occurrence inside the window, microseconds since the epoch.
    pub last_seen_us: i64,
    /// Occurrences inside the window.
    pub count: u64,
    /// Occurrences in an equally long window just before (0 = new).
    pub baseline_count: u64,
    /// A few raw messages (may contain stack traces); classification and peer detection
    /// read these, falling back to the template when there are none.
    pub examples: Vec<String>,
    /// How many error messages of OTHER services in the window name this pattern's service
    /// as the peer they failed to reach (see [`crate::count_mentions`]). When every stat
    /// has 0 here, [`rank`] estimates it from the examples of the other patterns instead.
    pub mentioned_by: u64,
}

/// One root-cause candidate: a pattern, its failure kind, its score and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Service the pattern belongs to.
    pub service: String,
    /// The pattern's id, as given in [`PatternStat::pattern_id`].
    pub pattern_id: String,
    /// Failure kind recognised from the examples (or the template).
    pub category: Category,
    /// Higher is more likely the root cause; only the order is meaningful.
    pub score: f64,
    /// Short plain sentences explaining the score, one per contributing term, in a fixed
    /// order: kind, who names it, whom it names, novelty, onset, volume.
    pub reasons: Vec<String>,
}

/// Examples read per pattern; the worker keeps a few, and more add cost, not evidence.
const MAX_EXAMPLES: usize = 8;

const W_CAUSE: f64 = 2.0;
const W_UNKNOWN: f64 = 0.5;
const W_VALIDATION: f64 = -0.5;
const W_MENTIONS: f64 = 1.0;
const W_NAMES_PEER: f64 = -1.5;
const W_NEW: f64 = 1.0;
const W_RISE: f64 = 0.8;
const W_FALL: f64 = -0.5;
const W_FIRST_BASE: f64 = 0.3;
const W_FIRST_LEAD: f64 = 0.7;
const W_LATE: f64 = -0.5;
const W_VOLUME: f64 = 0.25;

/// Lead over the next service at which the onset bonus is full.
const FULL_LEAD_US: f64 = 30e6;
/// Lag behind the first service at which the onset penalty is full.
const FULL_LAG_US: f64 = 120e6;
/// A new pattern with fewer occurrences gets a proportionally smaller novelty bonus and
/// takes no part in the onset comparison: every window has a few stray first-time errors.
const BURST_MIN_COUNT: u64 = 5;
/// A rate at least this many times the baseline counts as rising.
const RISE_FACTOR: f64 = 2.0;

/// What is derived from one pattern before scoring.
struct Facts<'a> {
    stat: &'a PatternStat,
    category: Category,
    /// Services (other than its own, with errors in the window) its examples name.
    names: BTreeSet<&'a str>,
    /// Share of its scanned texts naming at least one such service, 0..=1.
    names_share: f64,
    /// New (no occurrences in the previous window) and at least [`BURST_MIN_COUNT`] of them:
    /// only these have an onset worth comparing.
    is_burst: bool,
}

/// Ranks root-cause candidates, most likely first (see the module docs for the score).
/// One candidate per input pattern; deterministic for a given input, whatever its order.
pub fn rank(patterns: &[PatternStat]) -> Vec<Candidate> {
    let services: Vec<&str> = patterns
        .iter()
        .map(|p| p.service.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();

    let facts: Vec<Facts> = patterns.iter().map(|p| facts(p, &services)).collect();

    // Who names whom, for the "named by" sentence and for the fallback estimate.
    let mut named_in: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    let mut named_as: HashMap<&str, BTreeSet<Category>> = HashMap::new();
    let mut estimate: HashMap<&str, f64> = HashMap::new();
    for f in &facts {
        for &peer in &f.names {
            named_in.entry(peer).or_default().insert(&f.stat.service);
            named_as.entry(peer).or_default().insert(f.category);
        }
        let texts = scanned_texts(f.stat);
        for peer in &f.names {
            let naming = texts
                .iter()
                .filter(|t| mentioned_peers(t, &f.stat.service, &[peer]).len() == 1)
                .count();
            let share = naming as f64 / texts.len().max(1) as f64;
            *estimate.entry(peer).or_default() += share * f.stat.count as f64;
        }
    }

    // Mentions are a property of the service; take the largest any of its stats reports.
    let worker_counted = patterns.iter().any(|p| p.mentioned_by > 0);
    let mut mentions: HashMap<&str, u64> = HashMap::new();
    for p in patterns {
        let m = if worker_counted {
            p.mentioned_by
        } else {
            estimate
                .get(p.service.as_str())
                .map_or(0, |e| e.round() as u64)
        };
        let e = mentions.entry(&p.service).or_default();
        *e = (*e).max(m);
    }

    // Earliest new error per service, for the onset term.
    let mut onset: HashMap<&str, i64> = HashMap::new();
    for f in facts.iter().filter(|f| f.is_burst) {
        let e = onset.entry(&f.stat.service).or_insert(i64::MAX);
        *e = (*e).min(f.stat.first_seen_us);
    }

    let mut ranked: Vec<(Candidate, &PatternStat)> = facts
        .iter()
        .map(|f| {
            let m = mentions.get(f.stat.service.as_str()).copied().unwrap_or(0);
            let c = score(
                f,
                m,
                named_in.get(f.stat.service.as_str()),
                named_as.get(f.stat.service.as_str()),
                &onset,
            );
            (c, f.stat)
        })
        .collect();
    ranked.sort_by(|(a, pa), (b, pb)| {
        b.score
            .total_cmp(&a.score)
            .then(pa.first_seen_us.cmp(&pb.first_seen_us))
            .then(pb.count.cmp(&pa.count))
            .then(a.service.cmp(&b.service))
            .then(a.pattern_id.cmp(&b.pattern_id))
    });
    ranked.into_iter().map(|(c, _)| c).collect()
}

/// The texts read for a pattern: its examples, or the template when there are none.
fn scanned_texts(p: &PatternStat) -> Vec<&str> {
    let ex: Vec<&str> = p
        .examples
        .iter()
        .take(MAX_EXAMPLES)
        .map(String::as_str)
        .collect();
    if ex.is_empty() {
        vec![p.template.as_str()]
    } else {
        ex
    }
}

fn facts<'a>(p: &'a PatternStat, services: &[&'a str]) -> Facts<'a> {
    let texts = scanned_texts(p);

    // Majority vote over the examples, ignoring the ones nothing recognises; the first
    // example seen wins a tie. Raw examples beat the template, whose masking can hide
    // the telling part (`status=<*>`).
    let mut votes: Vec<(Category, usize)> = Vec::new();
    for t in p.examples.iter().take(MAX_EXAMPLES) {
        let c = classify(t);
        if c == Category::Unknown {
            continue;
        }
        match votes.iter_mut().find(|(v, _)| *v == c) {
            Some((_, n)) => *n += 1,
            None => votes.push((c, 1)),
        }
    }
    let mut category = Category::Unknown;
    let mut best = 0;
    for (c, n) in votes {
        if n > best {
            (category, best) = (c, n);
        }
    }
    if category == Category::Unknown {
        category = classify(&p.template);
    }

    let mut names = BTreeSet::new();
    let mut naming = 0usize;
    for t in &texts {
        let peers = mentioned_peers(t, &p.service, services);
        if !peers.is_empty() {
            naming += 1;
        }
        names.extend(peers);
    }
    let names_share = naming as f64 / texts.len().max(1) as f64;

    let is_burst = p.baseline_count == 0 && p.count >= BURST_MIN_COUNT;

    Facts {
        stat: p,
        category,
        names,
        names_share,
        is_burst,
    }
}

fn score(
    f: &Facts,
    mentioned_by: u64,
    named_in: Option<&BTreeSet<&str>>,
    named_as: Option<&BTreeSet<Category>>,
    onset: &HashMap<&str, i64>,
) -> Candidate {
    let p = f.stat;
    let mut score = 0.0;
    let mut reasons = Vec::new();

    // Kind.
    let c = f.category;
    let (w, why) = if c.is_cause() {
        (W_CAUSE, "a cause, not a symptom")
    } else if c.is_symptom() {
        (0.0, "usually a symptom of a failing peer")
    } else if c == Category::Validation {
        (W_VALIDATION, "usually bad input, not an outage")
    } else {
        (W_UNKNOWN, "not a known symptom")
    };
    score += w;
    reasons.push(format!("kind: {} ({why})", c.label()));

    // Named by other services' errors.
    if mentioned_by > 0 {
        score += W_MENTIONS * (mentioned_by as f64).ln_1p();
        let mut s = format!(
            "named by {mentioned_by} error{} in ",
            if mentioned_by == 1 { "" } else { "s" }
        );
        match named_in {
            Some(who) if !who.is_empty() => {
                s.push_str(&list(who.iter().copied(), 5));
                let kinds = named_as
                    .map(|k| k.iter().map(|c| c.label()))
                    .into_iter()
                    .flatten();
                s.push_str(&format!(" ({})", list_sep(kinds, 4, " / ")));
            }
            _ => s.push_str("other services"),
        }
        reasons.push(s);
    }

    // Blames another failing service.
    if f.names_share > 0.0 {
        score += W_NAMES_PEER * f.names_share;
        let n = f.names.len();
        reasons.push(format!(
            "its errors name {}, which {} failing too (likely a symptom of {})",
            list(f.names.iter().copied(), 3),
            if n == 1 { "is" } else { "are" },
            if n == 1 { "it" } else { "them" },
        ));
    }

    // Novelty against the previous window.
    if p.count > 0 {
        if p.baseline_count == 0 {
            score += W_NEW * (p.count as f64 / BURST_MIN_COUNT as f64).min(1.0);
            reasons.push("new pattern: no occurrences in the previous window".to_string());
        } else {
            let rise = p.count as f64 / p.baseline_count as f64;
            if rise >= RISE_FACTOR {
                score += W_RISE * rise.log10().min(1.0);
                reasons.push(format!(
                    "rate up {}× on the previous window ({} → {})",
                    fmt_ratio(rise),
                    p.baseline_count,
                    p.count
                ));
            } else if rise < 1.0 / RISE_FACTOR {
                score += W_FALL;
                reasons.push(format!(
                    "already more frequent before: {} in the previous window, {} now",
                    p.baseline_count, p.count
                ));
            }
        }
    }

    // Onset relative to the other services' new errors.
    if f.is_burst {
        let others = onset
            .iter()
            .filter(|(s, _)| **s != p.service)
            .min_by_key(|(s, t)| (**t, **s));
        if let Some((first_other, &t_other)) = others {
            let delta = t_other.saturating_sub(p.first_seen_us) as f64;
            if delta > 0.0 {
                score += W_FIRST_BASE + W_FIRST_LEAD * (delta / FULL_LEAD_US).min(1.0);
                reasons.push(format!(
                    "started first, {} before any other service's new errors",
                    fmt_duration(delta)
                ));
            } else if delta < 0.0 {
                score += W_LATE * (-delta / FULL_LAG_US).min(1.0);
                reasons.push(format!(
                    "started {} after the first new errors (in {first_other})",
                    fmt_duration(-delta)
                ));
            }
        }
    }

    // Volume.
    score += W_VOLUME * (p.count as f64).ln_1p();
    reasons.push(format!(
        "{} occurrence{} in the window",
        p.count,
        if p.count == 1 { "" } else { "s" }
    ));

    Candidate {
        service: p.service.clone(),
        pattern_id: p.pattern_id.clone(),
        category: c,
        score,
        reasons,
    }
}

/// `a, b, c` or `a, b, c and 4 more`.
fn list<'a>(items: impl Iterator<Item = &'a str>, max: usize) -> String {
    list_sep(items, max, ", ")
}

fn list_sep<'a>(items: impl Iterator<Item = &'a str>, max: usize, sep: &str) -> String {
    let all: Vec<&str> = items.collect();
    let mut s = all.iter().take(max).copied().collect::<Vec<_>>().join(sep);
    if all.len() > max {
        s.push_str(&format!(" and {} more", all.len() - max));
    }
    s
}

/// `0.4 s`, `12 s`, `3 min`.
fn fmt_duration(us: f64) -> String {
    let s = us / 1e6;
    if s < 10.0 {
        format!("{s:.1} s")
    } else if s < 180.0 {
        format!("{s:.0} s")
    } else {
        format!("{:.0} min", s / 60.0)
    }
}

fn fmt_ratio(r: f64) -> String {
    if r < 10.0 {
        format!("{r:.1}")
    } else {
        format!("{r:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    fn stat(service: &str, id: &str, example: &str, first_s: i64, count: u64) -> PatternStat {
        PatternStat {
            service: service.to_string(),
            pattern_id: id.to_string(),
            template: example.to_string(),
            first_seen_us: first_s * S,
            last_seen_us: first_s * S + 60 * S,
            count,
            baseline_count: 0,
            examples: vec![example.to_string()],
            mentioned_by: 0,
        }
    }

    fn top(c: &[Candidate]) -> (&str, &str) {
        (c[0].service.as_str(), c[0].pattern_id.as_str())
    }

    #[test]
    fn dns_failure_outranks_more_numerous_timeouts_that_name_it() {
        let mut dns = stat(
            "payments",
            "p1",
            "dial tcp: lookup acquirer-api on 10.96.0.10:53: no such host",
            2,
            20,
        );
        dns.mentioned_by = 400;
        let checkout = stat(
            "checkout",
            "c1",
            "upstream payments timed out after 3000ms",
            0,
            250,
        );
        let gateway = stat(
            "gateway",
            "g1",
            "call to payments failed: status=503 Service Unavailable",
            1,
            150,
        );
        let ranked = rank(&[checkout, gateway, dns]);
        assert_eq!(top(&ranked), ("payments", "p1"));
        assert_eq!(ranked[0].category, Category::Dns);
        let r = ranked[0].reasons.join("\n");
        assert!(
            r.contains("kind: DNS resolution failure (a cause, not a symptom)"),
            "{r}"
        );
        assert!(
            r.contains("named by 400 errors in checkout, gateway (timeout / upstream 5xx)"),
            "{r}"
        );
        assert!(r.contains("new pattern"), "{r}");
        // The callers are told they are symptoms.
        let c = ranked.iter().find(|c| c.service == "checkout").unwrap();
        assert!(
            c.reasons
                .iter()
                .any(|r| r.contains("its errors name payments")),
            "{c:?}"
        );
    }

    #[test]
    fn mentions_are_estimated_from_examples_when_not_counted() {
        let db = stat(
            "postgres-proxy",
            "db",
            "connection pool exhausted: 64 of 64 connections in use",
            5,
            30,
        );
        let orders = stat(
            "orders",
            "o",
            "upstream postgres-proxy timed out after 5000ms",
            0,
            300,
        );
        let ranked = rank(&[orders, db]);
        assert_eq!(top(&ranked), ("postgres-proxy", "db"));
        assert!(
            ranked[0]
                .reasons
                .iter()
                .any(|r| r.starts_with("named by 300 errors in orders")),
            "{:?}",
            ranked[0].reasons
        );
        // Started later than the callers' timeouts, and says so.
        assert!(
            ranked[0]
                .reasons
                .iter()
                .any(|r| r.starts_with("started 5.0 s after"))
        );
    }

    #[test]
    fn steady_background_errors_lose_to_a_new_crash() {
        let mut noise = stat(
            "gateway",
            "v",
            "validation failed for field \"email\": value \"x\" is not allowed",
            0,
            900,
        );
        noise.baseline_count = 880;
        let crash = stat(
            "auth",
            "a",
            "panic: runtime error: invalid memory address or nil pointer dereference",
            30,
            40,
        );
        let ranked = rank(&[noise, crash]);
        assert_eq!(top(&ranked), ("auth", "a"));
        assert_eq!(ranked[0].category, Category::NullDereference);
    }

    #[test]
    fn among_one_services_patterns_the_cause_beats_its_noise() {
        let mut cause = stat(
            "redis-cache",
            "oom",
            "OOM command not allowed when used memory > 'maxmemory'",
            10,
            50,
        );
        cause.mentioned_by = 120;
        let mut noise = stat("redis-cache", "val", "invalid key format", 0, 60);
        noise.baseline_count = 55;
        noise.mentioned_by = 120;
        let ranked = rank(&[noise, cause]);
        assert_eq!(top(&ranked), ("redis-cache", "oom"));
    }

    #[test]
    fn started_first_breaks_a_tie() {
        let a = stat("a", "a1", "fatal error: concurrent map writes", 0, 10);
        let b = stat("b", "b1", "fatal error: concurrent map writes", 40, 10);
        let ranked = rank(&[b, a]);
        assert_eq!(top(&ranked), ("a", "a1"));
        assert!(
            ranked[0]
                .reasons
                .iter()
                .any(|r| r == "started first, 40 s before any other service's new errors")
        );
        assert!(
            ranked[1]
                .reasons
                .iter()
                .any(|r| r == "started 40 s after the first new errors (in a)")
        );
    }

    #[test]
    fn old_patterns_get_no_credit_for_starting_first() {
        // Present since before the window, so "first seen" is just the window's start.
        let mut old = stat("a", "old", "something odd", 0, 30);
        old.baseline_count = 10;
        let new = stat("b", "new", "something odd", 60, 10);
        let ranked = rank(&[old, new]);
        for c in &ranked {
            assert!(!c.reasons.iter().any(|r| r.starts_with("started")), "{c:?}");
        }
        assert_eq!(top(&ranked), ("b", "new"));
    }

    #[test]
    fn stray_new_errors_do_not_set_the_onset() {
        // Two first-time validation errors at the window's start are background, not the
        // start of the incident that follows.
        let stray = stat("a", "stray", "invalid postcode", 0, 2);
        let crash = stat("b", "crash", "something odd", 200, 20);
        let ranked = rank(&[stray, crash]);
        assert_eq!(top(&ranked), ("b", "crash"));
        for c in &ranked {
            assert!(!c.reasons.iter().any(|r| r.starts_with("started")), "{c:?}");
        }
    }

    #[test]
    fn rising_and_falling_rates_are_explained() {
        let mut up = stat("a", "up", "something odd", 0, 300);
        up.baseline_count = 20;
        let mut down = stat("b", "down", "something odd", 0, 10);
        down.baseline_count = 200;
        let ranked = rank(&[down, up]);
        assert_eq!(top(&ranked), ("a", "up"));
        assert!(
            ranked[0]
                .reasons
                .iter()
                .any(|r| r == "rate up 15× on the previous window (20 → 300)")
        );
        assert!(
            ranked[1]
                .reasons
                .iter()
                .any(|r| r.starts_with("already more frequent before"))
        );
    }

    #[test]
    fn order_of_input_does_not_matter() {
        let mut pats = vec![
            stat("a", "1", "upstream b timed out", 0, 100),
            stat("b", "2", "disk full: no space left on device", 1, 10),
            stat("c", "3", "call to b failed: status=503", 2, 50),
            stat("c", "4", "something odd", 2, 50),
        ];
        let forward: Vec<String> = rank(&pats).into_iter().map(|c| c.pattern_id).collect();
        pats.reverse();
        let backward: Vec<String> = rank(&pats).into_iter().map(|c| c.pattern_id).collect();
        assert_eq!(forward, backward);
        assert_eq!(forward[0], "2");
    }

    #[test]
    fn odd_input_never_panics() {
        assert!(rank(&[]).is_empty());
        let weird = PatternStat {
            service: String::new(),
            pattern_id: "\u{0}".to_string(),
            template: String::new(),
            first_seen_us: i64::MIN,
            last_seen_us: i64::MAX,
            count: u64::MAX,
            baseline_count: u64::MAX,
            examples: vec![String::new(), "🙂".repeat(10_000), "\n\n".to_string()],
            mentioned_by: u64::MAX,
        };
        let mut late = weird.clone();
        late.service = "x".to_string();
        late.first_seen_us = i64::MAX;
        late.baseline_count = 0;
        late.count = 0;
        late.examples.clear();
        let ranked = rank(&[weird, late]);
        assert_eq!(ranked.len(), 2);
        assert!(ranked.iter().all(|c| c.score.is_finite()));
    }
}
