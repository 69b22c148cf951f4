//! Grouping a batch by (service, pattern): the unit an analyst looks at and the key of an
//! insight. Events carry the pattern mined at ingest; an event without one (mining switched
//! off) is grouped by the masked shape of its message instead.

use std::collections::HashMap;

use model::{ErrorEvent, Level};

/// The events of one batch that share a service and a pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub service: String,
    pub pattern_id: String,
    pub template: String,
    pub events: Vec<ErrorEvent>,
}

impl Group {
    /// Stable per (service, pattern), so later batches update the same insight.
    pub fn insight_id(&self) -> String {
        format!(
            "{:016x}",
            model::stable_hash(&[self.service.as_bytes(), b"\0", self.pattern_id.as_bytes()])
        )
    }

    /// The most severe level among the events (unknown spellings count as ERROR: they were
    /// routed here for a reason).
    pub fn max_level(&self) -> Level {
        self.events
            .iter()
            .map(|e| Level::parse(&e.level).unwrap_or(Level::Error))
            .max()
            .unwrap_or(Level::Error)
    }

    pub fn first_seen_us(&self) -> i64 {
        self.events.iter().map(|e| e.ts_us).min().unwrap_or(0)
    }

    pub fn last_seen_us(&self) -> i64 {
        self.events.iter().map(|e| e.ts_us).max().unwrap_or(0)
    }
}

/// Groups `events`, keeping the order in which groups first appear.
pub fn group(events: Vec<ErrorEvent>) -> Vec<Group> {
    let config = patterns::MinerConfig::default();
    let mut key = String::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut groups: Vec<Group> = Vec::new();
    for event in events {
        let (pattern_id, template) = match (&event.pattern_id, &event.template) {
            (Some(id), template) => (id.clone(), template.clone().unwrap_or_default()),
            (None, _) => {
                patterns::mask::mask_message(
                    &event.message,
                    config.max_tokens,
                    config.max_frames,
                    &mut key,
                );
                let head = key.split('\n').next().unwrap_or("").to_string();
                (
                    format!("{:016x}", model::stable_hash(&[key.as_bytes()])),
                    head,
                )
            }
        };
        let k = (event.service.clone(), pattern_id);
        match index.get(&k) {
            Some(&i) => groups[i].events.push(event),
            None => {
                index.insert(k.clone(), groups.len());
                groups.push(Group {
                    service: k.0,
                    pattern_id: k.1,
                    template,
                    events: vec![event],
                });
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str, service: &str, pattern: Option<&str>, message: &str) -> ErrorEvent {
        ErrorEvent {
            event_id: id.into(),
            ts_us: 10,
            service: service.into(),
            level: "ERROR".into(),
            message: message.into(),
            host: None,
            trace_id: None,
            pattern_id: pattern.map(Into::into),
            template: pattern.map(|_| "t <*>".to_string()),
        }
    }

    #[test]
    fn events_group_by_service_and_pattern_or_shape() {
        let groups = group(vec![
            ev("1", "a", Some("p1"), "x 1"),
            ev("2", "a", Some("p1"), "x 2"),
            ev("3", "b", Some("p1"), "x 3"),
            ev("4", "a", None, "timeout after 30 ms"),
            ev("5", "a", None, "timeout after 4512 ms"),
            ev("6", "a", None, "disk full on /var"),
        ]);
        let sizes: Vec<usize> = groups.iter().map(|g| g.events.len()).collect();
        assert_eq!(sizes, vec![2, 1, 2, 1]);
        assert_ne!(groups[0].insight_id(), groups[1].insight_id());
        // A time unit after an integer is the format's own: it stays in the template.
        assert_eq!(groups[2].template, "timeout after <*> ms");
        // Stable across runs and builds.
        assert_eq!(groups[0].insight_id(), groups[0].clone().insight_id());
    }
}
