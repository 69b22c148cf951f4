//! The Postgres-wire SQL endpoint: DataFusion over the DuckDB store, served with `pgwire`.
//!
//! This is the last stage of the pipeline and the only way users read data. The server mounts
//! it with [`session_context`] (tables `logs`, `stats`, `insights`, `patterns`, plus an emulated
//! `pg_catalog` for client tools) and [`serve`] (the accept loop). The surface is read-only:
//! it registers tables and functions and never runs DDL or DML for a client.
//!
//! This crate is the only one that names `pgwire`.

mod access;
mod cursor;
mod error;
mod handlers;
mod json;
pub mod local;
mod params;
mod session;
mod subplan;
mod tables;
mod user;

use std::future::Future;
use std::sync::Arc;

use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionConfig;
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use store::{StoreRef, Table};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub use access::{Access, TlsFiles, User, internal_user, scram_secret};
pub use datafusion::prelude::SessionContext;
pub use error::{Result, SqlError};
pub use tables::analyze::{AnalyzeRequest, OnDemand, Target, parse_window};
pub use tables::{BatchSource, DuckTable, ExternalTable};

/// The catalog clients connect to (`psql -d loginsight`).
pub const CATALOG: &str = "loginsight";
/// The schema holding the tables.
pub const SCHEMA: &str = "public";

/// Builds the DataFusion context clients query: every store table plus `pg_catalog`.
pub fn session_context(store: StoreRef) -> Result<SessionContext> {
    session_context_with(store, None, None)
}

/// Like [`session_context`], with `insights` read from `insights` instead of the store when
/// given (insights kept in PostgreSQL), and with `analyze()` / `analyze_pattern()` when an
/// [`OnDemand`] analysis is given.
pub fn session_context_with(
    store: StoreRef,
    insights: Option<Arc<dyn BatchSource>>,
    on_demand: Option<Arc<dyn OnDemand>>,
) -> Result<SessionContext> {
    session_context_options(store, insights, on_demand, true)
}

/// [`session_context_with`], choosing whether whole subplans run in DuckDB (`pushdown`).
/// Without it DataFusion computes everything over filtered scans: the reference the
/// pushed-down answers are tested against.
pub fn session_context_options(
    store: StoreRef,
    insights: Option<Arc<dyn BatchSource>>,
    on_demand: Option<Arc<dyn OnDemand>>,
    pushdown: bool,
) -> Result<SessionContext> {
    let config = SessionConfig::new()
        .with_default_catalog_and_schema(CATALOG, SCHEMA)
        .with_information_schema(true);
    // `now()` is a timestamptz in PostgreSQL (printed with `+00`); without a session time
    // zone DataFusion returns a timestamp without one.
    let config = config
        .set_str("datafusion.execution.time_zone", "UTC")
        // datafusion-postgres plans a simple-protocol statement by printing the parsed
        // statement and parsing it again with this dialect: under the generic one
        // `a->>'k' = 'v'` came back as `a ->> ('k' = 'v')`.
        .set_str("datafusion.sql_parser.dialect", "PostgreSQL");
    let mut builder = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features();
    if pushdown {
        builder = builder.with_query_planner(Arc::new(subplan::DuckQueryPlanner));
    }
    let mut ctx = SessionContext::new_with_state(builder.build());
    json::register(&mut ctx)?;
    for table in Table::ALL {
        match (&insights, table) {
            (Some(source), Table::Insights) => ctx.register_table(
                table.name(),
                Arc::new(ExternalTable::new(table.schema(), source.clone())),
            )?,
            _ => {
                ctx.register_table(table.name(), Arc::new(DuckTable::new(store.clone(), table)))?
            }
        };
    }
    setup_pg_catalog(&ctx, CATALOG, EmptyContextProvider).map_err(|e| SqlError::Catalog(*e))?;
    session::register_functions(&ctx);
    if let Some(on_demand) = on_demand {
        for by_pattern in [false, true] {
            let function = tables::analyze::AnalyzeFunction {
                by_pattern,
                schema: Table::Insights.schema(),
                on_demand: on_demand.clone(),
            };
            let name = if by_pattern {
                "analyze_pattern"
            } else {
                "analyze"
            };
            ctx.register_udtf(name, Arc::new(function));
        }
    }
    Ok(ctx)
}

/// Checks what [`serve`] would fail on at its start: unusable TLS files.
pub fn check_access(access: &Access) -> Result<()> {
    if let Some(files) = &access.tls {
        access::tls_acceptor(files)?;
    }
    Ok(())
}

/// Serves Postgres-wire clients on `listener` until `shutdown` resolves, then stops accepting
/// and closes open connections. Queries are read-only, so nothing is lost by closing them.
/// Fails at once if the TLS files in `access` cannot be used.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<SessionContext>,
    access: Access,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let tls = match &access.tls {
        Some(files) => Some(access::tls_acceptor(files)?),
        None => None,
    };
    let (acceptor, cert_pem) = match tls {
        Some((acceptor, pem)) => (Some(acceptor), Some(pem)),
        None => (None, None),
    };
    let trust_loopback_only = access.users.is_empty();
    let handlers = Arc::new(handlers::Handlers::new(ctx, access, cert_pem));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (socket, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(err) => {
                        // Per-connection failures (e.g. the peer reset during accept) must not
                        // stop the endpoint.
                        tracing::warn!(error = %err, "accept failed");
                        continue;
                    }
                };
                if trust_loopback_only && !peer.ip().is_loopback() {
                    // Without users there is no authentication: only this machine may connect.
                    tracing::warn!(%peer, "refused a non-loopback SQL connection: no users are configured");
                    continue;
                }
                let handlers = handlers.clone();
                let acceptor = acceptor.clone();
                let entered = handlers.open.enter();
                connections.spawn(async move {
                    let _entered = entered;
                    if let Err(err) = pgwire::tokio::process_socket(socket, acceptor, handlers).await {
                        tracing::debug!(%peer, error = %err, "connection ended with an error");
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
    Ok(())
}
