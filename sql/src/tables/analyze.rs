//! `analyze(...)` and `analyze_pattern(...)`: table functions that run a root-cause analysis
//! when the query executes and return the resulting insights as rows with the `insights`
//! columns.
//!
//! ```sql
//! SELECT * FROM analyze('checkout');                       -- a service, last hour
//! SELECT * FROM analyze('checkout', '30 minutes');         -- a service, a window
//! SELECT * FROM analyze_pattern('9a0f3c…');                -- a pattern, last hour
//! SELECT * FROM analyze_pattern('9a0f3c…', '2 hours');
//! ```
//!
//! The work happens in the host's [`OnDemand`] implementation (the server runs the worker's
//! analyst and stores the insight); this module only parses arguments and defers the call to
//! execution time, so planning or describing a statement never triggers an analysis.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl};
use datafusion::common::{ScalarValue, plan_err};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::prelude::Expr;

/// The window when none is given.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(3600);

/// What to analyse.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Service(String),
    Pattern(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct AnalyzeRequest {
    pub target: Target,
    /// Errors of the last `window` are analysed.
    pub window: Duration,
}

/// Runs an analysis now; implemented by the host. The batches are in the `insights` schema;
/// the error text is shown to the client.
#[async_trait]
pub trait OnDemand: Send + Sync + std::fmt::Debug {
    async fn analyze(
        &self,
        request: AnalyzeRequest,
    ) -> std::result::Result<Vec<RecordBatch>, String>;
}

/// Parses a window such as `30 minutes`, `1 hour`, `90s`, `2h`, `1 day`.
pub fn parse_window(text: &str) -> Option<Duration> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (number, unit) = t.split_at(split);
    let n: f64 = number.trim().parse().ok()?;
    let secs = match unit.trim() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        _ => return None,
    };
    let total = n * secs;
    (total.is_finite() && total > 0.0 && total <= 31.0 * 86_400.0)
        .then(|| Duration::from_secs_f64(total))
}

/// `analyze` (by service) or `analyze_pattern` (by pattern id).
#[derive(Debug)]
pub struct AnalyzeFunction {
    pub by_pattern: bool,
    pub schema: SchemaRef,
    pub on_demand: Arc<dyn OnDemand>,
}

impl AnalyzeFunction {
    fn name(&self) -> &'static str {
        if self.by_pattern {
            "analyze_pattern"
        } else {
            "analyze"
        }
    }

    fn usage(&self) -> String {
        let what = if self.by_pattern {
            "pattern_id"
        } else {
            "service"
        };
        format!(
            "usage: {}('<{what}>' [, '<window>']), e.g. {}('{}', '30 minutes'); a window is a \
             number and a unit (s, min, hour, day), at most 31 days",
            self.name(),
            self.name(),
            if self.by_pattern {
                "9a0f3c5e1d2b4a67"
            } else {
                "checkout"
            },
        )
    }
}

fn literal_text(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Literal(ScalarValue::Utf8(Some(s)), _)
        | Expr::Literal(ScalarValue::LargeUtf8(Some(s)), _)
        | Expr::Literal(ScalarValue::Utf8View(Some(s)), _) => Some(s.clone()),
        _ => None,
    }
}

impl TableFunctionImpl for AnalyzeFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if exprs.is_empty() || exprs.len() > 2 {
            return plan_err!("{} takes 1 or 2 arguments; {}", self.name(), self.usage());
        }
        let Some(subject) = literal_text(&exprs[0]).filter(|s| !s.trim().is_empty()) else {
            return plan_err!(
                "the first argument of {} must be a non-empty text literal; {}",
                self.name(),
                self.usage()
            );
        };
        let window = match exprs.get(1) {
            None => DEFAULT_WINDOW,
            Some(e) => match literal_text(e).as_deref().and_then(parse_window) {
                Some(w) => w,
                None => {
                    return plan_err!(
                        "the window of {} must be a text literal like '30 minutes' or '2 hours'; {}",
                        self.name(),
                        self.usage()
                    );
                }
            },
        };
        let target = if self.by_pattern {
            Target::Pattern(subject.trim().to_string())
        } else {
            Target::Service(subject.trim().to_string())
        };
        Ok(Arc::new(AnalyzeTable {
            request: AnalyzeRequest { target, window },
            schema: self.schema.clone(),
            on_demand: self.on_demand.clone(),
        }))
    }
}

#[derive(Debug)]
struct AnalyzeTable {
    request: AnalyzeRequest,
    schema: SchemaRef,
    on_demand: Arc<dyn OnDemand>,
}

#[async_trait]
impl TableProvider for AnalyzeTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let partition: Arc<dyn PartitionStream> = Arc::new(AnalyzePartition {
            request: self.request.clone(),
            schema: self.schema.clone(),
            on_demand: self.on_demand.clone(),
        });
        Ok(Arc::new(StreamingTableExec::try_new(
            self.schema.clone(),
            vec![partition],
            projection,
            Vec::new(),
            false,
            None,
        )?))
    }
}

#[derive(Debug)]
struct AnalyzePartition {
    request: AnalyzeRequest,
    schema: SchemaRef,
    on_demand: Arc<dyn OnDemand>,
}

impl PartitionStream for AnalyzePartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let on_demand = self.on_demand.clone();
        let request = self.request.clone();
        let stream = futures::stream::once(async move {
            on_demand
                .analyze(request)
                .await
                .map_err(DataFusionError::Execution)
        });
        let stream = futures::StreamExt::flat_map(stream, |result| {
            let items: Vec<Result<RecordBatch>> = match result {
                Ok(batches) => batches.into_iter().map(Ok).collect(),
                Err(err) => vec![Err(err)],
            };
            futures::stream::iter(items)
        });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_in_the_usual_spellings() {
        assert_eq!(parse_window("30 minutes"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_window("1 hour"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_window("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_window(" 2h "), Some(Duration::from_secs(7200)));
        assert_eq!(parse_window("1.5 days"), Some(Duration::from_secs(129_600)));
        assert_eq!(parse_window("soon"), None);
        assert_eq!(parse_window("10 fortnights"), None);
        assert_eq!(parse_window("0 minutes"), None);
        assert_eq!(parse_window("400 days"), None);
    }
}
