//! The rows the TUI shows and the messages between the screen and the database task.
//!
//! Plain data, no IO: [`crate::db`] fills these from SQL rows and [`crate::app`] keeps them,
//! so the app state and the rendering can be tested on fixture rows without a server.

/// One row of `insights`. Timestamps are the server's text form (`2024-05-01T12:00:00Z`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Insight {
    /// The insight id (stable for a service and pattern).
    pub id: String,
    /// When the analysis was stored.
    pub created_at: String,
    /// The service the errors came from.
    pub service: String,
    /// The pattern the insight is about.
    pub pattern_id: String,
    /// `critical`, `error`, `warning`, `info`, … as the analyst wrote it (any case).
    pub severity: String,
    /// One line for the list.
    pub title: String,
    /// What happened.
    pub summary: String,
    /// Why it happened, as far as the analyst can tell.
    pub root_cause: String,
    /// What to do about it.
    pub suggested_fix: String,
    /// The analyst's confidence in 0..=1, when it gave one.
    pub confidence: Option<f64>,
    /// Which analyst wrote it (`builtin`, a model name).
    pub model: String,
    /// `open`, `resolved`, …
    pub status: String,
    /// First occurrence of the pattern in the analysed window.
    pub first_seen: String,
    /// Last occurrence.
    pub last_seen: String,
    /// How many log lines the insight covers.
    pub occurrences: i64,
    /// JSON text: examples, hosts, the ranking and the pattern `template`.
    pub evidence: String,
    /// The last incident its pattern was part of.
    pub incident_id: String,
    /// Its pattern runs at a steady rate: part of no incident.
    pub background: bool,
}

/// One row of `alerts`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertState {
    pub name: String,
    /// `inactive`, `pending` or `firing`.
    pub state: String,
    /// When it entered that state.
    pub since: String,
    pub last_value: Option<f64>,
    /// Why the last evaluation failed, if it did.
    pub last_error: String,
    /// JSON object.
    pub labels: String,
}

/// One row of `incidents`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Incident {
    pub id: String,
    /// `open` or `resolved`.
    pub status: String,
    /// The most severe of its patterns (`critical`, `error`, …).
    pub severity: String,
    /// `<kind> in <service>: <template>`.
    pub title: String,
    pub root_service: String,
    pub root_pattern: String,
    /// Why the root is the root.
    pub root_cause: String,
    /// The services of its symptoms.
    pub symptom_services: Vec<String>,
    pub started: String,
    pub last_seen: String,
    /// Empty while open.
    pub resolved_at: String,
    /// Patterns in it, the root included: one insight each.
    pub insight_count: i64,
    pub errors: i64,
    /// The earlier incident with the same root.
    pub previous_id: String,
}

impl Insight {
    /// The pattern template from the evidence JSON, when the evidence has one.
    pub fn template(&self) -> Option<String> {
        let evidence: serde_json::Value = serde_json::from_str(&self.evidence).ok()?;
        evidence.get("template")?.as_str().map(str::to_owned)
    }

    /// The evidence without the template (shown on its own), pretty-printed; the raw text
    /// when it is not JSON.
    pub fn evidence_text(&self) -> String {
        match serde_json::from_str::<serde_json::Value>(&self.evidence) {
            Ok(serde_json::Value::Object(mut map)) => {
                map.remove("template");
                serde_json::to_string_pretty(&map).unwrap_or_default()
            }
            _ => self.evidence.clone(),
        }
    }
}

/// One row of `patterns`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pattern {
    /// The pattern id (a hash of service, level and template).
    pub pattern_id: String,
    /// The service the pattern was mined from.
    pub service: String,
    /// Upper-case level (`ERROR`, `WARN`, …).
    pub level: String,
    /// The template, variables as `<*>`.
    pub template: String,
    /// Lines matched since the pattern was first seen.
    pub count: i64,
    /// First line of the pattern.
    pub first_seen: String,
    /// Latest line of the pattern.
    pub last_seen: String,
    /// One raw line of the pattern.
    pub example: String,
    /// First seen within the window the view shows: a new kind of log line.
    pub is_new: bool,
}

/// One row of `logs`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogLine {
    /// The event time.
    pub ts: String,
    /// Upper-case level.
    pub level: String,
    /// The emitting service.
    pub service: String,
    /// The emitting host.
    pub host: String,
    /// The message.
    pub message: String,
}

/// Errors and totals of one service, one bucket per minute, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceRate {
    /// The service.
    pub service: String,
    /// `ERROR` and `FATAL` lines per minute.
    pub errors: Vec<u64>,
    /// All lines per minute.
    pub totals: Vec<u64>,
}

impl ServiceRate {
    /// Error lines over the whole window.
    pub fn error_sum(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// All lines over the whole window.
    pub fn total_sum(&self) -> u64 {
        self.totals.iter().sum()
    }

    /// Errors as a percentage of all lines over the window.
    pub fn error_rate(&self) -> f64 {
        match self.total_sum() {
            0 => 0.0,
            total => 100.0 * self.error_sum() as f64 / total as f64,
        }
    }
}

/// The six views, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum View {
    /// Incidents: open ones first, the root and its symptoms (the default view).
    #[default]
    Incidents,
    /// Insights: the list and the selected insight's detail.
    Insights,
    /// The most frequent patterns in a window, new ones highlighted.
    Patterns,
    /// Error rate per service over the last hour.
    Stats,
    /// Recent log lines.
    Logs,
    /// Alert rules, firing ones first.
    Alerts,
}

impl View {
    /// Every view in Tab order.
    pub const ALL: [View; 6] = [
        View::Incidents,
        View::Insights,
        View::Patterns,
        View::Stats,
        View::Logs,
        View::Alerts,
    ];

    /// The tab title.
    pub fn title(self) -> &'static str {
        match self {
            View::Incidents => "Incidents",
            View::Insights => "Insights",
            View::Patterns => "Patterns",
            View::Stats => "Stats",
            View::Logs => "Logs",
            View::Alerts => "Alerts",
        }
    }

    /// Position in [`View::ALL`].
    pub fn index(self) -> usize {
        View::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }
}

/// How far back the patterns view looks. A closed set, so it is written into the SQL as an
/// interval literal; only user-typed text goes through bound parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Window {
    /// 15 minutes.
    Quarter,
    /// One hour (the default).
    #[default]
    Hour,
    /// Six hours.
    SixHours,
    /// One day.
    Day,
}

impl Window {
    /// The interval literal, for `INTERVAL '…'`.
    pub fn interval(self) -> &'static str {
        match self {
            Window::Quarter => "15 minutes",
            Window::Hour => "1 hour",
            Window::SixHours => "6 hours",
            Window::Day => "24 hours",
        }
    }

    /// The next window (`w` cycles through them).
    pub fn next(self) -> Window {
        match self {
            Window::Quarter => Window::Hour,
            Window::Hour => Window::SixHours,
            Window::SixHours => Window::Day,
            Window::Day => Window::Quarter,
        }
    }
}

/// A parsed `/` filter: `service:NAME`, `level:LEVEL`, `@ATTRIBUTE:VALUE` (as in Datadog's
/// search; dots walk into nested objects) and free text, in any order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this service (exact match).
    pub service: Option<String>,
    /// Only this level (upper-cased, as the server stores levels).
    pub level: Option<String>,
    /// Log attributes that must have these values (`["http", "status"]`, `"500"`); the logs
    /// view applies them, the others have no attributes.
    pub attributes: Vec<(Vec<String>, String)>,
    /// Case-insensitive substring of the message, title or template.
    pub text: String,
}

impl Filter {
    /// Parses what the user typed after `/`.
    pub fn parse(input: &str) -> Filter {
        let mut filter = Filter::default();
        let mut words = Vec::new();
        for word in input.split_whitespace() {
            if let Some(service) = word.strip_prefix("service:").filter(|s| !s.is_empty()) {
                filter.service = Some(service.to_owned());
            } else if let Some(level) = word.strip_prefix("level:").filter(|s| !s.is_empty()) {
                filter.level = Some(level.to_uppercase());
            } else if let Some((path, value)) = word
                .strip_prefix('@')
                .and_then(|rest| rest.split_once(':'))
                .filter(|(path, value)| !value.is_empty() && !path.split('.').any(str::is_empty))
            {
                let path = path.split('.').map(str::to_owned).collect();
                filter.attributes.push((path, value.to_owned()));
            } else {
                words.push(word);
            }
        }
        filter.text = words.join(" ");
        filter
    }

    /// Whether the filter lets everything through.
    pub fn is_empty(&self) -> bool {
        self.service.is_none()
            && self.level.is_none()
            && self.attributes.is_empty()
            && self.text.is_empty()
    }
}

/// What `a` analyses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnalyzeTarget {
    /// `analyze('<service>')`.
    Service(String),
    /// `analyze_pattern('<pattern_id>')`.
    Pattern(String),
}

impl AnalyzeTarget {
    /// The call as the status bar shows it.
    pub fn label(&self) -> String {
        match self {
            AnalyzeTarget::Service(service) => format!("analyze('{service}')"),
            AnalyzeTarget::Pattern(id) => format!("analyze_pattern('{id}')"),
        }
    }
}

/// What the active view needs from the server: sent to the database task whenever the
/// view, its filter or its window changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Watch {
    /// The view on screen.
    pub view: View,
    /// Its filter.
    pub filter: Filter,
    /// The patterns window.
    pub window: Window,
}

/// Screen → database task.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Show this view from now on, and load it at once.
    Watch(Watch),
    /// Load the active view now (and reconnect at once when the connection is down).
    Refresh,
    /// Run an analysis now.
    Analyze(AnalyzeTarget),
}

/// The connection as the status bar shows it.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Connection {
    /// Connecting for the first time.
    #[default]
    Connecting,
    /// Connected and polling.
    Live,
    /// The connection failed or was lost; the task retries after a backoff.
    Down {
        /// Why, as the driver reported it.
        error: String,
        /// Seconds until the next attempt.
        retry_in: u64,
    },
}

/// Database task → screen.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// The connection changed state.
    Connection(Connection),
    /// Fresh insights (always polled: they are what the TUI is for).
    Insights(Vec<Insight>),
    /// Fresh incidents for the incidents view.
    Incidents(Vec<Incident>),
    /// Fresh alert states for the alerts view.
    Alerts(Vec<AlertState>),
    /// Fresh patterns for the patterns view.
    Patterns(Vec<Pattern>),
    /// Fresh per-service rates for the stats view.
    Stats(Vec<ServiceRate>),
    /// Fresh log lines for the logs view.
    Logs(Vec<LogLine>),
    /// A poll finished; `at` is the server's clock (`HH:MM:SS`).
    Refreshed {
        /// Server time of the poll.
        at: String,
    },
    /// A query failed while the connection stayed up (a bad filter, a server error).
    QueryFailed(String),
    /// An analysis finished.
    Analysis {
        /// What was analysed.
        target: AnalyzeTarget,
        /// The insights it produced, or the error.
        result: Result<Vec<Insight>, String>,
    },
}

/// `2024-05-01T12:00:03.25Z` → `05-01 12:00:03`: short enough for a list column.
pub fn short_time(ts: &str) -> String {
    match (ts.get(5..10), ts.get(11..19)) {
        (Some(date), Some(time)) => format!("{date} {time}"),
        _ => ts.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_parses_service_level_and_text_in_any_order() {
        let filter = Filter::parse("pool level:error  service:payments exhausted");
        assert_eq!(filter.service.as_deref(), Some("payments"));
        assert_eq!(filter.level.as_deref(), Some("ERROR"));
        assert_eq!(filter.text, "pool exhausted");
        assert!(Filter::parse("  ").is_empty());
        assert_eq!(Filter::parse("service:").text, "service:");
        let filter = Filter::parse("@http.status:500 timeout @order:42 @:x @a..b:1 @k:");
        assert_eq!(
            filter.attributes,
            [
                (
                    vec!["http".to_string(), "status".to_string()],
                    "500".to_string()
                ),
                (vec!["order".to_string()], "42".to_string()),
            ]
        );
        assert_eq!(filter.text, "timeout @:x @a..b:1 @k:");
    }

    #[test]
    fn template_comes_from_the_evidence_json() {
        let insight = Insight {
            evidence: r#"{"template":"disk full on <*>","hosts":["a"]}"#.into(),
            ..Insight::default()
        };
        assert_eq!(insight.template().as_deref(), Some("disk full on <*>"));
        assert!(!insight.evidence_text().contains("template"));
        let plain = Insight {
            evidence: "not json".into(),
            ..Insight::default()
        };
        assert_eq!(plain.template(), None);
        assert_eq!(plain.evidence_text(), "not json");
    }

    #[test]
    fn short_time_keeps_month_day_and_seconds() {
        assert_eq!(short_time("2024-05-01T12:00:03.25Z"), "05-01 12:00:03");
        assert_eq!(short_time("soon"), "soon");
    }
}
