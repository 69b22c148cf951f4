//! The route stage: which records go to analysis. Runs on the writer thread after mining, so
//! a routed record carries its pattern, and its queue entry is written in the same transaction
//! as its `logs` row.

use std::collections::HashMap;

use anyhow::{Context, bail};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::TimestampMicrosecondType;
use model::{ErrorEvent, Level};
use regex::Regex;

use crate::config::RoutingConfig;

/// Column positions in `model::schema::logs()`.
const TS: usize = 0;
const LEVEL: usize = 2;
const SERVICE: usize = 3;
const HOST: usize = 4;
const MESSAGE: usize = 5;
const TRACE_ID: usize = 6;
const PATTERN_ID: usize = 9;

/// The compiled routing rules.
#[derive(Debug, Clone)]
pub struct Router {
    min_level: Level,
    keywords: Option<Regex>,
    patterns: Vec<Regex>,
    exclude: Vec<Regex>,
}

fn compile(list: &[String], what: &str) -> anyhow::Result<Vec<Regex>> {
    list.iter()
        .enumerate()
        .map(|(i, p)| {
            Regex::new(p).with_context(|| format!("routing.{what}[{i}] {p:?} is not a valid regex"))
        })
        .collect()
}

impl Router {
    /// Validates and compiles `config`; errors name the offending rule.
    pub fn new(config: &RoutingConfig) -> anyhow::Result<Router> {
        let Some(min_level) = Level::parse(&config.min_level) else {
            bail!(
                "routing.min_level {:?} is not a level (use TRACE, DEBUG, INFO, WARN, ERROR or FATAL)",
                config.min_level
            );
        };
        let words: Vec<String> = config
            .keywords
            .iter()
            .map(|k| k.trim())
            .filter(|k| !k.is_empty())
            .map(regex::escape)
            .collect();
        // ASCII word boundaries keep the regex on its fast DFA path for any message.
        let keywords = if words.is_empty() {
            None
        } else {
            Some(
                Regex::new(&format!("(?i)(?-u:\\b)(?:{})(?-u:\\b)", words.join("|")))
                    .context("routing.keywords do not form a valid regex")?,
            )
        };
        Ok(Router {
            min_level,
            keywords,
            patterns: compile(&config.patterns, "patterns")?,
            exclude: compile(&config.exclude, "exclude")?,
        })
    }

    /// Whether a record with `level` and `message` goes to analysis.
    pub fn matches(&self, level: &str, message: &str) -> bool {
        let by_level = Level::parse(level).is_some_and(|l| l >= self.min_level);
        let selected = by_level
            || self.keywords.as_ref().is_some_and(|k| k.is_match(message))
            || self.patterns.iter().any(|p| p.is_match(message));
        selected && !self.exclude.iter().any(|p| p.is_match(message))
    }

    /// The routed records of `batches` (in the `logs` schema, pattern ids filled when mining
    /// is on). `templates` maps pattern ids to their current template.
    pub fn select(
        &self,
        batches: &[RecordBatch],
        templates: &HashMap<String, String>,
    ) -> Vec<ErrorEvent> {
        let mut out = Vec::new();
        for batch in batches {
            let ts = batch.column(TS).as_primitive::<TimestampMicrosecondType>();
            let level = batch.column(LEVEL).as_string::<i32>();
            let service = batch.column(SERVICE).as_string::<i32>();
            let host = batch.column(HOST).as_string::<i32>();
            let message = batch.column(MESSAGE).as_string::<i32>();
            let trace = batch.column(TRACE_ID).as_string::<i32>();
            let pattern = batch.column(PATTERN_ID).as_string::<i32>();
            let opt = |a: &arrow::array::StringArray, row: usize| {
                (!a.is_null(row)).then(|| a.value(row).to_string())
            };
            for row in 0..batch.num_rows() {
                if !self.matches(level.value(row), message.value(row)) {
                    continue;
                }
                let pattern_id = opt(pattern, row);
                let template = pattern_id
                    .as_ref()
                    .and_then(|id| templates.get(id))
                    .cloned();
                out.push(ErrorEvent {
                    event_id: String::new(),
                    ts_us: ts.value(row),
                    service: service.value(row).to_string(),
                    level: level.value(row).to_string(),
                    message: message.value(row).to_string(),
                    host: opt(host, row),
                    trace_id: opt(trace, row),
                    pattern_id,
                    template,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        Router::new(&RoutingConfig {
            exclude: vec!["(?i)expected error".into()],
            patterns: vec![r"HTTP 5\d\d".into()],
            ..RoutingConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn level_keyword_pattern_and_exclude() {
        let r = router();
        assert!(r.matches("ERROR", "all quiet"));
        assert!(r.matches("FATAL", "all quiet"));
        assert!(!r.matches("WARN", "all quiet"));
        assert!(r.matches("INFO", "NullPointerException thrown: Exception in thread"));
        assert!(r.matches("INFO", "kernel PANIC at boot"));
        assert!(r.matches("INFO", "Traceback (most recent call last):"));
        assert!(r.matches("INFO", "upstream answered HTTP 503"));
        // Whole words only.
        assert!(!r.matches("INFO", "ErrorHandler registered"));
        assert!(!r.matches("INFO", "0 errors"));
        assert!(!r.matches("ERROR", "this is an Expected Error in tests"));
    }

    #[test]
    fn bad_rules_are_named() {
        let err = Router::new(&RoutingConfig {
            min_level: "loud".into(),
            ..RoutingConfig::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("routing.min_level"), "{err}");
        let err = Router::new(&RoutingConfig {
            exclude: vec!["[".into()],
            ..RoutingConfig::default()
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("routing.exclude[0]"), "{err:#}");
    }
}
