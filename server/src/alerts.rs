//! Alert rules (`[[alerts]]`): a query over our tables, run every `every` through the same
//! read-only SQL engine clients use, a condition on its answer, and the notifiers to tell.
//!
//! A rule is `inactive` while its condition is false, `pending` from the first evaluation it
//! holds, and `firing` once it has held for `for`; firing and resolving each enqueue one
//! notification (see `notify.rs`), and a firing rule is announced again only after
//! `[notify] repeat_interval`, so a flapping condition does not spam. One fingerprint per
//! rule and its labels ties the firing and resolved notifications together. State lives in
//! the `alerts` table, so a restart neither forgets a firing alert nor announces it twice.
//! Only `serve` evaluates rules; with Kafka workers there is still one evaluator.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arrow::array::{Array, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use serde::Deserialize;
use sql::SessionContext;
use store::{AlertRow, StoreRef};
use tokio::sync::watch;

use crate::notify::{Event, Outbox};

/// Rows a rule's query may return; the condition reads the first.
const MAX_ROWS: usize = 1_000;

/// `[[alerts]]`: one rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    pub name: String,
    /// A query over our tables (`logs`, `stats`, `patterns`, `insights`, `incidents`, …).
    pub sql: String,
    /// `<column> <op> <number>` (`value > 100`; ops `>`, `>=`, `<`, `<=`, `=`, `!=`) on the
    /// first row, `any rows`, or `no rows`.
    #[serde(default = "any_rows")]
    pub condition: String,
    /// How often it is evaluated (humantime).
    #[serde(default = "one_minute")]
    pub every: String,
    /// How long the condition must hold before it fires (humantime; `0s`: at once).
    #[serde(default = "zero", rename = "for")]
    pub for_: String,
    /// Labels sent with each notification; part of the fingerprint.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Severity in notifications: `warning`, `error` or `critical`.
    #[serde(default = "error")]
    pub severity: String,
    /// Notifiers to tell; empty: all of them.
    #[serde(default)]
    pub notifiers: Vec<String>,
}

fn any_rows() -> String {
    "any rows".into()
}
fn one_minute() -> String {
    "1m".into()
}
fn zero() -> String {
    "0s".into()
}
fn error() -> String {
    "error".into()
}

/// A rule's condition, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    AnyRows,
    NoRows,
    Compare {
        column: String,
        op: Op,
        threshold: f64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Condition {
    /// `value > 100`, `any rows`, `no rows`.
    pub fn parse(text: &str) -> anyhow::Result<Condition> {
        let t = text.trim();
        match t.to_ascii_lowercase().as_str() {
            "any rows" => return Ok(Condition::AnyRows),
            "no rows" => return Ok(Condition::NoRows),
            _ => {}
        }
        let words: Vec<&str> = t.split_whitespace().collect();
        let [column, op, threshold] = words[..] else {
            anyhow::bail!(
                "condition {t:?}: expected `<column> <op> <number>`, `any rows` or `no rows`"
            );
        };
        let op = match op {
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "<" => Op::Lt,
            "<=" => Op::Le,
            "=" | "==" => Op::Eq,
            "!=" | "<>" => Op::Ne,
            other => anyhow::bail!("condition {t:?}: unknown operator {other:?}"),
        };
        let threshold: f64 = threshold
            .parse()
            .map_err(|_| anyhow::anyhow!("condition {t:?}: {threshold:?} is not a number"))?;
        Ok(Condition::Compare {
            column: column.to_string(),
            op,
            threshold,
        })
    }

    /// Whether the answer meets the condition, and the value it compared.
    pub fn holds(&self, batches: &[RecordBatch]) -> anyhow::Result<(bool, Option<f64>)> {
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        match self {
            Condition::AnyRows => Ok((rows > 0, Some(rows as f64))),
            Condition::NoRows => Ok((rows == 0, Some(rows as f64))),
            Condition::Compare {
                column,
                op,
                threshold,
            } => {
                let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
                    return Ok((false, None));
                };
                let index = batch.schema().index_of(column).map_err(|_| {
                    anyhow::anyhow!(
                        "the query has no column {column:?} (it has {})",
                        batch
                            .schema()
                            .fields()
                            .iter()
                            .map(|f| f.name().as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
                let values = cast(batch.column(index), &DataType::Float64)
                    .with_context(|| format!("column {column:?} is not a number"))?;
                let values = values
                    .as_any()
                    .downcast_ref::<arrow::array::Float64Array>()
                    .expect("cast to Float64");
                if values.is_null(0) {
                    return Ok((false, None));
                }
                let v = values.value(0);
                let holds = match op {
                    Op::Gt => v > *threshold,
                    Op::Ge => v >= *threshold,
                    Op::Lt => v < *threshold,
                    Op::Le => v <= *threshold,
                    Op::Eq => v == *threshold,
                    Op::Ne => v != *threshold,
                };
                Ok((holds, Some(v)))
            }
        }
    }
}

/// A rule, checked and ready to run.
#[derive(Debug, Clone)]
pub struct Checked {
    pub rule: AlertRule,
    pub condition: Condition,
    pub every: Duration,
    pub for_: Duration,
    pub fingerprint: String,
}

/// Checks every rule: names unique, durations, condition, notifiers, and that the query plans.
/// An error names the rule.
pub async fn check(
    rules: &[AlertRule],
    notifier_names: &[String],
    ctx: &SessionContext,
) -> anyhow::Result<Vec<Checked>> {
    let mut names = std::collections::HashSet::new();
    let mut out = Vec::new();
    for rule in rules {
        let name = &rule.name;
        if name.is_empty() || !names.insert(name.clone()) {
            anyhow::bail!("alerts: every rule needs a unique name ({name:?})");
        }
        let every = humantime::parse_duration(&rule.every)
            .map_err(|e| anyhow::anyhow!("alert {name:?}: every: {e}"))?;
        if every.is_zero() {
            anyhow::bail!("alert {name:?}: every must be above zero");
        }
        let for_ = humantime::parse_duration(&rule.for_)
            .map_err(|e| anyhow::anyhow!("alert {name:?}: for: {e}"))?;
        let condition =
            Condition::parse(&rule.condition).with_context(|| format!("alert {name:?}"))?;
        if !["warning", "error", "critical"].contains(&rule.severity.as_str()) {
            anyhow::bail!(
                "alert {name:?}: severity must be warning, error or critical, got {:?}",
                rule.severity
            );
        }
        for n in &rule.notifiers {
            if !notifier_names.contains(n) {
                anyhow::bail!("alert {name:?}: no notifier named {n:?}");
            }
        }
        sql::local::plan(ctx, &rule.sql)
            .await
            .map_err(|e| anyhow::anyhow!("alert {name:?}: its query does not plan: {e}"))?;
        out.push(Checked {
            fingerprint: fingerprint(rule),
            rule: rule.clone(),
            condition,
            every,
            for_,
        });
    }
    Ok(out)
}

fn fingerprint(rule: &AlertRule) -> String {
    let mut parts: Vec<&[u8]> = vec![rule.name.as_bytes()];
    for (k, v) in &rule.labels {
        parts.extend([b"\0".as_slice(), k.as_bytes(), b"\0", v.as_bytes()]);
    }
    format!("{:016x}", model::stable_hash(&parts))
}

/// Evaluates `rules` until `stop`, each on its own schedule.
pub async fn run(
    rules: Vec<Checked>,
    ctx: Arc<SessionContext>,
    store: StoreRef,
    outbox: Outbox,
    statement_timeout: Duration,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let repeat = humantime::parse_duration(&outbox.notify_config().repeat_interval)?;
    let mut tasks = tokio::task::JoinSet::new();
    for rule in rules {
        let (ctx, store, outbox, mut stop) =
            (ctx.clone(), store.clone(), outbox.clone(), stop.clone());
        tasks.spawn(async move {
            let s = store.clone();
            let name = rule.rule.name.clone();
            let restored = tokio::task::spawn_blocking(move || s.load_alert(&name)).await??;
            let mut state = restored
                .filter(|r| r.fingerprint == rule.fingerprint)
                .unwrap_or_else(|| AlertRow {
                    name: rule.rule.name.clone(),
                    state: "inactive".into(),
                    since_us: None,
                    last_value: None,
                    last_error: None,
                    last_evaluated_us: None,
                    fingerprint: rule.fingerprint.clone(),
                    labels: serde_json::to_string(&rule.rule.labels).unwrap_or_default(),
                    last_notified_us: None,
                });
            loop {
                evaluate(
                    &rule,
                    &mut state,
                    &ctx,
                    &store,
                    &outbox,
                    statement_timeout,
                    repeat,
                )
                .await;
                tokio::select! {
                    _ = tokio::time::sleep(rule.every) => {}
                    _ = stop.wait_for(|s| *s) => return anyhow::Ok(()),
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

async fn evaluate(
    rule: &Checked,
    state: &mut AlertRow,
    ctx: &SessionContext,
    store: &StoreRef,
    outbox: &Outbox,
    timeout: Duration,
    repeat: Duration,
) {
    let now = chrono::Utc::now().timestamp_micros();
    state.last_evaluated_us = Some(now);
    let answer = match sql::local::run(ctx, &rule.rule.sql, timeout, MAX_ROWS).await {
        Ok(batches) => rule.condition.holds(&batches),
        Err(err) => Err(anyhow::anyhow!(err)),
    };
    let mut event: Option<&'static str> = None;
    match answer {
        Err(err) => {
            // The state stays as it was: an error is neither a firing nor a resolution.
            tracing::warn!(alert = %rule.rule.name, error = %format!("{err:#}"), "alert evaluation failed");
            state.last_error = Some(format!("{err:#}"));
        }
        Ok((holds, value)) => {
            state.last_error = None;
            state.last_value = value;
            match (state.state.as_str(), holds) {
                ("inactive", true) => {
                    state.state = "pending".into();
                    state.since_us = Some(now);
                }
                ("pending" | "firing", false) => {
                    if state.state == "firing" {
                        event = Some("resolved");
                    }
                    state.state = "inactive".into();
                    state.since_us = Some(now);
                }
                _ => {}
            }
            if state.state == "pending"
                && now - state.since_us.unwrap_or(now) >= rule.for_.as_micros() as i64
            {
                state.state = "firing".into();
                state.since_us = Some(now);
                event = Some("firing");
            } else if state.state == "firing"
                && state
                    .last_notified_us
                    .is_some_and(|t| now - t >= repeat.as_micros() as i64)
            {
                event = Some("firing");
            }
        }
    }
    if let Some(kind) = event {
        let e = Event {
            kind: "alert",
            event: kind,
            subject: rule.rule.name.clone(),
            fingerprint: rule.fingerprint.clone(),
            title: rule.rule.name.clone(),
            severity: rule.rule.severity.clone(),
            service: rule.rule.labels.get("service").cloned(),
            root_cause: None,
            suggested_fix: None,
            value: state.last_value,
            labels: rule.rule.labels.clone(),
            started_us: state.since_us.unwrap_or(now),
            // Each firing (and its repeats) and each resolution is its own notification.
            occurrence: now.to_string(),
        };
        match outbox.enqueue(&e, &rule.rule.notifiers).await {
            Ok(_) => state.last_notified_us = Some(now),
            Err(err) => {
                tracing::warn!(alert = %rule.rule.name, error = %format!("{err:#}"), "enqueueing a notification failed");
            }
        }
        tracing::info!(alert = %rule.rule.name, event = kind, value = ?state.last_value, "alert");
    }
    let s = store.clone();
    let row = state.clone();
    match tokio::task::spawn_blocking(move || s.save_alert(&row)).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            tracing::warn!(alert = %rule.rule.name, error = %err, "saving alert state failed")
        }
        Err(err) => {
            tracing::warn!(alert = %rule.rule.name, error = %err, "saving alert state failed")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{Field, Schema};

    fn batch(values: &[i64]) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                "value",
                DataType::Int64,
                false,
            )])),
            vec![Arc::new(Int64Array::from(values.to_vec()))],
        )
        .unwrap()
    }

    #[test]
    fn conditions_parse_and_hold() {
        let c = Condition::parse("value > 100").unwrap();
        assert_eq!(c.holds(&[batch(&[101])]).unwrap(), (true, Some(101.0)));
        assert_eq!(c.holds(&[batch(&[100])]).unwrap(), (false, Some(100.0)));
        assert_eq!(c.holds(&[]).unwrap(), (false, None));
        assert!(
            Condition::parse("any rows")
                .unwrap()
                .holds(&[batch(&[1])])
                .unwrap()
                .0
        );
        assert!(Condition::parse("no rows").unwrap().holds(&[]).unwrap().0);
        let err = Condition::parse("value >> 1").unwrap_err().to_string();
        assert!(err.contains(">>"), "{err}");
        let err = Condition::parse("value > lots").unwrap_err().to_string();
        assert!(err.contains("not a number"), "{err}");
        let err = Condition::parse("count > 1")
            .unwrap()
            .holds(&[batch(&[1])])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no column \"count\""), "{err}");
    }
}
