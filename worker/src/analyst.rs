//! Analysts: what turns a group of error events into an explanation. [`ShapeAnalyst`] is the
//! honest minimum (it describes the shape, counts and spread, and claims no root cause);
//! the builtin and OpenAI-compatible analysts implement the same trait.

use model::{Insight, Level};
use serde_json::json;

use crate::Group;

/// Examples kept in an insight's evidence, and how long each may be.
const EXAMPLES: usize = 3;
const EXAMPLE_CHARS: usize = 500;

/// What an analyst says about one group.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub title: String,
    pub summary: String,
    pub root_cause: Option<String>,
    pub suggested_fix: Option<String>,
    pub severity: String,
    pub confidence: f64,
    /// Extra evidence merged into the insight's evidence document.
    pub evidence: serde_json::Value,
}

#[async_trait::async_trait]
pub trait Analyst: Send + Sync {
    /// The `insights.model` value of this analyst's insights.
    fn model(&self) -> &str;
    async fn analyze(&self, group: &Group) -> Analysis;
}

/// Severity of an insight from the most severe level among its events.
pub fn severity(level: Level) -> &'static str {
    match level {
        Level::Fatal => "critical",
        Level::Error => "error",
        Level::Warn => "warning",
        _ => "info",
    }
}

fn clip(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

impl Analysis {
    /// The insight row of `group` with this analysis.
    pub fn into_insight(self, group: &Group, model: &str, now_us: i64) -> Insight {
        let examples: Vec<String> = group
            .events
            .iter()
            .take(EXAMPLES)
            .map(|e| clip(&e.message, EXAMPLE_CHARS))
            .collect();
        let mut evidence = json!({
            "template": group.template,
            "pattern_id": group.pattern_id,
            "examples": examples,
            "hosts": group.events.iter().filter_map(|e| e.host.as_deref()).collect::<std::collections::BTreeSet<_>>(),
            "trace_ids": group.events.iter().filter_map(|e| e.trace_id.as_deref()).take(10).collect::<Vec<_>>(),
        });
        if let (Some(map), serde_json::Value::Object(extra)) =
            (evidence.as_object_mut(), self.evidence)
        {
            map.extend(extra);
        }
        Insight {
            id: group.insight_id(),
            created_at_us: now_us,
            service: group.service.clone(),
            pattern_id: group.pattern_id.clone(),
            severity: self.severity,
            title: self.title,
            summary: self.summary,
            root_cause: self.root_cause,
            suggested_fix: self.suggested_fix,
            confidence: self.confidence,
            model: model.to_string(),
            status: "open".to_string(),
            first_seen_us: group.first_seen_us(),
            last_seen_us: group.last_seen_us(),
            occurrences: group.events.len() as i64,
            evidence: evidence.to_string(),
        }
    }
}

/// One insight per message shape, with no claim about causes (`model = 'none'`).
#[derive(Debug, Default, Clone, Copy)]
pub struct ShapeAnalyst;

#[async_trait::async_trait]
impl Analyst for ShapeAnalyst {
    fn model(&self) -> &str {
        "none"
    }

    async fn analyze(&self, group: &Group) -> Analysis {
        let level = group.max_level();
        let shape = if group.template.is_empty() {
            clip(&group.events[0].message, 120)
        } else {
            clip(&group.template, 120)
        };
        let span_s = (group.last_seen_us() - group.first_seen_us()) / 1_000_000;
        Analysis {
            title: format!("{} in {}: {shape}", level.as_str(), group.service),
            summary: format!(
                "{} {} event(s) of this shape from {} over {span_s} s. No analyst is configured, \
                 so no root cause is claimed.",
                group.events.len(),
                level.as_str(),
                group.service
            ),
            root_cause: None,
            suggested_fix: None,
            severity: severity(level).to_string(),
            confidence: 0.0,
            evidence: serde_json::Value::Null,
        }
    }
}
