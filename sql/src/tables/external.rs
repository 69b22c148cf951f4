//! `ExternalTable`: a table whose rows live outside DuckDB (the `insights` table when insights
//! are stored in PostgreSQL). Small tables only: each scan fetches every row, and DataFusion
//! applies filters and limits.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::Expr;

/// Where an external table's rows come from.
#[async_trait]
pub trait BatchSource: Send + Sync + std::fmt::Debug {
    /// Every row, in the table's schema. The error text is shown to the client.
    async fn batches(&self) -> std::result::Result<Vec<RecordBatch>, String>;
}

#[derive(Debug)]
pub struct ExternalTable {
    schema: SchemaRef,
    source: Arc<dyn BatchSource>,
}

impl ExternalTable {
    pub fn new(schema: SchemaRef, source: Arc<dyn BatchSource>) -> Self {
        ExternalTable { schema, source }
    }
}

#[async_trait]
impl TableProvider for ExternalTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batches = self
            .source
            .batches()
            .await
            .map_err(DataFusionError::Execution)?;
        Ok(MemorySourceConfig::try_new_exec(
            &[batches],
            self.schema.clone(),
            projection.cloned(),
        )?)
    }
}
