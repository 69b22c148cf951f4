//! Severity levels: the canonical names stored in `logs.level` and how common spellings map to
//! them.

use std::fmt;

/// A canonical severity. Ordered from least to most severe so that "≥ ERROR" is a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    /// The name stored in the `level` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Fatal => "FATAL",
        }
    }

    /// Maps the spellings used by common loggers, syslog and Datadog (`warning`, `err`, `crit`,
    /// `emerg`, `ok`, …) to a canonical level. `None` when the word is not a level name.
    pub fn parse(word: &str) -> Option<Level> {
        // Compared without lower-casing a copy: this runs for every ingested line.
        const NAMES: &[(&str, Level)] = &[
            ("info", Level::Info),
            ("error", Level::Error),
            ("warn", Level::Warn),
            ("debug", Level::Debug),
            ("warning", Level::Warn),
            ("trace", Level::Trace),
            ("fatal", Level::Fatal),
            ("finest", Level::Trace),
            ("verbose", Level::Trace),
            ("dbg", Level::Debug),
            ("fine", Level::Debug),
            ("finer", Level::Debug),
            ("information", Level::Info),
            ("informational", Level::Info),
            ("notice", Level::Info),
            ("ok", Level::Info),
            ("success", Level::Info),
            ("err", Level::Error),
            ("severe", Level::Error),
            ("critical", Level::Fatal),
            ("crit", Level::Fatal),
            ("alert", Level::Fatal),
            ("emerg", Level::Fatal),
            ("emergency", Level::Fatal),
            ("panic", Level::Fatal),
        ];
        let word = word.trim();
        NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(word))
            .map(|(_, level)| *level)
    }

    /// Numeric levels as written by the bunyan/pino family of JSON loggers (10 = trace …
    /// 60 = fatal), the most common numeric convention in JSON logs.
    pub fn from_number(n: f64) -> Option<Level> {
        let level = match n as i64 {
            ..=10 => Level::Trace,
            11..=20 => Level::Debug,
            21..=30 => Level::Info,
            31..=40 => Level::Warn,
            41..=50 => Level::Error,
            _ => Level::Fatal,
        };
        (n.is_finite() && n >= 0.0).then_some(level)
    }

    /// Infers a level from a message that carries none in a separate field, only where the
    /// message makes it obvious: a level word near the start (`ERROR`, `[warn]`, `level=debug`),
    /// or an unmistakable failure marker (`panic:`, a Python traceback, a Java exception line).
    pub fn infer(message: &str) -> Option<Level> {
        let head = match message.char_indices().nth(80) {
            Some((i, _)) => &message[..i],
            None => message,
        };
        for word in head
            .split(|c: char| !c.is_ascii_alphabetic())
            .filter(|w| w.len() >= 3)
            .take(8)
        {
            // Only upper-case words or explicit markers count: "info" inside a sentence is prose.
            let is_upper = word.bytes().all(|b| b.is_ascii_uppercase());
            if is_upper && let Some(level) = Level::parse(word) {
                return Some(level);
            }
        }
        let lower_head = head.to_ascii_lowercase();
        for (marker, level) in [
            ("level=", None),
            ("panic:", Some(Level::Fatal)),
            ("traceback (most recent call last)", Some(Level::Error)),
            ("exception in thread", Some(Level::Error)),
        ] {
            if let Some(pos) = lower_head.find(marker) {
                match level {
                    Some(level) => return Some(level),
                    None => {
                        let rest = &head[pos + marker.len()..];
                        let value: String = rest
                            .trim_start_matches('"')
                            .chars()
                            .take_while(|c| c.is_ascii_alphabetic())
                            .collect();
                        if let Some(level) = Level::parse(&value) {
                            return Some(level);
                        }
                    }
                }
            }
        }
        None
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_spellings() {
        assert_eq!(Level::parse("warning"), Some(Level::Warn));
        assert_eq!(Level::parse("ERR"), Some(Level::Error));
        assert_eq!(Level::parse("crit"), Some(Level::Fatal));
        assert_eq!(Level::parse("Notice"), Some(Level::Info));
        assert_eq!(Level::parse("loud"), None);
    }

    #[test]
    fn numeric_levels_follow_bunyan() {
        assert_eq!(Level::from_number(30.0), Some(Level::Info));
        assert_eq!(Level::from_number(50.0), Some(Level::Error));
        assert_eq!(Level::from_number(-1.0), None);
    }

    #[test]
    fn infers_only_obvious_levels() {
        assert_eq!(
            Level::infer("ERROR db: connection refused"),
            Some(Level::Error)
        );
        assert_eq!(Level::infer("[WARN] disk 91% full"), Some(Level::Warn));
        assert_eq!(Level::infer("ts=1 level=debug msg=hi"), Some(Level::Debug));
        assert_eq!(
            Level::infer("panic: runtime error: nil map"),
            Some(Level::Fatal)
        );
        assert_eq!(
            Level::infer("Traceback (most recent call last):\n  File \"x.py\""),
            Some(Level::Error)
        );
        assert_eq!(
            Level::infer("user asked for info about an error page"),
            None
        );
        assert_eq!(Level::infer("GET /index.html 200"), None);
    }

    #[test]
    fn levels_are_ordered_by_severity() {
        assert!(Level::Error > Level::Warn);
        assert!(Level::Fatal > Level::Error);
    }
}
