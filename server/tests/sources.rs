//! The vendor-protocol sources against the real server: Datadog logs intake and webhooks,
//! Kinesis Firehose with CloudWatch Logs records. Payload shapes follow
//! `shared/reference/formats.md`; every assertion reads the stored rows back over SQL.

mod support;

use std::io::Write;

use base64::Engine;
use serde_json::{Value, json};
use support::TestServer;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

async fn send(
    server: &TestServer,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(server.url(path)).body(body);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn datadog_intake_takes_what_the_agent_sends() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), &["--datadog-api-keys", "k1,k2"]);
    // What the Agent sends: message, status, timestamp (ms), hostname, service, ddsource, ddtags.
    let entries = json!([
        {"message": "payment declined", "status": "error", "timestamp": 1764400000123i64,
         "hostname": "i-0123", "service": "payment", "ddsource": "java",
         "ddtags": "env:staging,version:5.1"},
        {"message": "cache warm", "status": "info", "timestamp": 1764400000456i64,
         "hostname": "i-0123", "ddsource": "go", "ddtags": "service:cache,env:staging"}
    ]);
    let body = gzip(entries.to_string().as_bytes());
    let headers = [
        ("dd-api-key", "k2"),
        ("content-type", "application/json"),
        ("content-encoding", "gzip"),
    ];
    let (status, answer) = send(&server, "/api/v2/logs?ddtags=team:pay", &headers, body).await;
    assert_eq!((status, answer), (202, json!({})));
    let rows =
        server.psql("SELECT service, level, host, message, ts, source FROM logs ORDER BY ts");
    assert_eq!(
        rows.trim(),
        "payment|ERROR|i-0123|payment declined|2025-11-29 07:06:40.123+00|datadog\n\
         cache|INFO|i-0123|cache warm|2025-11-29 07:06:40.456+00|datadog"
    );
    let attrs = server.psql("SELECT attributes FROM logs WHERE service = 'payment'");
    let attrs: Value = serde_json::from_str(attrs.trim()).unwrap();
    assert_eq!(
        attrs["ddtags"],
        json!({"env": "staging", "version": "5.1", "team": "pay"})
    );
    assert_eq!(attrs["ddsource"], "java");

    // /v1/input takes one object as well.
    let one = json!({"message": "v1 works", "service": "legacy"}).to_string();
    let (status, _) = send(&server, "/v1/input", &[("dd-api-key", "k1")], one.into()).await;
    assert_eq!(status, 202);

    // Keys, limits and bad input: clear 4xx answers, nothing stored.
    let small = json!([{"message": "x"}]).to_string();
    let (status, answer) = send(&server, "/api/v2/logs", &[], small.clone().into()).await;
    assert_eq!(status, 401, "{answer}");
    let (status, _) = send(
        &server,
        "/api/v2/logs",
        &[("dd-api-key", "nope")],
        small.into(),
    )
    .await;
    assert_eq!(status, 403);
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"message": i.to_string()}))
        .collect();
    let (status, answer) = send(
        &server,
        "/api/v2/logs",
        &[("dd-api-key", "k1")],
        Value::Array(many).to_string().into(),
    )
    .await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("at most 1000"));
    let big = json!([{"message": "y".repeat(5 * 1024 * 1024)}]).to_string();
    let (status, _) = send(
        &server,
        "/api/v2/logs",
        &[("dd-api-key", "k1"), ("content-encoding", "gzip")],
        gzip(big.as_bytes()),
    )
    .await;
    assert_eq!(status, 413);
    let (status, answer) = send(
        &server,
        "/api/v2/logs",
        &[("dd-api-key", "k1")],
        b"[{\"message\": ".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().contains("line 1, column"),
        "{answer}"
    );
    assert_eq!(server.psql("SELECT count(*) FROM logs").trim(), "3");
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn datadog_webhooks_are_stored_once_even_when_their_json_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());
    // The default payload, filled in: $EVENT_MSG put raw newlines and quotes into the string.
    let body = "{\"body\": \"%%%\nCPU on web-1 is above 90% for 5 min\n\\\"load\\\": 12.3\n%%%\", \
                \"last_updated\": \"1764400000000\", \"event_type\": \"metric_alert_monitor\", \
                \"title\": \"[Triggered] High CPU on web-1 — ünïcode ✓\", \"date\": \"1764400000000\", \
                \"org\": {\"id\": \"1\", \"name\": \"acme\"}, \"id\": \"7401\", \"tags\": \"service:web,env:prod\"}";
    let (status, answer) = send(&server, "/v1/webhooks/datadog", &[], body.into()).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["duplicate"], false);
    // Datadog retries; the same event is not stored twice.
    let (status, answer) = send(&server, "/v1/webhooks/datadog", &[], body.into()).await;
    assert_eq!((status, answer["duplicate"].clone()), (202, json!(true)));
    let row = server.psql("SELECT service, level, message, source FROM logs");
    assert_eq!(
        row.trim(),
        "web|ERROR|[Triggered] High CPU on web-1 — ünïcode ✓\nCPU on web-1 is above 90% for 5 min\n\"load\": 12.3|datadog-webhook"
    );
    // A recovery is another notification.
    let recovered = json!({"title": "[Recovered] High CPU on web-1", "id": "7402",
                           "alert_transition": "Recovered", "date": "1764400060000"});
    let (status, _) = send(
        &server,
        "/v1/webhooks/datadog",
        &[],
        recovered.to_string().into(),
    )
    .await;
    assert_eq!(status, 202);
    // Beyond repair: kept as text with a warning, never a 5xx (Datadog would retry 5 times).
    let (status, answer) = send(
        &server,
        "/v1/webhooks/datadog",
        &[],
        b"{\"title\": \"x\" oops".to_vec(),
    )
    .await;
    assert_eq!(status, 202);
    assert!(
        answer["warning"]
            .as_str()
            .unwrap()
            .contains("stored as raw text"),
        "{answer}"
    );
    let levels = server.psql("SELECT level, count(*) FROM logs GROUP BY level ORDER BY level");
    assert_eq!(levels.trim(), "ERROR|1\nINFO|1\nWARN|1");
    assert!(server.stop().success());
}

fn firehose_body(request_id: &str, records: &[Vec<u8>]) -> Vec<u8> {
    let records: Vec<Value> = records
        .iter()
        .map(|r| json!({"data": base64::engine::general_purpose::STANDARD.encode(r)}))
        .collect();
    json!({"requestId": request_id, "timestamp": 1764400000000i64, "records": records})
        .to_string()
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn firehose_cloudwatch_records_become_logs_and_retries_do_not_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), &["--firehose-access-keys", "secret-key"]);
    let data = json!({"owner": "123456789012", "logGroup": "/aws/lambda/checkout",
        "logStream": "2026/11/29/[$LATEST]abc", "subscriptionFilters": ["to-loginsight"],
        "messageType": "DATA_MESSAGE", "logEvents": [
            {"id": "1", "timestamp": 1764400000000i64, "message": "ERROR charge failed: card declined"},
            {"id": "2", "timestamp": 1764400001000i64, "message": "{\"level\":\"warn\",\"msg\":\"slow upstream\"}"}]});
    let control = json!({"messageType": "CONTROL_MESSAGE", "logGroup": "", "logStream": "",
        "owner": "CloudwatchLogs", "logEvents": [{"id": "", "timestamp": 1764400000000i64,
        "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose."}]});
    let body = firehose_body(
        "9b848d8a-2d89-474b-b073-04b8e5232210",
        &[
            gzip(data.to_string().as_bytes()),
            gzip(control.to_string().as_bytes()),
        ],
    );
    let headers = [
        (
            "x-amz-firehose-request-id",
            "9b848d8a-2d89-474b-b073-04b8e5232210",
        ),
        ("x-amz-firehose-access-key", "secret-key"),
        ("x-amz-firehose-protocol-version", "1.0"),
        ("content-type", "application/json"),
    ];
    for _ in 0..2 {
        // The second time is Firehose retrying the same request.
        let (status, answer) = send(&server, "/v1/firehose", &headers, body.clone()).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["requestId"], "9b848d8a-2d89-474b-b073-04b8e5232210");
        assert!(answer["timestamp"].as_i64().unwrap() > 1_700_000_000_000);
    }
    let rows = server.psql("SELECT service, level, message FROM logs ORDER BY ts");
    assert_eq!(
        rows.trim(),
        "checkout|ERROR|ERROR charge failed: card declined\ncheckout|WARN|slow upstream"
    );
    let attrs = server.psql("SELECT attributes FROM logs ORDER BY ts LIMIT 1");
    let attrs: Value = serde_json::from_str(attrs.trim()).unwrap();
    assert_eq!(attrs["cloudwatch"]["logGroup"], "/aws/lambda/checkout");
    assert_eq!(attrs["cloudwatch"]["logStream"], "2026/11/29/[$LATEST]abc");

    let (status, answer) = send(
        &server,
        "/v1/firehose",
        &[
            ("x-amz-firehose-access-key", "wrong"),
            ("x-amz-firehose-request-id", "r2"),
        ],
        firehose_body("r2", &[b"hello".to_vec()]),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(answer["requestId"], "r2");
    assert!(
        answer["errorMessage"]
            .as_str()
            .unwrap()
            .contains("Access-Key")
    );
    let (status, answer) = send(
        &server,
        "/v1/firehose",
        &[
            ("x-amz-firehose-access-key", "secret-key"),
            ("x-amz-firehose-request-id", "r3"),
        ],
        b"{\"requestId\": \"r3\", \"records\": [{\"data\": \"***\"}]}".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        answer["errorMessage"]
            .as_str()
            .unwrap()
            .contains("record 0: data is not base64"),
        "{answer}"
    );
    assert_eq!(server.psql("SELECT count(*) FROM logs").trim(), "2");
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn syslog_over_udp_and_tcp_keeps_every_message() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(
        dir.path(),
        &["--syslog-udp", "127.0.0.1:0", "--syslog-tcp", "127.0.0.1:0"],
    );
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    udp.send_to(
        b"<11>1 2026-11-29T10:00:00.123Z web-1 checkout 4242 ID47 [origin ip=\"10.0.0.1\"] payment failed",
        server.addr("syslog_udp"),
    )
    .await
    .unwrap();
    let mut tcp = tokio::net::TcpStream::connect(server.addr("syslog_tcp"))
        .await
        .unwrap();
    // Newline framing, then octet counting with a multi-line message, then something that is
    // not syslog at all.
    let counted = "<28>1 2026-11-29T10:00:01Z db-1 postgres - - - slow query\n  in orders";
    let stream = format!(
        "<34>Oct 11 22:14:15 mymachine su: 'su root' failed\n{} {counted}not syslog at all\n",
        counted.len()
    );
    tcp.write_all(stream.as_bytes()).await.unwrap();
    tcp.shutdown().await.unwrap();
    support::eventually(30, "4 syslog rows", || async {
        let n = server.psql("SELECT count(*) FROM logs");
        if n.trim() == "4" { Ok(()) } else { Err(n) }
    })
    .await;
    let rows =
        server.psql("SELECT service, level, host, message, source FROM logs ORDER BY message");
    assert_eq!(
        rows.trim(),
        "su|FATAL|mymachine|'su root' failed|syslog\n\
         syslog|INFO|127.0.0.1|not syslog at all|syslog\n\
         checkout|ERROR|web-1|payment failed|syslog\n\
         postgres|WARN|db-1|slow query\n  in orders|syslog"
    );
    let attrs = server.psql("SELECT attributes FROM logs WHERE service = 'checkout'");
    let attrs: Value = serde_json::from_str(attrs.trim()).unwrap();
    assert_eq!(
        attrs["syslog"]["structured_data"]["origin"]["ip"],
        "10.0.0.1"
    );
    assert_eq!(attrs["syslog"]["facility"], "user");
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn util_linux_logger_over_udp_and_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(
        dir.path(),
        &["--syslog-udp", "127.0.0.1:0", "--syslog-tcp", "127.0.0.1:0"],
    );
    let logger = |transport: &str, port: u16, format: &[&str], tag: &str, message: &str| {
        let status = std::process::Command::new("logger")
            .args([
                transport,
                "--server",
                "127.0.0.1",
                "--port",
                &port.to_string(),
            ])
            .args(format)
            .args(["--tag", tag, "--priority", "local0.err", message])
            .status()
            .expect("run logger");
        assert!(status.success(), "logger {transport} {format:?}");
    };
    let udp = server.addr("syslog_udp").port();
    let tcp = server.addr("syslog_tcp").port();
    logger(
        "--udp",
        udp,
        &["--rfc5424"],
        "billing",
        "udp 5424 invoice failed",
    );
    logger(
        "--udp",
        udp,
        &["--rfc3164"],
        "billing",
        "udp 3164 invoice failed",
    );
    logger(
        "--tcp",
        tcp,
        &["--rfc5424"],
        "billing",
        "tcp 5424 invoice failed",
    );
    logger(
        "--tcp",
        tcp,
        &["--rfc3164"],
        "billing",
        "tcp 3164 invoice failed",
    );
    logger(
        "--tcp",
        tcp,
        &["--rfc5424", "--octet-count"],
        "billing",
        "tcp octet invoice failed",
    );
    support::eventually(30, "5 logger rows", || async {
        let n = server.psql("SELECT count(*) FROM logs");
        if n.trim() == "5" { Ok(()) } else { Err(n) }
    })
    .await;
    let rows = server.psql("SELECT service, level, message FROM logs ORDER BY message");
    assert_eq!(
        rows.trim(),
        "billing|ERROR|tcp 3164 invoice failed\n\
         billing|ERROR|tcp 5424 invoice failed\n\
         billing|ERROR|tcp octet invoice failed\n\
         billing|ERROR|udp 3164 invoice failed\n\
         billing|ERROR|udp 5424 invoice failed"
    );
    let facility =
        server.psql("SELECT DISTINCT attributes LIKE '%\"facility\":\"local0\"%' FROM logs");
    assert_eq!(facility.trim(), "t");
    assert!(server.stop().success());
}
