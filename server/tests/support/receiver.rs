//! A webhook receiver on loopback standing in for Slack, PagerDuty and generic webhooks: it
//! records every request (path and JSON body) and answers with the status the test sets, so
//! a test can take it "down" (503) and bring it back.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub body: serde_json::Value,
    /// The status it was answered with.
    pub status: u16,
}

#[derive(Clone, Default)]
struct Shared {
    requests: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Shared,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Receiver {
    /// Binds `127.0.0.1:0` and serves until dropped; answers 200 until told otherwise.
    pub async fn start() -> Receiver {
        let shared = Shared::default();
        shared.status.store(200, Ordering::SeqCst);
        let app = axum::Router::new()
            .route("/{*path}", post(record))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Receiver {
            addr,
            shared,
            _stop: stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    /// Answers every later request with `status`.
    pub fn answer(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Received> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The requests to `path` that were answered 2xx.
    pub fn accepted(&self, path: &str) -> Vec<serde_json::Value> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path && (200..300).contains(&r.status))
            .map(|r| r.body)
            .collect()
    }
}

async fn record(
    State(shared): State<Shared>,
    Path(path): Path<String>,
    body: String,
) -> StatusCode {
    let status = shared.status.load(Ordering::SeqCst);
    let body = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
    shared
        .requests
        .lock()
        .unwrap()
        .push(Received { path, body, status });
    StatusCode::from_u16(status).unwrap()
}
