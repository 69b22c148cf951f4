//! A checked subplan as DuckDB SQL: DataFusion's `Unparser` with a DuckDB dialect, after a
//! rewrite that puts the plan in the terms of the stored tables.
//!
//! The rewrite is what makes the text mean in DuckDB what the plan means in DataFusion:
//! - time columns are `TIMESTAMP` holding UTC in DuckDB and `Timestamp(µs, UTC)` here, so
//!   timestamp literals lose their zone (the value is the same instant) and casts between
//!   timestamp types are dropped;
//! - float literals are written as `CAST('…' AS DOUBLE)`: DuckDB reads a bare `1.5` as a
//!   DECIMAL;
//! - `ILIKE` with an ASCII pattern folds case like DataFusion's regex except on two characters
//!   whose Unicode lower case and case folding disagree (`ſ` folds to `s`, `İ` lowers to `i`);
//!   rows holding either are matched with DuckDB's RE2 regex, which folds as Rust's does;
//! - table names lose their catalog and schema (DuckDB's schema is `main`), columns their
//!   qualifier.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, Result, TableReference};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    ColumnarValue, Expr, LogicalPlan, Projection, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, TableScan, Volatility, cast, lit, when,
};
use datafusion::scalar::ScalarValue;
use datafusion::sql::sqlparser::ast::BinaryOperator;
use datafusion::sql::unparser::Unparser;
use datafusion::sql::unparser::dialect::{CharacterLengthStyle, Dialect};

/// DuckDB as the unparser should write it: double-quoted identifiers, `/` as written (the
/// upstream DuckDB dialect writes `//`, integer division, for every `/`), zone-less
/// timestamps.
struct DuckDialect;

impl Dialect for DuckDialect {
    fn identifier_quote_style(&self, _: &str) -> Option<char> {
        Some('"')
    }

    fn character_length_style(&self) -> CharacterLengthStyle {
        CharacterLengthStyle::Length
    }

    fn division_operator(&self) -> BinaryOperator {
        BinaryOperator::Divide
    }

    fn requires_derived_table_alias(&self) -> bool {
        true
    }
}

/// The rewritten plan (see the module comment), ready for [`to_sql`].
pub(super) fn for_duckdb(plan: &LogicalPlan) -> Result<LogicalPlan> {
    let plan = project_aggregate(plan.clone())?
        .transform_up(|node| {
            let node = match node {
                LogicalPlan::TableScan(scan) => {
                    let bare = TableReference::bare(scan.table_name.table());
                    LogicalPlan::TableScan(TableScan {
                        table_name: bare,
                        ..scan
                    })
                }
                // An aggregate over no columns (`count(*)`) sits on an empty projection,
                // which DuckDB's parser refuses as `SELECT FROM`; one constant column
                // stands in, and nothing above reads it.
                LogicalPlan::Projection(p) if p.expr.is_empty() => LogicalPlan::Projection(
                    Projection::try_new(vec![lit(1i64).alias("__one")], p.input)?,
                ),
                other => other,
            };
            node.map_expressions(|e| e.transform_up(rewrite_expr))
        })?
        .data;
    Ok(plan)
}

/// The plan with a projection of all its columns, in order, above a top aggregate (under any
/// sorts and limits). The unparser writes an aggregate without a projection above it as
/// `SELECT <aggregates>, <groups>`, while the plan's columns are the groups first; results
/// are read by position.
fn project_aggregate(plan: LogicalPlan) -> Result<LogicalPlan> {
    match plan {
        LogicalPlan::Sort(_) | LogicalPlan::Limit(_) => {
            let child = project_aggregate(plan.inputs()[0].clone())?;
            plan.with_new_exprs(plan.expressions(), vec![child])
        }
        LogicalPlan::Aggregate(_) => wrap_in_projection(plan),
        LogicalPlan::Filter(ref f) if matches!(f.input.as_ref(), LogicalPlan::Aggregate(_)) => {
            wrap_in_projection(plan)
        }
        other => Ok(other),
    }
}

fn wrap_in_projection(plan: LogicalPlan) -> Result<LogicalPlan> {
    let columns = plan
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    Ok(LogicalPlan::Projection(Projection::try_new(
        columns,
        Arc::new(plan),
    )?))
}

/// Adds `ts >= cutoff` (UTC microseconds) to the scan of `logs` in a rewritten plan.
pub(super) fn with_ts_floor(plan: &LogicalPlan, cutoff_us: i64) -> Result<LogicalPlan> {
    Ok(plan
        .clone()
        .transform_up(|node| match node {
            LogicalPlan::TableScan(mut scan) if scan.table_name.table() == "logs" => {
                let ts = Expr::Column(Column::new_unqualified("ts"));
                scan.filters
                    .push(ts.gt_eq(lit(ScalarValue::TimestampMicrosecond(
                        Some(cutoff_us),
                        None,
                    ))));
                Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
            }
            other => Ok(Transformed::no(other)),
        })?
        .data)
}

/// The SQL text of a rewritten plan.
pub(super) fn to_sql(plan: &LogicalPlan) -> Result<String> {
    let dialect = DuckDialect;
    let statement = Unparser::new(&dialect).plan_to_sql(plan)?;
    Ok(statement.to_string())
}

fn rewrite_expr(expr: Expr) -> Result<Transformed<Expr>> {
    Ok(match expr {
        // A pushed plan is a chain over one table (no joins), so every column name is
        // unique and resolves without its qualifier; inside an `IN` subquery, SQL resolves a
        // bare name in the subquery's own tables first. The unparser wraps some nodes into
        // derived tables (`derived_sort`, `derived_projection`) but keeps the original
        // qualifiers, which DuckDB cannot resolve there.
        Expr::Column(c) if c.relation.is_some() => {
            Transformed::yes(Expr::Column(Column::new_unqualified(c.name)))
        }
        Expr::Literal(value, meta) => match duck_literal(&value) {
            Some(rewritten) => Transformed::yes(rewritten),
            None => Transformed::no(Expr::Literal(value, meta)),
        },
        Expr::Cast(c) if matches!(c.field.data_type(), DataType::Timestamp(..)) => {
            Transformed::yes(*c.expr)
        }
        Expr::TryCast(c) if matches!(c.field.data_type(), DataType::Timestamp(..)) => {
            Transformed::yes(*c.expr)
        }
        Expr::InSubquery(mut sub) => {
            sub.subquery.subquery = Arc::new(for_duckdb(&sub.subquery.subquery)?);
            Transformed::yes(Expr::InSubquery(sub))
        }
        Expr::Like(like) if like.case_insensitive => {
            let pattern = match like.pattern.as_ref() {
                Expr::Literal(v, _) => v.try_as_str().flatten().map(str::to_string),
                _ => None,
            };
            match pattern {
                Some(pattern) => {
                    let subject = *like.expr.clone();
                    let matched = exact_ilike(subject, &pattern)?;
                    Transformed::yes(if like.negated {
                        Expr::Not(Box::new(matched))
                    } else {
                        matched
                    })
                }
                None => Transformed::no(Expr::Like(like)),
            }
        }
        other => Transformed::no(other),
    })
}

fn duck_literal(value: &ScalarValue) -> Option<Expr> {
    let timestamp = |us: Option<i64>| lit(ScalarValue::TimestampMicrosecond(us, None));
    Some(match value {
        ScalarValue::TimestampSecond(v, _) => timestamp(v.and_then(|v| v.checked_mul(1_000_000))),
        ScalarValue::TimestampMillisecond(v, _) => timestamp(v.and_then(|v| v.checked_mul(1_000))),
        ScalarValue::TimestampMicrosecond(v, Some(_)) => timestamp(*v),
        ScalarValue::TimestampNanosecond(v, _) => timestamp(v.map(|v| v / 1_000)),
        ScalarValue::Float64(Some(v)) => cast(lit(format!("{v:?}")), DataType::Float64),
        ScalarValue::Utf8View(v) | ScalarValue::LargeUtf8(v) => lit(ScalarValue::Utf8(v.clone())),
        _ => return None,
    })
}

/// `subject ILIKE pattern` for an ASCII pattern without `\`, matching exactly the rows
/// DataFusion's `ILIKE` matches.
fn exact_ilike(subject: Expr, pattern: &str) -> Result<Expr> {
    let mut regex = String::from("(?s)(?i)");
    for c in pattern.chars() {
        match c {
            '%' => regex.push_str(".*"),
            '_' => regex.push('.'),
            c => {
                // RE2 takes `\` before any punctuation as the character itself.
                if c.is_ascii_punctuation() {
                    regex.push('\\');
                }
                regex.push(c);
            }
        }
    }
    let contains = datafusion::functions::string::contains();
    let special = |c: &str| {
        Expr::ScalarFunction(ScalarFunction::new_udf(
            contains.clone(),
            vec![subject.clone(), lit(c)],
        ))
    };
    let full_match = Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(RegexpFullMatch::new())),
        vec![subject.clone(), lit(regex)],
    ));
    when(special("ſ").or(special("İ")), full_match).otherwise(subject.ilike(lit(pattern)))
}

/// DuckDB's `regexp_full_match`, named so that the unparser writes it. It only ever appears
/// in plans rendered for DuckDB; DataFusion never evaluates it.
#[derive(Debug, PartialEq, Eq, Hash)]
struct RegexpFullMatch {
    signature: Signature,
}

impl RegexpFullMatch {
    fn new() -> Self {
        RegexpFullMatch {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for RegexpFullMatch {
    fn name(&self) -> &str {
        "regexp_full_match"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, _: ScalarFunctionArgs) -> Result<ColumnarValue> {
        datafusion::common::internal_err!("regexp_full_match is only rendered for DuckDB")
    }
}
