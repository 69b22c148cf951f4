//! Translation of DataFusion filter expressions into the store's [`Filter`] language.
//!
//! A translation is *exact* when DuckDB's result is precisely what DataFusion would keep, and
//! *inexact* when DuckDB returns a superset that DataFusion filters again. Anything else is not
//! pushed at all. Being honest here matters: an "exact" claim that is wrong loses rows.

use arrow::datatypes::{DataType, Schema};
use datafusion::logical_expr::{BinaryExpr, Operator};
use datafusion::prelude::Expr;
use datafusion::scalar::ScalarValue;
use store::{CmpOp, Filter, Scalar};

/// A pushed-down predicate and whether DuckDB applies it exactly.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pushed {
    pub filter: Filter,
    pub exact: bool,
}

/// The kind of value a column holds, for checking that a literal compares like-for-like.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Int,
    Float,
    Bool,
    Time,
}

fn kind(dt: &DataType) -> Option<Kind> {
    match dt {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => Some(Kind::Text),
        DataType::Int64 | DataType::Int32 => Some(Kind::Int),
        DataType::Float64 => Some(Kind::Float),
        DataType::Boolean => Some(Kind::Bool),
        DataType::Timestamp(..) => Some(Kind::Time),
        _ => None,
    }
}

/// The column an expression reads, looking through casts that keep order and equality
/// (string ↔ string, timestamp ↔ timestamp).
fn column<'a>(expr: &'a Expr, schema: &Schema) -> Option<(&'a str, Kind)> {
    match expr {
        Expr::Column(c) => {
            let field = schema.field_with_name(&c.name).ok()?;
            Some((c.name.as_str(), kind(field.data_type())?))
        }
        Expr::Cast(cast) => {
            let (name, k) = column(&cast.expr, schema)?;
            (kind(cast.field.data_type()) == Some(k) && matches!(k, Kind::Text | Kind::Time))
                .then_some((name, k))
        }
        _ => None,
    }
}

/// A literal's value. Timestamps come back in nanoseconds so that rounding to the stored
/// microseconds can be decided per operator.
enum Lit {
    Scalar(Scalar),
    Nanos(i128),
}

fn literal(expr: &Expr) -> Option<Lit> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    Some(match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => Lit::Scalar(Scalar::Str(s.clone())),
        ScalarValue::Int64(Some(v)) => Lit::Scalar(Scalar::Int(*v)),
        ScalarValue::Int32(Some(v)) => Lit::Scalar(Scalar::Int(i64::from(*v))),
        ScalarValue::Float64(Some(v)) => Lit::Scalar(Scalar::Float(*v)),
        ScalarValue::Boolean(Some(v)) => Lit::Scalar(Scalar::Bool(*v)),
        ScalarValue::TimestampSecond(Some(v), _) => Lit::Nanos(i128::from(*v) * 1_000_000_000),
        ScalarValue::TimestampMillisecond(Some(v), _) => Lit::Nanos(i128::from(*v) * 1_000_000),
        ScalarValue::TimestampMicrosecond(Some(v), _) => Lit::Nanos(i128::from(*v) * 1_000),
        ScalarValue::TimestampNanosecond(Some(v), _) => Lit::Nanos(i128::from(*v)),
        _ => return None,
    })
}

fn lit_kind(lit: &Lit) -> Kind {
    match lit {
        Lit::Scalar(Scalar::Str(_)) => Kind::Text,
        Lit::Scalar(Scalar::Int(_)) => Kind::Int,
        Lit::Scalar(Scalar::Float(_)) => Kind::Float,
        Lit::Scalar(Scalar::Bool(_)) => Kind::Bool,
        Lit::Scalar(Scalar::Timestamp(_)) | Lit::Nanos(_) => Kind::Time,
    }
}

fn cmp_op(op: Operator) -> Option<CmpOp> {
    Some(match op {
        Operator::Eq => CmpOp::Eq,
        Operator::NotEq => CmpOp::NotEq,
        Operator::Lt => CmpOp::Lt,
        Operator::LtEq => CmpOp::LtEq,
        Operator::Gt => CmpOp::Gt,
        Operator::GtEq => CmpOp::GtEq,
        _ => return None,
    })
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::LtEq => CmpOp::GtEq,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::GtEq => CmpOp::LtEq,
        same => same,
    }
}

/// `column op literal`, with timestamps rounded so DuckDB returns at least the right rows:
/// a nanosecond bound between two microseconds is widened and the result marked inexact.
fn compare(column: &str, k: Kind, op: CmpOp, lit: Lit) -> Option<Pushed> {
    if lit_kind(&lit) != k {
        return None;
    }
    let (value, exact) = match lit {
        Lit::Scalar(s) => (s, true),
        Lit::Nanos(ns) => {
            let floor = ns.div_euclid(1_000);
            let exact = ns.rem_euclid(1_000) == 0;
            let micros = match op {
                CmpOp::Gt | CmpOp::GtEq => floor,
                CmpOp::Lt | CmpOp::LtEq => floor + i128::from(!exact),
                // No stored value can equal a bound that is not a whole microsecond.
                CmpOp::Eq | CmpOp::NotEq if !exact => return None,
                CmpOp::Eq | CmpOp::NotEq => floor,
            };
            (Scalar::Timestamp(i64::try_from(micros).ok()?), exact)
        }
    };
    Some(Pushed {
        filter: Filter::Compare {
            column: column.to_string(),
            op,
            value,
        },
        exact,
    })
}

/// Translates one filter expression, or `None` when DuckDB cannot apply it.
pub(crate) fn translate(expr: &Expr, schema: &Schema) -> Option<Pushed> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => {
                let (l, r) = (translate(left, schema), translate(right, schema));
                match (l, r) {
                    (Some(l), Some(r)) => Some(Pushed {
                        exact: l.exact && r.exact,
                        filter: Filter::And(vec![l.filter, r.filter]),
                    }),
                    // Half of a conjunction still narrows the scan; DataFusion applies the rest.
                    (Some(one), None) | (None, Some(one)) => Some(Pushed {
                        exact: false,
                        filter: one.filter,
                    }),
                    (None, None) => None,
                }
            }
            Operator::Or => {
                let (l, r) = (translate(left, schema)?, translate(right, schema)?);
                Some(Pushed {
                    exact: l.exact && r.exact,
                    filter: Filter::Or(vec![l.filter, r.filter]),
                })
            }
            op => {
                let op = cmp_op(*op)?;
                if let (Some((name, k)), Some(lit)) = (column(left, schema), literal(right)) {
                    compare(name, k, op, lit)
                } else if let (Some(lit), Some((name, k))) = (literal(left), column(right, schema))
                {
                    compare(name, k, flip(op), lit)
                } else {
                    None
                }
            }
        },
        Expr::Not(inner) => {
            let inner = translate(inner, schema)?;
            // The negation of a superset is not a superset of the negation.
            inner.exact.then(|| Pushed {
                filter: Filter::Not(Box::new(inner.filter)),
                exact: true,
            })
        }
        Expr::IsNull(inner) | Expr::IsNotNull(inner) => {
            let (name, _) = column(inner, schema)?;
            Some(Pushed {
                filter: Filter::IsNull {
                    column: name.to_string(),
                    negated: matches!(expr, Expr::IsNotNull(_)),
                },
                exact: true,
            })
        }
        Expr::InList(list) => {
            let (name, k) = column(&list.expr, schema)?;
            let mut values = Vec::with_capacity(list.list.len());
            for item in &list.list {
                match literal(item)? {
                    Lit::Scalar(s) if k != Kind::Time && lit_kind(&Lit::Scalar(s.clone())) == k => {
                        values.push(s)
                    }
                    Lit::Nanos(ns) if k == Kind::Time && ns.rem_euclid(1_000) == 0 => {
                        values.push(Scalar::Timestamp(i64::try_from(ns / 1_000).ok()?))
                    }
                    _ => return None,
                }
            }
            Some(Pushed {
                filter: Filter::InList {
                    column: name.to_string(),
                    values,
                    negated: list.negated,
                },
                exact: true,
            })
        }
        Expr::Between(between) => {
            let (name, k) = column(&between.expr, schema)?;
            let (lo_op, hi_op) = if between.negated {
                (CmpOp::Lt, CmpOp::Gt)
            } else {
                (CmpOp::GtEq, CmpOp::LtEq)
            };
            let lo = compare(name, k, lo_op, literal(&between.low)?)?;
            let hi = compare(name, k, hi_op, literal(&between.high)?)?;
            let parts = vec![lo.filter, hi.filter];
            Some(Pushed {
                exact: lo.exact && hi.exact,
                filter: if between.negated {
                    Filter::Or(parts)
                } else {
                    Filter::And(parts)
                },
            })
        }
        Expr::Like(like) => {
            let (name, Kind::Text) = column(&like.expr, schema)? else {
                return None;
            };
            let Some(Lit::Scalar(Scalar::Str(pattern))) = literal(&like.pattern) else {
                return None;
            };
            // DataFusion and DuckDB disagree on backslash escapes, and on case folding for
            // a few characters (`ſ`, `İ`): leave those to DataFusion. Whole subplans push
            // `ILIKE` in an exact form (see `subplan::render`).
            if like.escape_char.is_some() || pattern.contains('\\') || like.case_insensitive {
                return None;
            }
            Some(Pushed {
                filter: Filter::Like {
                    column: name.to_string(),
                    pattern,
                    negated: like.negated,
                    case_insensitive: like.case_insensitive,
                },
                exact: true,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    fn schema() -> std::sync::Arc<Schema> {
        model::schema::logs()
    }

    fn ts_ns(v: i64) -> Expr {
        Expr::Literal(
            ScalarValue::TimestampNanosecond(Some(v), Some("+00:00".into())),
            None,
        )
    }

    #[test]
    fn equality_on_text_is_exact() {
        let p = translate(&col("service").eq(lit("api")), &schema()).unwrap();
        assert!(p.exact);
        assert_eq!(
            p.filter,
            Filter::Compare {
                column: "service".into(),
                op: CmpOp::Eq,
                value: Scalar::Str("api".into())
            }
        );
    }

    #[test]
    fn literal_on_the_left_flips_the_operator() {
        let p = translate(&lit("b").lt(col("level")), &schema()).unwrap();
        assert!(matches!(p.filter, Filter::Compare { op: CmpOp::Gt, .. }));
    }

    #[test]
    fn nanosecond_bounds_widen_and_become_inexact() {
        let p = translate(&col("ts").gt_eq(ts_ns(1_500)), &schema()).unwrap();
        assert!(!p.exact);
        assert!(matches!(
            p.filter,
            Filter::Compare {
                value: Scalar::Timestamp(1),
                ..
            }
        ));
        let p = translate(&col("ts").lt(ts_ns(1_500)), &schema()).unwrap();
        assert!(matches!(
            p.filter,
            Filter::Compare {
                value: Scalar::Timestamp(2),
                ..
            }
        ));
        let p = translate(&col("ts").gt(ts_ns(2_000)), &schema()).unwrap();
        assert!(p.exact);
        assert!(translate(&col("ts").eq(ts_ns(2_001)), &schema()).is_none());
    }

    #[test]
    fn half_a_conjunction_is_pushed_inexactly_but_or_needs_both() {
        // Column-to-column comparisons have no literal to bind.
        let unknown = col("message").eq(col("host"));
        let and = col("level").eq(lit("ERROR")).and(unknown.clone());
        let p = translate(&and, &schema()).unwrap();
        assert!(!p.exact);
        assert!(translate(&col("level").eq(lit("ERROR")).or(unknown), &schema()).is_none());
    }

    #[test]
    fn mismatched_kinds_are_not_pushed() {
        assert!(translate(&col("service").eq(lit(5i64)), &schema()).is_none());
        assert!(translate(&col("nope").eq(lit("x")), &schema()).is_none());
    }

    #[test]
    fn like_with_backslash_stays_in_datafusion() {
        assert!(translate(&col("message").like(lit("a\\%")), &schema()).is_none());
        assert!(
            translate(&col("message").like(lit("%timeout%")), &schema())
                .unwrap()
                .exact
        );
    }
}
