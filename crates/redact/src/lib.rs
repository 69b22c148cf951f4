//! Redaction of secrets and personal data; pure, no IO.
//!
//! This crate owns the last step before log text leaves the process (today: evidence sent
//! to an LLM for root-cause analysis). Whatever it returns is assumed safe to share, so it
//! errs on the side of redacting; everything else in a line is kept, because the rest of
//! the line is the evidence.
//!
//! Each secret is replaced by a marker `[REDACTED:<kind>]`; labels (`password=`,
//! `Authorization: Bearer`, the user and host of a URL) are kept. Kinds:
//!
//! | kind          | what                                                                 |
//! |---------------|----------------------------------------------------------------------|
//! | `private_key` | PEM private key blocks, multi-line or `\n`-escaped                   |
//! | `password`    | the password of `scheme://user:password@host`                        |
//! | `aws_secret`  | labelled AWS secret access keys (`aws_secret_access_key=...`)        |
//! | `secret`      | values of `password=`, `token:`, `"api_key": "..."` etc.; cookies    |
//! | `jwt`         | JSON Web Tokens anywhere                                             |
//! | `token`       | `Authorization`/`Bearer`/`Basic` credentials; OpenAI, GitHub, Slack, |
//! |               | Stripe, Google, GitLab, npm, Hugging Face, SendGrid key formats      |
//! | `aws_key`     | AWS access key ids (`AKIA...`, `ASIA...`)                            |
//! | `card`        | Luhn-valid payment card numbers                                      |
//! | `email`       | email addresses                                                      |
//! | `ip`          | IPv4/IPv6 addresses, only with [`RedactConfig::ips`]                 |
//! | `custom`      | matches of [`RedactConfig::extra`]                                   |
//!
//! Rules run most specific first over the original text and only claim byte ranges; the
//! output is built once from the claimed ranges. So a marker written for one rule is never
//! re-matched by another, markers already in the input are left alone (redacting twice
//! changes nothing), and text without secrets comes back borrowed, uncopied.

mod rules;
mod spans;

use std::borrow::Cow;

use regex::Regex;

use crate::rules::Rule;
use crate::spans::{Overlap, Spans};

/// What to redact beyond the built-in rules.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RedactConfig {
    /// Also replace IPv4/IPv6 addresses (off by default: they are often useful evidence).
    pub ips: bool,
    /// Extra regexes; every match is replaced by `[REDACTED:custom]`.
    pub extra: Vec<String>,
}

/// Why a [`Redactor`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    /// An entry of [`RedactConfig::extra`] does not compile.
    #[error("redaction.extra[{index}] {pattern:?} is not a valid regex: {source}")]
    InvalidExtra {
        /// Position in `extra`.
        index: usize,
        /// The pattern as configured.
        pattern: String,
        /// The regex compiler's reason.
        source: regex::Error,
    },
}

/// Passes [`Redactor::redact`] makes at most; a pass only turns text into markers, and in
/// practice the second finds nothing more.
const MAX_PASSES: usize = 4;

/// Replaces secrets in text. Build once (all regexes are compiled in [`Redactor::new`]),
/// share freely: cloning is cheap and `redact` takes `&self`.
#[derive(Debug, Clone)]
pub struct Redactor {
    rules: Vec<Rule>,
    extra: Vec<Regex>,
    /// Finds markers already in the input, so they are kept rather than redacted again.
    marker: Regex,
}

const MARKER_PREFIX: &str = "[REDACTED:";

impl Redactor {
    /// Compiles the built-in rules and `config.extra`.
    pub fn new(config: &RedactConfig) -> Result<Redactor, RedactError> {
        let extra = config
            .extra
            .iter()
            .enumerate()
            .map(|(index, pattern)| {
                Regex::new(pattern).map_err(|source| RedactError::InvalidExtra {
                    index,
                    pattern: pattern.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Redactor {
            rules: rules::builtin(config.ips),
            extra,
            // A constant pattern; covered by the unit test building the default redactor.
            marker: Regex::new(r"\[REDACTED:[a-z_]+\]").expect("marker pattern must compile"),
        })
    }

    /// The text with every secret replaced by a marker `[REDACTED:<kind>]`. Borrowed when
    /// nothing was found. Redacting the result again changes nothing.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(mut out) = self.redact_once(text) else {
            return Cow::Borrowed(text);
        };
        // A rule that yielded to an overlapping, more specific match can still find a secret
        // in what is left beside that match's marker (an email whose local part began with a
        // JWT: the JWT was taken, the address left). Passes run until one finds nothing, so
        // that nothing a second redaction would remove is ever let out.
        for _ in 1..MAX_PASSES {
            match self.redact_once(&out) {
                Some(next) => out = next,
                None => break,
            }
        }
        Cow::Owned(out)
    }

    /// How many replacements [`Redactor::redact`] makes.
    pub fn count(&self, text: &str) -> usize {
        let mut total = self.spans(text).replacements();
        if total == 0 {
            return 0;
        }
        let mut current = self.redact_once(text).unwrap_or_default();
        for _ in 1..MAX_PASSES {
            let more = self.spans(&current).replacements();
            if more == 0 {
                break;
            }
            total += more;
            current = self.redact_once(&current).unwrap_or_default();
        }
        total
    }

    /// One pass over `text`: every rule on the original text, the ranges merged, the markers
    /// written once. `None` when nothing was found.
    fn redact_once(&self, text: &str) -> Option<String> {
        let spans = self.spans(text);
        if spans.replacements() == 0 {
            return None;
        }
        let mut out = String::with_capacity(text.len() + 16 * spans.replacements());
        let mut pos = 0;
        for span in spans.iter() {
            let Some(kind) = span.kind else { continue };
            out.push_str(&text[pos..span.start]);
            out.push_str(MARKER_PREFIX);
            out.push_str(kind);
            out.push(']');
            pos = span.end;
        }
        out.push_str(&text[pos..]);
        Some(out)
    }

    fn spans(&self, text: &str) -> Spans {
        let mut spans = Spans::default();
        if text.contains(MARKER_PREFIX) {
            spans.keep(self.marker.find_iter(text).map(|m| (m.start(), m.end())));
        }
        let mut found = Vec::new();
        for rule in &self.rules {
            // Most lines hold no secret: a cheap test and then a match-only scan (no
            // capture allocation) settle that before captures are asked for.
            if !rule.quick.as_ref().is_none_or(|q| q.passes(text)) || !rule.re.is_match(text) {
                continue;
            }
            found.clear();
            for caps in rule.re.captures_iter(text) {
                if rule.check.is_some_and(|check| !check(text, &caps)) {
                    continue;
                }
                let target = if rule.groups.is_empty() {
                    caps.get(0)
                } else {
                    rule.groups.iter().find_map(|g| caps.name(g))
                };
                found.extend(target.map(|m| (m.start(), m.end())));
            }
            spans.claim(&found, rule.kind, Overlap::Yield);
        }
        for re in &self.extra {
            found.clear();
            found.extend(re.find_iter(text).map(|m| (m.start(), m.end())));
            spans.claim(&found, "custom", Overlap::Absorb);
        }
        spans
    }
}

#[cfg(test)]
mod tests;
