//! Amazon Kinesis Data Firehose, HTTP endpoint delivery (protocol 1.0): `POST /v1/firehose`.
//! With CloudWatch Logs behind it, each record is base64 of gzip of a `DATA_MESSAGE` whose
//! `logEvents` become one log each (log group and stream as attributes); `CONTROL_MESSAGE`s are
//! reachability probes and are dropped. Records that are not CloudWatch messages are read as
//! JSON log objects or as text lines.
//!
//! The protocol's rules: `X-Amz-Firehose-Access-Key` is checked when keys are configured, the
//! answer echoes `requestId` with a `timestamp`, errors carry `errorMessage`, and Firehose
//! retries a failed request under the same request id, so the request id is a delivery key: a
//! retry of a stored request stores nothing again. Errors are translated here, not by the
//! generic HTTP error, because their JSON shape is Firehose's.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{HttpError, HttpState, decode_body};
use crate::pipeline::PipelineError;
use normalise::firehose::decode_record;
use normalise::json::{objects_to_batch, with_size};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    request_id: String,
    #[serde(default)]
    records: Vec<Record>,
}

#[derive(Debug, Deserialize)]
struct Record {
    data: String,
}

/// A failed delivery, as Firehose wants to read it.
pub struct FirehoseError {
    status: StatusCode,
    request_id: String,
    message: String,
}

impl IntoResponse for FirehoseError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({
                "requestId": self.request_id,
                "timestamp": chrono::Utc::now().timestamp_millis(),
                "errorMessage": self.message,
            })),
        )
            .into_response()
    }
}

fn fail(status: StatusCode, request_id: &str, message: impl Into<String>) -> FirehoseError {
    FirehoseError {
        status,
        request_id: request_id.to_string(),
        message: message.into(),
    }
}

/// `POST /v1/firehose`.
pub async fn deliver(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, FirehoseError> {
    let header_id = headers
        .get("x-amz-firehose-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !state.firehose_access_keys.is_empty() {
        let key = headers
            .get("x-amz-firehose-access-key")
            .and_then(|v| v.to_str().ok());
        match key {
            None => {
                return Err(fail(
                    StatusCode::UNAUTHORIZED,
                    &header_id,
                    "missing X-Amz-Firehose-Access-Key",
                ));
            }
            Some(k) if !state.firehose_access_keys.iter().any(|c| c == k) => {
                return Err(fail(
                    StatusCode::FORBIDDEN,
                    &header_id,
                    "invalid X-Amz-Firehose-Access-Key",
                ));
            }
            Some(_) => {}
        }
    }
    let limit = state.max_body_bytes;
    let body = body.map_err(|r| fail(r.status(), &header_id, r.body_text()))?;
    let received_at = chrono::Utc::now().timestamp_micros();
    let id = header_id.clone();
    let (request_id, batch) = tokio::task::spawn_blocking(move || {
        let body = decode_body(&headers, body, limit).map_err(|e| match e {
            HttpError::TooLarge(n) => fail(
                StatusCode::PAYLOAD_TOO_LARGE,
                &id,
                format!("body exceeds {n} bytes"),
            ),
            other => fail(StatusCode::BAD_REQUEST, &id, format!("{other:?}")),
        })?;
        let request: Request = serde_json::from_slice(&body).map_err(|e| {
            fail(
                StatusCode::BAD_REQUEST,
                &id,
                format!(
                    "not a Firehose request body (line {}, column {}): {e}",
                    e.line(),
                    e.column()
                ),
            )
        })?;
        let request_id = if id.is_empty() {
            request.request_id.clone()
        } else {
            id.clone()
        };
        let mut objects = Vec::new();
        for (i, record) in request.records.iter().enumerate() {
            decode_record(&record.data, limit, &mut objects).map_err(|e| {
                fail(
                    StatusCode::BAD_REQUEST,
                    &request_id,
                    format!("record {i}: {e}"),
                )
            })?;
        }
        let objects = objects.into_iter().map(with_size);
        let out = objects_to_batch(objects, received_at, "firehose", "log event").map_err(|e| {
            let first = e
                .errors
                .first()
                .map(|l| l.message.clone())
                .unwrap_or_default();
            fail(StatusCode::BAD_REQUEST, &request_id, first)
        })?;
        Ok::<_, FirehoseError>((request_id, out))
    })
    .await
    .map_err(|e| fail(StatusCode::INTERNAL_SERVER_ERROR, &header_id, e.to_string()))??;
    let key = (!request_id.is_empty()).then(|| format!("firehose:{request_id}"));
    state.pipeline.submit_once(batch, key).await.map_err(|e| {
        let status = match e {
            PipelineError::Closed | PipelineError::Overloaded | PipelineError::DiskFull(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        fail(status, &request_id, format!("{e}; nothing was stored"))
    })?;
    Ok(Json(json!({
        "requestId": request_id,
        "timestamp": chrono::Utc::now().timestamp_millis(),
    })))
}
