//! The predicates a scan can push into DuckDB, and their rendering as parameterised SQL.
//!
//! Values never enter the SQL text: they are bound as parameters, and column names are checked
//! against the table's schema and quoted, so no client input can change the statement's shape.

use duckdb::types::{TimeUnit, Value};

use crate::{Result, StoreError, Table};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

impl CmpOp {
    fn sql(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::NotEq => "<>",
            CmpOp::Lt => "<",
            CmpOp::LtEq => "<=",
            CmpOp::Gt => ">",
            CmpOp::GtEq => ">=",
        }
    }
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Microseconds since the epoch, UTC.
    Timestamp(i64),
}

impl Scalar {
    fn to_value(&self) -> Value {
        match self {
            Scalar::Str(s) => Value::Text(s.clone()),
            Scalar::Int(i) => Value::BigInt(*i),
            Scalar::Float(f) => Value::Double(*f),
            Scalar::Bool(b) => Value::Boolean(*b),
            Scalar::Timestamp(us) => Value::Timestamp(TimeUnit::Microsecond, *us),
        }
    }
}

/// A row predicate over one table's columns.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        column: String,
        op: CmpOp,
        value: Scalar,
    },
    InList {
        column: String,
        values: Vec<Scalar>,
        negated: bool,
    },
    IsNull {
        column: String,
        negated: bool,
    },
    /// SQL `LIKE`/`ILIKE` with `%` and `_` wildcards and no escape character.
    Like {
        column: String,
        pattern: String,
        negated: bool,
        case_insensitive: bool,
    },
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
}

/// Quotes an identifier for DuckDB.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn column(table: Table, name: &str) -> Result<String> {
    if table.schema().field_with_name(name).is_err() {
        return Err(StoreError::UnknownColumn {
            table: table.name(),
            column: name.to_string(),
        });
    }
    Ok(quote_ident(name))
}

impl Filter {
    /// Appends this predicate as SQL to `sql`, pushing its values onto `params`.
    pub(crate) fn render(
        &self,
        table: Table,
        sql: &mut String,
        params: &mut Vec<Value>,
    ) -> Result<()> {
        match self {
            Filter::Compare {
                column: c,
                op,
                value,
            } => {
                sql.push_str(&format!("{} {} ?", column(table, c)?, op.sql()));
                params.push(value.to_value());
            }
            Filter::InList {
                column: c,
                values,
                negated,
            } => {
                if values.is_empty() {
                    // `x IN ()` is not SQL; an empty list matches nothing (or, negated, every
                    // non-null value).
                    let sql_text = if *negated {
                        format!("{} IS NOT NULL", column(table, c)?)
                    } else {
                        "FALSE".to_string()
                    };
                    sql.push_str(&sql_text);
                    return Ok(());
                }
                sql.push_str(&column(table, c)?);
                sql.push_str(if *negated { " NOT IN (" } else { " IN (" });
                for (i, v) in values.iter().enumerate() {
                    sql.push_str(if i == 0 { "?" } else { ", ?" });
                    params.push(v.to_value());
                }
                sql.push(')');
            }
            Filter::IsNull { column: c, negated } => {
                sql.push_str(&column(table, c)?);
                sql.push_str(if *negated { " IS NOT NULL" } else { " IS NULL" });
            }
            Filter::Like {
                column: c,
                pattern,
                negated,
                case_insensitive,
            } => {
                let op = match (negated, case_insensitive) {
                    (false, false) => "LIKE",
                    (false, true) => "ILIKE",
                    (true, false) => "NOT LIKE",
                    (true, true) => "NOT ILIKE",
                };
                sql.push_str(&format!("{} {op} ?", column(table, c)?));
                params.push(Value::Text(pattern.clone()));
            }
            Filter::And(parts) | Filter::Or(parts) => {
                let joiner = if matches!(self, Filter::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                if parts.is_empty() {
                    sql.push_str(if matches!(self, Filter::And(_)) {
                        "TRUE"
                    } else {
                        "FALSE"
                    });
                    return Ok(());
                }
                sql.push('(');
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        sql.push_str(joiner);
                    }
                    part.render(table, sql, params)?;
                }
                sql.push(')');
            }
            Filter::Not(inner) => {
                sql.push_str("(NOT ");
                inner.render(table, sql, params)?;
                sql.push(')');
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(f: &Filter) -> (String, usize) {
        let mut sql = String::new();
        let mut params = Vec::new();
        f.render(Table::Logs, &mut sql, &mut params).unwrap();
        (sql, params.len())
    }

    #[test]
    fn values_are_parameters_and_idents_quoted() {
        let f = Filter::Or(vec![
            Filter::Compare {
                column: "service".into(),
                op: CmpOp::Eq,
                value: Scalar::Str("x'; DROP TABLE logs; --".into()),
            },
            Filter::InList {
                column: "level".into(),
                values: vec![Scalar::Str("ERROR".into()), Scalar::Str("WARN".into())],
                negated: true,
            },
        ]);
        assert_eq!(
            render(&f),
            (
                "(\"service\" = ? OR \"level\" NOT IN (?, ?))".to_string(),
                3
            )
        );
    }

    #[test]
    fn unknown_columns_are_refused() {
        let f = Filter::IsNull {
            column: "nope\"; --".into(),
            negated: false,
        };
        let mut sql = String::new();
        let err = f
            .render(Table::Logs, &mut sql, &mut Vec::new())
            .unwrap_err();
        assert!(matches!(err, StoreError::UnknownColumn { .. }));
    }
}
