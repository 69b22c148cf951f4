//! Root-cause ranking measured against the ground truth of `shared/genlogs.py`.
//!
//! For each seed the generator writes synthetic microservice logs with six injected
//! incidents (a root error in one service, symptoms in its callers, background noise) and a
//! truth file naming each incident's root service and template. The test does what the
//! worker does, without knowing the incident boundaries: it mines error patterns with the
//! `patterns` crate, takes a window of ±5 minutes around the first error at or after each
//! incident's start, builds [`PatternStat`]s (baseline: the 10 minutes before the window),
//! ranks them, and compares the top candidate with the truth.
//!
//! Four scenarios are measured on the same corpora: the incidents as generated; a *quiet*
//! root (only 1 in 10 of its incident errors kept, so symptoms outnumber it and volume
//! cannot decide); an *unrecognised* root (its text replaced by a message no rule knows, so
//! the kind term cannot decide); and both at once.
//!
//! Levels: ERROR, CRITICAL and FATAL lines are used (the generator logs one root cause at
//! CRITICAL; it is the same tier as FATAL). WARN lines are left out, both as candidates and
//! as mentions. Measured with WARN included, every scenario still ranked the root service
//! first, but the margin over the next service shrank in all four (mean 6.1 → 5.0 as
//! generated, 3.9 → 2.9 unrecognised and quiet) and one unrecognised root lost the top
//! spot to a WARN pattern of its own service: the WARN circuit-breaker symptoms only repeat
//! mentions the ERROR symptoms already give, while WARN noise (slow queries naming tables
//! that share a service's name, retries to random services) names innocent services. The
//! worker analyses error groups, so this is also what it will see.
//!
//! Run with `--nocapture` to see the table.

mod support;

use std::collections::HashMap;

use diagnose::{PatternStat, count_mentions, rank};
use patterns::PatternId;
use support::{CORPORA, Event, SEEDS, is_root_template};

const MINUTE_US: i64 = 60_000_000;
const HALF_WINDOW_US: i64 = 5 * MINUTE_US;
const BASELINE_US: i64 = 10 * MINUTE_US;
const EXAMPLES: usize = 5;

struct Row {
    seed: u64,
    incident: String,
    truth: String,
    top: String,
    category: String,
    score: f64,
    /// Top score minus the best score of any other service.
    margin: f64,
    /// 1-based position of the first candidate of the root service.
    root_pos: usize,
    hit: bool,
    pattern_ok: bool,
    /// The top candidates of a miss, for the table.
    detail: String,
}
/// The PatternStats of one window, as the worker would build them.
fn stats(
    events: &[&Event],
    templates: &HashMap<PatternId, String>,
    services: &[&str],
    from: i64,
    to: i64,
) -> Vec<PatternStat> {
    let in_window: Vec<&Event> = events
        .iter()
        .copied()
        .filter(|e| e.ts >= from && e.ts < to)
        .collect();
    let pairs: Vec<(String, String)> = in_window
        .iter()
        .map(|e| (e.service.clone(), e.message.clone()))
        .collect();
    let mentions = count_mentions(&pairs, services);
    let mut baseline: HashMap<(&str, PatternId), u64> = HashMap::new();
    for e in events
        .iter()
        .filter(|e| e.ts >= from - BASELINE_US && e.ts < from)
    {
        *baseline.entry((&e.service, e.pattern)).or_default() += 1;
    }
    let mut by_key: HashMap<(&str, PatternId), PatternStat> = HashMap::new();
    for e in in_window {
        let s = by_key
            .entry((&e.service, e.pattern))
            .or_insert_with(|| PatternStat {
                service: e.service.clone(),
                pattern_id: e.pattern.to_string(),
                template: templates[&e.pattern].clone(),
                first_seen_us: e.ts,
                last_seen_us: e.ts,
                count: 0,
                baseline_count: baseline
                    .get(&(e.service.as_str(), e.pattern))
                    .copied()
                    .unwrap_or(0),
                examples: Vec::new(),
                mentioned_by: mentions.get(&e.service).copied().unwrap_or(0),
            });
        s.count += 1;
        s.first_seen_us = s.first_seen_us.min(e.ts);
        s.last_seen_us = s.last_seen_us.max(e.ts);
        if s.examples.len() < EXAMPLES {
            s.examples.push(e.message.clone());
        }
    }
    let mut out: Vec<PatternStat> = by_key.into_values().collect();
    // Deterministic input order (rank() does not depend on it, but the output table does
    // not have to rely on that).
    out.sort_by(|a, b| (&a.service, &a.pattern_id).cmp(&(&b.service, &b.pattern_id)));
    out
}

/// How the generated incidents are made harder before ranking.
#[derive(Clone, Copy)]
struct Scenario {
    /// Keep only every n-th error of the root service during the incident: a root cause
    /// that logs once per failure while its callers log once per request, so its errors are
    /// far fewer than the symptoms (1 = as generated).
    keep_root_every: usize,
    /// Replace the root error's text with a message no rule recognises, as an
    /// application-specific error would be; the kind term then cannot help.
    opaque_root: bool,
}

/// What an application-specific root error looks like to the classifier: nothing.
const OPAQUE: &str = "worker step 3 aborted with code E7731";

/// Ranks every incident of every corpus under `scenario`.
fn evaluate(scenario: Scenario) -> Vec<Row> {
    let keep_root_every = scenario.keep_root_every;
    let mut rows = Vec::new();
    for corpus in CORPORA.iter() {
        let services: Vec<&str> = corpus.services.iter().map(String::as_str).collect();
        for inc in &corpus.incidents {
            let mut seen = 0usize;
            let events: Vec<&Event> = corpus
                .events
                .iter()
                .filter(|e| {
                    if e.service != inc.root_service || e.ts < inc.start || e.ts >= inc.end {
                        return true;
                    }
                    seen += 1;
                    (seen - 1).is_multiple_of(keep_root_every)
                })
                .collect();
            let t0 = events
                .iter()
                .find(|e| e.ts >= inc.start)
                .expect("an error after the incident start")
                .ts;
            let mut pats = stats(
                &events,
                &corpus.templates,
                &services,
                t0 - HALF_WINDOW_US,
                t0 + HALF_WINDOW_US,
            );
            let truth_template = &corpus.truth_templates[&inc.root_template];
            if scenario.opaque_root {
                for p in &mut pats {
                    if p.service == inc.root_service
                        && is_root_template(&p.template, truth_template)
                    {
                        p.template = OPAQUE.to_string();
                        p.examples.iter_mut().for_each(|e| *e = OPAQUE.to_string());
                    }
                }
            }
            let ranked = rank(&pats);
            let top = &ranked[0];
            let top_stat = pats
                .iter()
                .find(|p| p.service == top.service && p.pattern_id == top.pattern_id)
                .expect("candidate comes from a stat");
            let root_pos = ranked
                .iter()
                .position(|c| c.service == inc.root_service)
                .map_or(0, |i| i + 1);
            let margin = ranked
                .iter()
                .find(|c| c.service != top.service)
                .map_or(f64::INFINITY, |c| top.score - c.score);
            let hit = top.service == inc.root_service;
            let pattern_ok = hit
                && !top.category.is_symptom()
                && (is_root_template(&top_stat.template, truth_template)
                    || (scenario.opaque_root && top_stat.template == OPAQUE));
            let mut detail = String::new();
            if !pattern_ok {
                for c in ranked.iter().take(4) {
                    detail.push_str(&format!(
                        "      {} {} {:.2} {:?}\n",
                        c.service, c.category, c.score, c.reasons
                    ));
                }
            }
            rows.push(Row {
                seed: corpus.seed,
                incident: inc.id.clone(),
                truth: inc.root_service.clone(),
                top: top.service.clone(),
                category: top.category.to_string(),
                score: top.score,
                margin,
                root_pos,
                hit,
                pattern_ok,
                detail,
            });
        }
    }
    rows
}

/// Prints the table (in one write, as the two tests run in parallel) and returns
/// (root services ranked first, root patterns on top).
fn report(title: &str, rows: &[Row]) -> (usize, usize) {
    let mut out = format!("\n{title}\n");
    out.push_str(&format!(
        "{:<5} {:<6} {:<15} {:<15} {:<18} {:>6} {:>6} {:>4} {:<4} pattern\n",
        "seed", "inc", "truth root", "top candidate", "kind", "score", "margin", "pos", "hit"
    ));
    for r in rows {
        out.push_str(&format!(
            "{:<5} {:<6} {:<15} {:<15} {:<18} {:>6.2} {:>6.2} {:>4} {:<4} {}\n{}",
            r.seed,
            r.incident,
            r.truth,
            r.top,
            r.category,
            r.score,
            r.margin,
            r.root_pos,
            if r.hit { "hit" } else { "MISS" },
            if r.pattern_ok { "root error" } else { "-" },
            r.detail
        ));
    }
    for seed in SEEDS {
        let of_seed: Vec<&Row> = rows.iter().filter(|r| r.seed == seed).collect();
        out.push_str(&format!(
            "seed {seed}: {}/{} ranked first\n",
            of_seed.iter().filter(|r| r.hit).count(),
            of_seed.len()
        ));
    }
    let hits = rows.iter().filter(|r| r.hit).count();
    let pattern_hits = rows.iter().filter(|r| r.pattern_ok).count();
    let margins: Vec<f64> = rows
        .iter()
        .map(|r| r.margin)
        .filter(|m| m.is_finite())
        .collect();
    let mean_margin = margins.iter().sum::<f64>() / margins.len().max(1) as f64;
    let min_margin = margins.iter().copied().fold(f64::INFINITY, f64::min);
    out.push_str(&format!(
        "total: {hits}/{} root services ranked first, {pattern_hits}/{} with the root error pattern on top; \
         margin over the next service: mean {mean_margin:.2}, min {min_margin:.2}\n",
        rows.len(),
        rows.len()
    ));
    println!("{out}");
    (hits, pattern_hits)
}

#[track_caller]
fn assert_at_least_90_percent(rows: &[Row], hits: usize, pattern_hits: usize) {
    assert_eq!(rows.len(), 30, "six incidents per seed, five seeds");
    assert!(
        hits * 100 >= rows.len() * 90,
        "{hits}/{} ranked first",
        rows.len()
    );
    assert!(
        pattern_hits * 100 >= rows.len() * 90,
        "{pattern_hits}/{} root patterns on top",
        rows.len()
    );
}

#[test]
fn generated_incidents_rank_the_root_cause_first() {
    let rows = evaluate(Scenario {
        keep_root_every: 1,
        opaque_root: false,
    });
    let (hits, pattern_hits) = report("genlogs incidents as generated", &rows);
    assert_at_least_90_percent(&rows, hits, pattern_hits);
}

/// The generated root causes log about as often as each caller; real ones often log far
/// less than the symptoms they cause. Volume must not decide.
#[test]
fn quiet_root_causes_still_rank_first() {
    let rows = evaluate(Scenario {
        keep_root_every: 10,
        opaque_root: false,
    });
    let (hits, pattern_hits) = report(
        "genlogs incidents, root service keeps 1 in 10 of its incident errors",
        &rows,
    );
    assert_at_least_90_percent(&rows, hits, pattern_hits);
}

/// Without the kind term (the root error is not recognised), being named by the callers,
/// being new and blaming no one must still find the root service and its new pattern.
#[test]
fn unrecognised_root_causes_still_rank_first() {
    assert_eq!(diagnose::classify(OPAQUE), diagnose::Category::Unknown);
    let rows = evaluate(Scenario {
        keep_root_every: 1,
        opaque_root: true,
    });
    let (hits, pattern_hits) = report(
        "genlogs incidents, root error text replaced by an unrecognised message",
        &rows,
    );
    assert_at_least_90_percent(&rows, hits, pattern_hits);
}

/// Both at once: an unrecognised root error, 10× fewer than the symptoms.
#[test]
fn quiet_unrecognised_root_causes_rank_first() {
    let rows = evaluate(Scenario {
        keep_root_every: 10,
        opaque_root: true,
    });
    let (hits, pattern_hits) = report(
        "genlogs incidents, root error unrecognised and 1 in 10 kept",
        &rows,
    );
    assert_at_least_90_percent(&rows, hits, pattern_hits);
}
