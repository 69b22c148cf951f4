//! Insights in PostgreSQL, for deployments past one machine (`--insights-url postgres://…`):
//! the only crate that names `sqlx`.
//!
//! The schema is created by the migrations in `sql/migrations` (`sqlx::migrate!`). Updates are
//! applied with the same idempotency rule as the DuckDB store: each event an update accounts
//! for is recorded in `insight_events`, and only events not seen before are counted.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use chrono::{DateTime, Utc};
use model::{Applied, InsightUpdate, UpdateKind, fold_updates};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Row};

/// What can go wrong with the PostgreSQL insights store.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("cannot connect to PostgreSQL at {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("migrating the insights schema failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("postgres: {0}")]
    Query(#[from] sqlx::Error),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

/// A pool of connections to the insights database.
#[derive(Debug, Clone)]
pub struct PgInsights {
    pool: PgPool,
}

/// The URL without its password, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

fn time(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

impl PgInsights {
    /// Connects and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<PgInsights, PgError> {
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|source| PgError::Connect {
                url: redact_url(url),
                source,
            })?;
        sqlx::migrate!("../../sql/migrations").run(&pool).await?;
        Ok(PgInsights { pool })
    }

    /// Applies `updates` in one transaction; events seen before are not counted again.
    pub async fn apply(&self, updates: &[InsightUpdate]) -> Result<Applied, PgError> {
        let mut applied = Applied::default();
        if updates.is_empty() {
            return Ok(applied);
        }
        let mut event_ids = Vec::new();
        let mut insight_ids = Vec::new();
        for u in updates {
            for e in &u.event_ids {
                event_ids.push(e.clone());
                insight_ids.push(u.insight.id.clone());
            }
        }
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query::<Postgres>(
            "INSERT INTO insight_events (event_id, insight_id)
             SELECT * FROM unnest($1::text[], $2::text[])
             ON CONFLICT (event_id) DO NOTHING
             RETURNING insight_id",
        )
        .bind(&event_ids)
        .bind(&insight_ids)
        .fetch_all(&mut *tx)
        .await?;
        let mut new: HashMap<String, i64> = HashMap::new();
        for row in inserted {
            *new.entry(row.try_get::<String, _>(0)?).or_default() += 1;
        }
        for folded in fold_updates(updates) {
            let n = new.get(&folded.insight.id).copied().unwrap_or(0);
            if folded.is_redelivery(n) {
                applied.duplicates += 1;
                continue;
            }
            // A count-only update leaves the stored analysis as it is.
            let set = match folded.kind {
                UpdateKind::CountOnly => COUNTS.to_string(),
                UpdateKind::Analysis | UpdateKind::Refresh => format!("{ANALYSIS}, {COUNTS}"),
            };
            let insight = folded.insight;
            sqlx::query::<Postgres>(sqlx::AssertSqlSafe(format!(
                "INSERT INTO insights (id, created_at, service, pattern_id, severity, title,
                     summary, root_cause, suggested_fix, confidence, model, status, first_seen,
                     last_seen, occurrences, evidence)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                         $16::jsonb)
                 ON CONFLICT (id) DO UPDATE SET {set}"
            )))
            .bind(&insight.id)
            .bind(time(insight.created_at_us))
            .bind(&insight.service)
            .bind(&insight.pattern_id)
            .bind(&insight.severity)
            .bind(&insight.title)
            .bind(&insight.summary)
            .bind(&insight.root_cause)
            .bind(&insight.suggested_fix)
            .bind(insight.confidence)
            .bind(&insight.model)
            .bind(&insight.status)
            .bind(time(insight.first_seen_us))
            .bind(time(insight.last_seen_us))
            .bind(n)
            .bind(&insight.evidence)
            .execute(&mut *tx)
            .await?;
            applied.new_events += n as u64;
            applied.insights_written += 1;
        }
        tx.commit().await?;
        Ok(applied)
    }

    /// Deletes insights last seen before `before_us` (UTC microseconds), and the record of
    /// counted events older than that, in one transaction (the server's retention).
    pub async fn expire(&self, before_us: i64) -> Result<u64, PgError> {
        let before = time(before_us);
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query::<Postgres>("DELETE FROM insights WHERE last_seen < $1")
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query::<Postgres>("DELETE FROM insight_events WHERE seen_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(deleted)
    }

    /// `(service, pattern_id)` of every insight: patterns the retention keeps.
    pub async fn referenced_patterns(&self) -> Result<Vec<(String, String)>, PgError> {
        Ok(sqlx::query_as::<Postgres, (String, String)>(
            "SELECT DISTINCT service, pattern_id FROM insights
             WHERE service IS NOT NULL AND pattern_id IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Sets each pattern's incident and background mark on its insight, where it differs.
    pub async fn mark(
        &self,
        marks: &[(String, String, Option<String>, bool)],
    ) -> Result<(), PgError> {
        if marks.is_empty() {
            return Ok(());
        }
        let services: Vec<&str> = marks.iter().map(|m| m.0.as_str()).collect();
        let patterns: Vec<&str> = marks.iter().map(|m| m.1.as_str()).collect();
        let incidents: Vec<Option<&str>> = marks.iter().map(|m| m.2.as_deref()).collect();
        let background: Vec<bool> = marks.iter().map(|m| m.3).collect();
        sqlx::query::<Postgres>(
            "UPDATE insights SET incident_id = m.incident_id, background = m.background
             FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[])
                  AS m(service, pattern_id, incident_id, background)
             WHERE insights.service = m.service AND insights.pattern_id = m.pattern_id
               AND (insights.incident_id IS DISTINCT FROM m.incident_id
                    OR insights.background IS DISTINCT FROM m.background)",
        )
        .bind(services)
        .bind(patterns)
        .bind(incidents)
        .bind(background)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every insight, newest first, as one batch in `model::schema::insights()`.
    pub async fn batches(&self) -> Result<Vec<RecordBatch>, PgError> {
        let rows = sqlx::query::<Postgres>(
            "SELECT id, created_at, service, pattern_id, severity, title, summary, root_cause,
                    suggested_fix, confidence, model, status, first_seen, last_seen,
                    occurrences, evidence::text, incident_id, background
             FROM insights ORDER BY last_seen DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        let text = |i: usize| -> Result<ArrayRef, PgError> {
            let mut b = StringBuilder::new();
            for row in &rows {
                b.append_option(row.try_get::<Option<String>, _>(i)?);
            }
            Ok(Arc::new(b.finish()))
        };
        let time = |i: usize| -> Result<ArrayRef, PgError> {
            let mut b = TimestampMicrosecondBuilder::new().with_timezone("UTC");
            for row in &rows {
                b.append_option(
                    row.try_get::<Option<DateTime<Utc>>, _>(i)?
                        .map(|t| t.timestamp_micros()),
                );
            }
            Ok(Arc::new(b.finish()))
        };
        let mut confidence = Float64Builder::new();
        let mut occurrences = Int64Builder::new();
        let mut background = BooleanBuilder::new();
        for row in &rows {
            confidence.append_option(row.try_get::<Option<f64>, _>(9)?);
            occurrences.append_option(row.try_get::<Option<i64>, _>(14)?);
            background.append_option(row.try_get::<Option<bool>, _>(17)?);
        }
        // In the order of `model::schema::insights()`.
        let columns: Vec<ArrayRef> = vec![
            text(0)?,
            time(1)?,
            text(2)?,
            text(3)?,
            text(4)?,
            text(5)?,
            text(6)?,
            text(7)?,
            text(8)?,
            Arc::new(confidence.finish()),
            text(10)?,
            text(11)?,
            time(12)?,
            time(13)?,
            Arc::new(occurrences.finish()),
            text(15)?,
            text(16)?,
            Arc::new(background.finish()),
        ];
        Ok(vec![RecordBatch::try_new(
            model::schema::insights(),
            columns,
        )?])
    }
}

const ANALYSIS: &str = "severity = excluded.severity, title = excluded.title,
    summary = excluded.summary, root_cause = excluded.root_cause,
    suggested_fix = excluded.suggested_fix, confidence = excluded.confidence,
    model = excluded.model, status = excluded.status, evidence = excluded.evidence";
const COUNTS: &str = "first_seen = least(insights.first_seen, excluded.first_seen),
    last_seen = greatest(insights.last_seen, excluded.last_seen),
    occurrences = insights.occurrences + excluded.occurrences";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/li"),
            "postgres://app:***@db:5432/li"
        );
        assert_eq!(redact_url("postgres://db/li"), "postgres://db/li");
    }
}
