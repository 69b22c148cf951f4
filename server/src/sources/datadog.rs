//! Datadog, as its senders already speak it: the logs intake (`POST /api/v2/logs` and
//! `/v1/input`, what the Datadog Agent and Vector's `datadog_logs` sink send) and monitor
//! webhooks (`POST /v1/webhooks/datadog`).
//!
//! Intake: a JSON array (at most 1,000 entries) or one object, gzip or deflate allowed, at most
//! 5 MB uncompressed; `DD-API-KEY` is checked when keys are configured (401 missing, 403
//! wrong); `ddtags` becomes an attribute object; `status` is the level; **202** on success.
//!
//! Webhooks: Datadog retries a 5xx five times, so bad input is never a 5xx. Templates are
//! filled with `$VARIABLES` whose values can contain raw newlines and quotes, which makes
//! invalid JSON; such bodies are repaired where a raw control character is the only fault, and
//! stored as raw text otherwise. Each notification is stored once: its `$ID` (or alert cycle
//! key and transition) is a delivery key.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::http::{HttpError, HttpState, body_or_error, decode_body};
use crate::pipeline::Outcome;
use normalise::datadog::{intake_entry, lenient_json, parse_ddtags, webhook_record};
use normalise::json::{object_to_record, objects_to_batch, with_size};

/// Datadog's own limits.
const MAX_PAYLOAD: usize = 5 * 1024 * 1024;
const MAX_ENTRIES: usize = 1_000;

/// Checks `DD-API-KEY` (header, or `dd-api-key` in the query) against the configured keys.
fn check_key(
    state: &HttpState,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<(), HttpError> {
    if state.datadog_api_keys.is_empty() {
        return Ok(());
    }
    let given = headers
        .get("dd-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| query.get("dd-api-key").cloned());
    match given {
        None => Err(HttpError::Unauthorized(
            "missing DD-API-KEY header".to_string(),
        )),
        Some(key) if state.datadog_api_keys.iter().any(|k| k == key.trim()) => Ok(()),
        Some(_) => Err(HttpError::Forbidden("invalid DD-API-KEY".to_string())),
    }
}

/// `POST /api/v2/logs`, `POST /v1/input`.
pub async fn intake(
    State(state): State<HttpState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    check_key(&state, &headers, &query)?;
    let body = body_or_error(body, state.max_body_bytes)?;
    let received_at = chrono::Utc::now().timestamp_micros();
    let query_tags = query
        .get("ddtags")
        .map(|t| parse_ddtags(t))
        .unwrap_or_default();
    let parsed = tokio::task::spawn_blocking(move || {
        let body = decode_body(&headers, body, MAX_PAYLOAD)?;
        let value: Value = serde_json::from_slice(&body).map_err(|e| {
            HttpError::BadBody(format!(
                "the body is not JSON (line {}, column {}): {e}",
                e.line(),
                e.column()
            ))
        })?;
        let entries = match value {
            Value::Array(items) => items,
            object @ Value::Object(_) => vec![object],
            _ => {
                return Err(HttpError::BadBody(
                    "expected a JSON array of log objects or one log object".into(),
                ));
            }
        };
        if entries.len() > MAX_ENTRIES {
            return Err(HttpError::TooMany {
                got: entries.len(),
                max: MAX_ENTRIES,
            });
        }
        // Sized as received, before the tags are parsed.
        let entries = entries.into_iter().map(|entry| {
            let (entry, size) = with_size(entry);
            (intake_entry(entry, &query_tags), size)
        });
        objects_to_batch(entries, received_at, "datadog", "entry").map_err(HttpError::Malformed)
    })
    .await
    .map_err(|e| HttpError::Internal(e.to_string()))??;
    state
        .pipeline
        .submit(parsed)
        .await
        .map_err(HttpError::Pipeline)?;
    Ok((StatusCode::ACCEPTED, Json(json!({}))))
}

/// `POST /v1/webhooks/datadog`.
pub async fn webhook(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    let body = body_or_error(body, state.max_body_bytes)?;
    let received_at = chrono::Utc::now().timestamp_micros();
    let limit = state.max_body_bytes;
    let (batch, key, warning) = tokio::task::spawn_blocking(move || {
        let body = decode_body(&headers, body, limit)?;
        let size = body.len();
        let (record, key, warning) = match lenient_json(&body) {
            Ok(payload) => {
                let (record, key) = webhook_record(payload);
                (record, key, None)
            }
            // Kept as text rather than refused: a refusal loses the alert for good.
            Err(reason) => (
                json!({
                    "level": "WARN",
                    "service": "datadog",
                    "message": String::from_utf8_lossy(&body),
                    "parse_error": reason,
                }),
                None,
                Some(reason),
            ),
        };
        let mut out = model::LogBatchBuilder::with_capacity(1);
        let record = object_to_record(record, size, received_at, "datadog-webhook")
            .map_err(HttpError::BadBody)?;
        out.push(&record);
        Ok::<_, HttpError>((out, key, warning))
    })
    .await
    .map_err(|e| HttpError::Internal(e.to_string()))??;
    let (stored, outcome) = state
        .pipeline
        .submit_once(batch, key)
        .await
        .map_err(HttpError::Pipeline)?;
    let mut answer = json!({
        "accepted": if outcome == Outcome::Duplicate { 0 } else { stored },
        "duplicate": outcome == Outcome::Duplicate,
    });
    if let Some(w) = warning {
        answer["warning"] = Value::String(format!("stored as raw text: {w}"));
    }
    Ok((StatusCode::ACCEPTED, Json(answer)))
}
