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
    let client = support::connect(&endpoint).await;
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
    // A cast literal is named after its type; now() is a timestamptz, printed with `+00`.
    let (columns, rows, _) = support::simple(
        &client,
        "",
        "SELECT '1'::int, 'x'::text, '2024-05-01 12:00:00'::timestamp, now()",
    )
    .await;
    assert_eq!(columns, ["int4", "text", "timestamp", "now"]);
    assert_eq!(rows[0][2].as_deref(), Some("2024-05-01 12:00:00"));
    let now = rows[0][3].clone().unwrap();
    assert!(now.ends_with("+00"), "{now}");
    // Floats as PostgreSQL prints them (values from PostgreSQL 15).
    let (_, rows, _) = support::simple(
        &client,
        "",
        "SELECT 25::float8, 1e15::float8, 1e14::float8, 0.00001::float8, 12.5::float8,          1e6::float4, 'Infinity'::float8",
    )
    .await;
    let expected = [
        "25",
        "1e+15",
        "100000000000000",
        "1e-05",
        "12.5",
        "1e+06",
        "Infinity",
    ];
    assert_eq!(rows[0], expected.map(|v| Some(v.to_string())));
}

/// What asyncpg's type introspection depends on: an oid parameter or column is described as
/// `oid`/`oid[]` (asyncpg has built-in codecs for those only, and introspects every other
/// array type with a query that itself returns `oid[]`), and `x::regtype::text` is the type's
/// SQL name.
#[tokio::test(flavor = "multi_thread")]
async fn oid_types_and_regtype_names_are_described_as_postgresql_does() {
    let endpoint = support::start().await;
    let client = support::connect(&endpoint).await;
    use tokio_postgres::types::Type;

    let statement = client
        .prepare("SELECT oid, typname FROM pg_type WHERE oid = any($1::oid[])")
        .await
        .unwrap();
    assert_eq!(statement.params(), [Type::OID_ARRAY]);
    assert_eq!(statement.columns()[0].type_(), &Type::OID);
    let statement = client.prepare("SELECT $1::oid AS a").await.unwrap();
    assert_eq!(statement.params(), [Type::OID]);
    let statement = client
        .prepare("SELECT array_agg(atttypid)::oid[] AS a FROM pg_attribute")
        .await
        .unwrap();
    assert_eq!(statement.columns()[0].type_(), &Type::OID_ARRAY);

    let (_, rows, _) = support::simple(
        &client,
        "",
        "SELECT typelem::regtype::text, 0::regtype::text, 1184::regtype::text \
         FROM pg_type WHERE oid = 1007",
    )
    .await;
    assert_eq!(
        rows[0],
        [
            Some("integer".to_string()),
            Some("-".to_string()),
            Some("timestamp with time zone".to_string())
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn current_user_is_the_session_user() {
    let endpoint = support::start().await;
    let out = support::psql(
        &endpoint,
        "SELECT current_user, session_user, user;\nSELECT current_user AS me;",
    )
    .await;
    assert_eq!(out, "loginsight|loginsight|loginsight\nloginsight\n");
    // Another login name, over the extended protocol.
    let (client, connection) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=alice dbname=loginsight",
            endpoint.port
        ),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let row = client
        .query_one("SELECT current_user, $1::text", &[&"x"])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "alice");
}
