//! The Rust SDK's tracing layer against the real server, and against no server at all.

mod support;

use support::TestServer;
use tracing_subscriber::prelude::*;

#[tokio::test(flavor = "multi_thread")]
async fn tracing_events_arrive_with_their_fields() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());
    let config = loginsight_sdk::Config {
        host: "app-1".into(),
        ..loginsight_sdk::Config::new(format!("http://{}", server.addr("grpc")), "sdk-test")
    };
    let (layer, shipper) = loginsight_sdk::layer(config);
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(user = "ada", "signed in");
        tracing::error!(order = 42, trace_id = "4bf92f3577b34da6", "payment failed");
    });
    assert_eq!(shipper.shutdown().await, (2, 0));
    let rows = server.psql(
        "SELECT service, host, level, message, coalesce(trace_id, '-') FROM logs ORDER BY level",
    );
    assert_eq!(
        rows.trim(),
        "sdk-test|app-1|ERROR|payment failed|4bf92f3577b34da6\nsdk-test|app-1|INFO|signed in|-"
    );
    let attrs = server.psql("SELECT attributes FROM logs WHERE level = 'ERROR'");
    assert!(attrs.contains("\"order\":\"42\""), "{attrs}");
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_server_costs_bounded_memory_and_counted_drops() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = loginsight_sdk::Config {
        capacity: 10,
        batch: 5,
        retries: 0,
        ..loginsight_sdk::Config::new(format!("http://127.0.0.1:{port}"), "nowhere")
    };
    let (layer, shipper) = loginsight_sdk::layer(config);
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..100 {
            tracing::warn!(i, "cannot be delivered");
        }
    });
    let (sent, dropped) = shipper.shutdown().await;
    // At most `capacity` events were ever held; every one of the 100 is accounted for.
    assert_eq!((sent, dropped), (0, 100));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sdk_sends_its_token_and_a_refused_batch_is_counted_as_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), &["--ingest-tokens", "sdk-secret"]);
    let endpoint = format!("http://{}", server.addr("grpc"));
    for (token, expected) in [
        (Some("sdk-secret"), (1, 0)),
        (Some("wrong"), (0, 1)),
        (None, (0, 1)),
    ] {
        let config = loginsight_sdk::Config {
            token: token.map(str::to_string),
            ..loginsight_sdk::Config::new(endpoint.clone(), "sdk-auth")
        };
        let (layer, shipper) = loginsight_sdk::layer(config);
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(token = token.unwrap_or("none"), "hello");
        });
        assert_eq!(shipper.shutdown().await, expected, "token {token:?}");
    }
    assert_eq!(server.psql("SELECT count(*) FROM logs").trim(), "1");
    assert!(server.stop().success());
}
