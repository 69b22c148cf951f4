//! Whole subplans pushed into DuckDB.
//!
//! DataFusion plans every statement (the pg catalog, `analyze()`, the JSON operators, joins
//! with insights kept in PostgreSQL); once its optimizer is done, [`DuckQueryPlanner`] looks
//! for the largest subtrees that read only tables of the store and that DuckDB answers exactly
//! as DataFusion would ([`check`]). Each becomes one [`DuckSqlExec`](exec::DuckSqlExec): the
//! subtree unparsed into DuckDB SQL ([`render`]) and run there, so aggregation, sorting and
//! limits happen where the data is, and only the result crosses into DataFusion.
//!
//! Before the search, two rewrites give DuckDB more of the plan ([`prepare`]): a semi join
//! of two pushable sides (DataFusion's form of `x IN (SELECT …)`, which every Grafana panel
//! with a `$service` variable sends) becomes an `IN` subquery again, and a sort under a
//! projection DuckDB cannot compute (a cast to text) moves below it, so the sort and its
//! limit run in DuckDB and only the kept rows are projected here.
//!
//! Client text never reaches DuckDB: the SQL is printed by DataFusion's unparser from a plan
//! that DataFusion built and validated over our registered tables, and runs on connections
//! that can read no file and change no setting (see `store::Store::open`).

mod check;
mod exec;
mod render;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::default_table_source::source_as_provider;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchemaRef, JoinType, NullEquality, Result, Spans};
use datafusion::execution::context::{QueryPlanner, SessionState};
use datafusion::logical_expr::expr::InSubquery;
use datafusion::logical_expr::{
    Expr, Extension, Filter, Join, LogicalPlan, Projection, Sort, SortExpr, Subquery,
    UserDefinedLogicalNode, UserDefinedLogicalNodeCore,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use store::{StoreRef, Table};

use crate::tables::DuckTable;

/// The session's query planner: pushes subplans into DuckDB, then plans the rest as
/// DataFusion always does.
#[derive(Debug)]
pub(crate) struct DuckQueryPlanner;

#[async_trait]
impl QueryPlanner for DuckQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &SessionState,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = push_down(prepare(logical_plan.clone())?)?;
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(SubplanPlanner)])
            .create_physical_plan(&plan, session_state)
            .await
    }
}

/// Replaces each largest pushable subtree of `plan` by a [`DuckSubplan`] node.
fn push_down(plan: LogicalPlan) -> Result<LogicalPlan> {
    if let Some(store) = pushable(&plan) {
        return Ok(LogicalPlan::Extension(Extension {
            node: Arc::new(DuckSubplan {
                plan,
                store: SubplanStore(store),
            }),
        }));
    }
    Ok(plan
        .map_children(|child| push_down(child).map(Transformed::yes))?
        .data)
}

/// The plan with semi joins of pushable sides written as `IN` subqueries, and sorts moved
/// below projections that DuckDB cannot compute (see the module comment).
fn prepare(plan: LogicalPlan) -> Result<LogicalPlan> {
    Ok(plan
        .transform_up(|node| {
            let rewritten = match &node {
                LogicalPlan::Join(join) => semi_join_as_in(join)?,
                LogicalPlan::Sort(sort) => sort_below_projection(sort)?,
                _ => None,
            };
            Ok(match rewritten {
                Some(plan) => Transformed::yes(plan),
                None => Transformed::no(node),
            })
        })?
        .data)
}

/// `left SEMI JOIN right ON l = r` as `left WHERE l IN (SELECT r FROM right)`, when DuckDB can
/// answer both sides from one store. In a filter the two agree on every row: a `NULL` key
/// matches nothing in the join, and `NULL IN (…)` (or a miss against a set holding `NULL`)
/// is `NULL`, which the filter drops. Only this form is produced, so DataFusion never has to
/// execute an `IN` subquery: the whole filter is pushed.
fn semi_join_as_in(join: &Join) -> Result<Option<LogicalPlan>> {
    let [(left_key @ Expr::Column(_), right_key @ Expr::Column(_))] = join.on.as_slice() else {
        return Ok(None);
    };
    let plain = join.join_type == JoinType::LeftSemi
        && join.filter.is_none()
        && join.null_equality == NullEquality::NullEqualsNothing
        && !join.null_aware;
    if !plain {
        return Ok(None);
    }
    let (Some(left), Some(right)) = (pushable(&join.left), pushable(&join.right)) else {
        return Ok(None);
    };
    if !Arc::ptr_eq(&left, &right) {
        return Ok(None);
    }
    let keys = Projection::try_new(vec![right_key.clone()], join.right.clone())?;
    let subquery = Subquery {
        subquery: Arc::new(LogicalPlan::Projection(keys)),
        outer_ref_columns: Vec::new(),
        spans: Spans::new(),
    };
    let predicate = Expr::InSubquery(InSubquery::new(Box::new(left_key.clone()), subquery, false));
    Ok(Some(LogicalPlan::Filter(Filter::try_new(
        predicate,
        join.left.clone(),
    )?)))
}

/// `Sort(Projection(input))` as `Projection(Sort(input))` when the projection is not
/// pushable and passes every sort key through as a column of its input. A projection
/// computes each row from that row alone, so it commutes with the sort (and with the
/// sort's limit); volatile projections are left where they are.
fn sort_below_projection(sort: &Sort) -> Result<Option<LogicalPlan>> {
    let LogicalPlan::Projection(projection) = sort.input.as_ref() else {
        return Ok(None);
    };
    let projected = LogicalPlan::Projection(projection.clone());
    if check::node_exprs_ok(&projected) || projection.expr.iter().any(Expr::is_volatile) {
        return Ok(None);
    }
    let mut keys = Vec::with_capacity(sort.expr.len());
    for key in &sort.expr {
        let Expr::Column(column) = &key.expr else {
            return Ok(None);
        };
        let Some(index) = projection.schema.maybe_index_of_column(column) else {
            return Ok(None);
        };
        let Expr::Column(source) = projection.expr[index].clone().unalias() else {
            return Ok(None);
        };
        keys.push(SortExpr::new(
            Expr::Column(source),
            key.asc,
            key.nulls_first,
        ));
    }
    let sorted = LogicalPlan::Sort(Sort {
        expr: keys,
        input: projection.input.clone(),
        fetch: sort.fetch,
    });
    Ok(Some(LogicalPlan::Projection(
        Projection::try_new_with_schema(
            projection.expr.clone(),
            Arc::new(sorted),
            projection.schema.clone(),
        )?,
    )))
}

/// The store a subtree reads, if DuckDB can answer all of it: every node and
/// expression passes [`check`], every leaf is a table of that one store, and so is every
/// leaf of the `IN` subqueries that [`prepare`] wrote.
fn pushable(plan: &LogicalPlan) -> Option<StoreRef> {
    let mut store: Option<StoreRef> = None;
    let mut ok = true;
    let mut aggregates = 0;
    let same_store = |other: &StoreRef, store: &mut Option<StoreRef>| match store {
        Some(s) => Arc::ptr_eq(s, other),
        None => {
            *store = Some(other.clone());
            true
        }
    };
    let _ = plan.apply(|node| {
        // The unparser writes an aggregate over an aggregate (DataFusion's rewrite of
        // `count(DISTINCT x)`) as one SELECT naming the inner aliases; only the inner one is
        // pushed. A pushable plan is a chain (no joins or unions), so a count suffices; an
        // `IN` subquery is a plan of its own, counted on its own.
        if matches!(node, LogicalPlan::Aggregate(_)) {
            aggregates += 1;
        }
        if !check::node_exprs_ok(node) || aggregates > 1 {
            ok = false;
            return Ok(TreeNodeRecursion::Stop);
        }
        for expr in node.expressions() {
            let _ = expr.apply(|e| {
                if let Expr::InSubquery(sub) = e {
                    match pushable(&sub.subquery.subquery) {
                        Some(s) if sub.subquery.outer_ref_columns.is_empty() => {
                            ok &= same_store(&s, &mut store);
                        }
                        _ => ok = false,
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            });
        }
        if let LogicalPlan::TableScan(scan) = node {
            match duck_table(scan) {
                Some(table) => ok &= same_store(table.store(), &mut store),
                None => ok = false,
            }
        }
        Ok(if ok {
            TreeNodeRecursion::Continue
        } else {
            TreeNodeRecursion::Stop
        })
    });
    store.filter(|_| ok)
}

fn duck_table(scan: &datafusion::logical_expr::TableScan) -> Option<Arc<DuckTable>> {
    let provider = source_as_provider(&scan.source).ok()?;
    provider.downcast_ref::<DuckTable>()?;
    // Cheap: the provider is an `Arc`; re-wrapped as the concrete type.
    let any: Arc<dyn std::any::Any + Send + Sync> = provider;
    any.downcast::<DuckTable>().ok()
}

/// A subtree DuckDB answers. Its output is the subtree's, column for column.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
struct DuckSubplan {
    plan: LogicalPlan,
    store: SubplanStore,
}

/// The store a subplan runs in. Logical nodes must compare and hash; a store is itself, and
/// any two subplans over one store are alike in it.
#[derive(Debug, Clone)]
struct SubplanStore(StoreRef);

impl PartialEq for SubplanStore {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SubplanStore {}

impl std::hash::Hash for SubplanStore {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.0).hash(state);
    }
}

impl PartialOrd for SubplanStore {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        (self == other).then_some(std::cmp::Ordering::Equal)
    }
}

impl UserDefinedLogicalNodeCore for DuckSubplan {
    fn name(&self) -> &str {
        "DuckSubplan"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.plan.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match render::for_duckdb(&self.plan).and_then(|p| render::to_sql(&p)) {
            Ok(sql) => write!(f, "DuckSubplan: {sql}"),
            Err(err) => write!(f, "DuckSubplan: (cannot render: {err})"),
        }
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, _inputs: Vec<LogicalPlan>) -> Result<Self> {
        Ok(self.clone())
    }
}

/// Plans [`DuckSubplan`] nodes as [`exec::DuckSqlExec`].
struct SubplanPlanner;

#[async_trait]
impl ExtensionPlanner for SubplanPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        _physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session_state: &SessionState,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(sub) = node.as_any().downcast_ref::<DuckSubplan>() else {
            return Ok(None);
        };
        let rewritten = render::for_duckdb(&sub.plan)?;
        let sql = render::to_sql(&rewritten)?;
        let schema = Arc::new(sub.plan.schema().as_arrow().clone());
        let exec = exec::DuckSqlExec::new(
            sub.store.0.clone(),
            rewritten,
            sql,
            newest_first(&sub.plan),
            schema,
            ordering(&sub.plan),
        );
        tracing::debug!(sql = exec.sql(), "pushed a subplan into DuckDB");
        Ok(Some(Arc::new(exec)))
    }
}

/// The output ordering of a subplan, as (column index, descending, nulls first), when its
/// root sorts by plain columns (possibly under a limit).
fn ordering(plan: &LogicalPlan) -> Vec<(usize, bool, bool)> {
    match plan {
        LogicalPlan::Limit(limit) => ordering(&limit.input),
        LogicalPlan::Sort(sort) => {
            let mut keys = Vec::new();
            for key in &sort.expr {
                let Expr::Column(column) = &key.expr else {
                    break;
                };
                let Some(index) = plan.schema().maybe_index_of_column(column) else {
                    break;
                };
                keys.push((index, !key.asc, key.nulls_first));
            }
            keys
        }
        _ => Vec::new(),
    }
}

/// Whether the subplan is a newest-first read of `logs`: a sort whose first key is `ts`
/// descending (by that name or an alias, as Grafana's `ts AS "time"`), with a fetch, over
/// filters and projections of one scan of `logs`; projections above the sort are per row and
/// do not change which rows it keeps.
fn newest_first(plan: &LogicalPlan) -> Option<exec::Newest> {
    let mut root = plan;
    while let LogicalPlan::Projection(p) = root {
        root = &p.input;
    }
    let LogicalPlan::Sort(sort) = root else {
        return None;
    };
    let fetch = sort.fetch.filter(|n| *n > 0 && *n <= 10_000)?;
    let first = sort.expr.first()?;
    let Expr::Column(column) = &first.expr else {
        return None;
    };
    if first.asc {
        return None;
    }
    // The sorted column, followed down to the scan through the projections that rename it.
    let mut column = column.clone();
    let mut input = sort.input.as_ref();
    loop {
        match input {
            LogicalPlan::Filter(f) => input = &f.input,
            LogicalPlan::Projection(p) => {
                // The sorted value must be the stored column, passed through or renamed.
                let source = p.expr.iter().zip(p.schema.columns()).find_map(|(e, out)| {
                    let same = out.name == column.name
                        && column
                            .relation
                            .as_ref()
                            .is_none_or(|r| out.relation.as_ref() == Some(r));
                    match (same, e.clone().unalias()) {
                        (true, Expr::Column(c)) => Some(c),
                        _ => None,
                    }
                })?;
                column = source;
                input = &p.input;
            }
            LogicalPlan::TableScan(scan) => {
                let table = duck_table(scan)?;
                let same_column = column.name == "ts"
                    && column
                        .relation
                        .as_ref()
                        .is_none_or(|r| r.table() == scan.table_name.table());
                return (table.table() == Table::Logs && same_column && scan.fetch.is_none())
                    .then_some(exec::Newest { fetch });
            }
            _ => return None,
        }
    }
}
