//! The pgwire side of the endpoint: which handler serves each protocol phase, the read-only
//! guard, and the one place where errors become SQLSTATE codes.
//!
//! Handlers stay thin: `datafusion-postgres` parses and encodes, DataFusion plans and executes.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Query, SetExpr, Statement};
use datafusion::sql::sqlparser::parser::ParserError;
use datafusion_postgres::DfSessionService;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::hooks::{HookClient, QueryHook};
use pgwire::api::auth::StartupHandler;
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::Response;
use pgwire::api::{ClientInfo, ConnectionManager, ErrorHandler, PgWireServerHandlers};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};

use crate::session::{SessionHook, no_rows_plan};

/// Every handler one connection needs; shared by all connections.
pub(crate) struct Handlers {
    session: Arc<DfSessionService>,
    startup: Arc<Startup>,
    cancel: Arc<DefaultCancelHandler>,
}

impl Handlers {
    pub(crate) fn new(ctx: Arc<SessionContext>) -> Self {
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            // First, so nothing after it ever sees a statement that writes.
            Arc::new(ReadOnlyHook),
            Arc::new(SessionHook),
            Arc::new(CursorStatementHook),
            Arc::new(SetShowHook),
            Arc::new(TransactionStatementHook),
        ];
        let connections = Arc::new(ConnectionManager::new());
        Handlers {
            session: Arc::new(DfSessionService::new_with_hooks(ctx, hooks)),
            startup: Arc::new(Startup {
                connections: connections.clone(),
            }),
            cancel: Arc::new(DefaultCancelHandler::new(connections)),
        }
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.session.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.session.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(SqlStateErrors)
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.cancel.clone()
    }
}

/// Accepts every connection (loopback-only until authentication is configured) and registers
/// it so cancel requests can find its running query.
pub(crate) struct Startup {
    connections: Arc<ConnectionManager>,
}

impl NoopStartupHandler for Startup {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(self.connections.clone())
    }
}

/// The read-only guard: only queries and the session statements drivers send (SET, SHOW,
/// transactions, cursors, DEALLOCATE, DISCARD, RESET) pass; everything else is refused
/// before DataFusion could plan it.
struct ReadOnlyHook;

fn refuse(statement: &Statement) -> Option<PgWireResult<()>> {
    let allowed = match statement {
        Statement::Query(query) => !query_writes(query),
        Statement::Explain { statement, .. } => refuse(statement).is_none(),
        Statement::Set(_)
        | Statement::ShowVariable { .. }
        | Statement::ShowVariables { .. }
        | Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Declare { .. }
        | Statement::Fetch { .. }
        | Statement::Close { .. }
        | Statement::Deallocate { .. }
        | Statement::Discard { .. }
        | Statement::UNLISTEN { .. }
        | Statement::Reset(_) => true,
        _ => false,
    };
    if allowed {
        return None;
    }
    let what = statement
        .to_string()
        .split_whitespace()
        .next()
        .unwrap_or("this statement")
        .to_uppercase();
    Some(Err(read_only_error(&what)))
}

/// `SELECT … INTO new_table` creates a table: a write in a query's clothing.
fn query_writes(query: &Query) -> bool {
    fn set_expr_writes(body: &SetExpr) -> bool {
        match body {
            SetExpr::Select(select) => select.into.is_some(),
            SetExpr::Query(q) => query_writes(q),
            SetExpr::SetOperation { left, right, .. } => {
                set_expr_writes(left) || set_expr_writes(right)
            }
            SetExpr::Values(_) | SetExpr::Table(_) => false,
            _ => true,
        }
    }
    set_expr_writes(&query.body)
}

fn read_only_error(what: &str) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        "25006".into(),
        format!(
            "cannot execute {what}: the Log Insight SQL endpoint is read-only \
             (logs arrive through the ingest endpoints)"
        ),
    )))
}

#[async_trait]
impl QueryHook for ReadOnlyHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        refuse(statement).map(|r| r.map(|()| Response::EmptyQuery))
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        refuse(statement).map(|r| r.map(|()| no_rows_plan()))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        refuse(statement).map(|r| r.map(|()| Response::EmptyQuery))
    }
}

/// Turns every error into a Postgres error with a meaningful SQLSTATE, so clients see
/// "relation does not exist" or "syntax error" rather than a generic internal error.
struct SqlStateErrors;

impl ErrorHandler for SqlStateErrors {
    fn on_error<C>(&self, _client: &C, error: &mut PgWireError)
    where
        C: ClientInfo,
    {
        if let PgWireError::ApiError(inner) = error {
            let (code, message) = classify(inner.as_ref());
            tracing::debug!(code, message, "query error");
            *error = PgWireError::UserError(Box::new(ErrorInfo::new(
                "ERROR".into(),
                code.into(),
                message,
            )));
        }
    }
}

/// SQLSTATE and message for an error raised while parsing, planning or executing.
pub(crate) fn classify(err: &(dyn std::error::Error + 'static)) -> (&'static str, String) {
    if let Some(parse) = err.downcast_ref::<ParserError>() {
        return ("42601", format!("syntax error: {parse}"));
    }
    let Some(df) = err.downcast_ref::<DataFusionError>() else {
        return ("XX000", err.to_string());
    };
    let message = df.to_string();
    let code = match df.find_root() {
        DataFusionError::SQL(..) => "42601",
        DataFusionError::SchemaError(..) => "42703",
        DataFusionError::NotImplemented(_) => "0A000",
        DataFusionError::ResourcesExhausted(_) => "53200",
        DataFusionError::Plan(msg) => {
            if msg.contains("table function") && msg.contains("not found") {
                "42883"
            } else if msg.contains("not found") && msg.starts_with("table") {
                "42P01"
            } else if msg.contains("No field named")
                || (msg.contains("column") && msg.contains("not found"))
            {
                "42703"
            } else if msg.contains("Invalid function") || msg.contains("No function matches") {
                "42883"
            } else {
                "42000"
            }
        }
        DataFusionError::Execution(msg) if msg.contains("Division by zero") => "22012",
        DataFusionError::Execution(msg) if msg.contains("unrecognized configuration parameter") => {
            "42704"
        }
        DataFusionError::ArrowError(e, _) if e.to_string().contains("Divide by zero") => "22012",
        _ => "XX000",
    };
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn parse(sql: &str) -> Statement {
        Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn reads_and_session_statements_pass() {
        for sql in [
            "SELECT 1",
            "SELECT * FROM logs WHERE level = 'ERROR'",
            "EXPLAIN SELECT 1",
            "SET application_name = 'x'",
            "SHOW server_version",
            "BEGIN",
            "COMMIT",
            "ROLLBACK",
            "DISCARD ALL",
            "DEALLOCATE ALL",
            "RESET ALL",
            "UNLISTEN *",
        ] {
            assert!(refuse(&parse(sql)).is_none(), "{sql}");
        }
    }

    #[test]
    fn writes_are_refused_with_25006() {
        for sql in [
            "DROP TABLE logs",
            "INSERT INTO logs (message) VALUES ('x')",
            "DELETE FROM logs",
            "CREATE TABLE t (a int)",
            "COPY logs TO 'out.csv'",
            "SELECT * INTO t2 FROM logs",
            "EXPLAIN DELETE FROM logs",
            "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
        ] {
            let Ok(stmts) = Parser::parse_sql(&PostgreSqlDialect {}, sql) else {
                continue; // not even parseable by the Postgres dialect: cannot reach DataFusion
            };
            let Some(Err(PgWireError::UserError(info))) = refuse(&stmts[0]) else {
                panic!("{sql} was not refused");
            };
            assert_eq!(info.code, "25006", "{sql}");
        }
    }

    #[test]
    fn errors_get_specific_sqlstates() {
        let missing = DataFusionError::Plan("table 'loginsight.public.nope' not found".into());
        assert_eq!(classify(&missing).0, "42P01");
        let syntax = ParserError::ParserError("Expected: an expression".into());
        assert_eq!(classify(&syntax).0, "42601");
    }
}
