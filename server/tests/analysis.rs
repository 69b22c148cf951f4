//! The analysis end to end in embedded mode: generated incidents (`shared/genlogs.py`, whose
//! ground truth names each incident's root service) go in over HTTP, and the builtin analyst's
//! insights must name that service as the root cause; `analyze()` runs over the wire.

mod support;

use std::path::Path;

use support::{GenIncident, TestServer, eventually};

/// Writes `lines` generated lines with `incidents` incidents for `seed` into `dir`.
fn generate(dir: &Path, seed: u32, lines: u32, incidents: u32) -> (String, Vec<GenIncident>) {
    support::genlogs(
        dir,
        &[
            "--lines",
            &lines.to_string(),
            "--minutes",
            "60",
            "--incidents",
            &incidents.to_string(),
            "--seed",
            &seed.to_string(),
        ],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_builtin_analyst_names_the_true_root_service_of_generated_incidents() {
    let mut found = 0;
    let mut total = 0;
    for seed in 1..=5 {
        let (hits, n) = root_causes_found(seed).await;
        eprintln!("seed {seed}: true root service named in {hits} of {n} incidents");
        found += hits;
        total += n;
    }
    eprintln!("builtin analyst: {found} of {total} incidents");
    assert_eq!(found, total);
}

/// Ingests seed `seed`'s incidents into a fresh server and counts the incidents whose root
/// service's insight calls it the likely root cause and whose callers' insights point at it;
/// also checks that no other service is called a root cause.
async fn root_causes_found(seed: u32) -> (usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let (logs, incidents) = generate(dir.path(), seed, 20_000, 3);
    let server = TestServer::start_with(dir.path(), &["--linger-ms", "50"]);
    // As a live service would see them: a few minutes of logs at a time, each analysed
    // before the next arrives.
    let lines: Vec<&str> = logs.lines().collect();
    for chunk in lines.chunks(lines.len() / 12 + 1) {
        server.post_logs(chunk.join("\n")).await;
        eventually(60, "the analysis queue drained", || async {
            let b = server.metric("loginsight_analysis_backlog").await;
            if b == 0.0 {
                Ok(())
            } else {
                Err(format!("backlog {b}"))
            }
        })
        .await;
    }
    let mut hits = 0;
    for incident in &incidents {
        let own = server.psql(&format!(
            "SELECT count(*) FROM insights WHERE service = '{0}' AND root_cause LIKE '{0} is the likely root cause%'",
            incident.root_service
        ));
        let callers = server.psql(&format!(
            "SELECT count(*) FROM insights WHERE service IN ({}) AND root_cause LIKE '%probably in {}:%'",
            incident
                .affected
                .iter()
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(", "),
            incident.root_service
        ));
        if own.trim() != "0" && callers.trim() != "0" {
            hits += 1;
        } else {
            eprintln!(
                "seed {seed}: {} not found (own {own}, callers {callers})",
                incident.root_service
            );
        }
    }
    let roots = server.psql(
        "SELECT DISTINCT service FROM insights WHERE root_cause LIKE '% is the likely root cause%' ORDER BY 1",
    );
    let mut want: Vec<&str> = incidents.iter().map(|i| i.root_service.as_str()).collect();
    want.sort_unstable();
    want.dedup();
    let claims = server.psql(
        "SELECT service, first_seen, occurrences, root_cause FROM insights \
         WHERE root_cause LIKE '% is the likely root cause%'",
    );
    assert_eq!(
        roots.trim(),
        want.join("\n"),
        "seed {seed}: services called a root cause:\n{claims}"
    );
    assert!(server.stop().success());
    (hits, incidents.len())
}

/// A local OpenAI-compatible server: answers every chat completion with a valid analysis
/// and keeps the request bodies.
async fn fake_model() -> (std::sync::Arc<std::sync::Mutex<Vec<String>>>, String) {
    use axum::routing::post;
    let bodies: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let kept = bodies.clone();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(move |body: String| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push(body);
                let content = serde_json::json!({
                    "title": "Payment gateway times out",
                    "summary": "Calls to the payment gateway time out.",
                    "root_cause": "the payment gateway is slow",
                    "suggested_fix": "check the gateway",
                    "severity": "error",
                    "confidence": 0.7,
                    "evidence": ["timeouts"]
                })
                .to_string();
                axum::Json(serde_json::json!({
                    "id": "chatcmpl-1", "object": "chat.completion", "created": 1_764_000_000,
                    "model": "stub",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 400, "completion_tokens": 100, "total_tokens": 500}
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (bodies, format!("http://{addr}/v1"))
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_errors_of_five_patterns_cost_at_most_five_model_calls_and_leak_no_secret() {
    let (bodies, url) = fake_model().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("loginsight.toml");
    std::fs::write(
        &config,
        format!("[analyst]\nkind = \"openai\"\nbase_url = \"{url}\"\nmodel = \"stub\"\napi_key = \"sk-test\"\n"),
    )
    .unwrap();
    let server = TestServer::start_with(dir.path(), &["--config", config.to_str().unwrap()]);
    let shapes = [
        "payment gateway timeout after {} ms password=hunter2secret",
        "database connection refused to 10.0.0.{} with token AKIAIOSFODNN7EXAMPLE",
        "disk full on /var/lib/data{} for alice@example.com",
        "upstream inventory returned 503 on attempt {}",
        "null pointer dereference in handler {}",
    ];
    for half in 0..2 {
        let mut body = String::new();
        for i in 0..5_000 {
            let shape = shapes[i % 5];
            let line = serde_json::json!({"level": "ERROR", "service": "checkout",
                "message": shape.replace("{}", &(half * 5_000 + i).to_string())});
            body.push_str(&line.to_string());
            body.push('\n');
        }
        server.post_logs(body).await;
    }
    eventually(120, "10000 errors counted", || async {
        let got = server.psql("SELECT coalesce(sum(occurrences), 0) FROM insights");
        if got.trim() == "10000" {
            Ok(())
        } else {
            Err(got)
        }
    })
    .await;
    let insights = server.psql("SELECT count(*), min(model) FROM insights");
    assert_eq!(insights.trim(), "5|stub");
    let calls = bodies.lock().unwrap().len();
    assert!(
        (1..=5).contains(&calls),
        "{calls} model calls for 5 patterns"
    );
    assert_eq!(
        server.metric("loginsight_model_calls_total").await,
        calls as f64
    );
    assert_eq!(
        server.metric("loginsight_model_tokens_total").await,
        500.0 * calls as f64
    );
    let row = server.psql("SELECT title FROM insights LIMIT 1");
    assert_eq!(row.trim(), "Payment gateway times out");
    for body in bodies.lock().unwrap().iter() {
        for secret in ["hunter2secret", "AKIAIOSFODNN7EXAMPLE", "alice@example.com"] {
            assert!(!body.contains(secret), "{secret} reached the model: {body}");
        }
    }
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn analyze_runs_an_analysis_now_over_the_wire() {
    let dir = tempfile::tempdir().unwrap();
    // The in-process worker waits long, so what `analyze()` returns is its own analysis.
    let server = TestServer::start_with(
        dir.path(),
        &["--linger-ms", "60000", "--batch-size", "100000"],
    );
    let mut body = String::new();
    for i in 0..20 {
        let line = serde_json::json!({"level": "ERROR", "service": "checkout",
            "message": format!("connection refused to payments:{} after retries", 8000 + i)});
        body.push_str(&line.to_string());
        body.push('\n');
    }
    server.post_logs(body).await;

    let rows = server.psql(
        "SELECT service, model, status, occurrences, root_cause IS NOT NULL FROM analyze('checkout')",
    );
    assert_eq!(rows.trim(), "checkout|builtin|open|20|t", "{rows}");
    // The analysis is stored, under the insight id of (service, pattern).
    let stored = server.psql("SELECT id, model FROM insights");
    let returned = server.psql("SELECT id, model FROM analyze('checkout', '30 minutes')");
    assert_eq!(stored.trim(), returned.trim());
    let pattern = server.psql("SELECT pattern_id FROM insights");
    let by_pattern = server.psql(&format!(
        "SELECT service, title FROM analyze_pattern('{}', '1 hour')",
        pattern.trim()
    ));
    assert!(by_pattern.starts_with("checkout|"), "{by_pattern}");
    // Nothing to analyse is an empty result, not an error.
    assert_eq!(
        server.psql("SELECT count(*) FROM analyze('nobody')").trim(),
        "0"
    );

    let err = server.psql_error("SELECT * FROM analyze('checkout', 'soon')");
    assert!(
        err.contains("window of analyze must be a text literal like '30 minutes'"),
        "{err}"
    );
    let err = server.psql_error("SELECT * FROM analyze()");
    assert!(err.contains("analyze takes 1 or 2 arguments"), "{err}");
    let err = server.psql_error("SELECT * FROM analyze(42)");
    assert!(err.contains("must be a non-empty text literal"), "{err}");
    assert!(server.stop().success());
}
