//! The store against a real DuckDB file: appends, pushed-down scans, persistence.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int64Type, TimestampMicrosecondType};
use model::{LogBatchBuilder, LogRecord};
use store::{CmpOp, Filter, Scalar, Scan, Store, Table};

const T0: i64 = 1_714_564_800_000_000;

fn record(i: i64, service: &str, level: &str) -> LogRecord {
    LogRecord {
        ts: T0 + i * 1_000_000,
        received_at: T0,
        level: level.into(),
        service: service.into(),
        host: Some("h1".into()),
        message: format!("message {i}"),
        trace_id: None,
        attributes: Some("{\"k\":1}".into()),
        source: "http",
        size: 10,
    }
}

fn append(store: &Store, records: &[LogRecord]) {
    let mut b = LogBatchBuilder::default();
    for r in records {
        b.push(r);
    }
    let (batch, stats) = b.finish().unwrap();
    store.append_logs(&[batch], &stats).unwrap();
}

fn collect(store: &Store, scan: &Scan) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    store
        .scan(scan, &mut |b| {
            out.push(b);
            true
        })
        .unwrap();
    out
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

fn scan(table: Table, columns: &[&str], filters: Vec<Filter>) -> Scan {
    Scan {
        table,
        columns: columns.iter().map(|c| c.to_string()).collect(),
        filters,
        limit: None,
    }
}

#[test]
fn appended_rows_survive_reopen_with_their_types() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        append(
            &store,
            &(0..100)
                .map(|i| record(i, "api", "INFO"))
                .collect::<Vec<_>>(),
        );
        append(
            &store,
            &(0..50)
                .map(|i| record(i, "db", "ERROR"))
                .collect::<Vec<_>>(),
        );
        store.checkpoint().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let count = collect(&store, &scan(Table::Logs, &[], vec![]));
    assert_eq!(rows(&count), 150);

    let all = collect(
        &store,
        &scan(Table::Logs, &["ts", "service", "message"], vec![]),
    );
    assert_eq!(rows(&all), 150);
    let first = &all[0];
    assert_eq!(
        first.schema().field(0).data_type(),
        &model::schema::timestamp_type()
    );
    let ts = first.column(0).as_primitive::<TimestampMicrosecondType>();
    assert!(
        ts.values()
            .iter()
            .all(|t| *t >= T0 && *t < T0 + 100_000_000)
    );
}

#[test]
fn filters_and_limits_are_applied_in_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut recs: Vec<_> = (0..120).map(|i| record(i, "api", "INFO")).collect();
    recs.extend((0..30).map(|i| record(i, "db", "ERROR")));
    append(&store, &recs);

    let errors = scan(
        Table::Logs,
        &["service"],
        vec![Filter::Compare {
            column: "level".into(),
            op: CmpOp::Eq,
            value: Scalar::Str("ERROR".into()),
        }],
    );
    assert_eq!(rows(&collect(&store, &errors)), 30);

    let late = scan(
        Table::Logs,
        &[],
        vec![Filter::Compare {
            column: "ts".into(),
            op: CmpOp::GtEq,
            value: Scalar::Timestamp(T0 + 100 * 1_000_000),
        }],
    );
    assert_eq!(rows(&collect(&store, &late)), 20);
    let count = collect(&store, &late);
    assert_eq!(count[0].num_rows(), 20);

    let mut limited = scan(Table::Logs, &["message"], vec![]);
    limited.limit = Some(7);
    assert_eq!(rows(&collect(&store, &limited)), 7);
}

#[test]
fn stats_partials_sum_to_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        for _ in 0..3 {
            append(
                &store,
                &(0..90)
                    .map(|i| record(i, "api", "INFO"))
                    .collect::<Vec<_>>(),
            );
        }
    }
    // Re-opening compacts the partials; the sums must not change.
    for _ in 0..2 {
        let store = Store::open(dir.path()).unwrap();
        let stats = collect(
            &store,
            &scan(Table::Stats, &["minute", "count", "bytes"], vec![]),
        );
        let total: i64 = stats
            .iter()
            .map(|b| {
                b.column(1)
                    .as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .sum::<i64>()
            })
            .sum();
        assert_eq!(total, 270);
        // 90 seconds from a minute boundary span two minutes.
        assert_eq!(rows(&stats), 2);
        assert_eq!(stats[0].column(2).null_count(), 0);
    }
}

#[test]
fn empty_tables_scan_empty() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for table in Table::ALL {
        let names: Vec<String> = table
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let cols: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
        assert_eq!(rows(&collect(&store, &scan(table, &cols, vec![]))), 0);
    }
}

#[test]
fn unwritable_data_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = Store::open(&file.join("data")).unwrap_err().to_string();
    assert!(err.contains("not-a-dir"), "{err}");
}

fn event(i: i64, service: &str) -> model::ErrorEvent {
    model::ErrorEvent {
        event_id: String::new(),
        ts_us: T0 + i,
        service: service.into(),
        level: "ERROR".into(),
        message: format!("boom {i}"),
        host: None,
        trace_id: Some(format!("t{i}")),
        pattern_id: Some("p1".into()),
        template: Some("boom <*>".into()),
    }
}

fn update(events: &[model::ErrorEvent]) -> model::InsightUpdate {
    model::InsightUpdate {
        insight: model::Insight {
            id: "i1".into(),
            created_at_us: T0,
            service: "svc".into(),
            pattern_id: "p1".into(),
            severity: "error".into(),
            title: "boom".into(),
            summary: "s".into(),
            root_cause: None,
            suggested_fix: None,
            confidence: 0.0,
            model: "none".into(),
            status: "open".into(),
            first_seen_us: events.iter().map(|e| e.ts_us).min().unwrap(),
            last_seen_us: events.iter().map(|e| e.ts_us).max().unwrap(),
            occurrences: events.len() as i64,
            evidence: "{}".into(),
        },
        event_ids: events.iter().map(|e| e.event_id.clone()).collect(),
        kind: model::UpdateKind::Analysis,
        calls: 0,
        tokens: 0,
    }
}

fn occurrences(store: &Store) -> Vec<i64> {
    let batches = collect(
        store,
        &Scan {
            table: Table::Insights,
            columns: vec!["occurrences".into()],
            filters: vec![],
            limit: None,
        },
    );
    batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect()
}

#[test]
fn the_analysis_queue_is_durable_ordered_and_never_reuses_ids() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let commit = store::Commit {
        errors: vec![event(1, "a"), event(2, "b"), event(3, "a")],
        ..Default::default()
    };
    store.commit(&commit).unwrap();
    let head = store.queue_head(10).unwrap();
    assert_eq!(
        head.iter().map(|q| q.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let prefix = format!("{}-", store.instance_id());
    assert_eq!(head[1].event.event_id, format!("{prefix}2"));
    assert_eq!(head[1].event.trace_id.as_deref(), Some("t2"));
    assert_eq!(head[0].event.ts_us, T0 + 1);

    // Applying an update removes its events from the queue in the same transaction.
    let applied = store
        .apply_insights(
            &[update(&[head[0].event.clone(), head[1].event.clone()])],
            &[1, 2],
        )
        .unwrap();
    assert_eq!((applied.new_events, applied.duplicates), (2, 0));
    assert_eq!(store.queue_len().unwrap(), 1);
    // A redelivered update changes nothing.
    let again = store
        .apply_insights(
            &[update(&[head[0].event.clone(), head[1].event.clone()])],
            &[],
        )
        .unwrap();
    assert_eq!((again.new_events, again.duplicates), (0, 1));
    assert_eq!(occurrences(&store), vec![2]);
    store
        .apply_insights(&[update(&[head[2].event.clone()])], &[3])
        .unwrap();
    assert_eq!(occurrences(&store), vec![3]);
    assert_eq!(store.queue_len().unwrap(), 0);
    let instance = store.instance_id().to_string();
    drop(store);

    // Reopened with an empty queue: the same instance, and sequence numbers go on.
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.instance_id(), instance);
    store
        .commit(&store::Commit {
            errors: vec![event(4, "a")],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(store.queue_head(10).unwrap()[0].seq, 4);
}

fn titles(store: &Store) -> Vec<String> {
    let batches = collect(
        store,
        &Scan {
            table: Table::Insights,
            columns: vec!["title".into()],
            filters: vec![],
            limit: None,
        },
    );
    batches
        .iter()
        .flat_map(|b| {
            let a = b.column(0).as_string::<i32>();
            (0..a.len())
                .map(|i| a.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn count_only_updates_keep_the_analysis_and_refreshes_keep_the_counts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let events: Vec<model::ErrorEvent> = (1..=3)
        .map(|i| model::ErrorEvent {
            event_id: format!("e{i}"),
            ..event(i, "a")
        })
        .collect();
    store.apply_insights(&[update(&events[..1])], &[]).unwrap();

    let mut count_only = update(&events[1..3]);
    count_only.kind = model::UpdateKind::CountOnly;
    count_only.insight.title = "must not replace the analysis".into();
    store.apply_insights(&[count_only], &[]).unwrap();
    assert_eq!(
        (titles(&store), occurrences(&store)),
        (vec!["boom".to_string()], vec![3])
    );

    let mut refresh = update(&events[..1]);
    refresh.event_ids.clear();
    refresh.kind = model::UpdateKind::Refresh;
    refresh.insight.title = "fresh analysis".into();
    let applied = store.apply_insights(&[refresh], &[]).unwrap();
    assert_eq!(applied.insights_written, 1);
    assert_eq!(
        (titles(&store), occurrences(&store)),
        (vec!["fresh analysis".to_string()], vec![3])
    );
}

#[test]
fn delivery_keys_are_remembered_with_their_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(!store.delivery_seen("firehose:r1").unwrap());
    store
        .commit(&store::Commit {
            delivery_keys: vec!["firehose:r1".into()],
            ..Default::default()
        })
        .unwrap();
    store.prune_delivery_keys().unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert!(store.delivery_seen("firehose:r1").unwrap());
    assert!(!store.delivery_seen("firehose:r2").unwrap());
}

fn count(store: &Store, table: Table) -> usize {
    rows(&collect(store, &scan(table, &[], vec![])))
}

#[test]
fn retention_deletes_old_logs_in_slices_and_keeps_newer_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Five days, one row a minute: slices adapt from the first hour to ~100k rows.
    let records: Vec<LogRecord> = (0..5 * 1440)
        .map(|i| {
            let mut r = record(i * 60, "api", "INFO");
            r.message = format!("tick {i}");
            r
        })
        .collect();
    append(&store, &records);
    let cut = T0 + 3 * 86_400_000_000 + 1; // just past the start of day 4
    assert_eq!(store.expire_logs(cut).unwrap(), 3 * 1440 + 1);
    assert_eq!(count(&store, Table::Logs), 2 * 1440 - 1);
    // Nothing left before the cut: a second pass deletes nothing.
    assert_eq!(store.expire_logs(cut).unwrap(), 0);
    // Stats are their own: untouched by the logs' retention, cut by theirs.
    assert_eq!(count(&store, Table::Stats), 5 * 1440);
    assert_eq!(store.expire_stats(T0 + 86_400_000_000).unwrap(), 1440);
    assert_eq!(count(&store, Table::Stats), 4 * 1440);
}

#[test]
fn retention_keeps_patterns_an_insight_names() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let delta = |id: &str, last_us: i64| model::PatternDelta {
        pattern_id: id.into(),
        service: "api".into(),
        level: "ERROR".into(),
        template: format!("template {id}"),
        count: 1,
        first_seen: last_us,
        last_seen: last_us,
        example: "example".into(),
    };
    store
        .commit(&store::Commit {
            patterns: vec![
                delta("old-named-here", T0),
                delta("old-named-in-pg", T0),
                delta("old-unnamed", T0),
                delta("recent", T0 + 86_400_000_000),
            ],
            ..Default::default()
        })
        .unwrap();
    let mut named = update(&[event(1, "api")]);
    named.insight.service = "api".into();
    named.insight.pattern_id = "old-named-here".into();
    store.apply_insights(&[named], &[]).unwrap();
    let kept_elsewhere = vec![("api".to_string(), "old-named-in-pg".to_string())];
    assert_eq!(
        store
            .expire_patterns(T0 + 3_600_000_000, &kept_elsewhere)
            .unwrap(),
        1
    );
    let left = collect(&store, &scan(Table::Patterns, &["pattern_id"], vec![]));
    let mut ids: Vec<String> = left
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_string::<i32>()
                .iter()
                .map(|v| v.unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, ["old-named-here", "old-named-in-pg", "recent"]);
}

#[test]
fn a_backup_is_a_database_with_every_committed_row() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let records: Vec<LogRecord> = (0..5000).map(|i| record(i, "api", "INFO")).collect();
    append(&store, &records);
    let events: Vec<model::ErrorEvent> = (1..=2)
        .map(|i| model::ErrorEvent {
            event_id: format!("e{i}"),
            ..event(i, "api")
        })
        .collect();
    store.apply_insights(&[update(&events)], &[]).unwrap();
    let target = tempfile::tempdir().unwrap();
    let report = store.backup_to(target.path()).unwrap();
    let rows_of = |name: &str| {
        report
            .tables
            .iter()
            .find(|(t, _)| t == name)
            .map(|(_, n)| *n)
    };
    assert_eq!(rows_of("logs"), Some(5000));
    assert_eq!(rows_of("insight_events"), Some(2));
    // A second backup into the same place is refused rather than overwriting it.
    assert!(matches!(
        store.backup_to(target.path()),
        Err(store::StoreError::BackupExists(_))
    ));
    drop(store);
    let copy = Store::open(target.path()).unwrap();
    assert_eq!(count(&copy, Table::Logs), 5000);
    assert_eq!(count(&copy, Table::Insights), 1);
    assert!(!target.path().join("loginsight.duckdb.partial").exists());
}

fn incident(id: &str, status: &str, last_seen_us: i64) -> store::IncidentRow {
    store::IncidentRow {
        id: id.into(),
        status: status.into(),
        severity: "error".into(),
        title: format!("incident {id}"),
        root_service: "db".into(),
        root_pattern: "p".into(),
        root_cause: "db is the likely root cause.".into(),
        symptom_services: "[]".into(),
        symptom_patterns: "[]".into(),
        started_us: last_seen_us - 60_000_000,
        last_seen_us,
        resolved_at_us: (status == "resolved").then_some(last_seen_us + 600_000_000),
        insight_count: 1,
        errors: 10,
        previous_id: None,
    }
}

/// Incidents are upserted by id, and retention takes resolved ones only.
#[test]
fn incidents_upsert_and_only_resolved_old_ones_expire() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (old, recent) = (1_000_000_000_000_000, 2_000_000_000_000_000);
    store
        .save_incidents(
            &[
                incident("a", "open", old),
                incident("b", "resolved", old),
                incident("c", "resolved", recent),
            ],
            &[],
        )
        .unwrap();
    // The same id again updates the row.
    store
        .save_incidents(&[incident("a", "open", old + 1)], &[])
        .unwrap();
    assert_eq!(store.expire_incidents(recent - 1).unwrap(), 1);
    let mut left = Vec::new();
    store
        .scan(&scan(Table::Incidents, &["id"], vec![]), &mut |b| {
            let ids = b
                .column(0)
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .unwrap();
            left.extend(ids.iter().flatten().map(str::to_string));
            true
        })
        .unwrap();
    left.sort();
    assert_eq!(left, ["a", "c"]);
}
