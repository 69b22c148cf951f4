//! `DECLARE … CURSOR` as drivers send it. `datafusion-postgres` handles cursors, but its
//! DECLARE runs the cursor's query without the parameters bound to the statement and keeps
//! no plan for the cursor's portal, so psycopg's server-side (named) cursors failed with
//! "$1 was not provided a value", and describing the cursor gave no columns. This hook takes
//! DECLARE (FETCH and CLOSE stay with `datafusion-postgres`): it binds the parameters and
//! stores the planned query with the portal, which is what Describe reads.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Declare, DeclareType, Statement};
use datafusion_postgres::arrow_pg::datatypes::df;
use datafusion_postgres::hooks::{HookClient, QueryHook};
use pgwire::api::ClientInfo;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::results::{Response, Tag};
use pgwire::api::stmt::StoredStatement;
use pgwire::api::store::PortalStore;
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};

pub(crate) struct DeclareHook;

fn syntax(message: &str) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        "42601".into(),
        message.into(),
    )))
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
        let mut frame = ctx
            .sql(&sql)
            .await
            .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
        if let Some(params) = params {
            frame = frame
                .with_param_values(params.clone())
                .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
        }
        let plan: LogicalPlan = frame.logical_plan().clone();
        let rows = df::encode_dataframe(frame, &Format::UnifiedText, None).await?;
        let statement = Arc::new(StoredStatement::new(
            name.clone(),
            (sql, Some((Statement::Query(query.clone()), plan))),
            vec![],
        ));
        let portal = Portal::new_cursor(name, statement);
        portal.start(rows).await;
        client.portal_store().put_portal(Arc::new(portal));
    }
    Ok(Response::Execution(Tag::new("DECLARE CURSOR")))
}

#[async_trait]
impl QueryHook for DeclareHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        match statement {
            Statement::Declare { stmts } => Some(declare(client, stmts, ctx, None).await),
            _ => None,
        }
    }

    // Parsing stays with `datafusion-postgres` (an empty plan: DECLARE returns no rows).
    async fn handle_extended_parse_query(
        &self,
        _statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        None
    }

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
            _ => None,
        }
    }
}
