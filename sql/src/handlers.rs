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
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::hooks::{HookClient, QueryHook};
use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use futures::Sink;
use pgwire::api::auth::StartupHandler;
use pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use pgwire::api::portal::Portal;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::Response;
use pgwire::api::store::PortalStore;
use pgwire::api::{
    ClientInfo, ClientPortalStore, ConnectionManager, ErrorHandler, PgWireServerHandlers,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::extendedquery::Execute;
use pgwire::messages::simplequery::Query as QueryMessage;
use tokio::sync::Notify;

use crate::access::{Access, Gauge, Startup};
use crate::cursor::{self, CursorHook};
use crate::params::OidAwareParser;
use crate::session::{SessionHook, no_rows_plan};
use crate::user::SessionUserHook;

/// Every handler one connection needs; shared by all connections.
pub(crate) struct Handlers {
    session: Arc<Guarded>,
    access: Access,
    /// The TLS certificate (PEM), for SCRAM channel binding.
    channel_binding_cert: Option<Vec<u8>>,
    connections: Arc<ConnectionManager>,
    pub(crate) open: Arc<Gauge>,
    cancel: Arc<Cancel>,
}

impl Handlers {
    pub(crate) fn new(
        ctx: Arc<SessionContext>,
        access: Access,
        channel_binding_cert: Option<Vec<u8>>,
    ) -> Self {
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            // First, so nothing after it ever sees a statement that writes.
            Arc::new(ReadOnlyHook),
            Arc::new(SessionHook),
            Arc::new(CursorHook),
            Arc::new(SetShowHook),
            Arc::new(TransactionStatementHook),
            // Last: only queries are left, and it plans those that name the user.
            Arc::new(SessionUserHook),
        ];
        let connections = Arc::new(ConnectionManager::new());
        let running = Arc::new(Running::default());
        let inner = DfSessionService::new_with_hooks(ctx, hooks);
        Handlers {
            session: Arc::new(Guarded {
                parser: Arc::new(OidAwareParser::new(inner.query_parser())),
                inner,
                timeout: access.statement_timeout,
                running: running.clone(),
            }),
            access,
            channel_binding_cert,
            connections: connections.clone(),
            open: Arc::new(Gauge::default()),
            cancel: Arc::new(Cancel {
                pgwire: DefaultCancelHandler::new(connections),
                running,
            }),
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

    // Called once per connection: the SCRAM exchange keeps state per connection.
    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::new(Startup::new(
            &self.access,
            self.channel_binding_cert.as_deref(),
            self.connections.clone(),
            self.open.clone(),
        ))
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(SqlStateErrors)
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.cancel.clone()
    }
}

/// Statements running now, by connection (pid and secret key), so a cancel request or the
/// statement timeout can stop one while it is still sending rows. (pgwire's own cancel
/// covers planning only; DataFusion executes while the rows are sent.)
/// A connection's pid and secret key, as cancel requests name it.
type ConnectionKey = (i32, Vec<u8>);

#[derive(Default)]
struct Running(std::sync::Mutex<HashMap<ConnectionKey, Arc<Notify>>>);

impl Running {
    fn start(&self, key: ConnectionKey) -> Arc<Notify> {
        let notify = Arc::new(Notify::new());
        self.lock().insert(key, notify.clone());
        notify
    }

    fn finish(&self, key: &ConnectionKey) {
        self.lock().remove(key);
    }

    fn cancel(&self, key: &ConnectionKey) {
        if let Some(notify) = self.lock().get(key) {
            // notify_one keeps a permit if the statement is between polls.
            notify.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ConnectionKey, Arc<Notify>>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct Cancel {
    pgwire: DefaultCancelHandler,
    running: Arc<Running>,
}

#[async_trait]
impl CancelHandler for Cancel {
    async fn on_cancel_request(&self, request: CancelRequest) {
        self.running
            .cancel(&(request.pid, request.secret_key.to_bytes().to_vec()));
        self.pgwire.on_cancel_request(request).await;
    }
}

/// `datafusion-postgres`'s session service, with each statement — planning, execution and
/// sending its rows — bounded by the statement timeout and stoppable by a cancel request.
struct Guarded {
    inner: DfSessionService,
    parser: Arc<OidAwareParser<<DfSessionService as ExtendedQueryHandler>::QueryParser>>,
    timeout: Option<Duration>,
    running: Arc<Running>,
}

impl Guarded {
    /// Runs `statement` for `client` unless it is cancelled or times out first.
    async fn guard<F>(
        &self,
        key: ConnectionKey,
        session_timeout: Option<Duration>,
        statement: F,
    ) -> PgWireResult<()>
    where
        F: Future<Output = PgWireResult<()>> + Send,
    {
        let cancelled = self.running.start(key.clone());
        let limit = session_timeout.or(self.timeout);
        let deadline = async {
            match limit {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        let result = tokio::select! {
            done = statement => done,
            () = cancelled.notified() => Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "ERROR".into(),
                "57014".into(),
                "canceling statement due to user request".into(),
            )))),
            () = deadline => Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "ERROR".into(),
                "57014".into(),
                format!(
                    "canceling statement due to statement timeout ({} ms)",
                    limit.unwrap_or_default().as_millis()
                ),
            )))),
        };
        self.running.finish(&key);
        result
    }
}

/// The connection's key for cancel requests, and its `SET statement_timeout` if any
/// (`datafusion-postgres` keeps it in the client metadata as `statement_timeout_ms`).
fn statement_scope<C: ClientInfo>(client: &C) -> (ConnectionKey, Option<Duration>) {
    let (pid, secret) = client.pid_and_secret_key();
    let session = client
        .metadata()
        .get("statement_timeout_ms")
        .and_then(|ms| ms.parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis);
    ((pid, secret.to_bytes().to_vec()), session)
}

#[async_trait]
impl SimpleQueryHandler for Guarded {
    async fn on_query<C>(&self, client: &mut C, query: QueryMessage) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (key, session) = statement_scope(client);
        self.guard(key, session, self._on_query(client, query))
            .await
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        SimpleQueryHandler::do_query(&self.inner, client, query).await
    }
}

type Prepared = <DfSessionService as ExtendedQueryHandler>::Statement;

#[async_trait]
impl ExtendedQueryHandler for Guarded {
    type Statement = Prepared;
    type QueryParser = OidAwareParser<<DfSessionService as ExtendedQueryHandler>::QueryParser>;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (key, session) = statement_scope(client);
        self.guard(key, session, self._on_execute(client, message))
            .await
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // A FETCH's rows are encoded in its portal's result format, which the hooks that
        // `datafusion-postgres` calls are not given.
        if let (
            _,
            Some((
                Statement::Fetch {
                    name, direction, ..
                },
                _,
            )),
        ) = &portal.statement.statement
        {
            return cursor::fetch(
                client,
                &name.value,
                direction,
                Some(&portal.result_column_format),
            )
            .await;
        }
        ExtendedQueryHandler::do_query(&self.inner, client, portal, max_rows).await
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
        // `FETCH … INTO table` would write.
        | Statement::Fetch { into: None, .. }
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
pub(crate) fn query_writes(query: &Query) -> bool {
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
