//! The user prompt of a model call: the group and its context as plain text, every message
//! and template redacted, bounded in size. Plain text rather than JSON: models read it as
//! well, and it costs fewer tokens.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::Group;
use crate::context::Context;

/// Longest example message kept (stack traces included).
const EXAMPLE_CHARS: usize = 1_200;

fn clock(us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| us.to_string())
}

fn clip(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Renders the prompt, at most `max_chars` long (later sections are cut first).
pub fn render(
    group: &Group,
    context: &Context,
    redactor: &redact::Redactor,
    max_chars: usize,
) -> String {
    let r = |s: &str| redactor.redact(s).into_owned();
    let mut out = String::new();
    let level = group.max_level();
    let _ = writeln!(out, "Service: {}", group.service);
    let _ = writeln!(out, "Error pattern: {}", r(&group.template));
    let _ = writeln!(
        out,
        "Level: {}; {} occurrence(s) in this batch between {} and {}.",
        level.as_str(),
        group.events.len(),
        clock(group.first_seen_us()),
        clock(group.last_seen_us())
    );
    if let Some(e) = &context.existing {
        let _ = writeln!(
            out,
            "Seen before: {} occurrence(s) since {}.",
            e.occurrences,
            clock(e.first_seen_us)
        );
    }
    let _ = writeln!(out, "\nExamples:");
    let mut seen = std::collections::HashSet::new();
    for e in group
        .events
        .iter()
        .filter(|e| seen.insert(e.message.as_str()))
        .take(3)
    {
        let _ = writeln!(out, "---\n{}", r(clip(&e.message, EXAMPLE_CHARS)));
    }
    if !context.trend.is_empty() {
        let _ = writeln!(
            out,
            "\nErrors per minute in {} around this time:",
            group.service
        );
        let points: Vec<String> = context
            .trend
            .iter()
            .map(|(m, n)| format!("{} {n}", clock(*m).get(11..16).unwrap_or("?")))
            .collect();
        let _ = writeln!(out, "{}", points.join(", "));
    }
    if !context.patterns.is_empty() {
        let _ = writeln!(
            out,
            "\nError patterns of all services between {} and {} (earliest first):",
            clock(context.window_start_us),
            clock(context.window_end_us)
        );
        for p in &context.patterns {
            let template = if p.template.is_empty() {
                "?"
            } else {
                p.template.as_str()
            };
            let _ = writeln!(
                out,
                "- first {} | {}: \"{}\" | {} in window, {} in the window before | named by {} error(s) of other services",
                clock(p.first_seen_us).get(11..19).unwrap_or("?"),
                p.service,
                r(clip(template, 300)),
                p.count,
                p.baseline_count,
                p.mentioned_by
            );
        }
        let ranked = diagnose::rank(&context.patterns);
        if !ranked.is_empty() {
            let _ = writeln!(
                out,
                "\nOffline heuristic ranking of likely root causes (a hint, not a fact):"
            );
            for (i, c) in ranked.iter().take(3).enumerate() {
                let _ = writeln!(
                    out,
                    "{}. {} ({}): {}",
                    i + 1,
                    c.service,
                    c.category.label(),
                    c.reasons.join("; ")
                );
            }
        }
    }
    if !context.trace_services.is_empty() {
        let _ = writeln!(
            out,
            "\nOther services in the same traces: {}",
            context.trace_services.join(", ")
        );
    }
    if out.len() > max_chars {
        let cut = clip(&out, max_chars).to_string();
        out = format!("{cut}\n[context truncated]");
    }
    out
}
