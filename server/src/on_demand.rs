//! `analyze()` in SQL: the server's side of `sql::OnDemand`. Reads the matching error records
//! from the store (the routing rules decide what an error is), runs the worker's analysis on
//! them now, stores the refreshed insights, and returns them.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::TimestampMicrosecondType;
use model::ErrorEvent;
use sql::{AnalyzeRequest, Target};
use store::{CmpOp, Filter, Scalar, Scan, StoreRef, Table};
use worker::Processor;

use crate::insights::InsightStore;
use crate::metrics::Metrics;
use crate::route::Router;

/// Most records one `analyze()` reads.
const MAX_EVENTS: usize = 5_000;

#[derive(Clone)]
pub struct OnDemandAnalysis {
    pub store: StoreRef,
    pub processor: Arc<Processor>,
    pub sink: InsightStore,
    pub router: Router,
    pub timeout: Duration,
    pub metrics: Metrics,
}

impl std::fmt::Debug for OnDemandAnalysis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnDemandAnalysis").finish_non_exhaustive()
    }
}

fn read_events(
    store: &StoreRef,
    request: &AnalyzeRequest,
    router: &Router,
) -> Result<Vec<ErrorEvent>, String> {
    let since = chrono::Utc::now().timestamp_micros() - request.window.as_micros() as i64;
    let subject = match &request.target {
        Target::Service(s) => ("service", s),
        Target::Pattern(p) => ("pattern_id", p),
    };
    let scan = Scan {
        table: Table::Logs,
        columns: [
            "ts",
            "level",
            "service",
            "host",
            "message",
            "trace_id",
            "pattern_id",
        ]
        .map(String::from)
        .to_vec(),
        filters: vec![
            Filter::Compare {
                column: "ts".into(),
                op: CmpOp::GtEq,
                value: Scalar::Timestamp(since),
            },
            Filter::Compare {
                column: subject.0.into(),
                op: CmpOp::Eq,
                value: Scalar::Str(subject.1.clone()),
            },
        ],
        limit: None,
    };
    let mut events = Vec::new();
    store
        .scan(&scan, &mut |batch| {
            let ts = batch.column(0).as_primitive::<TimestampMicrosecondType>();
            let level = batch.column(1).as_string::<i32>();
            let service = batch.column(2).as_string::<i32>();
            let host = batch.column(3).as_string::<i32>();
            let message = batch.column(4).as_string::<i32>();
            let trace = batch.column(5).as_string::<i32>();
            let pattern = batch.column(6).as_string::<i32>();
            let opt = |a: &arrow::array::StringArray, i: usize| {
                (!a.is_null(i)).then(|| a.value(i).to_string())
            };
            for i in 0..batch.num_rows() {
                if !router.matches(level.value(i), message.value(i)) {
                    continue;
                }
                events.push(ErrorEvent {
                    event_id: String::new(),
                    ts_us: ts.value(i),
                    service: service.value(i).to_string(),
                    level: level.value(i).to_string(),
                    message: message.value(i).to_string(),
                    host: opt(host, i),
                    trace_id: opt(trace, i),
                    pattern_id: opt(pattern, i),
                    template: None,
                });
                if events.len() >= MAX_EVENTS {
                    return false;
                }
            }
            true
        })
        .map_err(|e| format!("reading errors for analyze(): {e}"))?;
    // Templates come from `patterns`, so groups carry the same template the worker sees.
    let mut templates = std::collections::HashMap::new();
    store
        .scan(
            &Scan {
                table: Table::Patterns,
                columns: vec!["pattern_id".into(), "service".into(), "template".into()],
                filters: vec![Filter::Compare {
                    column: subject.0.into(),
                    op: CmpOp::Eq,
                    value: Scalar::Str(subject.1.clone()),
                }],
                limit: None,
            },
            &mut |batch| {
                let id = batch.column(0).as_string::<i32>();
                let service = batch.column(1).as_string::<i32>();
                let template = batch.column(2).as_string::<i32>();
                for i in 0..batch.num_rows() {
                    templates.insert(
                        (id.value(i).to_string(), service.value(i).to_string()),
                        template.value(i).to_string(),
                    );
                }
                true
            },
        )
        .map_err(|e| format!("reading patterns for analyze(): {e}"))?;
    for e in &mut events {
        if let Some(id) = &e.pattern_id {
            e.template = templates.get(&(id.clone(), e.service.clone())).cloned();
        }
    }
    Ok(events)
}

#[async_trait::async_trait]
impl sql::OnDemand for OnDemandAnalysis {
    async fn analyze(&self, request: AnalyzeRequest) -> Result<Vec<RecordBatch>, String> {
        let store = self.store.clone();
        let router = self.router.clone();
        let req = request.clone();
        let events = tokio::task::spawn_blocking(move || read_events(&store, &req, &router))
            .await
            .map_err(|e| e.to_string())??;
        if events.is_empty() {
            return Ok(vec![model::insights_batch(&[]).map_err(|e| e.to_string())?]);
        }
        let (updates, stats) =
            tokio::time::timeout(self.timeout, self.processor.analyze_now(events))
                .await
                .map_err(|_| format!("analyze() did not finish within {:?}", self.timeout))?;
        self.metrics.record_cost((stats.calls, stats.tokens));
        let insights: Vec<model::Insight> = updates.iter().map(|u| u.insight.clone()).collect();
        let applied = self
            .sink
            .apply(&self.store, updates, Vec::new())
            .await
            .map_err(|e| format!("storing the analysis failed: {e:#}"))?;
        self.metrics.record_applied(applied);
        Ok(vec![
            model::insights_batch(&insights).map_err(|e| e.to_string())?,
        ])
    }
}
