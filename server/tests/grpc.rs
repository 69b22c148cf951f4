//! gRPC and OTLP against the real server: our `loginsight.v1.LogService` (unary and
//! client-streaming) with its generated client, the OpenTelemetry `LogsService/Export` with the
//! `opentelemetry-proto` client, and OTLP/HTTP in protobuf and JSON. Rows are read back over SQL.

mod support;

use loginsight_proto::v1::log_service_client::LogServiceClient;
use loginsight_proto::v1::{LogBatch, LogEntry};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as V};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use support::TestServer;

fn entry(service: &str, level: &str, message: &str) -> LogEntry {
    LogEntry {
        time_unix_nano: 1_764_400_000_000_000_000,
        level: level.into(),
        service: service.into(),
        host: "h1".into(),
        message: message.into(),
        trace_id: String::new(),
        attributes: [("region".to_string(), "eu".to_string())].into(),
    }
}

fn otlp_request(service: &str, messages: &[&str]) -> ExportLogsServiceRequest {
    let kv = |k: &str, v: V| KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", V::StringValue(service.into()))],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: messages
                    .iter()
                    .map(|m| LogRecord {
                        time_unix_nano: 1_764_400_000_000_000_000,
                        severity_number: 17,
                        body: Some(AnyValue {
                            value: Some(V::StringValue((*m).into())),
                        }),
                        trace_id: vec![0x5b; 16],
                        span_id: vec![0xee; 8],
                        attributes: vec![kv("http.route", V::StringValue("/pay".into()))],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_push_stream_and_otlp_export_store_their_records() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());
    let endpoint = format!("http://{}", server.addr("grpc"));

    let mut client = LogServiceClient::connect(endpoint.clone()).await.unwrap();
    let pushed = client
        .push(LogBatch {
            entries: vec![
                entry("orders", "ERROR", "db down"),
                entry("orders", "", "ok"),
            ],
        })
        .await
        .unwrap();
    assert_eq!(pushed.into_inner().accepted, 2);
    let batches = (0..3).map(|i| LogBatch {
        entries: vec![entry("stream", "WARN", &format!("batch {i}"))],
    });
    let streamed = client.stream(futures::stream::iter(batches)).await.unwrap();
    assert_eq!(streamed.into_inner().accepted, 3);
    let mut otlp = LogsServiceClient::connect(endpoint).await.unwrap();
    otlp.export(otlp_request("checkout", &["charge failed", "retrying"]))
        .await
        .unwrap();

    let rows = server.psql(
        "SELECT source, service, level, count(*) FROM logs GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    );
    assert_eq!(
        rows.trim(),
        "grpc|orders|ERROR|1\ngrpc|orders|INFO|1\ngrpc|stream|WARN|3\notlp|checkout|ERROR|2"
    );
    let otel = server.psql(
        "SELECT trace_id, attributes FROM logs WHERE source = 'otlp' ORDER BY message LIMIT 1",
    );
    let (trace, attrs) = otel.trim().split_once('|').unwrap();
    assert_eq!(trace, "5b".repeat(16));
    let attrs: serde_json::Value = serde_json::from_str(attrs).unwrap();
    assert_eq!(attrs["otel"]["span_id"], "ee".repeat(8));
    assert_eq!(attrs["otel"]["attributes"]["http.route"], "/pay");
    let region = server.psql("SELECT attributes FROM logs WHERE message = 'db down'");
    assert!(region.contains("\"region\":\"eu\""), "{region}");
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn otlp_http_takes_protobuf_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());
    let client = reqwest::Client::new();
    let response = client
        .post(server.url("/v1/otlp/logs"))
        .header("content-type", "application/x-protobuf")
        .body(otlp_request("api", &["from protobuf"]).encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-protobuf");
    let json = r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},
        "scopeLogs":[{"logRecords":[{"timeUnixNano":"1764400000000000000","severityNumber":13,
        "body":{"stringValue":"from json"},"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}]}"#;
    let response = client
        .post(server.url("/v1/otlp/logs"))
        .header("content-type", "application/json")
        .body(json)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let rows = server.psql("SELECT level, message, trace_id FROM logs ORDER BY message");
    assert_eq!(
        rows.trim(),
        format!(
            "WARN|from json|5b8efff798038103d269b633813fc60c\nERROR|from protobuf|{}",
            "5b".repeat(16)
        )
    );
    let response = client
        .post(server.url("/v1/otlp/logs"))
        .header("content-type", "application/x-protobuf")
        .body(vec![0xff, 0xff, 0xff])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("not an OTLP ExportLogsServiceRequest"),
        "{text}"
    );
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_opentelemetry_python_sdk_exports_over_grpc_and_http_with_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), &["--ingest-tokens", "otel-secret"]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/otel_export.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(server.addr("grpc").to_string())
        .arg(server.url("/v1/otlp/logs"))
        .arg("otel-secret")
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trace_id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(trace_id.len(), 32, "{trace_id}");
    let rows = server
        .psql("SELECT service, host, level, trace_id, message FROM logs ORDER BY message, level");
    let expected = ["grpc", "http"]
        .iter()
        .flat_map(|t| {
            [
                format!("checkout-py|py-host-1|ERROR|{trace_id}|payment declined via {t}"),
                format!("checkout-py|py-host-1|WARN|{trace_id}|retrying payment via {t}"),
            ]
        })
        .collect::<Vec<_>>();
    let mut expected = expected;
    expected.sort_by(|a, b| a.rsplit('|').next().cmp(&b.rsplit('|').next()));
    assert_eq!(rows.trim(), expected.join("\n"));
    let accepted = server
        .metric(r#"loginsight_source_requests_total{source="otlp",outcome="accepted"}"#)
        .await;
    assert!(accepted >= 4.0, "one export per record: {accepted}");
    let records = server
        .metric(r#"loginsight_source_records_total{source="otlp"}"#)
        .await;
    assert_eq!(records, 4.0);
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_and_switched_off_sources_are_enforced_on_http_and_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(
        dir.path(),
        &[
            "--ingest-tokens",
            "t1,t2",
            "--disable-sources",
            "datadog,grpc",
        ],
    );
    let http = reqwest::Client::new();
    let post = |auth: Option<&str>| {
        let mut request = http
            .post(server.url("/v1/logs"))
            .body(r#"{"message":"hello"}"#);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    assert_eq!(post(None).await.unwrap().status(), 401);
    let wrong = post(Some("Bearer nope")).await.unwrap();
    assert_eq!(wrong.status(), 403);
    assert!(wrong.text().await.unwrap().contains("invalid bearer token"));
    assert_eq!(post(Some("Bearer t2")).await.unwrap().status(), 200);
    let datadog = http
        .post(server.url("/api/v2/logs"))
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(datadog.status(), 404);
    assert!(
        datadog
            .text()
            .await
            .unwrap()
            .contains("datadog source is switched off")
    );

    let endpoint = format!("http://{}", server.addr("grpc"));
    let mut own = LogServiceClient::connect(endpoint.clone()).await.unwrap();
    let off = own
        .push(LogBatch {
            entries: vec![entry("x", "INFO", "y")],
        })
        .await
        .unwrap_err();
    assert_eq!(off.code(), tonic::Code::Unimplemented);
    let mut otlp = LogsServiceClient::connect(endpoint).await.unwrap();
    let missing = otlp
        .export(otlp_request("svc", &["no token"]))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::Unauthenticated);
    let mut request = tonic::Request::new(otlp_request("svc", &["with token"]));
    request
        .metadata_mut()
        .insert("authorization", "Bearer t1".parse().unwrap());
    otlp.export(request).await.unwrap();

    assert_eq!(
        server
            .psql("SELECT message FROM logs ORDER BY message")
            .trim(),
        "hello\nwith token"
    );
    let rejected = server
        .metric(r#"loginsight_source_requests_total{source="http",outcome="rejected"}"#)
        .await;
    assert_eq!(rejected, 2.0);
    let rejected = server
        .metric(r#"loginsight_source_requests_total{source="otlp",outcome="rejected"}"#)
        .await;
    assert_eq!(rejected, 1.0);
    assert!(server.stop().success());
}

/// gRPC bodies share `max_body_memory` with HTTP. With room for one large message at a time
/// and no waiting, concurrent large calls beyond it get `RESOURCE_EXHAUSTED` and store nothing;
/// every call answered OK is stored whole. A stream whose messages add up to more than the
/// budget still goes through: it holds room for one message at a time.
#[tokio::test(flavor = "multi_thread")]
async fn grpc_bodies_beyond_the_memory_budget_get_resource_exhausted() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(
        dir.path(),
        &[
            "--max-body-bytes",
            "2000000",
            "--max-body-memory",
            "2000000",
            "--admit-wait-ms",
            "0",
            "--mine-patterns",
            "false",
        ],
    );
    let endpoint = format!("http://{}", server.addr("grpc"));
    // About 1.2 MB encoded: two of them do not fit the budget together.
    let big = |call: usize| LogBatch {
        entries: (0..5_000)
            .map(|i| {
                entry(
                    "bulk",
                    "INFO",
                    &format!("call {call} line {i} {}", "x".repeat(200)),
                )
            })
            .collect(),
    };
    assert!((1_000_000..2_000_000).contains(&big(0).encoded_len()));

    let mut calls = Vec::new();
    for call in 0..12 {
        let endpoint = endpoint.clone();
        let batch = big(call);
        calls.push(tokio::spawn(async move {
            let mut client = LogServiceClient::connect(endpoint).await.unwrap();
            client.push(batch).await
        }));
    }
    let (mut accepted, mut refused) = (0u64, 0u64);
    for call in calls {
        match call.await.unwrap() {
            Ok(reply) => accepted += reply.into_inner().accepted,
            Err(status) => {
                assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
                assert!(status.message().contains("max_body_memory"), "{status:?}");
                refused += 1;
            }
        }
    }
    assert!(refused > 0, "12 concurrent 1.2 MB calls fit a 2 MB budget");
    assert!(accepted > 0);
    assert_eq!(accepted % 5_000, 0, "a call is stored whole or not at all");
    let stored = server.psql("SELECT count(*) FROM logs WHERE service = 'bulk'");
    assert_eq!(stored.trim(), accepted.to_string());

    let mut client = LogServiceClient::connect(endpoint).await.unwrap();
    let streamed = client
        .stream(futures::stream::iter((100..104).map(big)))
        .await
        .unwrap();
    assert_eq!(streamed.into_inner().accepted, 20_000);
    assert_eq!(
        server.metric("loginsight_overloaded_requests_total").await,
        refused as f64
    );
    assert!(server.stop().success());
}
