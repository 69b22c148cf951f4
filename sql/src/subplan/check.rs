//! Which logical subplans DuckDB answers exactly as DataFusion would.
//!
//! The rule is a whitelist: a node, an expression, a function or a literal is pushable only
//! when DuckDB's result is the one DataFusion computes, for every input. Everything else
//! keeps the subtree above it in DataFusion. What is left out, and why:
//! - integer `/` and `%` (DataFusion truncates, DuckDB's `/` is float division), integer
//!   `+ - *` (DataFusion wraps on overflow, DuckDB raises), float → integer casts (truncation vs
//!   rounding), casts to text (the engines print values differently);
//! - `lower`/`upper` (full vs simple Unicode case mapping), `LIKE` patterns with `\`
//!   (DuckDB has no default escape), `ILIKE` with a non-ASCII pattern;
//! - timestamp literals finer than the stored microsecond.

use arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::DFSchema;
use datafusion::logical_expr::expr::{AggregateFunction, ScalarFunction};
use datafusion::logical_expr::{Expr, LogicalPlan, Operator};
use datafusion::scalar::ScalarValue;

/// The `date_trunc` units DuckDB truncates to the same instant.
const TRUNC_UNITS: &[&str] = &[
    "second", "minute", "hour", "day", "week", "month", "quarter", "year",
];
/// The `date_part` fields DuckDB extracts with the same value (`epoch` as seconds with the
/// microsecond fraction, in both).
const PART_FIELDS: &[&str] = &["epoch", "minute", "hour", "day", "month", "quarter", "year"];

/// Whether every expression of `plan` itself (not its inputs) is pushable.
pub(super) fn node_exprs_ok(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::TableScan(scan) => {
            let Ok(schema) =
                DFSchema::try_from_qualified_schema(scan.table_name.clone(), &scan.source.schema())
            else {
                return false;
            };
            scan.filters.iter().all(|f| expr_ok(f, &schema))
        }
        LogicalPlan::Projection(p) => p.expr.iter().all(|e| expr_ok(e, p.input.schema())),
        LogicalPlan::Filter(f) => expr_ok(&f.predicate, f.input.schema()),
        LogicalPlan::Aggregate(a) => {
            a.group_expr.iter().all(|e| expr_ok(e, a.input.schema()))
                && a.aggr_expr
                    .iter()
                    .all(|e| aggregate_ok(e, a.input.schema()))
        }
        LogicalPlan::Sort(s) => s.expr.iter().all(|e| expr_ok(&e.expr, s.input.schema())),
        LogicalPlan::Limit(l) => {
            // Only constant bounds; DataFusion has folded any constant expression by now.
            let constant = |e: &Option<Box<Expr>>| {
                e.as_deref().is_none_or(
                    |e| matches!(e, Expr::Literal(ScalarValue::Int64(Some(n)), _) if *n >= 0),
                )
            };
            constant(&l.skip) && constant(&l.fetch)
        }
        LogicalPlan::SubqueryAlias(_) => true,
        _ => false,
    }
}

fn aggregate_ok(expr: &Expr, schema: &DFSchema) -> bool {
    match expr {
        Expr::Alias(a) => aggregate_ok(&a.expr, schema),
        Expr::AggregateFunction(AggregateFunction { func, params }) => {
            let name = func.name();
            let known = matches!(name, "count" | "sum" | "min" | "max" | "avg");
            known
                && (!params.distinct || name == "count")
                && params.filter.is_none()
                && params.order_by.is_empty()
                && params.args.iter().all(|a| expr_ok(a, schema))
        }
        _ => false,
    }
}

fn type_of(expr: &Expr, schema: &DFSchema) -> Option<DataType> {
    use datafusion::logical_expr::ExprSchemable;
    expr.get_type(schema).ok()
}

fn is_int(t: &DataType) -> bool {
    t.is_integer()
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
}

/// Whether DuckDB evaluates `expr` (over columns of `schema`) exactly as DataFusion does.
pub(super) fn expr_ok(expr: &Expr, schema: &DFSchema) -> bool {
    match expr {
        Expr::Column(_) => true,
        Expr::Literal(value, _) => literal_ok(value),
        Expr::Alias(a) => expr_ok(&a.expr, schema),
        Expr::BinaryExpr(b) => {
            let operands = expr_ok(&b.left, schema) && expr_ok(&b.right, schema);
            operands
                && match b.op {
                    Operator::Eq
                    | Operator::NotEq
                    | Operator::Lt
                    | Operator::LtEq
                    | Operator::Gt
                    | Operator::GtEq
                    | Operator::And
                    | Operator::Or => true,
                    // Arithmetic only in floating point, where both engines follow IEEE 754.
                    Operator::Plus | Operator::Minus | Operator::Multiply | Operator::Divide => {
                        type_of(expr, schema) == Some(DataType::Float64)
                    }
                    _ => false,
                }
        }
        Expr::Not(e) | Expr::IsNull(e) | Expr::IsNotNull(e) => expr_ok(e, schema),
        Expr::Negative(e) => type_of(e, schema) == Some(DataType::Float64) && expr_ok(e, schema),
        Expr::Between(b) => {
            expr_ok(&b.expr, schema) && expr_ok(&b.low, schema) && expr_ok(&b.high, schema)
        }
        Expr::InList(l) => expr_ok(&l.expr, schema) && l.list.iter().all(|e| expr_ok(e, schema)),
        Expr::Case(c) => {
            c.expr.as_deref().is_none_or(|e| expr_ok(e, schema))
                && c.when_then_expr
                    .iter()
                    .all(|(w, t)| expr_ok(w, schema) && expr_ok(t, schema))
                && c.else_expr.as_deref().is_none_or(|e| expr_ok(e, schema))
        }
        Expr::Like(like) => {
            let Expr::Literal(pattern, _) = like.pattern.as_ref() else {
                return false;
            };
            let Some(Some(pattern)) = pattern.try_as_str() else {
                return false;
            };
            like.escape_char.is_none()
                && like_pattern_ok(pattern, like.case_insensitive)
                && type_of(&like.expr, schema).is_some_and(|t| is_text(&t))
                && expr_ok(&like.expr, schema)
        }
        Expr::Cast(c) => cast_ok(&c.expr, c.field.data_type(), schema),
        Expr::TryCast(c) => cast_ok(&c.expr, c.field.data_type(), schema),
        Expr::ScalarFunction(f) => function_ok(f, schema),
        // Only the form `prepare` writes for a semi join; the subquery's own plan is checked
        // where the tables are collected (`pushable`).
        Expr::InSubquery(s) => {
            !s.negated && matches!(s.expr.as_ref(), Expr::Column(_)) && expr_ok(&s.expr, schema)
        }
        _ => false,
    }
}

/// `%` is a run of any characters, `_` one character (not byte), and every other character
/// stands for itself in both engines, except `\`: DuckDB has no default escape character.
pub(super) fn like_pattern_ok(pattern: &str, case_insensitive: bool) -> bool {
    !pattern.contains('\\') && (!case_insensitive || pattern.is_ascii())
}

fn cast_ok(inner: &Expr, to: &DataType, schema: &DFSchema) -> bool {
    let Some(from) = type_of(inner, schema) else {
        return false;
    };
    let same_kind = match (&from, to) {
        (f, t) if is_int(f) && is_int(t) => {
            t.primitive_width() >= f.primitive_width()
                && (t.is_signed_integer() || !f.is_signed_integer())
        }
        (f, DataType::Float64) if is_int(f) => true,
        (DataType::Float64, DataType::Float64) => true,
        (f, t) if is_text(f) && is_text(t) => true,
        // Dropped when rendered: the stored microseconds, seen at another unit or zone.
        (DataType::Timestamp(..), DataType::Timestamp(unit, _)) => {
            matches!(unit, TimeUnit::Microsecond | TimeUnit::Nanosecond)
        }
        _ => false,
    };
    same_kind && expr_ok(inner, schema)
}

fn function_ok(f: &ScalarFunction, schema: &DFSchema) -> bool {
    let unit = |i: usize, allowed: &[&str]| {
        f.args.get(i).is_some_and(|a| match a {
            Expr::Literal(v, _) => v
                .try_as_str()
                .flatten()
                .is_some_and(|s| allowed.contains(&s.to_ascii_lowercase().as_str())),
            _ => false,
        })
    };
    let args_ok = || f.args.iter().all(|a| expr_ok(a, schema));
    match f.func.name() {
        "date_trunc" => f.args.len() == 2 && unit(0, TRUNC_UNITS) && args_ok(),
        "date_part" => f.args.len() == 2 && unit(0, PART_FIELDS) && args_ok(),
        "floor" | "ceil" | "abs" => {
            f.args.len() == 1 && type_of(&f.args[0], schema) == Some(DataType::Float64) && args_ok()
        }
        _ => false,
    }
}

fn literal_ok(value: &ScalarValue) -> bool {
    match value {
        ScalarValue::Null
        | ScalarValue::Boolean(_)
        | ScalarValue::Utf8(_)
        | ScalarValue::Utf8View(_)
        | ScalarValue::LargeUtf8(_)
        | ScalarValue::Int8(_)
        | ScalarValue::Int16(_)
        | ScalarValue::Int32(_)
        | ScalarValue::Int64(_)
        | ScalarValue::UInt8(_)
        | ScalarValue::UInt16(_)
        | ScalarValue::UInt32(_) => true,
        ScalarValue::Float64(v) => v.is_none_or(f64::is_finite),
        ScalarValue::TimestampSecond(..)
        | ScalarValue::TimestampMillisecond(..)
        | ScalarValue::TimestampMicrosecond(..) => true,
        // DuckDB's TIMESTAMP holds microseconds: a finer bound would be rounded.
        ScalarValue::TimestampNanosecond(v, _) => v.is_none_or(|ns| ns % 1_000 == 0),
        _ => false,
    }
}
