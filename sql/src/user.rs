//! `current_user`, `session_user` and `user` answer the user this connection logged in as.
//!
//! The catalog's `session_user()` function cannot know the connection, since one
//! `SessionContext` serves them all. So before planning, this hook replaces every call of the
//! three (the pg-catalog parser leaves them parenthesis-less keywords) with the connection's
//! user name as a string literal, and plans the rewritten statement.

use std::ops::ControlFlow;

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArguments, Ident, Query, SelectItem, SetExpr, Statement, Value, VisitMut,
    VisitorMut,
};
use datafusion_postgres::arrow_pg::datatypes::df;
use datafusion_postgres::hooks::{HookClient, QueryHook};
use pgwire::api::ClientInfo;
use pgwire::api::portal::Format;
use pgwire::api::results::Response;
use pgwire::error::{PgWireError, PgWireResult};

pub(crate) struct SessionUserHook;

/// The user function `expr` calls (`current_user`, `session_user` or `user`), if it is one.
fn user_function(expr: &Expr) -> Option<String> {
    let Expr::Function(f) = expr else {
        return None;
    };
    let no_args = match &f.args {
        FunctionArguments::None => true,
        FunctionArguments::List(list) => list.args.is_empty(),
        FunctionArguments::Subquery(_) => false,
    };
    let name = f.name.to_string().to_ascii_lowercase();
    let bare = name.trim_start_matches("pg_catalog.");
    (no_args && matches!(bare, "session_user" | "current_user" | "user")).then(|| bare.to_string())
}

/// The statement with every user function replaced by `user` as a string literal, or `None`
/// if it calls none. A select item that is just the call keeps PostgreSQL's column name
/// (`current_user`, `session_user`, `user`).
fn with_user(statement: &Statement, user: &str) -> Option<Statement> {
    struct Replace<'a> {
        user: &'a str,
        replaced: bool,
    }
    impl VisitorMut for Replace<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
            if let SetExpr::Select(select) = query.body.as_mut() {
                for item in &mut select.projection {
                    if let SelectItem::UnnamedExpr(expr) = item
                        && let Some(name) = user_function(expr)
                    {
                        *item = SelectItem::ExprWithAlias {
                            expr: Expr::value(Value::SingleQuotedString(self.user.to_string())),
                            alias: Ident::with_quote('"', name),
                        };
                        self.replaced = true;
                    }
                }
            }
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if user_function(expr).is_some() {
                *expr = Expr::value(Value::SingleQuotedString(self.user.to_string()));
                self.replaced = true;
            }
            ControlFlow::Continue(())
        }
    }
    let mut statement = statement.clone();
    let mut visitor = Replace {
        user,
        replaced: false,
    };
    let _ = statement.visit(&mut visitor);
    visitor.replaced.then_some(statement)
}

fn user_of<C: ClientInfo + ?Sized>(client: &C) -> String {
    client
        .metadata()
        .get(pgwire::api::METADATA_USER)
        .cloned()
        .unwrap_or_else(|| "loginsight".to_string())
}

fn api(err: datafusion::error::DataFusionError) -> PgWireError {
    PgWireError::ApiError(Box::new(err))
}

#[async_trait]
impl QueryHook for SessionUserHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let rewritten = with_user(statement, &user_of(client))?;
        Some(
            async {
                let frame = ctx.sql(&rewritten.to_string()).await.map_err(api)?;
                let rows = df::encode_dataframe(frame, &Format::UnifiedText, None).await?;
                Ok(Response::Query(rows))
            }
            .await,
        )
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        let rewritten = with_user(statement, &user_of(client))?;
        Some(
            ctx.state()
                .statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(
                    rewritten,
                )))
                .await
                .map_err(api),
        )
    }

    // The plan made at parse time already holds the user.
    async fn handle_extended_query(
        &self,
        _statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    #[test]
    fn user_functions_become_the_session_user() {
        let parsed = Parser::parse_sql(
            &PostgreSqlDialect {},
            "SELECT session_user, current_user, 1, upper(current_user)",
        )
        .unwrap();
        let rewritten = with_user(&parsed[0], "alice").unwrap();
        assert_eq!(
            rewritten.to_string(),
            r#"SELECT 'alice' AS "session_user", 'alice' AS "current_user", 1, upper('alice')"#
        );
        let plain = Parser::parse_sql(&PostgreSqlDialect {}, "SELECT 1").unwrap();
        assert!(with_user(&plain[0], "alice").is_none());
    }
}
