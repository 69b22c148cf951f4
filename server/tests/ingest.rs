//! The walking skeleton end to end: HTTP ingest → DuckDB → DataFusion → Postgres wire, with the
//! real binary, real psql and tokio-postgres (extended protocol).

mod support;

use std::io::Write;

use support::{TestServer, ndjson};

async fn post(
    server: &TestServer,
    body: impl Into<reqwest::Body>,
    content_type: &str,
) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(server.url("/v1/logs"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_rows_are_queryable_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());

    let (status, body) = post(&server, ndjson(3000), "application/x-ndjson").await;
    assert_eq!(
        (status, &body),
        (200, &serde_json::json!({"accepted": 3000}))
    );
    // A JSON array is the other accepted shape.
    let (status, body) = post(
        &server,
        r#"[{"message":"array one","service":"arr"},{"message":"array two","service":"arr"}]"#,
        "application/json",
    )
    .await;
    assert_eq!((status, body["accepted"].as_u64()), (200, Some(2)));

    assert_eq!(server.psql("SELECT count(*) FROM logs").trim(), "3002");
    assert_eq!(server.psql("SELECT sum(count) FROM stats").trim(), "3002");
    let by_level = server.psql(
        "SELECT service, level, count(*) FROM logs WHERE service IN ('api','db','web') \
         GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2",
    );
    let lines: Vec<&str> = by_level.lines().collect();
    assert_eq!(lines.len(), 6, "{by_level}");
    assert_eq!(lines[0], "api|INFO|800");
    let errors: i64 = lines
        .iter()
        .filter(|l| l.contains("|ERROR|"))
        .map(|l| l.rsplit('|').next().unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(errors, 600);
    // The last hour is relative to now: the fixture is from 2024, the array rows are from now.
    assert_eq!(
        server
            .psql("SELECT count(*) FROM logs WHERE ts > now() - interval '1 hour'")
            .trim(),
        "2"
    );
    let recent = server.psql("SELECT * FROM stats ORDER BY minute DESC LIMIT 10");
    assert_eq!(recent.lines().count(), 10, "{recent}");

    // Attributes keep the unrecognised fields; timestamps are timestamptz text on the wire.
    let row =
        server.psql("SELECT ts, attributes, source FROM logs WHERE message = 'request 7 handled'");
    assert_eq!(row.trim(), "2024-05-01 12:00:07+00|{\"request_id\":7}|http");

    assert!(server.stop().success());
    let server = TestServer::start(dir.path());
    assert_eq!(server.psql("SELECT count(*) FROM logs").trim(), "3002");
    assert_eq!(server.psql("SELECT sum(count) FROM stats").trim(), "3002");
    assert_eq!(server.psql("SELECT sum(bytes) > 0 FROM stats").trim(), "t");
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_line_rejects_the_whole_request_and_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());
    let mut lines: Vec<String> = ndjson(1000).lines().map(str::to_string).collect();
    lines[416] = r#"{"message": "unterminated"#.to_string();
    let (status, body) = post(&server, lines.join("\n"), "application/x-ndjson").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["malformed"], 1);
    assert_eq!(body["errors"][0]["line"], 417);
    assert!(
        body["error"].as_str().unwrap().contains("nothing"),
        "{body}"
    );
    assert_eq!(server.psql("SELECT count(*) FROM logs").trim(), "0");
    assert_eq!(server.psql("SELECT count(*) FROM stats").trim(), "0");

    let (status, body) = post(
        &server,
        "{\"timestamp\": \"not a time\"}\n",
        "application/json",
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("timestamp"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gzip_bodies_limits_and_content_types() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), &["--max-body-bytes", "65536"]);
    let client = reqwest::Client::new();

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(ndjson(200).as_bytes()).unwrap();
    let response = client
        .post(server.url("/v1/logs"))
        .header("content-type", "application/x-ndjson")
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["accepted"],
        200
    );

    // Over the limit before decompression, and after (a small gzip that inflates past it).
    let (status, _) = post(&server, ndjson(2000), "application/x-ndjson").await;
    assert_eq!(status, 413);
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    bomb.write_all(&vec![b' '; 1 << 20]).unwrap();
    let response = client
        .post(server.url("/v1/logs"))
        .header("content-encoding", "gzip")
        .body(bomb.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);

    let (status, body) = post(&server, "a=b", "application/x-www-form-urlencoded").await;
    assert_eq!(status, 415);
    assert!(
        body["error"].as_str().unwrap().contains("Content-Type"),
        "{body}"
    );

    let response = client
        .post(server.url("/v1/logs"))
        .header("content-encoding", "gzip")
        .body("definitely not gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);

    assert_eq!(server.psql("SELECT count(*) FROM logs").trim(), "200");
    let health = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn extended_protocol_with_parameters_and_sqlstate_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());
    let (status, _) = post(&server, ndjson(300), "application/x-ndjson").await;
    assert_eq!(status, 200);
    let client = server.pg().await;

    let since = chrono::DateTime::parse_from_rfc3339("2024-05-01T12:02:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let rows = client
        .query(
            "SELECT ts, service, level, message FROM logs WHERE service = $1 AND ts >= $2 ORDER BY ts",
            &[&"db", &since],
        )
        .await
        .unwrap();
    // Seconds 120..299 of the fixture, every third one is "db".
    assert_eq!(rows.len(), 60);
    let first_ts: chrono::DateTime<chrono::Utc> = rows[0].get(0);
    assert!(first_ts >= since);
    assert_eq!(rows[0].get::<_, String>(1), "db");

    let count: i64 = client
        .query_one("SELECT count(*) FROM logs WHERE level = $1", &[&"ERROR"])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 60);

    let err = client
        .simple_query("SELECT * FROM no_such_table")
        .await
        .unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42P01", "{err}");
    let err = client.query("SELEC 1", &[]).await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42601", "{err}");
    let err = client.simple_query("DROP TABLE logs").await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "25006", "{err}");
    assert!(err.as_db_error().unwrap().message().contains("read-only"));

    // The connection survives its errors, and nothing was dropped.
    let count: i64 = client
        .query_one("SELECT count(*) FROM logs", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 300);
    // `insights` exists with its final schema, empty until the worker writes to it.
    let rows = client.query("SELECT * FROM insights", &[]).await.unwrap();
    assert!(rows.is_empty());
    // One "request <*> handled" pattern per service.
    let rows = client
        .query("SELECT service, count FROM patterns ORDER BY service", &[])
        .await
        .unwrap();
    let counts: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        counts,
        vec![("api".into(), 100), ("db".into(), 100), ("web".into(), 100)]
    );
}

#[test]
fn a_taken_port_or_unusable_data_dir_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let out = std::process::Command::new(support::binary())
        .args([
            "serve",
            "--http-addr",
            &port,
            "--pg-addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen for HTTP on {port}")),
        "{stderr}"
    );

    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = support::serve_command(&file.join("data")).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot use data directory"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_retried_under_its_idempotency_key_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());
    let send = |key: &'static str| {
        reqwest::Client::new()
            .post(server.url("/v1/logs"))
            .header("idempotency-key", key)
            .body("{\"message\":\"a\"}\n{\"message\":\"b\"}\n")
            .send()
    };
    let first: serde_json::Value = send("batch-1").await.unwrap().json().await.unwrap();
    assert_eq!(first, serde_json::json!({ "accepted": 2 }));
    let again: serde_json::Value = send("batch-1").await.unwrap().json().await.unwrap();
    assert_eq!(
        again,
        serde_json::json!({ "accepted": 2, "duplicate": true })
    );
    send("batch-2").await.unwrap().error_for_status().unwrap();
    assert_eq!(server.psql("SELECT count(*) FROM logs").trim(), "4");
    assert!(server.stop().success());
}

/// Senders faster than the store: with room for one request's records, concurrent requests
/// beyond it are refused at once with 503 and `Retry-After`, nothing of them stored, and every
/// request answered 200 is stored whole. What waits in memory never exceeds the budget.
#[tokio::test(flavor = "multi_thread")]
async fn overload_is_refused_with_503_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(
        dir.path(),
        &[
            "--max-body-bytes",
            "4000000",
            "--max-pending-bytes",
            "4000000",
            "--admit-wait-ms",
            "0",
            "--mine-patterns",
            "false",
            "--duckdb-threads",
            "1",
        ],
    );
    let client = reqwest::Client::new();
    let body = ndjson(12_000);
    let mut requests = Vec::new();
    for _ in 0..24 {
        let client = client.clone();
        let url = server.url("/v1/logs");
        let body = body.clone();
        requests.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .header("content-type", "application/x-ndjson")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            let reply: serde_json::Value = response.json().await.unwrap();
            (status, retry_after, reply)
        }));
    }
    let (mut accepted, mut refused) = (0u64, 0u64);
    for request in requests {
        let (status, retry_after, reply) = request.await.unwrap();
        match status {
            200 => accepted += reply["accepted"].as_u64().unwrap(),
            503 => {
                refused += 1;
                assert_eq!(retry_after.as_deref(), Some("1"), "{reply}");
                let error = reply["error"].as_str().unwrap();
                assert!(
                    error.contains("busy") && error.contains("nothing"),
                    "{error}"
                );
            }
            other => panic!("unexpected status {other}: {reply}"),
        }
    }
    assert!(refused > 0, "24 concurrent requests fit a budget of one");
    assert!(accepted > 0);
    assert_eq!(
        server.psql("SELECT count(*) FROM logs").trim(),
        accepted.to_string()
    );
    assert_eq!(
        server.metric("loginsight_overloaded_requests_total").await,
        refused as f64
    );
    assert_eq!(server.metric("loginsight_pending_bytes").await, 0.0);
    assert!(server.stop().success());
}

/// kill -9 while four senders keep requests in flight: after a restart every request that was
/// answered 200 is stored exactly once and whole, and no request is stored in part.
#[tokio::test(flavor = "multi_thread")]
async fn kill_9_under_sustained_ingest_loses_and_doubles_nothing_acknowledged() {
    const LINES: usize = 2000;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());
    let url = server.url("/v1/logs");
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut senders = Vec::new();
    for _ in 0..4 {
        let (url, next, stop) = (url.clone(), next.clone(), stop.clone());
        senders.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut acked = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let request = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body: String = (0..LINES)
                    .map(|i| {
                        format!(
                            "{{\"service\":\"req-{request}\",\"message\":\"line {i} of request {request}\"}}\n"
                        )
                    })
                    .collect();
                match client.post(&url).body(body).send().await {
                    Ok(response) if response.status() == 200 => acked.push(request),
                    // The kill cut the request off: stored whole or not at all.
                    _ => break,
                }
            }
            acked
        }));
    }
    // Let acknowledged requests pile up, then kill with requests in flight.
    while next.load(std::sync::atomic::Ordering::SeqCst) < 40 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    server.crash();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut acked = Vec::new();
    for sender in senders {
        acked.extend(sender.await.unwrap());
    }
    assert!(
        acked.len() >= 30,
        "only {} requests acknowledged",
        acked.len()
    );

    let server = TestServer::start(dir.path());
    let stored: std::collections::HashMap<String, usize> = server
        .psql("SELECT service, count(*) FROM logs GROUP BY service")
        .lines()
        .map(|l| {
            let (service, n) = l.split_once('|').unwrap();
            (service.to_string(), n.parse().unwrap())
        })
        .collect();
    for request in &acked {
        assert_eq!(
            stored.get(&format!("req-{request}")),
            Some(&LINES),
            "acknowledged request {request}"
        );
    }
    for (service, n) in &stored {
        assert_eq!(*n, LINES, "{service} stored in part or twice");
    }
    assert!(server.stop().success());
}

/// Request bodies count against `max_body_memory` from the moment their head arrives: a
/// sender that holds a large body open leaves no room for another large one (503 with
/// `Retry-After`, nothing stored) while a small one still fits, and its own request is stored
/// once its body is complete. Memory is bounded by bytes, whatever the number of connections.
#[tokio::test(flavor = "multi_thread")]
async fn bodies_in_flight_are_bounded_by_bytes_not_connections() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(
        dir.path(),
        &[
            "--max-body-bytes",
            "1048576",
            "--max-body-memory",
            "1048576",
            "--admit-wait-ms",
            "300",
        ],
    );
    let big = ndjson(5_000);
    assert!(
        big.len() > 600_000 && big.len() < 1_000_000,
        "{}",
        big.len()
    );

    // A slow sender: its head and the first bytes of its body, then nothing for a while.
    let mut slow = tokio::net::TcpStream::connect(server.http).await.unwrap();
    let head = format!(
        "POST /v1/logs HTTP/1.1\r\nhost: {}\r\ncontent-type: application/x-ndjson\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        server.http,
        big.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&big.as_bytes()[..1000]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let refused = server.post_ndjson(ndjson(5_000)).await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.retry_after.as_deref(), Some("1"));
    assert!(server.metric("loginsight_overloaded_requests_total").await >= 1.0);
    // A small body fits beside the held one.
    assert_eq!(server.post_ndjson(ndjson(10)).await.status, 200);

    // The slow sender finishes: its request is stored, and the room comes back.
    slow.write_all(&big.as_bytes()[1000..]).await.unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(server.post_ndjson(ndjson(5_000)).await.status, 200);
    assert_eq!(
        server.psql("SELECT count(*) FROM logs").trim(),
        (5_000 + 10 + 5_000).to_string()
    );
    assert!(server.stop().success());
}
