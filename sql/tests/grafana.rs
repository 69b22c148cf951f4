//! Grafana's PostgreSQL data source (pgx, simple protocol, text results), replayed with its
//! exact strings: "Save & test", feature detection, the query builder's metadata queries and
//! panel SQL after macro expansion (Grafana's macros.go, for 2024-05-01 11:00–13:00 UTC).

mod support;

use tokio_postgres::SimpleQueryMessage;

#[tokio::test(flavor = "multi_thread")]
async fn save_and_test_and_feature_detection() {
    let endpoint = support::start().await;
    let client = support::connect(&endpoint).await;
    // pgx pings with a comment-only query, older Grafana with ";".
    for ping in ["-- ping", ";"] {
        let messages = client.simple_query(ping).await.unwrap();
        assert!(
            messages
                .iter()
                .all(|m| !matches!(m, SimpleQueryMessage::Row(_)))
        );
    }
    let (cols, rows, _) = support::simple(
        &client,
        "",
        "SELECT current_setting('server_version_num')::int/100 as version",
    )
    .await;
    assert_eq!(cols, ["version"]);
    assert_eq!(rows[0][0].as_deref(), Some("1600"));
    let (_, rows, _) = support::simple(
        &client,
        "",
        "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'",
    )
    .await;
    assert!(
        rows.is_empty(),
        "TimescaleDB must not be reported: {rows:?}"
    );
}

const SEARCH_PATH: &str = "quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '\"$user\"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )";

#[tokio::test(flavor = "multi_thread")]
async fn query_builder_metadata() {
    let endpoint = support::start().await;
    let client = support::connect(&endpoint).await;
    let show_tables = format!(
        "SELECT
    CASE WHEN {SEARCH_PATH}
      THEN quote_ident(table_name)
      ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
    END AS \"table\"
    FROM information_schema.tables
    WHERE quote_ident(table_schema) NOT IN ('information_schema',
                             'pg_catalog',
                             '_timescaledb_cache',
                             '_timescaledb_catalog',
                             '_timescaledb_internal',
                             '_timescaledb_config',
                             'timescaledb_information',
                             'timescaledb_experimental')
    ORDER BY CASE WHEN {SEARCH_PATH} THEN 0 ELSE 1 END, 1"
    );
    let (cols, rows, _) = support::simple(&client, "", &show_tables).await;
    assert_eq!(cols, ["table"]);
    let tables: Vec<String> = rows.into_iter().filter_map(|r| r[0].clone()).collect();
    for table in ["logs", "stats", "insights", "patterns"] {
        assert!(
            tables
                .iter()
                .any(|t| t == table || t == &format!("public.{table}")),
            "{table} missing from {tables:?}"
        );
    }

    // The search path resolves (`"$user", public`), so tables in `public` are listed bare.
    assert!(tables.iter().any(|t| t == "logs"), "{tables:?}");
    for table in ["logs", "public.logs"] {
        let get_schema = format!(
            "SELECT quote_ident(column_name) AS \"column\", data_type AS \"type\"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident('{table}'),1) = 2
        THEN quote_ident(table_schema) = (parse_ident('{table}'))[1]
          AND quote_ident(table_name) = (parse_ident('{table}'))[2]
        ELSE quote_ident(table_name) = '{table}'
          AND {SEARCH_PATH}
      END"
        );
        let (cols, rows, _) = support::simple(&client, table, &get_schema).await;
        assert_eq!(cols, ["column", "type"]);
        let names: Vec<&str> = rows.iter().filter_map(|r| r[0].as_deref()).collect();
        assert!(
            names.contains(&"ts") && names.contains(&"message"),
            "{table}: {rows:?}"
        );
        assert_eq!(
            names.len(),
            10,
            "{table}: only the columns of logs: {rows:?}"
        );
    }
}

/// Panel SQL after Grafana's macro expansion, with whether it is a time series.
const PANELS: &[(&str, bool)] = &[
    // $__timeGroupAlias(ts,'1m'), count(*) … WHERE $__timeFilter(ts)
    (
        "SELECT floor(extract(epoch from ts)/60)*60 AS \"time\", count(*) AS \"count\" FROM logs \
         WHERE ts BETWEEN '2024-05-01T11:00:00Z' AND '2024-05-01T13:00:00Z' GROUP BY 1 ORDER BY 1",
        true,
    ),
    // Volume by level: metric column plus value, long format.
    (
        "SELECT floor(extract(epoch from ts)/60)*60 AS \"time\", level AS metric, count(*) AS value \
         FROM logs WHERE ts BETWEEN '2024-05-01T11:00:00Z' AND '2024-05-01T13:00:00Z' \
         GROUP BY 1, 2 ORDER BY 1",
        true,
    ),
    // $__time(minute) over stats, per service.
    (
        "SELECT minute AS \"time\", service AS metric, sum(count) AS value FROM stats \
         WHERE minute BETWEEN '2024-05-01T11:00:00Z' AND '2024-05-01T13:00:00Z' \
         GROUP BY 1, 2 ORDER BY 1",
        true,
    ),
    // $__unixEpochGroupAlias(epoch,'5m') with $__unixEpochFilter(epoch).
    (
        "SELECT floor((epoch)/300)*300 AS \"time\", sum(n) AS lines FROM \
         (SELECT extract(epoch from ts) AS epoch, 1 AS n FROM logs) s \
         WHERE epoch >= 1714561200 AND epoch <= 1714568400 GROUP BY 1 ORDER BY 1",
        true,
    ),
    // $__timeEpoch(minute) for error bytes.
    (
        "SELECT extract(epoch from minute) as \"time\", sum(bytes) AS bytes FROM stats \
         WHERE level = 'ERROR' AND minute BETWEEN '2024-05-01T11:00:00Z' AND '2024-05-01T13:00:00Z' \
         GROUP BY 1 ORDER BY 1",
        true,
    ),
    // A logs table panel with $__timeFilter and a text filter variable.
    (
        "SELECT ts AS \"time\", service, level, message FROM logs \
         WHERE ts BETWEEN '2024-05-01T11:00:00Z' AND '2024-05-01T13:00:00Z' \
         AND message ILIKE '%' || 'time' || '%' ORDER BY ts DESC LIMIT 100",
        false,
    ),
];

#[tokio::test(flavor = "multi_thread")]
async fn macro_expanded_panels_return_a_time_column() {
    let endpoint = support::start().await;
    let client = support::connect(&endpoint).await;
    for (sql, series) in PANELS {
        let (cols, rows, tag) = support::simple(&client, "", sql).await;
        assert_eq!(cols.first().map(String::as_str), Some("time"), "{sql}");
        assert!(!rows.is_empty(), "no rows for {sql}");
        assert_eq!(tag, Some(rows.len() as u64), "{sql}");
        let times: Vec<String> = rows
            .iter()
            .map(|r| r[0].clone().expect("time is never NULL"))
            .collect();
        if *series {
            // Numbers are epoch seconds, timestamps canonical text; both must ascend.
            let mut sorted = times.clone();
            sorted.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(x), Ok(y)) => x.total_cmp(&y),
                _ => a.cmp(b),
            });
            assert_eq!(times, sorted, "{sql}");
        }
        for t in &times {
            assert!(!t.contains('T'), "timestamps use a space, not 'T': {t}");
        }
    }
}
