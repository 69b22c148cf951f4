//! `DuckTable`: a DataFusion table backed by one table of the DuckDB store.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::TableProviderFilterPushDown;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::prelude::Expr;
use store::{Scan, StoreRef, Table};

use super::pushdown::translate;

/// How many batches a scan may read ahead of its consumer. Small, so that a `SELECT *` over
/// millions of rows streams instead of piling up in memory.
const READ_AHEAD: usize = 2;

/// A table of the store as a DataFusion `TableProvider`.
#[derive(Debug)]
pub struct DuckTable {
    store: StoreRef,
    table: Table,
}

impl DuckTable {
    pub fn new(store: StoreRef, table: Table) -> Self {
        DuckTable { store, table }
    }

    /// The store this table reads.
    pub(crate) fn store(&self) -> &StoreRef {
        &self.store
    }

    /// Which table of the store.
    pub(crate) fn table(&self) -> Table {
        self.table
    }
}

#[async_trait]
impl TableProvider for DuckTable {
    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        let schema = self.table.schema();
        Ok(filters
            .iter()
            .map(|f| match translate(f, &schema) {
                Some(p) if p.exact => TableProviderFilterPushDown::Exact,
                Some(_) => TableProviderFilterPushDown::Inexact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let full = self.table.schema();
        let schema: SchemaRef = match projection {
            Some(p) => Arc::new(full.project(p)?),
            None => full.clone(),
        };
        let scan = Scan {
            table: self.table,
            columns: schema.fields().iter().map(|f| f.name().clone()).collect(),
            filters: filters
                .iter()
                .filter_map(|f| translate(f, &full).map(|p| p.filter))
                .collect(),
            limit,
        };
        let partition: Arc<dyn PartitionStream> = Arc::new(DuckPartition {
            store: self.store.clone(),
            scan,
            schema: schema.clone(),
        });
        Ok(Arc::new(StreamingTableExec::try_new(
            schema,
            vec![partition],
            None,
            Vec::new(),
            false,
            limit,
        )?))
    }
}

/// One streaming read of the store, run on a blocking thread.
#[derive(Debug)]
struct DuckPartition {
    store: StoreRef,
    scan: Scan,
    schema: SchemaRef,
}

impl PartitionStream for DuckPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (tx, rx) = tokio::sync::mpsc::channel(READ_AHEAD);
        let store = self.store.clone();
        let scan = self.scan.clone();
        tokio::task::spawn_blocking(move || {
            // An empty projection (`count(*)`) yields one batch with no columns and a row count.
            let result = store.scan(&scan, &mut |batch| {
                // A closed channel means the query finished early (LIMIT, cancel): stop reading.
                tx.blocking_send(Ok(batch)).is_ok()
            });
            if let Err(err) = result {
                let _ = tx.blocking_send(Err(DataFusionError::External(Box::new(err))));
            }
        });
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}
