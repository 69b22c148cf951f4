//! The generated corpora both genlogs tests read: `shared/genlogs.py` run for five seeds
//! (in parallel, once per test binary), its error lines mined into patterns, and its truth
//! file of incidents.

#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::LazyLock;

use patterns::{Miner, MinerConfig, PatternId, Redirects};

pub const SEEDS: std::ops::RangeInclusive<u64> = 1..=5;
/// 20 000 lines over the generator's default 120 minutes: about 170 lines a minute, a few
/// hundred error lines per analysis window. The Python generator dominates the run time
/// (about 10 s for five seeds in parallel); 60 000 lines gave the same hits with larger
/// margins but took three times as long.
pub const LINES: usize = 20_000;
pub const LEVELS: &[&str] = &["ERROR", "CRITICAL", "FATAL"];

pub struct Event {
    pub ts: i64,
    pub service: String,
    pub level: String,
    pub message: String,
    pub pattern: PatternId,
}

pub struct Incident {
    pub id: String,
    pub start: i64,
    pub end: i64,
    pub root_service: String,
    pub root_template: String,
    pub affected_services: Vec<String>,
}

fn script() -> PathBuf {
    // Read at run time: a test binary reused from another checkout must not look there.
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo test");
    PathBuf::from(dir).join("../../../shared/genlogs.py")
}

fn spawn(seed: u64, out: &PathBuf, truth: &PathBuf) -> Child {
    Command::new("python3")
        .arg(script())
        .args(["--lines", &LINES.to_string(), "--seed", &seed.to_string()])
        .arg("--out")
        .arg(out)
        .arg("--truth")
        .arg(truth)
        .arg("--no-truth-fields")
        .spawn()
        .expect("python3 runs genlogs.py")
}

/// `2026-11-01T00:04:32.247Z` → microseconds since the epoch.
pub fn parse_ts(s: &str) -> i64 {
    let b = s.as_bytes();
    let num = |from: usize, to: usize| -> i64 { s[from..to].parse().expect("digits") };
    assert!(
        b.len() >= 20 && b[4] == b'-' && b[10] == b'T',
        "timestamp {s}"
    );
    let (y, m, d) = (num(0, 4), num(5, 7), num(8, 10));
    let (hh, mm, ss) = (num(11, 13), num(14, 16), num(17, 19));
    let frac = s[19..].trim_start_matches('.').trim_end_matches('Z');
    let micros = if frac.is_empty() {
        0
    } else {
        let digits = &frac[..frac.len().min(6)];
        digits.parse::<i64>().expect("fraction") * 10i64.pow(6 - digits.len() as u32)
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1_000_000) + micros
}

/// Reads one generated file: error events with their (resolved) pattern ids, the final
/// template of every pattern, and every service seen at any level.
fn load(path: &PathBuf) -> (Vec<Event>, HashMap<PatternId, String>, Vec<String>) {
    let text = std::fs::read_to_string(path).expect("generated logs");
    let mut miner = Miner::new(MinerConfig::default()).expect("default config");
    let mut redirects = Redirects::default();
    let mut templates = HashMap::new();
    let mut services = BTreeSet::new();
    let mut events = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json line");
        let service = v["service"].as_str().expect("service").to_string();
        services.insert(service.clone());
        let level = v["level"].as_str().expect("level");
        if !LEVELS.contains(&level) {
            continue;
        }
        let message = v["message"].as_str().expect("message").to_string();
        let m = miner.mine(&service, &message);
        redirects.record(&m);
        templates.insert(m.pattern_id, m.template.to_string());
        events.push(Event {
            ts: parse_ts(v["timestamp"].as_str().expect("timestamp")),
            service,
            level: level.to_string(),
            message,
            pattern: m.pattern_id,
        });
    }
    for e in &mut events {
        e.pattern = redirects.resolve(e.pattern);
    }
    (events, templates, services.into_iter().collect())
}

fn incidents(path: &PathBuf) -> (Vec<Incident>, HashMap<String, String>) {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("truth file")).expect("json");
    let list = v["incidents"]
        .as_array()
        .expect("incidents")
        .iter()
        .map(|i| Incident {
            id: i["id"].as_str().unwrap().to_string(),
            start: parse_ts(i["start"].as_str().unwrap()),
            end: parse_ts(i["end"].as_str().unwrap()),
            root_service: i["root_service"].as_str().unwrap().to_string(),
            root_template: i["root_template"].as_str().unwrap().to_string(),
            affected_services: i["affected_services"]
                .as_array()
                .expect("affected_services")
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect(),
        })
        .collect();
    let templates = v["templates"]
        .as_object()
        .expect("templates")
        .iter()
        .map(|(k, t)| (k.clone(), t.as_str().unwrap().to_string()))
        .collect();
    (list, templates)
}

/// The first two words of the truth template (`connection pool`, `OOM command`,
/// `Traceback: KeyError:`) start the mined template of the root error.
pub fn is_root_template(mined: &str, truth: &str) -> bool {
    let first = mined.lines().next().unwrap_or("");
    let want: Vec<&str> = truth.split_whitespace().take(2).collect();
    let got: Vec<&str> = first.split_whitespace().take(2).collect();
    want == got
}

/// One generated corpus, mined.
pub struct Corpus {
    pub seed: u64,
    pub events: Vec<Event>,
    pub templates: HashMap<PatternId, String>,
    pub services: Vec<String>,
    pub incidents: Vec<Incident>,
    pub truth_templates: HashMap<String, String>,
}

/// Generated once (the five generators run in parallel) and shared by both tests.
pub static CORPORA: LazyLock<Vec<Corpus>> = LazyLock::new(|| {
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    let jobs: Vec<(u64, PathBuf, PathBuf, Child)> = SEEDS
        .map(|seed| {
            let out = dir.join(format!("diagnose-genlogs-{pid}-{seed}.ndjson"));
            let truth = dir.join(format!("diagnose-genlogs-{pid}-{seed}.truth.json"));
            let child = spawn(seed, &out, &truth);
            (seed, out, truth, child)
        })
        .collect();
    jobs.into_iter()
        .map(|(seed, out, truth, mut child)| {
            assert!(
                child.wait().expect("genlogs.py ran").success(),
                "genlogs.py seed {seed}"
            );
            let (events, templates, services) = load(&out);
            let (incidents, truth_templates) = incidents(&truth);
            let _ = std::fs::remove_file(&out);
            let _ = std::fs::remove_file(&truth);
            Corpus {
                seed,
                events,
                templates,
                services,
                incidents,
                truth_templates,
            }
        })
        .collect()
});
