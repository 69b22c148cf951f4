//! The OpenAI-compatible analyst against a local server speaking the real chat-completions
//! wire format (axum, test-only): the request shape, redaction of everything sent, 429 with
//! `Retry-After`, a malformed answer repaired once, and a failure after a second bad answer.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use model::ErrorEvent;
use serde_json::{Value, json};
use worker::analyst::{Analyst, OpenAiAnalyst, OpenAiConfig};
use worker::context::Context;

/// What the fake server answers, in order; the last one repeats.
#[derive(Clone)]
enum Reply {
    RateLimited,
    Content(String),
    ServerError,
}

#[derive(Clone, Default)]
struct Fake {
    replies: Arc<Mutex<Vec<Reply>>>,
    requests: Arc<Mutex<Vec<(HeaderMap, Value, Instant)>>>,
}

fn good_answer() -> String {
    json!({
        "title": "Connection pool exhausted in postgres-proxy",
        "summary": "postgres-proxy ran out of pooled connections; callers time out.",
        "root_cause": "postgres-proxy connection pool too small for the load",
        "suggested_fix": "Raise the pool size and find the slow queries holding connections",
        "severity": "critical",
        "confidence": 0.8,
        "evidence": ["pool exhausted 60 of 60", "password=[REDACTED:secret] seen"]
    })
    .to_string()
}

async fn completions(State(fake): State<Fake>, headers: HeaderMap, body: String) -> Response {
    let request: Value = serde_json::from_str(&body).expect("the request body is JSON");
    fake.requests
        .lock()
        .unwrap()
        .push((headers, request.clone(), Instant::now()));
    let reply = {
        let mut replies = fake.replies.lock().unwrap();
        if replies.len() > 1 {
            replies.remove(0)
        } else {
            replies[0].clone()
        }
    };
    match reply {
        Reply::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            axum::Json(json!({"error": {"message": "Rate limit reached", "type": "rate_limit_error", "param": null, "code": "rate_limit_exceeded"}})),
        )
            .into_response(),
        Reply::ServerError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"error": {"message": "boom", "type": "server_error", "param": null, "code": null}})),
        )
            .into_response(),
        Reply::Content(content) => axum::Json(json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_764_000_000,
            "model": request["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 400, "completion_tokens": 100, "total_tokens": 500}
        }))
        .into_response(),
    }
}

async fn start(replies: Vec<Reply>) -> (Fake, String) {
    let fake = Fake {
        replies: Arc::new(Mutex::new(replies)),
        ..Default::default()
    };
    let app = Router::new()
        .route("/v1/chat/completions", post(completions))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, format!("http://{addr}/v1"))
}

const SECRETS: [&str; 6] = [
    "AKIAIOSFODNN7EXAMPLE",
    "hunter2-Sup3rS3cret",
    "4111 1111 1111 1111",
    "alice.smith@example.com",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "s3cr3tP4ss",
];

fn group() -> worker::Group {
    let messages = [
        format!(
            "connection pool exhausted: 60 of 60 connections in use (key {})",
            SECRETS[0]
        ),
        format!("login failed password={} for {}", SECRETS[1], SECRETS[3]),
        format!("charge declined card {} token {}", SECRETS[2], SECRETS[4]),
        format!(
            "retry postgres://app:{}@db.internal:5432/orders",
            SECRETS[5]
        ),
    ];
    let events = messages
        .iter()
        .enumerate()
        .map(|(i, m)| ErrorEvent {
            event_id: format!("e{i}"),
            ts_us: 1_764_000_000_000_000 + i as i64,
            service: "postgres-proxy".into(),
            level: "ERROR".into(),
            message: m.clone(),
            host: Some("db-1".into()),
            trace_id: None,
            pattern_id: Some("p1".into()),
            template: Some("connection pool exhausted: <*> of <*> connections in use".into()),
        })
        .collect();
    worker::Group {
        service: "postgres-proxy".into(),
        pattern_id: "p1".into(),
        template: "connection pool exhausted: <*> of <*> connections in use".into(),
        events,
    }
}

fn analyst(base_url: &str) -> OpenAiAnalyst {
    OpenAiAnalyst::new(
        OpenAiConfig {
            base_url: base_url.to_string(),
            model: "test-model".into(),
            api_key: "sk-test-key".into(),
            timeout: Duration::from_secs(10),
            max_retries: 1,
            ..OpenAiConfig::default()
        },
        redact::Redactor::new(&redact::RedactConfig::default()).unwrap(),
    )
}

#[tokio::test]
async fn the_request_has_the_openai_shape_and_carries_no_secret() {
    let (fake, url) = start(vec![Reply::Content(good_answer())]).await;
    let analysis = analyst(&url)
        .analyze(&group(), &Context::default())
        .await
        .unwrap();
    assert_eq!(
        analysis.title,
        "Connection pool exhausted in postgres-proxy"
    );
    assert_eq!(analysis.severity, "critical");
    assert_eq!((analysis.calls, analysis.tokens), (1, 500));

    let requests = fake.requests.lock().unwrap();
    assert_eq!(requests.len(), 1);
    let (headers, body, _) = &requests[0];
    assert_eq!(headers["authorization"], "Bearer sk-test-key");
    assert_eq!(body["model"], "test-model");
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "system");
    assert_eq!(messages[1]["role"], "user");
    assert!(
        messages[1]["content"]
            .as_str()
            .unwrap()
            .contains("postgres-proxy")
    );
    assert_eq!(body["response_format"]["type"], "json_schema");
    let schema = &body["response_format"]["json_schema"]["schema"];
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for field in [
        "title",
        "summary",
        "root_cause",
        "suggested_fix",
        "severity",
        "confidence",
        "evidence",
    ] {
        assert!(
            required.contains(&field),
            "{field} missing from {required:?}"
        );
    }
    let text = body.to_string();
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} reached the model: {text}");
    }
    assert!(!text.contains("4111"), "card digits reached the model");
    assert!(
        text.contains("[REDACTED:"),
        "redaction markers expected: {text}"
    );
}

#[tokio::test]
async fn rate_limits_are_retried_after_the_server_says() {
    let (fake, url) = start(vec![Reply::RateLimited, Reply::Content(good_answer())]).await;
    let analysis = analyst(&url)
        .analyze(&group(), &Context::default())
        .await
        .unwrap();
    assert_eq!(
        analysis.title,
        "Connection pool exhausted in postgres-proxy"
    );
    let requests = fake.requests.lock().unwrap();
    assert_eq!(requests.len(), 2);
    let waited = requests[1].2 - requests[0].2;
    assert!(
        waited >= Duration::from_millis(900),
        "Retry-After: 1 not honoured ({waited:?})"
    );
}

#[tokio::test]
async fn a_malformed_answer_is_repaired_once() {
    let (fake, url) = start(vec![
        Reply::Content("{\"title\": \"cut off".into()),
        Reply::Content(good_answer()),
    ])
    .await;
    let analysis = analyst(&url)
        .analyze(&group(), &Context::default())
        .await
        .unwrap();
    assert_eq!(analysis.calls, 2);
    assert_eq!(analysis.tokens, 1000);
    let requests = fake.requests.lock().unwrap();
    let repair = requests[1].1["messages"].as_array().unwrap();
    assert_eq!(
        repair.len(),
        4,
        "system, user, the bad answer, the correction"
    );
    assert_eq!(repair[2]["role"], "assistant");
    assert!(repair[3]["content"].as_str().unwrap().contains("invalid"));
}

#[tokio::test]
async fn two_bad_answers_fail_with_the_reason() {
    let (_fake, url) = start(vec![Reply::Content(json!({"title": "x"}).to_string())]).await;
    let err = analyst(&url)
        .analyze(&group(), &Context::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invalid twice"), "{err}");
}

#[tokio::test]
async fn server_errors_end_in_a_failure_not_a_hang() {
    let (fake, url) = start(vec![Reply::ServerError]).await;
    let err = analyst(&url)
        .analyze(&group(), &Context::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("failed"), "{err}");
    assert!(
        fake.requests.lock().unwrap().len() >= 2,
        "retried before giving up"
    );
}
