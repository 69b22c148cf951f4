//! Context for an analysis, read from the server over its SQL endpoint: the error patterns of
//! every service in a window around the group (with their counts before the window, a few
//! examples and how often other services' errors name them), the group's error trend from
//! `stats`, the services that share its trace ids, and the insight already stored for it.
//!
//! The worker is a SQL client of the server in both modes (in-process and `loginsight
//! worker`), so it never opens the DuckDB file and needs no second code path. Without a SQL
//! endpoint the context is what the batch itself holds.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use diagnose::PatternStat;
use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls};

use crate::Group;

/// How far the context reaches around a group, and how much of it is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextConfig {
    /// The window is the group's first occurrence ± this.
    pub window: Duration,
    /// Most error patterns (all services) kept in the context.
    pub max_patterns: usize,
    /// Most error messages read to count which services other services' errors name.
    pub max_mention_sample: usize,
}

impl Default for ContextConfig {
    fn default() -> Self {
        ContextConfig {
            window: Duration::from_secs(300),
            max_patterns: 40,
            max_mention_sample: 5_000,
        }
    }
}

/// The insight already stored for a group, as far as deciding whether to re-analyse goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Existing {
    pub occurrences: i64,
    pub model: String,
    pub status: String,
    pub first_seen_us: i64,
    pub last_seen_us: i64,
}

/// Everything an analyst may look at for one group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    pub window_start_us: i64,
    pub window_end_us: i64,
    /// Error patterns of every service in the window, earliest first; the group's own
    /// pattern is among them when the store already has it.
    pub patterns: Vec<PatternStat>,
    /// Errors per minute of the group's service around the window (minute start µs, count).
    pub trend: Vec<(i64, i64)>,
    /// Other services whose logs carry the group's trace ids.
    pub trace_services: Vec<String>,
    pub existing: Option<Existing>,
}

/// Reads context over the Postgres wire; reconnects after errors.
pub struct SqlContext {
    url: String,
    config: ContextConfig,
    client: Mutex<Option<Client>>,
}

fn time(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

impl SqlContext {
    pub fn new(url: impl Into<String>, config: ContextConfig) -> SqlContext {
        SqlContext {
            url: url.into(),
            config,
            client: Mutex::new(None),
        }
    }

    pub fn config(&self) -> &ContextConfig {
        &self.config
    }

    async fn client(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Client>>, String> {
        let mut guard = self.client.lock().await;
        if guard.as_ref().is_none_or(|c| c.is_closed()) {
            let (client, connection) = tokio_postgres::connect(&self.url, NoTls)
                .await
                .map_err(|e| format!("cannot reach the SQL endpoint for context: {e}"))?;
            tokio::spawn(async move {
                if let Err(err) = connection.await {
                    tracing::debug!(error = %err, "context connection ended");
                }
            });
            *guard = Some(client);
        }
        Ok(guard)
    }

    /// The context of `group`, all but the stored insight (see [`SqlContext::existing`]).
    /// Errors leave the analysis with the batch's own facts.
    pub async fn context(&self, group: &Group) -> Result<Context, String> {
        self.with_client(async |db| self.read(db, group).await)
            .await
            .map_err(|e| format!("reading context: {e}"))
    }

    /// Only the insight already stored for `group`: all a group that is not analysed again
    /// needs, one small query instead of the whole context's scans of `logs`.
    pub async fn existing(&self, group: &Group) -> Result<Option<Existing>, String> {
        self.with_client(async |db| read_existing(db, group).await)
            .await
            .map_err(|e| format!("reading the stored insight: {e}"))
    }

    /// Runs `read` on the connection; a failed read drops it, so the next one reconnects.
    async fn with_client<T>(
        &self,
        read: impl AsyncFnOnce(&Client) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, String> {
        let guard = self.client().await?;
        let client = guard.as_ref().ok_or("no connection")?;
        let result = read(client).await;
        if result.is_err() {
            drop(guard);
            *self.client.lock().await = None;
        }
        result.map_err(|e| e.to_string())
    }

    async fn read(&self, db: &Client, group: &Group) -> Result<Context, tokio_postgres::Error> {
        let w = self.config.window.as_micros() as i64;
        let t0 = group.first_seen_us();
        let (start, end) = (t0 - w, group.last_seen_us().max(t0) + w);
        let (from, to) = (time(start), time(end));
        let (base_from, base_to) = (time(start - 2 * w), time(start));

        let rows = db
            .query(
                "SELECT service, pattern_id, min(ts) AS first_seen, max(ts) AS last_seen, count(*) AS n
                 FROM logs
                 WHERE ts >= $1 AND ts <= $2 AND level IN ('ERROR', 'FATAL') AND pattern_id IS NOT NULL
                 GROUP BY service, pattern_id
                 ORDER BY n DESC
                 LIMIT 200",
                &[&from, &to],
            )
            .await?;
        let mut stats: Vec<PatternStat> = rows
            .iter()
            .map(|r| PatternStat {
                service: r.get(0),
                pattern_id: r.get(1),
                template: String::new(),
                first_seen_us: r.get::<_, DateTime<Utc>>(2).timestamp_micros(),
                last_seen_us: r.get::<_, DateTime<Utc>>(3).timestamp_micros(),
                count: r.get::<_, i64>(4) as u64,
                baseline_count: 0,
                examples: Vec::new(),
                mentioned_by: 0,
            })
            .collect();

        let baseline = db
            .query(
                "SELECT service, pattern_id, count(*) AS n FROM logs
                 WHERE ts >= $1 AND ts < $2 AND level IN ('ERROR', 'FATAL') AND pattern_id IS NOT NULL
                 GROUP BY service, pattern_id",
                &[&base_from, &base_to],
            )
            .await?;
        let before: HashMap<(String, String), i64> = baseline
            .iter()
            .map(|r| ((r.get(0), r.get(1)), r.get(2)))
            .collect();

        let sample = db
            .query(
                &format!(
                    "SELECT service, message FROM logs
                     WHERE ts >= $1 AND ts <= $2 AND level IN ('ERROR', 'FATAL')
                     LIMIT {}",
                    self.config.max_mention_sample
                ),
                &[&from, &to],
            )
            .await?;
        let events: Vec<(String, String)> = sample.iter().map(|r| (r.get(0), r.get(1))).collect();
        let services: BTreeSet<&str> = stats.iter().map(|s| s.service.as_str()).collect();
        let services: Vec<&str> = services.into_iter().collect();
        let mentions = diagnose::count_mentions(&events, &services);

        let templates = db
            .query(
                "SELECT pattern_id, service, template, example FROM patterns
                 WHERE last_seen >= $1 AND first_seen <= $2",
                &[&from, &to],
            )
            .await?;
        let template_of: HashMap<(String, String), (String, Option<String>)> = templates
            .iter()
            .map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3))))
            .collect();

        for s in &mut stats {
            let key = (s.service.clone(), s.pattern_id.clone());
            s.baseline_count = before.get(&key).copied().unwrap_or(0) as u64;
            s.mentioned_by = mentions.get(&s.service).copied().unwrap_or(0);
            if let Some((template, example)) =
                template_of.get(&(s.pattern_id.clone(), s.service.clone()))
            {
                s.template = template.clone();
                s.examples.extend(example.clone());
            }
        }
        // Keep the largest patterns, then order by start: the story in time order.
        stats.truncate(self.config.max_patterns);
        stats.sort_by_key(|s| s.first_seen_us);

        let trend = db
            .query(
                "SELECT minute, sum(count) AS n FROM stats
                 WHERE service = $1 AND level IN ('ERROR', 'FATAL') AND minute >= $2 AND minute <= $3
                 GROUP BY minute ORDER BY minute",
                &[&group.service, &base_from, &to],
            )
            .await?
            .iter()
            .map(|r| (r.get::<_, DateTime<Utc>>(0).timestamp_micros(), r.get::<_, i64>(1)))
            .collect();

        let traces: Vec<String> = group
            .events
            .iter()
            .filter_map(|e| e.trace_id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .take(20)
            .collect();
        let trace_services = if traces.is_empty() {
            Vec::new()
        } else {
            let list = traces
                .iter()
                .map(|t| format!("'{}'", t.replace('\'', "''")))
                .collect::<Vec<_>>()
                .join(", ");
            db.query(
                &format!(
                    "SELECT DISTINCT service FROM logs
                     WHERE ts >= $1 AND ts <= $2 AND trace_id IN ({list}) AND service <> $3"
                ),
                &[&from, &to, &group.service],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect()
        };

        Ok(Context {
            window_start_us: start,
            window_end_us: end,
            patterns: stats,
            trend,
            trace_services,
            existing: None,
        })
    }
}

async fn read_existing(
    db: &Client,
    group: &Group,
) -> Result<Option<Existing>, tokio_postgres::Error> {
    Ok(db
        .query(
            "SELECT occurrences, model, status, first_seen, last_seen FROM insights WHERE id = $1",
            &[&group.insight_id()],
        )
        .await?
        .first()
        .map(|r| Existing {
            occurrences: r.get::<_, Option<i64>>(0).unwrap_or(0),
            model: r.get::<_, Option<String>>(1).unwrap_or_default(),
            status: r.get::<_, Option<String>>(2).unwrap_or_default(),
            first_seen_us: r
                .get::<_, Option<DateTime<Utc>>>(3)
                .map_or(0, |t| t.timestamp_micros()),
            last_seen_us: r
                .get::<_, Option<DateTime<Utc>>>(4)
                .map_or(0, |t| t.timestamp_micros()),
        }))
}
