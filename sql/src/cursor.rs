//! Cursors: `DECLARE … CURSOR`, `FETCH` and `CLOSE` as drivers send them.
//!
//! `datafusion-postgres` has cursors too, but they fell short of what psycopg's server-side
//! (named) cursors send: its DECLARE ran the query without the statement's bound
//! parameters ("$1 was not provided a value"), kept no plan for Describe, and encoded the
//! rows as text when the cursor was declared. A FETCH over the extended protocol in binary
//! (`conn.cursor(name=…, binary=True)`) therefore got data rows without a row description,
//! in the wrong format.
//!
//! Here a cursor keeps its planned query and its unread Arrow batches, in the connection's
//! session extensions. Rows are encoded only when fetched, in the format that FETCH's
//! portal asks for, and the FETCH statement is described with the cursor's columns. The
//! cursor's own portal stays in the portal store so clients can Describe it by name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DFSchemaRef, ParamValues};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    CloseCursor, Declare, DeclareType, FetchDirection, Statement, Value, ValueWithSpan,
};
use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use datafusion_postgres::hooks::{HookClient, QueryHook};
use futures::StreamExt;
use pgwire::api::ClientInfo;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::results::{QueryResponse, Response, Tag};
use pgwire::api::stmt::StoredStatement;
use pgwire::api::store::PortalStore;
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::types::format::FormatOptions;

use crate::session::no_rows_plan;

/// Handles DECLARE, FETCH and CLOSE in both protocols; see the module comment.
pub(crate) struct CursorHook;

/// One connection's open cursors, by name.
#[derive(Default)]
struct Cursors(Mutex<HashMap<String, Arc<Cursor>>>);

impl Cursors {
    fn of(client: &(dyn ClientInfo + Send + Sync)) -> Arc<Cursors> {
        client
            .session_extensions()
            .get_or_insert_with(Cursors::default)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Cursor>>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get(&self, name: &str) -> PgWireResult<Arc<Cursor>> {
        self.lock().get(name).cloned().ok_or_else(|| {
            PgWireError::UserError(Box::new(ErrorInfo::new(
                "ERROR".into(),
                "34000".into(),
                format!("cursor \"{name}\" does not exist"),
            )))
        })
    }
}

struct Cursor {
    schema: DFSchemaRef,
    /// `DECLARE … BINARY CURSOR`: a simple-query FETCH returns binary rows.
    binary: bool,
    rows: tokio::sync::Mutex<Unread>,
}

/// What a cursor has not returned yet: the rest of a batch a FETCH split, then the stream.
struct Unread {
    split: Option<RecordBatch>,
    /// `None` once the query has no more rows (or failed).
    stream: Option<SendableRecordBatchStream>,
}

impl Cursor {
    /// Up to `max` rows (all that are left for `None`), as whole or sliced batches.
    async fn take(&self, max: Option<usize>) -> PgWireResult<Vec<RecordBatch>> {
        let mut unread = self.rows.lock().await;
        let mut batches = Vec::new();
        let mut taken = 0;
        while max.is_none_or(|max| taken < max) {
            let batch = match unread.split.take() {
                Some(batch) => batch,
                None => match unread.stream.as_mut() {
                    None => break,
                    Some(stream) => match stream.next().await {
                        Some(Ok(batch)) => batch,
                        Some(Err(e)) => {
                            unread.stream = None;
                            return Err(PgWireError::ApiError(Box::new(e)));
                        }
                        None => {
                            unread.stream = None;
                            break;
                        }
                    },
                },
            };
            let wanted = max.map_or(batch.num_rows(), |max| max - taken);
            if batch.num_rows() > wanted {
                unread.split = Some(batch.slice(wanted, batch.num_rows() - wanted));
                batches.push(batch.slice(0, wanted));
                taken += wanted;
            } else {
                taken += batch.num_rows();
                batches.push(batch);
            }
        }
        Ok(batches)
    }
}

fn syntax(message: &str) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        "42601".into(),
        message.into(),
    )))
}

fn forward_only() -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        "55000".into(),
        "cursor can only scan forward".into(),
    )))
}

fn api(e: datafusion::error::DataFusionError) -> PgWireError {
    PgWireError::ApiError(Box::new(e))
}

async fn declare(
    client: &mut dyn HookClient,
    stmts: &[Declare],
    ctx: &SessionContext,
    params: Option<&ParamValues>,
) -> PgWireResult<Response> {
    for declare in stmts {
        if declare.declare_type != Some(DeclareType::Cursor) {
            return Err(syntax("only DECLARE … CURSOR FOR <query> is supported"));
        }
        if declare.scroll == Some(true) {
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "ERROR".into(),
                "0A000".into(),
                "SCROLL cursors are not supported: cursors here scan forward only".into(),
            ))));
        }
        let name = declare
            .names
            .first()
            .ok_or_else(|| syntax("DECLARE needs a cursor name"))?
            .value
            .clone();
        let query = declare
            .for_query
            .as_ref()
            .ok_or_else(|| syntax("DECLARE CURSOR needs a FOR query"))?;
        let sql = query.to_string();
        let mut frame = ctx.sql(&sql).await.map_err(api)?;
        if let Some(params) = params {
            frame = frame.with_param_values(params.clone()).map_err(api)?;
        }
        let plan: LogicalPlan = frame.logical_plan().clone();
        let schema = plan.schema().clone();
        let stream = frame.execute_stream().await.map_err(api)?;
        let cursor = Arc::new(Cursor {
            schema,
            binary: declare.binary == Some(true),
            rows: tokio::sync::Mutex::new(Unread {
                split: None,
                stream: Some(stream),
            }),
        });
        // Declaring a name again replaces the cursor, as after a CLOSE.
        Cursors::of(client).lock().insert(name.clone(), cursor);
        let statement = Arc::new(StoredStatement::new(
            name.clone(),
            (sql, Some((Statement::Query(query.clone()), plan))),
            vec![],
        ));
        client
            .portal_store()
            .put_portal(Arc::new(Portal::new_cursor(name, statement)));
    }
    Ok(Response::Execution(Tag::new("DECLARE CURSOR")))
}

/// How many rows a FETCH asks for: `None` for all that are left.
fn fetch_count(direction: &FetchDirection) -> PgWireResult<Option<usize>> {
    let count = |limit: &ValueWithSpan| match &limit.value {
        Value::Number(n, _) => n.parse::<usize>().map_err(|_| forward_only()),
        _ => Err(syntax("FETCH needs a row count")),
    };
    match direction {
        FetchDirection::Next | FetchDirection::Forward { limit: None } => Ok(Some(1)),
        FetchDirection::Forward { limit: Some(limit) } | FetchDirection::Count { limit } => {
            count(limit).map(Some)
        }
        FetchDirection::ForwardAll | FetchDirection::All => Ok(None),
        _ => Err(forward_only()),
    }
}

/// The rows of `FETCH … FROM name`, encoded in `format` (the FETCH portal's result format;
/// `None` for a simple query, where the cursor's declaration decides).
pub(crate) async fn fetch(
    client: &(dyn ClientInfo + Send + Sync),
    name: &str,
    direction: &FetchDirection,
    format: Option<&Format>,
) -> PgWireResult<Response> {
    let max = fetch_count(direction)?;
    let cursor = Cursors::of(client).get(name)?;
    let declared = if cursor.binary {
        Format::UnifiedBinary
    } else {
        Format::UnifiedText
    };
    let format = format.unwrap_or(&declared);
    let batches = cursor.take(max).await?;
    let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
    let fields = Arc::new(arrow_schema_to_pg_fields(
        cursor.schema.as_arrow(),
        format,
        Some(options),
    )?);
    let rows: Vec<_> = batches
        .into_iter()
        .flat_map(|batch| encode_recordbatch(fields.clone(), batch))
        .collect();
    let mut response = QueryResponse::new(fields, futures::stream::iter(rows));
    response.set_command_tag("FETCH");
    Ok(Response::Query(response))
}

fn close(client: &mut dyn HookClient, cursor: &CloseCursor) -> Response {
    let cursors = Cursors::of(client);
    let closed: Vec<String> = match cursor {
        CloseCursor::All => cursors.lock().drain().map(|(name, _)| name).collect(),
        CloseCursor::Specific { name } => cursors
            .lock()
            .remove(&name.value)
            .map(|_| name.value.clone())
            .into_iter()
            .collect(),
    };
    for name in closed {
        client.portal_store().rm_portal(&name);
    }
    Response::Execution(Tag::new("CLOSE CURSOR"))
}

/// The plan a FETCH is described with: no rows, the cursor's columns.
fn fetch_plan(client: &(dyn ClientInfo + Send + Sync), name: &str) -> PgWireResult<LogicalPlan> {
    Ok(LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: false,
        schema: Cursors::of(client).get(name)?.schema.clone(),
    }))
}

#[async_trait]
impl QueryHook for CursorHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        match statement {
            Statement::Declare { stmts } => Some(declare(client, stmts, ctx, None).await),
            Statement::Fetch {
                name, direction, ..
            } => Some(fetch(client, &name.value, direction, None).await),
            Statement::Close { cursor } => Some(Ok(close(client, cursor))),
            _ => None,
        }
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        match statement {
            Statement::Declare { .. } | Statement::Close { .. } => Some(Ok(no_rows_plan())),
            Statement::Fetch { name, .. } => Some(fetch_plan(client, &name.value)),
            _ => None,
        }
    }

    // FETCH never arrives here: its rows need the portal's result format, which hooks are
    // not given, so the extended handler calls [`fetch`] itself.
    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        params: &ParamValues,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        match statement {
            Statement::Declare { stmts } => Some(declare(client, stmts, ctx, Some(params)).await),
            Statement::Close { cursor } => Some(Ok(close(client, cursor))),
            _ => None,
        }
    }
}
