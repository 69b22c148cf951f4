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

    assert!(psql(&endpoint, "\\dn").await.contains("public"));
    assert!(psql(&endpoint, "\\l").await.contains("loginsight"));
    psql(&endpoint, "\\df").await;

    let timed = psql(&endpoint, "\\timing on\nSELECT count(*) FROM logs").await;
    assert!(timed.contains("Time:"), "{timed}");
    assert!(timed.lines().any(|l| l.trim() == "3"), "{timed}");
}
