//! The pattern miner. Input: lines of `service|message`. Properties: every message gets a
//! template whose first line matches the message's own first line (`<*>` standing for any
//! text, whitespace for any whitespace), the same message mined again keeps its pattern unless
//! a merge retired it, and the pattern count stays within the per-service bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use patterns::{Miner, MinerConfig, Redirects};

/// Whether `text` matches `pattern`, where `<*>` in the pattern stands for any run of
/// characters (the classic wildcard match, with backtracking to the last wildcard).
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split("<*>").collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

fn normalised(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fuzz_target!(|text: &str| {
    let config = MinerConfig {
        max_patterns_per_service: 64,
        ..MinerConfig::default()
    };
    let max_tokens = config.max_tokens;
    let mut miner = Miner::new(config).unwrap();
    let mut redirects = Redirects::default();
    let mut seen = Vec::new();
    for line in text.lines().take(256) {
        let (service, message) = line.split_once('|').unwrap_or(("svc", line));
        let m = miner.mine(service, message);
        redirects.record(&m);
        let first = message.lines().next().unwrap_or("").trim();
        if !first.is_empty() && first.split_whitespace().count() <= max_tokens {
            let template = normalised(m.template.lines().next().unwrap_or(""));
            let message = normalised(first);
            assert!(
                wildcard_match(&template, &message),
                "template {template:?} does not match its message {message:?}"
            );
        }
        seen.push((service.to_string(), message.to_string(), m.pattern_id));
        assert!(miner.service_pattern_count(service) <= 64 + 1);
    }
    for (service, message, id) in seen.iter().rev().take(8) {
        let again = miner.mine(service, message);
        assert_eq!(
            redirects.resolve(*id),
            redirects.resolve(again.pattern_id),
            "{message:?} changed pattern"
        );
    }
});
