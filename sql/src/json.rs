//! JSON in SQL: `logs.attributes` (JSON text) read with PostgreSQL's `->` and `->>`
//! operators and datafusion-functions-json's `json_*` functions.
//!
//! datafusion-functions-json plans `->` as `json_get`, whose result is an Arrow union the
//! Postgres wire has no type for; PostgreSQL's `->` gives `json`. So `->` and `->>` are
//! planned here, first, as `json_get_json` (the member's JSON text) and `json_as_text` (a
//! string member unquoted, anything else as JSON text), and the crate's own planner keeps
//! what is left (`?`).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{DFSchema, Result};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::expr::Placeholder;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::BinaryOperator;
use datafusion_functions_json::udfs::{json_as_text_udf, json_get_json_udf};

/// Registers the JSON functions and operators on `ctx`.
pub(crate) fn register(ctx: &mut SessionContext) -> Result<()> {
    ctx.register_expr_planner(Arc::new(PostgresJsonOperators))?;
    datafusion_functions_json::register_all(ctx)
}

#[derive(Debug)]
struct PostgresJsonOperators;

impl ExprPlanner for PostgresJsonOperators {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        _schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let function = match expr.op {
            BinaryOperator::Arrow => json_get_json_udf(),
            BinaryOperator::LongArrow => json_as_text_udf(),
            _ => return Ok(PlannerResult::Original(expr)),
        };
        // `attributes->>$1`: the functions accept a key or an index, so nothing would type
        // the parameter; PostgreSQL resolves an unknown key as text.
        let key = match expr.right {
            Expr::Placeholder(Placeholder { id, field: None }) => {
                Expr::Placeholder(Placeholder::new_with_field(
                    id,
                    Some(Arc::new(Field::new("", DataType::Utf8, true))),
                ))
            }
            key => key,
        };
        Ok(PlannerResult::Planned(function.call(vec![expr.left, key])))
    }
}
