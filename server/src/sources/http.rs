//! The HTTP source (axum): `POST /v1/logs` for NDJSON or JSON arrays, `GET /healthz`, and
//! `GET /metrics` (Prometheus text); the Datadog and Firehose routes live in their own files
//! and share this router, its state and [`HttpError`].
//!
//! A request is acknowledged with `200 {"accepted": N}` only after its rows are committed. It
//! is atomic: a malformed line rejects the whole request with `400` and the first line errors.
//! A request carrying an `Idempotency-Key` already stored is acknowledged without storing it
//! again (`"duplicate": true`).
//! HTTP status codes are chosen in one place, [`HttpError`]'s `IntoResponse`.

use std::io::Read;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde_json::json;

use crate::metrics::Metrics;
use crate::pipeline::{MemoryBudget, Outcome, Pipeline, PipelineError};
use normalise::json::{PayloadErrors, parse_body};

/// What the HTTP routes share.
#[derive(Clone)]
pub struct HttpState {
    pub pipeline: Pipeline,
    /// Largest body, compressed or not.
    pub max_body_bytes: usize,
    pub metrics: Metrics,
    /// Read for the backlog gauge when `/metrics` is scraped.
    pub store: store::StoreRef,
    /// Accepted `DD-API-KEY`s; empty: no check.
    pub datadog_api_keys: std::sync::Arc<Vec<String>>,
    /// Accepted `X-Amz-Firehose-Access-Key`s; empty: no check.
    pub firehose_access_keys: std::sync::Arc<Vec<String>>,
    /// Accepted bearer tokens of the routes that take them; empty: no check.
    pub tokens: std::sync::Arc<Vec<String>>,
    /// Sources switched off.
    pub disabled: std::sync::Arc<Vec<String>>,
    /// Request bodies held at once (`max_body_memory`), and how long a request waits for
    /// room in it.
    pub bodies: MemoryBudget,
    pub admit_wait: std::time::Duration,
}

/// The routes of the HTTP source.
pub fn router(state: HttpState) -> Router {
    let limit = state.max_body_bytes;
    let source = |name, bearer, route| guarded(&state, Source { name, bearer }, route);
    Router::new()
        .route("/v1/logs", source("http", true, post(ingest_logs)))
        .route(
            "/api/v2/logs",
            source("datadog", false, post(super::datadog::intake)),
        )
        .route(
            "/v1/input",
            source("datadog", false, post(super::datadog::intake)),
        )
        .route(
            "/v1/webhooks/datadog",
            source("datadog_webhook", true, post(super::datadog::webhook)),
        )
        .route(
            "/v1/firehose",
            source("firehose", false, post(super::firehose::deliver)),
        )
        .route("/v1/otlp/logs", source("otlp", true, post(otlp_logs)))
        .route(
            "/v1/admin/backup",
            guarded(
                &state,
                Source {
                    name: "admin",
                    bearer: true,
                },
                post(backup),
            ),
        )
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state.clone())
}

/// A route's source: its name (for switching off and `/metrics`) and whether it takes the
/// bearer tokens (the Datadog intake and Firehose have keys of their own protocol).
#[derive(Clone, Copy)]
struct Source {
    name: &'static str,
    bearer: bool,
}

fn guarded(
    state: &HttpState,
    source: Source,
    route: MethodRouter<HttpState>,
) -> MethodRouter<HttpState> {
    route.layer(axum::middleware::from_fn_with_state(
        (state.clone(), source),
        guard,
    ))
}

/// Switched off? Token? Then the route, and the outcome counted per source.
async fn guard(
    State((state, source)): State<(HttpState, Source)>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let admitted = if state.disabled.iter().any(|d| d == source.name) {
        Err(HttpError::Disabled(source.name))
    } else if source.bearer {
        check_bearer(&state.tokens, request.headers())
    } else {
        Ok(())
    };
    let response = match admitted {
        Ok(()) => {
            let declared = request
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(state.max_body_bytes)
                .min(state.max_body_bytes);
            // Held until the response is made: the body, its parse and its commit.
            match state.bodies.admit(declared, Some(state.admit_wait)).await {
                Ok(_held) => next.run(request).await,
                Err(err) => {
                    state.metrics.overloaded.inc();
                    HttpError::Pipeline(err).into_response()
                }
            }
        }
        Err(err) => err.into_response(),
    };
    state
        .metrics
        .record_request(source.name, response.status().is_success());
    response
}

/// `Authorization: Bearer <token>` against `tokens`; no tokens configured: no check.
pub fn check_bearer(tokens: &[String], headers: &HeaderMap) -> Result<(), HttpError> {
    if tokens.is_empty() {
        return Ok(());
    }
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    match given {
        None => Err(HttpError::Unauthorized(
            "missing Authorization: Bearer token".into(),
        )),
        Some(token) if tokens.iter().any(|t| t == token.trim()) => Ok(()),
        Some(_) => Err(HttpError::Forbidden("invalid bearer token".into())),
    }
}

/// `POST /v1/admin/backup {"dir": "/abs/path"}`: a consistent copy of the database, taken
/// while ingest goes on, written into `dir` on the server's machine (see `store::backup`).
/// Without configured tokens only a loopback peer may ask: the server writes where it is told.
async fn backup(
    State(state): State<HttpState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    if state.tokens.is_empty() && !peer.ip().is_loopback() {
        return Err(HttpError::Forbidden(
            "a backup from another machine needs a bearer token (sources.tokens)".into(),
        ));
    }
    let body = body.map_err(|e| HttpError::BadBody(e.body_text()))?;
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Request {
        dir: std::path::PathBuf,
    }
    let request: Request = serde_json::from_slice(&body).map_err(|e| {
        HttpError::BadBody(format!("expected {{\"dir\": \"/absolute/path\"}}: {e}"))
    })?;
    if !request.dir.is_absolute() {
        return Err(HttpError::BadBody(format!(
            "dir must be an absolute path on the server's machine, got {}",
            request.dir.display()
        )));
    }
    let store = state.store.clone();
    let started = std::time::Instant::now();
    let report = tokio::task::spawn_blocking(move || store.backup_to(&request.dir))
        .await
        .map_err(|e| HttpError::Internal(format!("backup task: {e}")))?
        .map_err(HttpError::Admin)?;
    tracing::info!(path = %report.path.display(), bytes = report.bytes, "backup written");
    let tables: serde_json::Map<String, serde_json::Value> = report
        .tables
        .iter()
        .map(|(name, rows)| (name.clone(), json!(rows)))
        .collect();
    Ok(Json(json!({
        "path": report.path,
        "bytes": report.bytes,
        "tables": tables,
        "seconds": started.elapsed().as_secs_f64(),
    }))
    .into_response())
}

async fn healthz() -> &'static str {
    "ok"
}

async fn metrics(State(state): State<HttpState>) -> Response {
    state
        .metrics
        .pending_bytes
        .set(state.pipeline.pending_bytes() as i64);
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || {
        Ok::<_, store::StoreError>((store.queue_len()?, store.disk_usage()?))
    })
    .await
    {
        Ok(Ok((n, disk))) => {
            state.metrics.backlog.set(n as i64);
            state.metrics.db_file_bytes.set(disk.file_bytes as i64);
            state.metrics.db_used_bytes.set(disk.used_bytes as i64);
        }
        Ok(Err(err)) => tracing::warn!(error = %err, "cannot read the analysis backlog"),
        Err(err) => tracing::warn!(error = %err, "backlog reader panicked"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

/// Every way an HTTP request can fail, and nothing else decides status codes.
#[derive(Debug)]
pub enum HttpError {
    Malformed(PayloadErrors),
    BadBody(String),
    TooLarge(usize),
    UnsupportedMediaType(String),
    Unauthorized(String),
    Forbidden(String),
    TooMany {
        got: usize,
        max: usize,
    },
    Disabled(&'static str),
    Internal(String),
    Pipeline(PipelineError),
    /// An admin request that is not a store write (`/v1/admin/backup`).
    Admin(store::StoreError),
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            HttpError::Malformed(errors) => (
                StatusCode::BAD_REQUEST,
                json!({
                    "error": format!(
                        "{} malformed line{}; nothing from this request was stored",
                        errors.count,
                        if errors.count == 1 { "" } else { "s" }
                    ),
                    "malformed": errors.count,
                    "errors": errors.errors,
                }),
            ),
            HttpError::BadBody(message) => (StatusCode::BAD_REQUEST, json!({ "error": message })),
            HttpError::TooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({ "error": format!("request body exceeds the limit of {limit} bytes") }),
            ),
            HttpError::UnsupportedMediaType(message) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                json!({ "error": message }),
            ),
            HttpError::Unauthorized(message) => {
                (StatusCode::UNAUTHORIZED, json!({ "error": message }))
            }
            HttpError::Forbidden(message) => (StatusCode::FORBIDDEN, json!({ "error": message })),
            HttpError::TooMany { got, max } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({ "error": format!("{got} entries in one request; at most {max}") }),
            ),
            HttpError::Disabled(source) => (
                StatusCode::NOT_FOUND,
                json!({ "error": format!("the {source} source is switched off on this server") }),
            ),
            HttpError::Internal(message) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "error": format!("{message}; nothing from this request was stored") }),
            ),
            HttpError::Admin(err) => {
                let status = match err {
                    store::StoreError::BackupExists(_) => StatusCode::CONFLICT,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                (status, json!({ "error": err.to_string() }))
            }
            HttpError::Pipeline(err) => {
                let status = match err {
                    PipelineError::Closed
                    | PipelineError::Overloaded
                    | PipelineError::DiskFull(_) => StatusCode::SERVICE_UNAVAILABLE,
                    PipelineError::Build(_) | PipelineError::Store(_) => {
                        StatusCode::INTERNAL_SERVER_ERROR
                    }
                };
                (
                    status,
                    json!({ "error": format!("{err}; nothing from this request was stored") }),
                )
            }
        };
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // The Datadog agent, Vector and OpenTelemetry exporters retry a 503 after this.
            return (status, [(header::RETRY_AFTER, "1")], Json(body)).into_response();
        }
        (status, Json(body)).into_response()
    }
}

const JSON_TYPES: &[&str] = &[
    "application/json",
    "application/x-ndjson",
    "application/ndjson",
    "application/jsonl",
    "application/jsonlines",
    "application/x-jsonlines",
    "application/json-seq",
    "text/plain",
];

/// Accepts the JSON family of content types, and a missing one (many shippers send none).
fn check_content_type(headers: &HeaderMap) -> Result<(), HttpError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let mime = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if JSON_TYPES.contains(&mime.as_str()) {
        Ok(())
    } else {
        Err(HttpError::UnsupportedMediaType(format!(
            "unsupported Content-Type {mime:?}; send NDJSON or a JSON array as one of {}",
            JSON_TYPES.join(", ")
        )))
    }
}

/// Undoes `Content-Encoding` (gzip or deflate), refusing to inflate past `limit` bytes.
pub fn decode_body(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, HttpError> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let reader: Box<dyn Read + '_> = match encoding.as_str() {
        "" | "identity" => return Ok(body),
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(&body[..])),
        "deflate" => Box::new(flate2::read::ZlibDecoder::new(&body[..])),
        other => {
            return Err(HttpError::UnsupportedMediaType(format!(
                "unsupported Content-Encoding {other:?}; use gzip, deflate or none"
            )));
        }
    };
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| HttpError::BadBody(format!("cannot decompress the {encoding} body: {e}")))?;
    if out.len() > limit {
        return Err(HttpError::TooLarge(limit));
    }
    Ok(Bytes::from(out))
}

/// The body, or the error axum's extractor met (too large, or unreadable).
pub fn body_or_error(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<Bytes, HttpError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            HttpError::TooLarge(limit)
        } else {
            HttpError::BadBody(rejection.body_text())
        }
    })
}

async fn ingest_logs(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, HttpError> {
    let body = body_or_error(body, state.max_body_bytes)?;
    check_content_type(&headers)?;
    let key = idempotency_key(&headers)?;
    let limit = state.max_body_bytes;
    let received_at = chrono::Utc::now().timestamp_micros();
    // Decompressing and parsing a 16 MiB body is tens of milliseconds of CPU: keep it off the
    // async workers.
    let metrics = state.metrics.clone();
    let parsed = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let body = decode_body(&headers, body, limit)?;
        let parsed = parse_body(&body, received_at, "http").map_err(HttpError::Malformed);
        metrics.record_stage("parse", started.elapsed());
        parsed
    })
    .await
    .map_err(|e| HttpError::Internal(e.to_string()))??;
    let (accepted, outcome) = state
        .pipeline
        .submit_once(parsed, key)
        .await
        .map_err(HttpError::Pipeline)?;
    Ok(Json(match outcome {
        Outcome::Stored => json!({ "accepted": accepted }),
        Outcome::Duplicate => json!({ "accepted": accepted, "duplicate": true }),
    }))
}

/// `Idempotency-Key`: a sender that retries a request under the same key (the file shipper
/// does) gets it stored once; keys are remembered for a day.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, HttpError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if !key.trim().is_empty() && key.len() <= 255 => Ok(Some(format!("http:{key}"))),
        _ => Err(HttpError::BadBody(
            "Idempotency-Key must be 1 to 255 visible ASCII characters".into(),
        )),
    }
}

/// `POST /v1/otlp/logs`: OTLP/HTTP, protobuf or JSON; the answer uses the request's encoding.
async fn otlp_logs(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    use normalise::json::{objects_to_batch, with_size};
    use normalise::otlp::{OtlpEncoding, otlp_objects};
    let body = body_or_error(body, state.max_body_bytes)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let encoding = OtlpEncoding::from_content_type(&content_type).ok_or_else(|| {
        HttpError::UnsupportedMediaType(format!(
            "unsupported Content-Type {content_type:?}; OTLP/HTTP is application/x-protobuf or application/json"
        ))
    })?;
    let limit = state.max_body_bytes;
    let received_at = chrono::Utc::now().timestamp_micros();
    let batch = tokio::task::spawn_blocking(move || {
        let body = decode_body(&headers, body, limit)?;
        let request = encoding.decode(&body).map_err(HttpError::BadBody)?;
        let objects = otlp_objects(&request).into_iter().map(with_size);
        objects_to_batch(objects, received_at, "otlp", "log record").map_err(HttpError::Malformed)
    })
    .await
    .map_err(|e| HttpError::Internal(e.to_string()))??;
    state
        .pipeline
        .submit(batch)
        .await
        .map_err(HttpError::Pipeline)?;
    Ok((
        [(header::CONTENT_TYPE, encoding.content_type())],
        encoding.success(),
    )
        .into_response())
}
