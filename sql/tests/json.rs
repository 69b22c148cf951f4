//! JSON attributes through SQL: PostgreSQL's `->` / `->>` on `logs.attributes` (JSON text),
//! `::json` / `::jsonb` casts, the `json_*` functions, in filters, in expressions and as bound
//! parameters.

mod support;

fn text(values: &[Option<&str>]) -> Vec<Option<String>> {
    values.iter().map(|v| v.map(str::to_string)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn attributes_are_read_with_postgresql_json_operators() {
    let endpoint = support::start().await;
    let client = support::connect(&endpoint).await;

    let (_, rows, _) = support::simple(
        &client,
        "",
        "SELECT service, attributes->>'order', attributes->'order', \
         (attributes->>'latency_ms')::float8 * 2 FROM logs ORDER BY ts",
    )
    .await;
    assert_eq!(
        rows,
        [
            text(&[Some("checkout"), Some("42"), Some("42"), None]),
            text(&[Some("checkout"), None, None, None]),
            text(&[Some("search"), None, None, Some("25")]),
        ]
    );

    // `->` gives the member as JSON, `->>` as text; they chain, and a cast to json is how a
    // PostgreSQL user would write it for a text column.
    let (_, rows, _) = support::simple(
        &client,
        "",
        r#"SELECT '{"http":{"status":500,"path":"/pay"}}'::json->'http',
                  '{"http":{"status":500,"path":"/pay"}}'::jsonb->'http'->>'path',
                  '{"tags":["a","b"]}'->'tags'->>1,
                  attributes::json->>'order'
           FROM logs WHERE level = 'ERROR'"#,
    )
    .await;
    assert_eq!(
        rows,
        [text(&[
            Some(r#"{"status":500,"path":"/pay"}"#),
            Some("/pay"),
            Some("b"),
            Some("42"),
        ])]
    );

    let (_, rows, _) = support::simple(
        &client,
        "",
        "SELECT count(*) FROM logs WHERE attributes->>'order' = '42'",
    )
    .await;
    assert_eq!(rows, [text(&[Some("1")])]);
    let (_, rows, _) = support::simple(
        &client,
        "",
        "SELECT json_get_int(attributes, 'order'), json_get_float(attributes, 'latency_ms') \
         FROM logs WHERE attributes IS NOT NULL ORDER BY ts",
    )
    .await;
    assert_eq!(
        rows,
        [text(&[Some("42"), None]), text(&[None, Some("12.5")])]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn json_keys_and_values_bind_as_parameters() {
    let endpoint = support::start().await;
    let client = support::connect(&endpoint).await;
    let statement = client
        .prepare("SELECT service, attributes->>$1 AS value FROM logs WHERE attributes->>$1 = $2")
        .await
        .unwrap();
    assert_eq!(
        statement.columns()[1].type_(),
        &tokio_postgres::types::Type::TEXT
    );
    let rows = client.query(&statement, &[&"order", &"42"]).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), "checkout");
    assert_eq!(rows[0].get::<_, String>(1), "42");
    let rows = client.query(&statement, &[&"order", &"7"]).await.unwrap();
    assert!(rows.is_empty());
    // A nested path, as the TUI's `@http.status:500` filter sends it.
    let row = client
        .query_one(
            r#"SELECT '{"http":{"status":500}}'->$1->>$2 AS status"#,
            &[&"http", &"status"],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "500");
}
