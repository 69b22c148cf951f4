//! The database task: the only module that speaks to the server (tokio-postgres).
//!
//! It polls the insights and the active view every `interval`, loads at once when the
//! screen asks ([`Request`]), runs `analyze()` in a task of its own so polling goes on, and
//! reconnects with a backoff when the connection fails, reporting each state as an
//! [`Update`]. The screen never waits on it.
//!
//! Timestamps are selected as `CAST(x AS TEXT)` (the server writes RFC 3339), which keeps
//! the client independent of how the server encodes timestamp types. User-typed filters go
//! in as bound parameters (`$1`, …); only closed sets (the patterns window) are written
//! into the SQL.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Client, Config, NoTls, Row};

use crate::data::{
    AlertState, AnalyzeTarget, Connection, Filter, Incident, Insight, LogLine, Pattern, Request,
    ServiceRate, Update, View, Watch,
};
use crate::error::{Result, TuiError};

/// The longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Minutes the stats view covers.
const STATS_MINUTES: usize = 60;
/// Most rows one list loads: more than a screen, few enough to poll every second.
const LIMIT: usize = 300;

/// The connection settings from `--url`, with the password from `PGPASSWORD` when the URL
/// has none (as libpq does).
pub fn config(url: &str) -> Result<Config> {
    let mut config: Config = url
        .parse()
        .map_err(|err: tokio_postgres::Error| TuiError::Url {
            url: redact(url),
            reason: err.to_string(),
        })?;
    if config.get_password().is_none()
        && let Ok(password) = std::env::var("PGPASSWORD")
    {
        config.password(password);
    }
    if config.get_user().is_none() {
        config.user("loginsight");
    }
    config.application_name("loginsight-tui");
    // A server that does not answer should show as disconnected, not hang the first poll.
    config.connect_timeout(Duration::from_secs(5));
    Ok(config)
}

/// `user@host:port` for the header; never the password.
pub fn describe(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{}@{host}:{port}", config.get_user().unwrap_or("?"))
}

/// The URL with any password replaced, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// An error as one line: the server's message for SQL errors, the cause for IO errors.
fn describe_error(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        return db.message().to_owned();
    }
    match std::error::Error::source(err) {
        Some(source) => format!("{err}: {source}"),
        None => err.to_string(),
    }
}

async fn connect(config: &Config) -> std::result::Result<Client, tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    // Drive the connection by hand rather than `tokio::spawn(connection)`: that would log
    // server notices through `log`, and the binary's subscriber writes logs to stderr, on top
    // of the TUI. Notices are of no use here and are dropped.
    tokio::spawn(async move {
        std::future::poll_fn(|cx| {
            loop {
                match connection.poll_message(cx) {
                    std::task::Poll::Ready(Some(Ok(AsyncMessage::Notice(_)))) => continue,
                    std::task::Poll::Ready(Some(Ok(_))) => continue,
                    std::task::Poll::Ready(Some(Err(_)) | None) => {
                        return std::task::Poll::Ready(());
                    }
                    std::task::Poll::Pending => return std::task::Poll::Pending,
                }
            }
        })
        .await;
    });
    Ok(client)
}

/// Runs until `requests` closes: connect, poll, answer requests, reconnect.
pub async fn run(
    config: Config,
    interval: Duration,
    mut requests: mpsc::UnboundedReceiver<Request>,
    updates: mpsc::UnboundedSender<Update>,
) {
    let mut watch = Watch::default();
    let mut client: Option<Arc<Client>> = None;
    let mut backoff = Duration::from_secs(1);
    let mut next_attempt = Instant::now();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        if client.is_none() && Instant::now() >= next_attempt {
            match connect(&config).await {
                Ok(connected) => {
                    client = Some(Arc::new(connected));
                    backoff = Duration::from_secs(1);
                    let _ = updates.send(Update::Connection(Connection::Live));
                }
                Err(err) => {
                    let _ = updates.send(Update::Connection(Connection::Down {
                        error: describe_error(&err),
                        retry_in: backoff.as_secs(),
                    }));
                    next_attempt = Instant::now() + backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        if let Some(connected) = &client {
            match poll(connected, &watch).await {
                Ok(fresh) => {
                    for update in fresh {
                        let _ = updates.send(update);
                    }
                }
                Err(err) if connected.is_closed() => {
                    client = None;
                    let _ = updates.send(Update::Connection(Connection::Down {
                        error: describe_error(&err),
                        retry_in: backoff.as_secs(),
                    }));
                    next_attempt = Instant::now() + backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(err) => {
                    let _ = updates.send(Update::QueryFailed(describe_error(&err)));
                }
            }
        }
        // Wait for the next reason to poll: the interval, a request, or the retry time.
        loop {
            tokio::select! {
                _ = ticker.tick() => break,
                _ = tokio::time::sleep_until(next_attempt), if client.is_none() => break,
                request = requests.recv() => match request {
                    None => return,
                    Some(Request::Watch(new)) => {
                        watch = new;
                        break;
                    }
                    Some(Request::Refresh) => {
                        if client.is_none() {
                            next_attempt = Instant::now();
                        }
                        break;
                    }
                    Some(Request::Analyze(target)) => {
                        analyze(client.clone(), target, updates.clone());
                    }
                },
            }
        }
    }
}

/// Starts one analysis in its own task: it can take a while, and polling goes on meanwhile.
fn analyze(
    client: Option<Arc<Client>>,
    target: AnalyzeTarget,
    updates: mpsc::UnboundedSender<Update>,
) {
    tokio::spawn(async move {
        let result = match client {
            None => Err("not connected".to_owned()),
            Some(client) => {
                // Table-function arguments must be literals, so the value is quoted here; it
                // comes from the server's own rows, and quoting makes any value safe.
                let sql = match &target {
                    AnalyzeTarget::Service(service) => {
                        format!("SELECT {INSIGHT_COLUMNS} FROM analyze({})", quote(service))
                    }
                    AnalyzeTarget::Pattern(id) => format!(
                        "SELECT {INSIGHT_COLUMNS} FROM analyze_pattern({})",
                        quote(id)
                    ),
                };
                match client.query(sql.as_str(), &[]).await {
                    Ok(rows) => rows.iter().map(insight).collect::<Result<Vec<_>, _>>(),
                    Err(err) => Err(err),
                }
                .map_err(|err| describe_error(&err))
            }
        };
        let _ = updates.send(Update::Analysis { target, result });
    });
}

/// A SQL string literal.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The `insights` columns in the order [`insight`] reads them (also `analyze()`'s output).
const INSIGHT_COLUMNS: &str = "id, CAST(created_at AS TEXT) AS created_at_text, service, \
     pattern_id, severity, title, summary, root_cause, suggested_fix, confidence, model, status, \
     CAST(first_seen AS TEXT) AS first_seen_text, CAST(last_seen AS TEXT) AS last_seen_text, \
     occurrences, evidence, incident_id, background";

fn text(row: &Row, column: &str) -> std::result::Result<String, tokio_postgres::Error> {
    Ok(row
        .try_get::<_, Option<String>>(column)?
        .unwrap_or_default())
}

fn insight(row: &Row) -> std::result::Result<Insight, tokio_postgres::Error> {
    Ok(Insight {
        id: text(row, "id")?,
        created_at: text(row, "created_at_text")?,
        service: text(row, "service")?,
        pattern_id: text(row, "pattern_id")?,
        severity: text(row, "severity")?,
        title: text(row, "title")?,
        summary: text(row, "summary")?,
        root_cause: text(row, "root_cause")?,
        suggested_fix: text(row, "suggested_fix")?,
        confidence: row.try_get("confidence")?,
        model: text(row, "model")?,
        status: text(row, "status")?,
        first_seen: text(row, "first_seen_text")?,
        last_seen: text(row, "last_seen_text")?,
        occurrences: row.try_get::<_, Option<i64>>("occurrences")?.unwrap_or(0),
        evidence: text(row, "evidence")?,
        incident_id: text(row, "incident_id")?,
        background: row
            .try_get::<_, Option<bool>>("background")?
            .unwrap_or(false),
    })
}

/// `WHERE` conditions and their bound values for one view's filter. `text_column` is the
/// expression free text is searched in; `level_column` the one `level:` compares with.
struct Conditions {
    sql: Vec<String>,
    params: Vec<String>,
}

impl Conditions {
    fn new(fixed: &[&str]) -> Conditions {
        Conditions {
            sql: fixed.iter().map(|s| (*s).to_owned()).collect(),
            params: Vec::new(),
        }
    }

    fn bind(&mut self, template: &str, value: String) {
        self.params.push(value);
        let placeholder = format!("${}", self.params.len());
        self.sql.push(template.replace("$?", &placeholder));
    }

    fn filter(&mut self, filter: &Filter, level_column: Option<&str>, text_column: &str) {
        if let Some(service) = &filter.service {
            self.bind("service = $?", service.clone());
        }
        if let (Some(level), Some(column)) = (&filter.level, level_column) {
            self.bind(&format!("upper({column}) = $?"), level.to_uppercase());
        }
        if !filter.text.is_empty() {
            // ILIKE with the pattern built here: the placeholder's type is then plain text
            // for the server to infer. `%`, `_` and `\` typed by the user match themselves.
            let escaped = filter
                .text
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            self.bind(&format!("{text_column} ILIKE $?"), format!("%{escaped}%"));
        }
    }

    /// `@a.b:v` as `attributes->$1->>$2 = $3`: every key and the value bound.
    fn attributes(&mut self, filter: &Filter, column: &str) {
        for (path, value) in &filter.attributes {
            let mut expr = column.to_owned();
            for (i, key) in path.iter().enumerate() {
                self.params.push(key.clone());
                let arrow = if i + 1 == path.len() { "->>" } else { "->" };
                expr.push_str(&format!("{arrow}${}", self.params.len()));
            }
            self.bind(&format!("{expr} = $?"), value.clone());
        }
    }

    fn where_clause(&self) -> String {
        if self.sql.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.sql.join(" AND "))
        }
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| p as &(dyn ToSql + Sync))
            .collect()
    }
}

/// One poll: the server time, the insights, and the active view's rows.
async fn poll(
    client: &Client,
    watch: &Watch,
) -> std::result::Result<Vec<Update>, tokio_postgres::Error> {
    let now = client
        .query_one("SELECT CAST(now() AS TEXT) AS now_text", &[])
        .await?;
    let now: String = text(&now, "now_text")?;
    let insights_filter = if watch.view == View::Insights {
        watch.filter.clone()
    } else {
        Filter::default()
    };
    let mut updates = vec![Update::Insights(insights(client, &insights_filter).await?)];
    match watch.view {
        View::Incidents => updates.push(Update::Incidents(incidents(client, &watch.filter).await?)),
        View::Insights => {}
        View::Patterns => updates.push(Update::Patterns(patterns(client, watch).await?)),
        View::Stats => updates.push(Update::Stats(stats(client, &watch.filter).await?)),
        View::Logs => updates.push(Update::Logs(logs(client, &watch.filter).await?)),
        View::Alerts => updates.push(Update::Alerts(alerts(client, &watch.filter).await?)),
    }
    updates.push(Update::Refreshed {
        at: now.get(11..19).unwrap_or(&now).to_owned(),
    });
    Ok(updates)
}

async fn insights(
    client: &Client,
    filter: &Filter,
) -> std::result::Result<Vec<Insight>, tokio_postgres::Error> {
    let mut conditions = Conditions::new(&[]);
    conditions.filter(filter, Some("severity"), "concat(title, ' ', root_cause)");
    let sql = format!(
        "SELECT {INSIGHT_COLUMNS} FROM insights {} ORDER BY last_seen DESC, created_at DESC LIMIT {LIMIT}",
        conditions.where_clause()
    );
    let rows = client.query(sql.as_str(), &conditions.params()).await?;
    rows.iter().map(insight).collect()
}

async fn alerts(
    client: &Client,
    filter: &Filter,
) -> std::result::Result<Vec<AlertState>, tokio_postgres::Error> {
    let mut conditions = Conditions::new(&[]);
    let text_only = Filter {
        service: None,
        level: None,
        ..filter.clone()
    };
    conditions.filter(&text_only, None, "concat(name, ' ', labels)");
    let sql = format!(
        "SELECT name, state, CAST(since AS TEXT) AS since_text, last_value, last_error, labels \
         FROM alerts {} ORDER BY state = 'firing' DESC, state = 'pending' DESC, name LIMIT {LIMIT}",
        conditions.where_clause()
    );
    let rows = client.query(sql.as_str(), &conditions.params()).await?;
    rows.iter()
        .map(|row| {
            Ok(AlertState {
                name: text(row, "name")?,
                state: text(row, "state")?,
                since: text(row, "since_text")?,
                last_value: row.try_get("last_value")?,
                last_error: text(row, "last_error")?,
                labels: text(row, "labels")?,
            })
        })
        .collect()
}

async fn incidents(
    client: &Client,
    filter: &Filter,
) -> std::result::Result<Vec<Incident>, tokio_postgres::Error> {
    let mut conditions = Conditions::new(&[]);
    if let Some(service) = &filter.service {
        // `service:` finds an incident by its root or any of its symptoms.
        conditions.params.push(service.clone());
        let root = conditions.params.len();
        conditions
            .params
            .push(format!("%{}%", serde_json::json!(service)));
        let symptom = conditions.params.len();
        conditions.sql.push(format!(
            "(root_service = ${root} OR symptom_services LIKE ${symptom})"
        ));
    }
    let text_only = Filter {
        service: None,
        ..filter.clone()
    };
    conditions.filter(
        &text_only,
        Some("severity"),
        "concat(title, ' ', root_cause)",
    );
    let sql = format!(
        "SELECT id, status, severity, title, root_service, root_pattern, root_cause, \
         symptom_services, CAST(started AS TEXT) AS started_text, \
         CAST(last_seen AS TEXT) AS last_seen_text, CAST(resolved_at AS TEXT) AS resolved_text, \
         insight_count, errors, previous_id \
         FROM incidents {} ORDER BY status = 'open' DESC, last_seen DESC LIMIT {LIMIT}",
        conditions.where_clause()
    );
    let rows = client.query(sql.as_str(), &conditions.params()).await?;
    rows.iter()
        .map(|row| {
            Ok(Incident {
                id: text(row, "id")?,
                status: text(row, "status")?,
                severity: text(row, "severity")?,
                title: text(row, "title")?,
                root_service: text(row, "root_service")?,
                root_pattern: text(row, "root_pattern")?,
                root_cause: text(row, "root_cause")?,
                symptom_services: serde_json::from_str(&text(row, "symptom_services")?)
                    .unwrap_or_default(),
                started: text(row, "started_text")?,
                last_seen: text(row, "last_seen_text")?,
                resolved_at: text(row, "resolved_text")?,
                insight_count: row.try_get::<_, Option<i64>>("insight_count")?.unwrap_or(0),
                errors: row.try_get::<_, Option<i64>>("errors")?.unwrap_or(0),
                previous_id: text(row, "previous_id")?,
            })
        })
        .collect()
}

async fn patterns(
    client: &Client,
    watch: &Watch,
) -> std::result::Result<Vec<Pattern>, tokio_postgres::Error> {
    let window = watch.window.interval();
    let since = format!("last_seen >= now() - INTERVAL '{window}'");
    let mut conditions = Conditions::new(&[since.as_str()]);
    conditions.filter(&watch.filter, Some("level"), "template");
    let sql = format!(
        "SELECT pattern_id, service, level, template, count, \
         CAST(first_seen AS TEXT) AS first_seen_text, CAST(last_seen AS TEXT) AS last_seen_text, \
         example, first_seen >= now() - INTERVAL '{window}' AS is_new \
         FROM patterns {} ORDER BY count DESC LIMIT {LIMIT}",
        conditions.where_clause()
    );
    let rows = client.query(sql.as_str(), &conditions.params()).await?;
    rows.iter()
        .map(|row| {
            Ok(Pattern {
                pattern_id: text(row, "pattern_id")?,
                service: text(row, "service")?,
                level: text(row, "level")?,
                template: text(row, "template")?,
                count: row.try_get::<_, Option<i64>>("count")?.unwrap_or(0),
                first_seen: text(row, "first_seen_text")?,
                last_seen: text(row, "last_seen_text")?,
                example: text(row, "example")?,
                is_new: row.try_get::<_, Option<bool>>("is_new")?.unwrap_or(false),
            })
        })
        .collect()
}

async fn stats(
    client: &Client,
    filter: &Filter,
) -> std::result::Result<Vec<ServiceRate>, tokio_postgres::Error> {
    let mut conditions = Conditions::new(&["minute >= now() - INTERVAL '1 hour'"]);
    // `level:` makes no sense for an error rate; free text matches service names.
    conditions.filter(filter, None, "service");
    let sql = format!(
        "SELECT service, CAST(minute AS TEXT) AS minute_text, \
         CAST(now() AS TEXT) AS now_text, \
         sum(CASE WHEN level IN ('ERROR', 'FATAL') THEN count ELSE 0 END) AS errors, \
         sum(count) AS total \
         FROM stats {} GROUP BY service, minute ORDER BY service",
        conditions.where_clause()
    );
    let rows = client.query(sql.as_str(), &conditions.params()).await?;
    let mut buckets = Vec::with_capacity(rows.len());
    for row in &rows {
        buckets.push((
            text(row, "service")?,
            text(row, "minute_text")?,
            text(row, "now_text")?,
            row.try_get::<_, Option<i64>>("errors")?.unwrap_or(0),
            row.try_get::<_, Option<i64>>("total")?.unwrap_or(0),
        ));
    }
    Ok(rates(&buckets))
}

/// Per-minute rows `(service, minute, now, errors, total)` → one series per service, 60
/// buckets ending at the server's current minute, services with the most errors first.
pub fn rates(rows: &[(String, String, String, i64, i64)]) -> Vec<ServiceRate> {
    let mut out: Vec<ServiceRate> = Vec::new();
    for (service, minute, now, errors, total) in rows {
        let (Some(minute), Some(now)) = (epoch_minute(minute), epoch_minute(now)) else {
            continue;
        };
        let age = now - minute;
        if !(0..STATS_MINUTES as i64).contains(&age) {
            continue;
        }
        let index = STATS_MINUTES - 1 - age as usize;
        let rate = match out.iter_mut().position(|r| &r.service == service) {
            Some(i) => &mut out[i],
            None => {
                out.push(ServiceRate {
                    service: service.clone(),
                    errors: vec![0; STATS_MINUTES],
                    totals: vec![0; STATS_MINUTES],
                });
                out.last_mut().expect("just pushed")
            }
        };
        rate.errors[index] += (*errors).max(0) as u64;
        rate.totals[index] += (*total).max(0) as u64;
    }
    out.sort_by(|a, b| {
        b.error_sum()
            .cmp(&a.error_sum())
            .then_with(|| a.service.cmp(&b.service))
    });
    out
}

/// `2024-05-01T12:03…` (or with a space) → minutes since the Unix epoch, in UTC.
fn epoch_minute(ts: &str) -> Option<i64> {
    let number = |range: std::ops::Range<usize>| ts.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute) = (number(11..13)?, number(14..16)?);
    // Days from civil (Howard Hinnant's algorithm): no date library for one conversion.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 24 + hour) * 60 + minute)
}

async fn logs(
    client: &Client,
    filter: &Filter,
) -> std::result::Result<Vec<LogLine>, tokio_postgres::Error> {
    let mut conditions = Conditions::new(&[]);
    conditions.filter(filter, Some("level"), "message");
    conditions.attributes(filter, "attributes");
    let sql = format!(
        "SELECT CAST(ts AS TEXT) AS ts_text, level, service, host, message \
         FROM logs {} ORDER BY ts DESC LIMIT {LIMIT}",
        conditions.where_clause()
    );
    let rows = client.query(sql.as_str(), &conditions.params()).await?;
    rows.iter()
        .map(|row| {
            Ok(LogLine {
                ts: text(row, "ts_text")?,
                level: text(row, "level")?,
                service: text(row, "service")?,
                host: text(row, "host")?,
                message: text(row, "message")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_minutes_match_the_calendar() {
        assert_eq!(epoch_minute("1970-01-01T00:01:00Z"), Some(1));
        // 2024-05-01T12:00:00Z is 1714564800 s.
        assert_eq!(
            epoch_minute("2024-05-01T12:00:00Z"),
            Some(1_714_564_800 / 60)
        );
        assert_eq!(
            epoch_minute("2024-05-01 12:00:00.000000"),
            Some(1_714_564_800 / 60)
        );
        assert_eq!(epoch_minute("soon"), None);
    }

    #[test]
    fn rates_bucket_minutes_back_from_now_and_rank_by_errors() {
        let now = "2024-05-01T12:30:10.5Z".to_owned();
        let row = |service: &str, minute: &str, errors, total| {
            (
                service.to_owned(),
                minute.to_owned(),
                now.clone(),
                errors,
                total,
            )
        };
        let rates = rates(&[
            row("api", "2024-05-01T12:30:00Z", 0, 10),
            row("db", "2024-05-01T12:29:00Z", 3, 4),
            row("db", "2024-05-01T12:30:00Z", 1, 1),
            row("db", "2024-05-01T10:00:00Z", 100, 100),
        ]);
        assert_eq!(rates[0].service, "db");
        assert_eq!(rates[0].errors[58..], [3, 1]);
        assert_eq!(rates[0].error_sum(), 4);
        assert_eq!(rates[0].error_rate(), 80.0);
        assert_eq!(rates[1].service, "api");
        assert_eq!(rates[1].total_sum(), 10);
    }

    #[test]
    fn filters_become_bound_parameters() {
        let mut conditions = Conditions::new(&["a = 1"]);
        conditions.filter(
            &Filter::parse("service:api level:error 50%_off"),
            Some("level"),
            "message",
        );
        assert_eq!(
            conditions.where_clause(),
            "WHERE a = 1 AND service = $1 AND upper(level) = $2 AND message ILIKE $3"
        );
        assert_eq!(conditions.params, ["api", "ERROR", "%50\\%\\_off%"]);
        let mut conditions = Conditions::new(&[]);
        conditions.attributes(&Filter::parse("@http.status:500 @order:42"), "attributes");
        assert_eq!(
            conditions.where_clause(),
            "WHERE attributes->$1->>$2 = $3 AND attributes->>$4 = $5"
        );
        assert_eq!(conditions.params, ["http", "status", "500", "order", "42"]);
    }

    #[test]
    fn urls_lose_their_password_in_messages() {
        assert_eq!(
            redact("postgres://u:secret@h:1/d"),
            "postgres://u:***@h:1/d"
        );
        assert_eq!(redact("postgres://u@h/d"), "postgres://u@h/d");
        let parsed = config("postgres://reader@db.example:6543/loginsight").unwrap();
        assert_eq!(describe(&parsed), "reader@db.example:6543");
        assert!(config("postgres://[bad").is_err());
    }
}
