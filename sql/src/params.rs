//! How a prepared statement's parameters are described to the client.
//!
//! datafusion-postgres maps each parameter's Arrow type to a Postgres type and so describes
//! `$1::oid[]` as `int4[]`: an oid is stored as an Int32 whose field carries the oid kind
//! (`pg.oid_alias`) only in its metadata. PostgreSQL says `oid[]`, and asyncpg relies on it:
//! it ships codecs for `oid[]` and `text[]` only so that it can run its type-introspection
//! query, and introspects every other array type with that same query — told `int4[]`, it
//! introspects forever. The same holds for result columns (its introspection query returns
//! `oid[]` columns). This parser keeps everything else of datafusion-postgres's and reads the
//! kind back from the placeholder's or the column's field.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::expr::Placeholder;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion_pg_catalog::pg_catalog::oid_field::OID_ALIAS_KEY;
use pgwire::api::ClientInfo;
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::FieldInfo;
use pgwire::api::stmt::QueryParser;
use pgwire::error::{PgWireError, PgWireResult};

/// Delegates to datafusion-postgres's parser; only parameter types differ.
pub(crate) struct OidAwareParser<P> {
    inner: Arc<P>,
}

impl<P> OidAwareParser<P> {
    pub(crate) fn new(inner: Arc<P>) -> Self {
        Self { inner }
    }
}

type Prepared = (
    String,
    Option<(datafusion::sql::sqlparser::ast::Statement, LogicalPlan)>,
);

#[async_trait]
impl<P> QueryParser for OidAwareParser<P>
where
    P: QueryParser<Statement = Prepared> + Send + Sync,
{
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Self::Statement>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        self.inner.parse_sql(client, sql, types).await
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<Type>> {
        let mut types = self.inner.get_parameter_types(stmt)?;
        let (_, Some((_, plan))) = stmt else {
            return Ok(types);
        };
        for (id, field) in parameter_fields(plan)? {
            // Placeholders are `$1`, `$2`, …: the same order datafusion-postgres uses.
            let Some(index) = id
                .strip_prefix('$')
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| n.checked_sub(1))
            else {
                continue;
            };
            if let (Some(slot), Some(oid_type)) = (types.get_mut(index), oid_kind_type(&field)) {
                *slot = oid_type;
            }
        }
        Ok(types)
    }

    fn get_result_schema(
        &self,
        stmt: &Self::Statement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let fields = self.inner.get_result_schema(stmt, column_format)?;
        let (_, Some((_, plan))) = stmt else {
            return Ok(fields);
        };
        let schema = plan.schema();
        if schema.fields().len() != fields.len() {
            return Ok(fields);
        }
        // Same bytes either way: an oid is sent as the 4-byte integer it is stored as.
        Ok(fields
            .into_iter()
            .zip(schema.fields())
            .map(|(info, field)| match oid_kind_type(field) {
                Some(oid_type) => FieldInfo::new(
                    info.name().to_string(),
                    info.table_id(),
                    info.column_id(),
                    oid_type,
                    info.format(),
                )
                .with_format_options(info.format_options().clone()),
                None => info,
            })
            .collect())
    }
}

/// Each placeholder's field: its own when typed, else the field of a cast applied to it
/// (`$1::oid[]` plans as a cast of an untyped placeholder), subqueries included.
fn parameter_fields(plan: &LogicalPlan) -> PgWireResult<Vec<(String, FieldRef)>> {
    let mut fields = Vec::new();
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                match e {
                    Expr::Cast(cast) => {
                        if let Expr::Placeholder(p) = cast.expr.as_ref() {
                            fields.push((p.id.clone(), cast.field.clone()));
                        }
                    }
                    Expr::Placeholder(Placeholder {
                        id,
                        field: Some(field),
                    }) => fields.push((id.clone(), field.clone())),
                    _ => {}
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })
    .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    Ok(fields)
}

/// The Postgres type of an Int32 field (or a list of them) marked with an oid kind.
fn oid_kind_type(field: &Field) -> Option<Type> {
    let (element, array) = match field.data_type() {
        DataType::List(element) | DataType::LargeList(element) => (element.as_ref(), true),
        _ => (field, false),
    };
    if element.data_type() != &DataType::Int32 {
        return None;
    }
    let kind = element.metadata().get(OID_ALIAS_KEY)?;
    let (scalar, list) = match kind.as_str() {
        "oid" => (Type::OID, Type::OID_ARRAY),
        "regclass" => (Type::REGCLASS, Type::REGCLASS_ARRAY),
        "regtype" => (Type::REGTYPE, Type::REGTYPE_ARRAY),
        "regproc" => (Type::REGPROC, Type::REGPROC_ARRAY),
        "regnamespace" => (Type::REGNAMESPACE, Type::REGNAMESPACE_ARRAY),
        "regrole" => (Type::REGROLE, Type::REGROLE_ARRAY),
        _ => return None,
    };
    Some(if array { list } else { scalar })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn kind(name: &str) -> Field {
        Field::new("", DataType::Int32, true).with_metadata(HashMap::from([(
            OID_ALIAS_KEY.to_string(),
            name.to_string(),
        )]))
    }

    #[test]
    fn oid_kinds_and_their_arrays_get_their_postgres_types() {
        assert_eq!(oid_kind_type(&kind("oid")), Some(Type::OID));
        assert_eq!(oid_kind_type(&kind("regclass")), Some(Type::REGCLASS));
        let list = Field::new("", DataType::List(Arc::new(kind("oid"))), true);
        assert_eq!(oid_kind_type(&list), Some(Type::OID_ARRAY));
    }

    #[test]
    fn plain_integers_keep_their_type() {
        assert_eq!(oid_kind_type(&Field::new("", DataType::Int32, true)), None);
        let ints = Field::new(
            "",
            DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
            true,
        );
        assert_eq!(oid_kind_type(&ints), None);
    }
}
