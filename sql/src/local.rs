//! Queries the server runs itself (alert rules): planned and run by the same DataFusion
//! context clients use, behind the same read-only rule, bounded by a timeout and a row limit.
//! A rule's text is the operator's, but it is held to the client surface all the same: one
//! query over our tables, no writes, nothing DuckDB sees that DataFusion did not write.

use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use futures::StreamExt;

use crate::handlers::query_writes;

/// Why a server-side query gave no answer; the message says what and where.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Not exactly one read-only query.
    #[error("{0}")]
    Refused(String),
    /// DataFusion could not parse, plan or run it.
    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("the query ran longer than {0:?}")]
    Timeout(Duration),
}

/// Checks that `text` is one read-only query and plans it.
pub async fn plan(ctx: &SessionContext, text: &str) -> Result<LogicalPlan, QueryError> {
    let statements = DFParser::parse_sql_with_dialect(text, &PostgreSqlDialect {})
        .map_err(|e| QueryError::Refused(e.to_string()))?;
    if statements.len() != 1 {
        return Err(QueryError::Refused(format!(
            "one query expected, found {} statements",
            statements.len()
        )));
    }
    match &statements[0] {
        DfStatement::Statement(s) => match s.as_ref() {
            Statement::Query(q) if !query_writes(q) => {}
            other => {
                let what = other
                    .to_string()
                    .split_whitespace()
                    .next()
                    .unwrap_or("this statement")
                    .to_uppercase();
                return Err(QueryError::Refused(format!(
                    "only a query can be run here, not {what}"
                )));
            }
        },
        _ => {
            return Err(QueryError::Refused(
                "only a query can be run here".to_string(),
            ));
        }
    }
    Ok(ctx.state().create_logical_plan(text).await?)
}

/// Runs `text` (see [`plan`]) and returns at most `max_rows` rows.
pub async fn run(
    ctx: &SessionContext,
    text: &str,
    timeout: Duration,
    max_rows: usize,
) -> Result<Vec<RecordBatch>, QueryError> {
    let work = async {
        let plan = plan(ctx, text).await?;
        let mut stream = ctx
            .execute_logical_plan(plan)
            .await?
            .execute_stream()
            .await?;
        let mut batches = Vec::new();
        let mut rows = 0;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let take = batch.num_rows().min(max_rows - rows);
            rows += take;
            batches.push(batch.slice(0, take));
            if rows >= max_rows {
                break;
            }
        }
        Ok(batches)
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| QueryError::Timeout(timeout))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_one_read_only_query_plans() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(store::Store::open(dir.path()).unwrap());
        let ctx = crate::session_context(store).unwrap();
        plan(&ctx, "SELECT count(*) AS value FROM logs")
            .await
            .unwrap();
        for (sql, want) in [
            ("DELETE FROM logs", "not DELETE"),
            ("SELECT 1; SELECT 2", "found 2 statements"),
            ("SELECT * INTO t FROM logs", "not SELECT"),
            ("SELECT nope FROM logs", "nope"),
            ("SELECT * FROM nowhere", "nowhere"),
        ] {
            let err = plan(&ctx, sql).await.unwrap_err().to_string();
            assert!(err.contains(want), "{sql}: {err}");
        }
        let rows = run(
            &ctx,
            "SELECT 1 AS a UNION ALL SELECT 2",
            Duration::from_secs(5),
            1,
        )
        .await
        .unwrap();
        assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    }
}
