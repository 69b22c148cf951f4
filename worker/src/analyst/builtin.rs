//! The builtin analyst (`model = 'builtin'`): offline, no API key. It recognises the kind of
//! failure from the messages and stack traces (`diagnose::classify`) and ranks the error
//! patterns of every service in the window (`diagnose::rank`): the pattern that started first,
//! that is new, that is a cause rather than a symptom, and that other services' timeouts and
//! 5xx name, ranks first. The insight says plainly which service and pattern it believes is the
//! cause, and why.

use diagnose::{Category, PatternStat};
use serde_json::json;

use super::{Analysis, Analyst, AnalystError, clip, severity};
use crate::Group;
use crate::context::Context;

#[derive(Debug, Default, Clone, Copy)]
pub struct BuiltinAnalyst;

/// Occurrences in the previous window from which a pattern that did not rise is background:
/// one or two are strays, not a steady rate.
const BACKGROUND_MIN_BASELINE: u64 = 3;

/// The group's kind, from its template and first examples (stack traces included).
fn group_category(group: &Group) -> Category {
    let mut category = diagnose::classify(&group.template);
    for e in group.events.iter().take(5) {
        if category != Category::Unknown {
            break;
        }
        category = diagnose::classify(&e.message);
    }
    category
}

#[async_trait::async_trait]
impl Analyst for BuiltinAnalyst {
    fn model(&self) -> &str {
        "builtin"
    }

    async fn analyze(&self, group: &Group, context: &Context) -> Result<Analysis, AnalystError> {
        let category = group_category(group);
        let shape = if group.template.is_empty() {
            clip(&group.events[0].message, 100)
        } else {
            clip(&group.template, 100)
        };
        // Without context from the store, the group is its own window.
        let own = PatternStat {
            service: group.service.clone(),
            pattern_id: group.pattern_id.clone(),
            template: group.template.clone(),
            first_seen_us: group.first_seen_us(),
            last_seen_us: group.last_seen_us(),
            count: group.events.len() as u64,
            baseline_count: 0,
            examples: group
                .events
                .iter()
                .take(2)
                .map(|e| e.message.clone())
                .collect(),
            mentioned_by: 0,
        };
        let mut stats = context.patterns.clone();
        if !stats
            .iter()
            .any(|s| s.service == own.service && s.pattern_id == own.pattern_id)
        {
            stats.push(own);
        }
        let ranked = diagnose::rank(&stats);
        let top = ranked.first();
        let is_root =
            top.is_some_and(|t| t.service == group.service && t.pattern_id == group.pattern_id);
        let label = category.label();
        let title = format!("{label} in {}: {shape}", group.service);
        // Leading its window is not enough to be called a root cause: the failure must be a
        // kind that causes outages, or other services' errors must point at it.
        let named = stats
            .iter()
            .find(|s| s.service == group.service && s.pattern_id == group.pattern_id)
            .map_or(0, |s| s.mentioned_by);
        let claims_root = category.is_cause() || named > 0;
        // Steady before this window and not rising: background, nobody's symptom, whatever
        // else is failing now.
        let own_stat = stats
            .iter()
            .find(|s| s.service == group.service && s.pattern_id == group.pattern_id);
        let background = own_stat.is_some_and(|s| {
            s.baseline_count >= BACKGROUND_MIN_BASELINE && s.count < 2 * s.baseline_count
        });
        let (root_cause, fix, confidence) = match top {
            Some(_) if (is_root || ranked.len() == 1) && !claims_root => (
                format!(
                    "No incident around it: {} ({}). No other service's errors point at {}, so \
                     this looks local to it rather than the cause of a wider failure.",
                    category.explanation(),
                    label,
                    group.service
                ),
                category.suggested_fix().to_string(),
                0.3,
            ),
            Some(t) if is_root || ranked.len() == 1 => (
                format!(
                    "{} is the likely root cause: {} ({}). {}",
                    group.service,
                    category.explanation(),
                    label,
                    t.reasons.join("; ")
                ),
                category.suggested_fix().to_string(),
                confidence(&ranked),
            ),
            Some(_) if background => (
                format!(
                    "Background, not part of an incident: this pattern ran at a steady rate before \
                     this window ({} occurrence(s) in the previous window, {} in this one). {} ({}).",
                    own_stat.map_or(0, |s| s.baseline_count),
                    own_stat.map_or(0, |s| s.count),
                    category.explanation(),
                    label
                ),
                category.suggested_fix().to_string(),
                0.3,
            ),
            Some(t) => {
                let root_template = stats
                    .iter()
                    .find(|s| s.service == t.service && s.pattern_id == t.pattern_id)
                    .map(|s| clip(&s.template, 120))
                    .unwrap_or_default();
                (
                    format!(
                        "Likely a symptom. The root cause is probably in {}: \"{}\" ({}), because {}. \
                         This pattern in {} ({}) follows from it.",
                        t.service,
                        root_template,
                        t.category.label(),
                        t.reasons.join("; "),
                        group.service,
                        label
                    ),
                    format!("Start with {}: {}", t.service, t.category.suggested_fix()),
                    confidence(&ranked),
                )
            }
            None => (
                category.explanation().to_string(),
                category.suggested_fix().to_string(),
                0.2,
            ),
        };
        let summary = format!(
            "{} {} error(s) in {} between the first and last occurrence; kind: {}.",
            group.events.len(),
            group.max_level().as_str(),
            group.service,
            label
        );
        Ok(Analysis {
            title,
            summary,
            root_cause: Some(root_cause),
            suggested_fix: Some(fix),
            severity: severity(group.max_level()).to_string(),
            confidence,
            evidence: json!({
                "category": category.name(),
                "ranking": ranked.iter().take(3).map(|c| json!({
                    "service": c.service, "pattern_id": c.pattern_id,
                    "category": c.category.name(), "score": c.score, "reasons": c.reasons,
                })).collect::<Vec<_>>(),
            }),
            calls: 0,
            tokens: 0,
        })
    }
}

/// How clearly the top candidate stands out: its share of the top two scores.
fn confidence(ranked: &[diagnose::Candidate]) -> f64 {
    match ranked {
        [] => 0.0,
        [_] => 0.5,
        [a, b, ..] => {
            let (a, b) = (a.score.max(0.0), b.score.max(0.0));
            if a + b <= 0.0 {
                0.3
            } else {
                (a / (a + b)).clamp(0.3, 0.95)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::ErrorEvent;

    fn stat(
        service: &str,
        pattern: &str,
        template: &str,
        count: u64,
        baseline: u64,
    ) -> PatternStat {
        PatternStat {
            service: service.into(),
            pattern_id: pattern.into(),
            template: template.into(),
            first_seen_us: 1_000_000,
            last_seen_us: 60_000_000,
            count,
            baseline_count: baseline,
            examples: vec![template.into()],
            mentioned_by: 0,
        }
    }

    fn group(service: &str, pattern: &str, template: &str) -> Group {
        Group {
            service: service.into(),
            pattern_id: pattern.into(),
            template: template.into(),
            events: vec![ErrorEvent {
                event_id: "i-1".into(),
                ts_us: 2_000_000,
                service: service.into(),
                level: "ERROR".into(),
                message: template.into(),
                host: None,
                trace_id: None,
                pattern_id: Some(pattern.into()),
                template: Some(template.into()),
            }],
        }
    }

    /// The root cause the builtin analyst gives `orders`' validation errors, `now` of them in
    /// the window after `before` in the previous one, while a cache runs out of memory.
    async fn validation_verdict(now: u64, before: u64) -> String {
        let validation = "validation failed for field <*>";
        let oom = "OOM command not allowed when used memory > 'maxmemory'";
        let context = Context {
            patterns: vec![
                stat("redis-cache", "oom", oom, 40, 0),
                stat(
                    "checkout",
                    "timeout",
                    "upstream redis-cache timed out after <*>ms",
                    60,
                    0,
                ),
                stat("orders", "validation", validation, now, before),
            ],
            ..Context::default()
        };
        BuiltinAnalyst
            .analyze(&group("orders", "validation", validation), &context)
            .await
            .unwrap()
            .root_cause
            .unwrap()
    }

    /// Validation errors at their usual rate while a cache runs out of memory are background:
    /// the analysis says so and does not call them the cache's symptom.
    #[tokio::test]
    async fn a_steady_pattern_is_background_not_a_symptom_of_the_incident() {
        let root_cause = validation_verdict(18, 20).await;
        assert!(root_cause.starts_with("Background"), "{root_cause}");
        assert!(!root_cause.contains("redis-cache"), "{root_cause}");
        // The same pattern, rising, is judged against the incident as before.
        let root_cause = validation_verdict(90, 20).await;
        assert!(!root_cause.starts_with("Background"), "{root_cause}");
    }
}
