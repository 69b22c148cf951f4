//! Session statements and settings that drivers and pools send on every connection or on
//! release (`DISCARD ALL`, `RESET ALL`, `DEALLOCATE ALL`, `UNLISTEN *`, `current_setting`,
//! `set_config`, `pg_advisory_unlock_all`). None of them can mean anything for a read-only,
//! lock-free endpoint, so they succeed as no-ops with the answers a client expects.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray};
use arrow::datatypes::DataType;
use async_trait::async_trait;
use datafusion::common::{DFSchema, ParamValues};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{
    ColumnarValue, EmptyRelation, LogicalPlan, ScalarUDF, Volatility, create_udf,
};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::hooks::{HookClient, QueryHook};
use pgwire::api::ClientInfo;
use pgwire::api::results::{Response, Tag};
use pgwire::error::PgWireResult;

/// The server version we report. It decides which catalog columns psql asks for.
pub const SERVER_VERSION: &str = "16.6";
const SERVER_VERSION_NUM: &str = "160006";

/// Values of the settings clients read with `current_setting` or `SHOW`.
fn setting(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "server_version" => SERVER_VERSION,
        "server_version_num" => SERVER_VERSION_NUM,
        "search_path" => "\"$user\", public",
        "server_encoding" | "client_encoding" => "UTF8",
        "datestyle" => "ISO, MDY",
        "intervalstyle" => "postgres",
        "timezone" => "UTC",
        "integer_datetimes" | "standard_conforming_strings" => "on",
        "jit" => "off",
        "max_identifier_length" => "63",
        "transaction_isolation" | "default_transaction_isolation" => "read committed",
        "transaction_read_only" | "default_transaction_read_only" => "on",
        "is_superuser" => "off",
        "lc_collate" | "lc_ctype" => "C.UTF-8",
        _ => return None,
    })
}

/// The tag a no-op session statement completes with, or `None` for other statements.
fn no_op_tag(statement: &Statement) -> Option<&'static str> {
    Some(match statement {
        Statement::Deallocate { .. } => "DEALLOCATE",
        Statement::Discard { .. } => "DISCARD ALL",
        Statement::Reset(_) => "RESET",
        Statement::UNLISTEN { .. } => "UNLISTEN",
        _ => return None,
    })
}

/// Answers the no-op session statements before DataFusion would reject them.
pub(crate) struct SessionHook;

#[async_trait]
impl QueryHook for SessionHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        no_op_tag(statement).map(|tag| Ok(Response::Execution(Tag::new(tag))))
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        no_op_tag(statement).map(|_| Ok(no_rows_plan()))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        no_op_tag(statement).map(|tag| Ok(Response::Execution(Tag::new(tag))))
    }
}

/// A plan with no columns and no rows: what a statement that returns nothing describes as.
pub(crate) fn no_rows_plan() -> LogicalPlan {
    LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: false,
        schema: Arc::new(DFSchema::empty()),
    })
}

/// The first argument as an array.
fn first_arg(args: &[ColumnarValue], name: &str) -> Result<ArrayRef, DataFusionError> {
    let first = args
        .first()
        .ok_or_else(|| DataFusionError::Plan(format!("{name} takes one argument")))?;
    first.to_array(1)
}

/// `current_setting(name)`: the value of a known setting; unknown names are an error, as in
/// PostgreSQL.
fn current_setting() -> ScalarUDF {
    create_udf(
        "current_setting",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(|args: &[ColumnarValue]| {
            let names = first_arg(args, "current_setting")?;
            let names = names
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| DataFusionError::Plan("current_setting takes text".into()))?;
            let mut out = Vec::with_capacity(names.len());
            for i in 0..names.len() {
                if names.is_null(i) {
                    out.push(None);
                    continue;
                }
                let name = names.value(i);
                match setting(name) {
                    Some(v) => out.push(Some(v)),
                    None => {
                        return Err(DataFusionError::Execution(format!(
                            "unrecognized configuration parameter \"{name}\""
                        )));
                    }
                }
            }
            let array: ArrayRef = Arc::new(StringArray::from(out));
            Ok(
                if array.len() == 1 && matches!(args[0], ColumnarValue::Scalar(_)) {
                    ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)
                } else {
                    ColumnarValue::Array(array)
                },
            )
        }),
    )
}

/// `set_config(name, value, is_local)`: accepted and ignored; returns `value` as PostgreSQL
/// does. Sessions here have nothing a setting could change.
fn set_config() -> ScalarUDF {
    create_udf(
        "set_config",
        vec![DataType::Utf8, DataType::Utf8, DataType::Boolean],
        DataType::Utf8,
        Volatility::Volatile,
        Arc::new(|args: &[ColumnarValue]| {
            args.get(1)
                .cloned()
                .ok_or_else(|| DataFusionError::Plan("set_config takes three arguments".into()))
        }),
    )
}

/// `pg_advisory_unlock_all()`: there are no advisory locks to release.
fn pg_advisory_unlock_all() -> ScalarUDF {
    create_udf(
        "pg_advisory_unlock_all",
        vec![],
        DataType::Utf8,
        Volatility::Volatile,
        Arc::new(|_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
    )
}

/// `pg_function_is_visible(oid)`: every function is on the search path here (psql's `\df`).
fn pg_function_is_visible() -> ScalarUDF {
    create_udf(
        "pg_function_is_visible",
        vec![DataType::Int64],
        DataType::Boolean,
        Volatility::Stable,
        Arc::new(|args: &[ColumnarValue]| {
            let oids = first_arg(args, "pg_function_is_visible")?;
            let visible: arrow::array::BooleanArray = (0..oids.len())
                .map(|i| (!oids.is_null(i)).then_some(true))
                .collect();
            Ok(match args[0] {
                ColumnarValue::Scalar(_) => {
                    ColumnarValue::Scalar(ScalarValue::Boolean(Some(!oids.is_null(0))))
                }
                ColumnarValue::Array(_) => ColumnarValue::Array(Arc::new(visible)),
            })
        }),
    )
}

/// `name(oid) -> text` functions psql's `\df` calls to describe a function's signature. The
/// emulated `pg_proc` lists no user functions, so they have nothing to describe.
fn describe_function(name: &str) -> ScalarUDF {
    create_udf(
        name,
        vec![DataType::Int64],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(|_: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(
                Some(String::new()),
            )))
        }),
    )
}

/// `col_description(oid, int)` and `obj_description(oid, name)`: the comments psql's `\d+`
/// and `\dt+` show. Nothing here has a comment, so they are NULL, as in PostgreSQL.
fn description(name: &str, second: DataType) -> ScalarUDF {
    create_udf(
        name,
        vec![DataType::Int64, second],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(|_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
    )
}

/// `pg_table_size(oid)` and its kin for psql's `\dt+`: the tables live in one DuckDB file
/// with no per-table size to report, so 0.
fn relation_size(name: &str) -> ScalarUDF {
    create_udf(
        name,
        vec![DataType::Int64],
        DataType::Int64,
        Volatility::Stable,
        Arc::new(|_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Int64(Some(0))))),
    )
}

/// `pg_size_pretty(bigint)`, as PostgreSQL rounds it: bytes below 10 kB, then the largest
/// unit that keeps the number at 10 or more of it.
fn pg_size_pretty() -> ScalarUDF {
    create_udf(
        "pg_size_pretty",
        vec![DataType::Int64],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let sizes = match &args[0] {
                ColumnarValue::Scalar(v) => v.to_array()?,
                ColumnarValue::Array(a) => a.clone(),
            };
            let sizes = arrow::compute::cast(&sizes, &DataType::Int64)?;
            let sizes = sizes
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .ok_or_else(|| {
                    datafusion::error::DataFusionError::Internal("pg_size_pretty: not int8".into())
                })?;
            let out: StringArray = sizes.iter().map(|v| v.map(size_pretty)).collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

fn size_pretty(bytes: i64) -> String {
    // PostgreSQL 15's algorithm: keep one extra bit, shift by units, round half away from 0.
    let limit = 10 * 1024_i64;
    let limit2 = limit * 2 - 1;
    let half_rounded = |x: i64| (x + if x < 0 { -1 } else { 1 }) / 2;
    if bytes.abs() < limit {
        return format!("{bytes} bytes");
    }
    let mut size = bytes >> 9;
    for unit in ["kB", "MB", "GB"] {
        if size.abs() < limit2 {
            return format!("{} {unit}", half_rounded(size));
        }
        size >>= 10;
    }
    format!("{} TB", half_rounded(size))
}

/// Registers the session functions.
pub(crate) fn register_functions(ctx: &SessionContext) {
    for name in [
        "pg_get_function_result",
        "pg_get_function_arguments",
        "pg_get_function_identity_arguments",
    ] {
        ctx.register_udf(describe_function(name));
    }
    ctx.register_udf(current_setting());
    ctx.register_udf(set_config());
    ctx.register_udf(pg_advisory_unlock_all());
    ctx.register_udf(pg_function_is_visible());
    ctx.register_udf(description("col_description", DataType::Int64));
    ctx.register_udf(description("obj_description", DataType::Utf8));
    for name in [
        "pg_table_size",
        "pg_relation_size",
        "pg_total_relation_size",
    ] {
        ctx.register_udf(relation_size(name));
    }
    ctx.register_udf(pg_size_pretty());
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn one(ctx: &SessionContext, sql: &str) -> String {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let col = batches[0].column(0);
        let strings = arrow::compute::cast(col, &DataType::Utf8).unwrap();
        let strings = strings.as_any().downcast_ref::<StringArray>().unwrap();
        if strings.is_null(0) {
            "NULL".into()
        } else {
            strings.value(0).to_string()
        }
    }

    #[test]
    fn sizes_print_like_pg_size_pretty() {
        assert_eq!(size_pretty(0), "0 bytes");
        assert_eq!(size_pretty(10239), "10239 bytes");
        assert_eq!(size_pretty(10240), "10 kB");
        assert_eq!(size_pretty(1_000_000), "977 kB");
        assert_eq!(size_pretty(123_456_789), "118 MB");
        assert_eq!(size_pretty(10_i64 << 40), "10 TB");
    }

    #[tokio::test]
    async fn settings_read_like_postgres() {
        let ctx = SessionContext::new();
        register_functions(&ctx);
        assert_eq!(
            one(
                &ctx,
                "SELECT current_setting('server_version_num')::int / 100"
            )
            .await,
            "1600"
        );
        assert_eq!(
            one(&ctx, "SELECT set_config('jit', 'off', false)").await,
            "off"
        );
        assert_eq!(one(&ctx, "SELECT pg_advisory_unlock_all()").await, "NULL");
        let err = ctx
            .sql("SELECT current_setting('no_such_thing')")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("unrecognized configuration parameter")
        );
    }
}
