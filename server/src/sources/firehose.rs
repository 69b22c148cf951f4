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

use std::io::Read;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{HttpError, HttpState, decode_body};
use crate::normalise::json::{objects_to_batch, with_size};
use crate::pipeline::PipelineError;

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

/// The records of one Firehose record's data, appended to `out` as JSON log objects.
fn decode_record(data: &str, limit: usize, out: &mut Vec<Value>) -> Result<(), String> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| format!("data is not base64: {e}"))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut inflated = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .take(limit as u64 + 1)
            .read_to_end(&mut inflated)
            .map_err(|e| format!("data is gzip but does not decompress: {e}"))?;
        if inflated.len() > limit {
            return Err(format!("a record decompresses past {limit} bytes"));
        }
        inflated
    } else {
        raw
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(message)) if message.contains_key("messageType") => {
            cloudwatch_events(message, out);
            Ok(())
        }
        Ok(object @ Value::Object(_)) => {
            out.push(object);
            Ok(())
        }
        // Text (or JSON that is not an object): one record per line.
        _ => {
            let text = String::from_utf8_lossy(&bytes);
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                match serde_json::from_str::<Value>(line) {
                    Ok(object @ Value::Object(_)) => out.push(object),
                    _ => out.push(json!({ "message": line })),
                }
            }
            Ok(())
        }
    }
}

/// A CloudWatch Logs subscription message: its log events, or nothing for a control message.
fn cloudwatch_events(message: serde_json::Map<String, Value>, out: &mut Vec<Value>) {
    if message.get("messageType").and_then(Value::as_str) != Some("DATA_MESSAGE") {
        return;
    }
    let group = message
        .get("logGroup")
        .and_then(Value::as_str)
        .unwrap_or("");
    let stream = message
        .get("logStream")
        .and_then(Value::as_str)
        .unwrap_or("");
    let owner = message.get("owner").and_then(Value::as_str).unwrap_or("");
    // `/aws/lambda/checkout` → `checkout`: the last part of a log group names the workload.
    let service = group
        .rsplit('/')
        .find(|p| !p.is_empty())
        .unwrap_or("cloudwatch");
    let Some(events) = message.get("logEvents").and_then(Value::as_array) else {
        return;
    };
    for event in events {
        let text = event.get("message").and_then(Value::as_str).unwrap_or("");
        // A JSON log line keeps its own fields (level, trace id, …); its service wins.
        let mut object = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(inner)) => inner,
            _ => {
                let mut m = serde_json::Map::new();
                m.insert("message".into(), Value::String(text.to_string()));
                m
            }
        };
        object
            .entry("service")
            .or_insert_with(|| Value::String(service.to_string()));
        if let Some(ts) = event.get("timestamp") {
            object.entry("timestamp").or_insert_with(|| ts.clone());
        }
        object.insert(
            "cloudwatch".into(),
            json!({
                "logGroup": group, "logStream": stream, "owner": owner,
                "id": event.get("id").cloned().unwrap_or(Value::Null),
            }),
        );
        out.push(Value::Object(object));
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
            PipelineError::Closed | PipelineError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        fail(status, &request_id, format!("{e}; nothing was stored"))
    })?;
    Ok(Json(json!({
        "requestId": request_id,
        "timestamp": chrono::Utc::now().timestamp_millis(),
    })))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// A CloudWatch message as Firehose carries it (base64 of gzip), decoded.
    fn decode_cloudwatch(message: &Value) -> Vec<Value> {
        let mut out = Vec::new();
        decode_record(
            &b64(&gzip(message.to_string().as_bytes())),
            1 << 20,
            &mut out,
        )
        .unwrap();
        out
    }

    #[test]
    fn cloudwatch_data_messages_become_one_log_per_event() {
        let message = json!({"owner": "123456789012", "logGroup": "/aws/lambda/checkout",
            "logStream": "2026/11/29/[$LATEST]abc", "subscriptionFilters": ["f"],
            "messageType": "DATA_MESSAGE", "logEvents": [
                {"id": "1", "timestamp": 1764400000000i64, "message": "ERROR payment failed"},
                {"id": "2", "timestamp": 1764400000001i64, "message": "{\"level\":\"warn\",\"msg\":\"slow\"}"}]});
        let out = decode_cloudwatch(&message);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["service"], "checkout");
        assert_eq!(out[0]["cloudwatch"]["logGroup"], "/aws/lambda/checkout");
        assert_eq!(out[1]["level"], "warn");
        assert_eq!(out[1]["timestamp"], 1764400000001i64);
    }

    #[test]
    fn control_messages_are_dropped() {
        let message = json!({"messageType": "CONTROL_MESSAGE", "logGroup": "", "logEvents": [
            {"id": "", "timestamp": 1, "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose."}]});
        let out = decode_cloudwatch(&message);
        assert!(out.is_empty());
    }

    #[test]
    fn plain_records_are_lines() {
        let mut out = Vec::new();
        decode_record(
            &b64(b"first line\n{\"message\":\"second\"}\n"),
            1 << 20,
            &mut out,
        )
        .unwrap();
        assert_eq!(
            out,
            vec![
                json!({"message": "first line"}),
                json!({"message": "second"})
            ]
        );
        assert!(
            decode_record("%%%", 1 << 20, &mut out)
                .unwrap_err()
                .contains("base64")
        );
    }
}
