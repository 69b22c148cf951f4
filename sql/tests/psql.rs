//! psql against the endpoint: its meta-commands list our tables and columns with their real
//! types, and ordinary queries work.

mod support;

async fn psql(endpoint: &support::Endpoint, command: &str) -> String {
    support::psql(endpoint, command).await
}

#[tokio::test(flavor = "multi_thread")]
async fn meta_commands_show_our_tables_and_types() {
    let endpoint = support::start().await;

    let tables = psql(&endpoint, "\\dt").await;
    for table in ["logs", "stats", "insights", "patterns"] {
        assert!(
            tables.contains(&format!("public|{table}|table")),
            "{tables}"
        );
    }

    let logs = psql(&endpoint, "\\d logs").await;
    assert!(logs.contains("ts|timestamp with time zone"), "{logs}");
    assert!(logs.contains("message|text"), "{logs}");
    let stats = psql(&endpoint, "\\d stats").await;
    assert!(stats.contains("count|bigint"), "{stats}");
    // `\d+` adds storage details and asks pg_class for table options.
    for table in ["stats", "logs", "patterns", "insights"] {
        let detailed = psql(&endpoint, &format!("\\d+ {table}")).await;
        assert!(detailed.contains("|text|"), "\\d+ {table}: {detailed}");
    }
    let sized = psql(&endpoint, "\\dt+").await;
    assert!(sized.contains("public|logs|table|"), "{sized}");
    assert!(sized.contains("|0 bytes|"), "{sized}");
    let detailed = psql(&endpoint, "\\d+ stats").await;
    assert!(detailed.contains("count|bigint"), "{detailed}");

    assert!(psql(&endpoint, "\\dn").await.contains("public"));
    assert!(psql(&endpoint, "\\l").await.contains("loginsight"));
    psql(&endpoint, "\\df").await;

    // Timestamps print as PostgreSQL prints them: no trailing zeros in the fraction.
    let times = psql(&endpoint, "SELECT ts FROM logs ORDER BY ts").await;
    assert_eq!(
        times.trim(),
        "2024-05-01 12:00:00+00\n2024-05-01 12:00:30+00\n2024-05-01 12:01:00+00"
    );
    let timed = psql(&endpoint, "\\timing on\nSELECT count(*) FROM logs").await;
    assert!(timed.contains("Time:"), "{timed}");
    assert!(timed.lines().any(|l| l.trim() == "3"), "{timed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn result_columns_are_named_as_postgresql_names_them() {
    let endpoint = support::start().await;
    let (client, connection) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=loginsight dbname=loginsight",
            endpoint.port
        ),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let (columns, rows, _) = support::simple(
        &client,
        "",
        "SELECT count(*), max(ts), min(ts)::date, 1 + 1, CASE WHEN true THEN 1 END, level \
         FROM logs GROUP BY level ORDER BY level",
    )
    .await;
    assert_eq!(
        columns,
        ["count", "max", "min", "?column?", "case", "level"]
    );
    assert_eq!(rows.len(), 3);
    // Two columns PostgreSQL would both call `count`: DataFusion refuses duplicate names, so
    // those keep DataFusion's own; the query still runs.
    let (columns, rows, _) =
        support::simple(&client, "", "SELECT count(*), count(host) FROM logs").await;
    assert_eq!(columns.len(), 2);
    assert_eq!(rows[0], [Some("3".to_string()), Some("2".to_string())]);
}
