//! Notifications: what an alert or an incident tells the outside world, and how it gets there.
//!
//! Nothing is sent directly. An event is rendered once per notifier (Slack Block Kit, a
//! versioned JSON webhook, or PagerDuty Events v2), redacted, and written to the
//! `notifications` outbox in the DuckDB file with a dedup key, so an event is enqueued once
//! however often it is seen (a restart rebuilds incidents, and their `opened` is not sent
//! again). The delivery loop sends what is due, oldest first: a 2xx settles it as `sent`; a
//! 429, a 5xx or no answer leaves it pending for a later attempt with exponential backoff
//! (the worker's one retry policy); any other answer settles it as `failed`. A pending
//! notification older than a day is given up as `failed`. A notifier outage therefore delays
//! notifications and loses none.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use store::{NewNotification, StoreRef};
use tokio::sync::watch;

use crate::metrics::Metrics;

/// The version of the generic webhook body; a change that is not an addition bumps it.
pub const WEBHOOK_VERSION: u32 = 1;
/// Give up on a notification this old.
const GIVE_UP_US: i64 = 24 * 3600 * 1_000_000;
/// Sent at most per delivery round.
const ROUND: usize = 100;
const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// `[[notifiers]]`: where notifications go.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifierConfig {
    /// The name rules and `[notify]` use.
    pub name: String,
    /// `slack` (an incoming webhook), `webhook` (our JSON body) or `pagerduty` (Events v2).
    pub kind: String,
    /// The URL to POST to (PagerDuty: defaults to its Events v2 endpoint).
    #[serde(default)]
    pub url: String,
    /// PagerDuty's integration (routing) key.
    #[serde(default)]
    pub routing_key: String,
}

/// `[notify]`: incident notifications, and what every notification shares.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// Notify on a new incident, a rise of its severity, and its resolution.
    pub on_incident: bool,
    /// Incidents below this severity (`warning`, `error`, `critical`) notify no one.
    pub min_severity: String,
    /// The notifiers incidents go to; empty: all of them.
    pub notifiers: Vec<String>,
    /// Grafana's address, for a link back in each notification (empty: no link).
    pub grafana_url: String,
    /// A firing alert is announced again after this long (humantime).
    pub repeat_interval: String,
    /// Settled notifications are kept this long in `notifications` (humantime).
    pub keep: String,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            on_incident: true,
            min_severity: "error".into(),
            notifiers: Vec::new(),
            grafana_url: String::new(),
            repeat_interval: "4h".into(),
            keep: "7d".into(),
        }
    }
}

/// Checks `[[notifiers]]` and `[notify]`.
pub fn validate(notifiers: &[NotifierConfig], notify: &NotifyConfig) -> anyhow::Result<()> {
    let mut names = std::collections::HashSet::new();
    for n in notifiers {
        if !names.insert(n.name.as_str()) {
            anyhow::bail!("notifiers: the name {:?} is used twice", n.name);
        }
        match n.kind.as_str() {
            "slack" | "webhook" if n.url.is_empty() => {
                anyhow::bail!("notifier {:?}: url is required", n.name)
            }
            "pagerduty" if n.routing_key.is_empty() => {
                anyhow::bail!("notifier {:?}: routing_key is required", n.name)
            }
            "slack" | "webhook" | "pagerduty" => {}
            other => anyhow::bail!(
                "notifier {:?}: kind must be slack, webhook or pagerduty, got {other:?}",
                n.name
            ),
        }
    }
    for name in &notify.notifiers {
        if !names.contains(name.as_str()) {
            anyhow::bail!("notify.notifiers: no notifier named {name:?}");
        }
    }
    severity_rank(&notify.min_severity).ok_or_else(|| {
        anyhow::anyhow!(
            "notify.min_severity must be warning, error or critical, got {:?}",
            notify.min_severity
        )
    })?;
    humantime::parse_duration(&notify.repeat_interval)
        .map_err(|e| anyhow::anyhow!("notify.repeat_interval: {e}"))?;
    humantime::parse_duration(&notify.keep).map_err(|e| anyhow::anyhow!("notify.keep: {e}"))?;
    Ok(())
}

fn severity_rank(s: &str) -> Option<u8> {
    match s {
        "info" => Some(0),
        "warning" => Some(1),
        "error" => Some(2),
        "critical" => Some(3),
        _ => None,
    }
}

/// What is being announced, whatever the notifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `alert` or `incident`.
    pub kind: &'static str,
    /// `firing`, `resolved`, `opened`, `severity_rose`.
    pub event: &'static str,
    /// The alert rule's name, or the incident id.
    pub subject: String,
    /// One thread per fingerprint: the rule and its labels, or the incident id.
    pub fingerprint: String,
    pub title: String,
    pub severity: String,
    pub service: Option<String>,
    pub root_cause: Option<String>,
    pub suggested_fix: Option<String>,
    pub value: Option<f64>,
    pub labels: BTreeMap<String, String>,
    /// When it started (µs).
    pub started_us: i64,
    /// Extra, for the dedup key: the same event of the same subject again (a repeat).
    pub occurrence: String,
}

/// Renders, redacts and enqueues notifications.
#[derive(Clone)]
pub struct Outbox {
    store: StoreRef,
    notifiers: Vec<NotifierConfig>,
    notify: NotifyConfig,
    redactor: std::sync::Arc<redact::Redactor>,
}

impl Outbox {
    pub fn new(
        store: StoreRef,
        notifiers: Vec<NotifierConfig>,
        notify: NotifyConfig,
        redactor: redact::Redactor,
    ) -> Outbox {
        Outbox {
            store,
            notifiers,
            notify,
            redactor: std::sync::Arc::new(redactor),
        }
    }

    pub fn notify_config(&self) -> &NotifyConfig {
        &self.notify
    }

    /// Whether an incident of this severity notifies.
    pub fn incident_notifies(&self, severity: &str) -> bool {
        self.notify.on_incident
            && severity_rank(severity).unwrap_or(2)
                >= severity_rank(&self.notify.min_severity).unwrap_or(2)
    }

    /// The notifiers named (all of them when `names` is empty).
    fn targets<'a>(&'a self, names: &'a [String]) -> impl Iterator<Item = &'a NotifierConfig> {
        self.notifiers
            .iter()
            .filter(move |n| names.is_empty() || names.contains(&n.name))
    }

    /// Enqueues `event` for the notifiers in `names` (all when empty).
    pub async fn enqueue(&self, event: &Event, names: &[String]) -> anyhow::Result<u64> {
        let event = self.redacted(event);
        let items: Vec<NewNotification> = self
            .targets(names)
            .map(|n| NewNotification {
                notifier: n.name.clone(),
                event: event.event.to_string(),
                subject: event.subject.clone(),
                fingerprint: event.fingerprint.clone(),
                body: render(n, &event, &self.notify.grafana_url).to_string(),
                dedup_key: format!(
                    "{}\u{0}{}\u{0}{}\u{0}{}",
                    n.name, event.fingerprint, event.event, event.occurrence
                ),
            })
            .collect();
        if items.is_empty() {
            return Ok(0);
        }
        let store = self.store.clone();
        let now = chrono::Utc::now().timestamp_micros();
        Ok(tokio::task::spawn_blocking(move || store.enqueue_notifications(now, &items)).await??)
    }

    fn redacted(&self, e: &Event) -> Event {
        let r = |s: &str| self.redactor.redact(s).into_owned();
        Event {
            title: r(&e.title),
            root_cause: e.root_cause.as_deref().map(r),
            suggested_fix: e.suggested_fix.as_deref().map(r),
            labels: e.labels.iter().map(|(k, v)| (k.clone(), r(v))).collect(),
            ..e.clone()
        }
    }
}

fn time_text(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn link(grafana_url: &str, e: &Event) -> Option<String> {
    if grafana_url.is_empty() {
        return None;
    }
    let base = grafana_url.trim_end_matches('/');
    let service = e
        .service
        .as_deref()
        .map(|s| format!("&var-service={s}"))
        .unwrap_or_default();
    Some(format!(
        "{base}/d/loginsight-overview/log-insight?from=now-1h&to=now{service}"
    ))
}

/// The request body of `event` for `notifier`.
pub fn render(notifier: &NotifierConfig, e: &Event, grafana_url: &str) -> Value {
    let link = link(grafana_url, e);
    let headline = match (e.kind, e.event) {
        ("incident", "opened") => "New incident",
        ("incident", "severity_rose") => "Incident got worse",
        ("incident", "resolved") => "Incident resolved",
        ("alert", "firing") => "Alert firing",
        ("alert", "resolved") => "Alert resolved",
        _ => "Log Insight",
    };
    match notifier.kind.as_str() {
        "slack" => {
            let mut fields =
                vec![json!({"type": "mrkdwn", "text": format!("*Severity*\n{}", e.severity)})];
            if let Some(service) = &e.service {
                fields.push(json!({"type": "mrkdwn", "text": format!("*Service*\n{service}")}));
            }
            if let Some(value) = e.value {
                fields.push(json!({"type": "mrkdwn", "text": format!("*Value*\n{value}")}));
            }
            let mut blocks = vec![
                json!({"type": "header", "text": {"type": "plain_text", "text": format!("{headline}: {}", clip(&e.title, 120))}}),
                json!({"type": "section", "fields": fields}),
            ];
            if let Some(cause) = &e.root_cause {
                blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*Root cause*\n{}", clip(cause, 2_800))}}));
            }
            if let Some(fix) = &e.suggested_fix {
                blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*Suggested fix*\n{}", clip(fix, 2_800))}}));
            }
            let mut context = format!(
                "{} `{}` · since {}",
                e.kind,
                e.fingerprint,
                time_text(e.started_us)
            );
            if let Some(url) = &link {
                context.push_str(&format!(" · <{url}|Open in Grafana>"));
            }
            blocks.push(
                json!({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]}),
            );
            json!({"text": format!("{headline}: {}", e.title), "blocks": blocks})
        }
        "pagerduty" => {
            let action = if e.event == "resolved" {
                "resolve"
            } else {
                "trigger"
            };
            let severity = match e.severity.as_str() {
                "critical" | "error" | "warning" | "info" => e.severity.as_str(),
                _ => "error",
            };
            let mut body = json!({
                "routing_key": notifier.routing_key,
                "event_action": action,
                "dedup_key": e.fingerprint,
                "payload": {
                    "summary": clip(&e.title, 1_000),
                    "source": "loginsight",
                    "severity": severity,
                    "component": e.service,
                    "custom_details": {
                        "root_cause": e.root_cause,
                        "suggested_fix": e.suggested_fix,
                        "value": e.value,
                        "labels": e.labels,
                    },
                },
            });
            if let Some(url) = link {
                body["links"] = json!([{"href": url, "text": "Open in Grafana"}]);
            }
            body
        }
        _ => json!({
            "version": WEBHOOK_VERSION,
            "kind": e.kind,
            "event": e.event,
            "subject": e.subject,
            "fingerprint": e.fingerprint,
            "title": e.title,
            "severity": e.severity,
            "service": e.service,
            "root_cause": e.root_cause,
            "suggested_fix": e.suggested_fix,
            "value": e.value,
            "labels": e.labels,
            "started_at": time_text(e.started_us),
            "url": link,
        }),
    }
}

fn clip(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Sends due notifications until `stop`.
pub async fn deliver(
    store: StoreRef,
    notifiers: Vec<NotifierConfig>,
    keep: Duration,
    metrics: Metrics,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let mut last_expiry = std::time::Instant::now();
    loop {
        if let Err(err) = round(&store, &notifiers, &client, &metrics).await {
            tracing::warn!(error = %format!("{err:#}"), "notification round failed");
        }
        if last_expiry.elapsed() > Duration::from_secs(600) {
            last_expiry = std::time::Instant::now();
            let before = chrono::Utc::now().timestamp_micros() - keep.as_micros() as i64;
            let s = store.clone();
            if let Err(err) =
                tokio::task::spawn_blocking(move || s.expire_notifications(before)).await?
            {
                tracing::warn!(error = %err, "expiring notifications failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
    }
}

async fn round(
    store: &StoreRef,
    notifiers: &[NotifierConfig],
    client: &reqwest::Client,
    metrics: &Metrics,
) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp_micros();
    let s = store.clone();
    let due = tokio::task::spawn_blocking(move || s.due_notifications(now, ROUND)).await??;
    for n in due {
        let Some(notifier) = notifiers.iter().find(|c| c.name == n.notifier) else {
            settle(
                store,
                n.id,
                "failed",
                Some("no such notifier in the configuration"),
                None,
            )
            .await?;
            continue;
        };
        let url = if notifier.kind == "pagerduty" && notifier.url.is_empty() {
            PAGERDUTY_URL
        } else {
            notifier.url.as_str()
        };
        let outcome = client
            .post(url)
            .header("content-type", "application/json")
            .body(n.body.clone())
            .send()
            .await;
        let retry_error = match outcome {
            Ok(response) if response.status().is_success() => {
                metrics
                    .notifications_sent
                    .get_or_create(&vec![("notifier", n.notifier.clone())])
                    .inc();
                settle(store, n.id, "sent", None, None).await?;
                continue;
            }
            Ok(response) => {
                let status = response.status();
                let retryable = status.as_u16() == 429 || status.is_server_error();
                let error = format!("{} answered {status}", redact_url(url));
                if !retryable {
                    metrics
                        .notifications_failed
                        .get_or_create(&vec![("notifier", n.notifier.clone())])
                        .inc();
                    settle(store, n.id, "failed", Some(&error), None).await?;
                    continue;
                }
                error
            }
            Err(err) => format!("{}: {}", redact_url(url), err.without_url()),
        };
        metrics
            .notifications_failed
            .get_or_create(&vec![("notifier", n.notifier.clone())])
            .inc();
        if now - n.created_at_us > GIVE_UP_US {
            settle(
                store,
                n.id,
                "failed",
                Some(&format!("gave up after a day: {retry_error}")),
                None,
            )
            .await?;
            continue;
        }
        let mut backoff =
            worker::retry::Backoff::new(Duration::from_secs(1), Duration::from_secs(300));
        let mut delay = backoff.next_delay();
        for _ in 0..n.attempts {
            delay = backoff.next_delay();
        }
        tracing::warn!(notifier = %n.notifier, id = n.id, error = %retry_error, retry_in = ?delay, "notification not delivered");
        let next = now + delay.as_micros() as i64;
        settle(store, n.id, "pending", Some(&retry_error), Some(next)).await?;
    }
    Ok(())
}

/// A URL without its path (Slack's and other webhooks' secrets live there).
fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!("{}://{}", u.scheme(), u.host_str().unwrap_or("")),
        Err(_) => "the notifier".into(),
    }
}

async fn settle(
    store: &StoreRef,
    id: i64,
    status: &'static str,
    error: Option<&str>,
    next: Option<i64>,
) -> anyhow::Result<()> {
    let s = store.clone();
    let error = error.map(str::to_string);
    let now = chrono::Utc::now().timestamp_micros();
    tokio::task::spawn_blocking(move || {
        s.settle_notification(id, status, error.as_deref(), now, next)
    })
    .await??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        Event {
            kind: "incident",
            event: "opened",
            subject: "abc".into(),
            fingerprint: "abc".into(),
            title: "out of memory in redis-cache".into(),
            severity: "error".into(),
            service: Some("redis-cache".into()),
            root_cause: Some("redis-cache is the likely root cause".into()),
            suggested_fix: Some("Raise maxmemory".into()),
            value: None,
            labels: BTreeMap::new(),
            started_us: 1_800_000_000_000_000,
            occurrence: String::new(),
        }
    }

    fn notifier(kind: &str) -> NotifierConfig {
        NotifierConfig {
            name: kind.into(),
            kind: kind.into(),
            url: "http://127.0.0.1:9/hook".into(),
            routing_key: "rk".into(),
        }
    }

    #[test]
    fn bodies_have_each_receivers_shape() {
        let slack = render(&notifier("slack"), &event(), "http://grafana:3000/");
        assert!(
            slack["text"]
                .as_str()
                .unwrap()
                .starts_with("New incident: out of memory")
        );
        let blocks = slack["blocks"].to_string();
        assert!(
            blocks.contains("*Root cause*") && blocks.contains("*Suggested fix*"),
            "{blocks}"
        );
        assert!(
            blocks.contains("http://grafana:3000/d/loginsight-overview/"),
            "{blocks}"
        );
        let pd = render(&notifier("pagerduty"), &event(), "");
        assert_eq!(pd["event_action"], "trigger");
        assert_eq!(pd["dedup_key"], "abc");
        assert_eq!(pd["routing_key"], "rk");
        assert_eq!(pd["payload"]["severity"], "error");
        let mut resolved = event();
        resolved.event = "resolved";
        assert_eq!(
            render(&notifier("pagerduty"), &resolved, "")["event_action"],
            "resolve"
        );
        let hook = render(&notifier("webhook"), &event(), "");
        assert_eq!(hook["version"], WEBHOOK_VERSION);
        assert_eq!(hook["kind"], "incident");
        assert_eq!(hook["started_at"], "2027-01-15T08:00:00Z");
    }

    #[test]
    fn bad_notifier_settings_are_named() {
        let mut n = notifier("slack");
        n.url.clear();
        let err = validate(&[n], &NotifyConfig::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("url is required"), "{err}");
        let err = validate(
            &[notifier("webhook")],
            &NotifyConfig {
                notifiers: vec!["nope".into()],
                ..NotifyConfig::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("nope"), "{err}");
        assert_eq!(
            redact_url("https://hooks.slack.com/services/T/B/secret"),
            "https://hooks.slack.com"
        );
    }
}
