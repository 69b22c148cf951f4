//! Analysts: what turns a group of error events and its context into an explanation. One
//! file per analyst, one trait: [`builtin`] (offline heuristics, the default) and [`openai`]
//! (any OpenAI-compatible chat-completions server).

pub mod builtin;
pub mod openai;

use model::{Insight, Level};
use serde_json::json;

use crate::Group;
use crate::context::Context;

pub use builtin::BuiltinAnalyst;
pub use openai::{OpenAiAnalyst, OpenAiConfig};

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
    /// Model calls and tokens this analysis cost.
    pub calls: u32,
    pub tokens: u64,
}

/// Why an analysis produced no answer; the group gets a failed insight with this reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnalystError {
    #[error("{0}")]
    Failed(String),
}

#[async_trait::async_trait]
pub trait Analyst: Send + Sync {
    /// The `insights.model` value of this analyst's insights.
    fn model(&self) -> &str;
    async fn analyze(&self, group: &Group, context: &Context) -> Result<Analysis, AnalystError>;
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

pub(crate) fn clip(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

impl Analysis {
    /// The insight a failed analysis leaves: visible, with the reason, retried when the
    /// pattern shows up again in force.
    pub fn failed(group: &Group, reason: &str) -> Analysis {
        Analysis {
            title: format!(
                "{} in {}: {}",
                group.max_level().as_str(),
                group.service,
                clip(&group.template, 100)
            ),
            summary: format!("analysis failed: {reason}"),
            root_cause: None,
            suggested_fix: None,
            severity: severity(group.max_level()).to_string(),
            confidence: 0.0,
            evidence: json!({ "failure": reason }),
            calls: 0,
            tokens: 0,
        }
    }

    /// The insight row of `group` with this analysis; example messages are redacted.
    pub fn into_insight(
        self,
        group: &Group,
        model: &str,
        status: &str,
        now_us: i64,
        redactor: &redact::Redactor,
    ) -> Insight {
        let examples: Vec<String> = group
            .events
            .iter()
            .take(EXAMPLES)
            .map(|e| {
                redactor
                    .redact(&clip(&e.message, EXAMPLE_CHARS))
                    .into_owned()
            })
            .collect();
        let mut evidence = json!({
            "template": redactor.redact(&group.template),
            "pattern_id": group.pattern_id,
            "examples": examples,
            "hosts": group.events.iter().filter_map(|e| e.host.as_deref()).collect::<std::collections::BTreeSet<_>>(),
            "trace_ids": group.events.iter().filter_map(|e| e.trace_id.as_deref()).take(10).collect::<Vec<_>>(),
            "analysis": { "model": model, "calls": self.calls, "tokens": self.tokens },
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
            status: status.to_string(),
            first_seen_us: group.first_seen_us(),
            last_seen_us: group.last_seen_us(),
            occurrences: group.events.len() as i64,
            evidence: evidence.to_string(),
        }
    }
}
