//! `DuckSqlExec`: the physical plan of a pushed subplan. It runs the generated SQL on a reader
//! connection of the store and streams DuckDB's Arrow batches, cast to the subplan's schema.
//!
//! A newest-first read (`ORDER BY ts DESC LIMIT n` over `logs`, the query behind every log
//! view) first asks only for the last minute, then the last hour, then the last day before
//! the newest stored row, and answers from the first window that holds `n` rows. A window that
//! holds `n` rows holds the `n` newest, since every row outside it is older than every row in
//! it; DuckDB's zone maps skip the row groups before the window, so the answer costs the same
//! at any table size.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::common::Result;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_expr::{EquivalenceProperties, LexOrdering, PhysicalSortExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::expressions::Column;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use store::StoreRef;

use super::render;

/// How many batches a query may read ahead of its consumer.
const READ_AHEAD: usize = 2;

/// The windows a newest-first read tries before the whole table, in microseconds.
const NEWEST_WINDOWS_US: [i64; 3] = [60_000_000, 3_600_000_000, 86_400_000_000];

/// A newest-first read: the windowed tries need `fetch` rows to answer.
#[derive(Debug, Clone)]
pub(super) struct Newest {
    pub fetch: usize,
}

#[derive(Debug)]
pub(super) struct DuckSqlExec {
    store: StoreRef,
    /// The plan rewritten for DuckDB, kept for the windowed tries.
    plan: LogicalPlan,
    sql: String,
    newest: Option<Newest>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl DuckSqlExec {
    pub(super) fn new(
        store: StoreRef,
        plan: LogicalPlan,
        sql: String,
        newest: Option<Newest>,
        schema: SchemaRef,
        ordering: Vec<(usize, bool, bool)>,
    ) -> Self {
        let mut eq = EquivalenceProperties::new(schema.clone());
        let sort: Vec<PhysicalSortExpr> = ordering
            .into_iter()
            .map(|(index, descending, nulls_first)| {
                PhysicalSortExpr::new(
                    Arc::new(Column::new(schema.field(index).name(), index)),
                    arrow::compute::SortOptions {
                        descending,
                        nulls_first,
                    },
                )
            })
            .collect();
        if let Some(ordering) = LexOrdering::new(sort) {
            eq.add_ordering(ordering);
        }
        let properties = PlanProperties::new(
            eq,
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        DuckSqlExec {
            store,
            plan,
            sql,
            newest,
            schema,
            properties: Arc::new(properties),
        }
    }

    /// The SQL DuckDB runs (EXPLAIN shows it too).
    pub(super) fn sql(&self) -> &str {
        &self.sql
    }
}

impl DisplayAs for DuckSqlExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "DuckSqlExec: sql={}", self.sql)?;
        if self.newest.is_some() {
            write!(f, " (newest first)")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for DuckSqlExec {
    fn name(&self) -> &str {
        "DuckSqlExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn with_new_children(
        self: Arc<Self>,
        _: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        _partition: usize,
        _ctx: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let (tx, rx) = tokio::sync::mpsc::channel(READ_AHEAD);
        let store = self.store.clone();
        let schema = self.schema.clone();
        let sql = self.sql.clone();
        let windows = match (&self.newest, store.newest_ts()) {
            (Some(newest), Some(newest_ts)) => Some((newest.fetch, newest_ts, self.plan.clone())),
            _ => None,
        };
        tokio::task::spawn_blocking(move || {
            let fail = |err: DataFusionError| {
                let _ = tx.blocking_send(Err(err));
            };
            if let Some((fetch, newest_ts, plan)) = windows {
                match newest_first(&store, &plan, &schema, fetch, newest_ts) {
                    Ok(Some(batches)) => {
                        for batch in batches {
                            if tx.blocking_send(Ok(batch)).is_err() {
                                return;
                            }
                        }
                        return;
                    }
                    Ok(None) => {}
                    Err(err) => return fail(err),
                }
            }
            let result = store.query(&sql, &schema, &mut |batch| {
                // A closed channel means the query finished early (LIMIT, cancel): stop.
                tx.blocking_send(Ok(batch)).is_ok()
            });
            if let Err(err) = result {
                fail(DataFusionError::External(Box::new(err)));
            }
        });
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            stream,
        )))
    }
}

/// The answer from the first window before `newest_ts` that holds `fetch` rows, if any does.
fn newest_first(
    store: &StoreRef,
    plan: &LogicalPlan,
    schema: &SchemaRef,
    fetch: usize,
    newest_ts: i64,
) -> Result<Option<Vec<RecordBatch>>> {
    for window in NEWEST_WINDOWS_US {
        let windowed = render::with_ts_floor(plan, newest_ts.saturating_sub(window))?;
        let sql = render::to_sql(&windowed)?;
        let mut batches = Vec::new();
        let mut rows = 0;
        store
            .query(&sql, schema, &mut |batch| {
                rows += batch.num_rows();
                batches.push(batch);
                true
            })
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        if rows >= fetch {
            return Ok(Some(batches));
        }
    }
    Ok(None)
}
