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
use serde_json::{Map, Value, json};

use super::http::{HttpError, HttpState, body_or_error, decode_body};
use crate::normalise::json::{object_to_record, objects_to_batch, with_size};
use crate::pipeline::Outcome;

/// Datadog's own limits.
const MAX_PAYLOAD: usize = 5 * 1024 * 1024;
const MAX_ENTRIES: usize = 1_000;
const MAX_LOG_BYTES: usize = 1024 * 1024;

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

/// `env:prod,version:5.1,flag` → `{"env":"prod","version":"5.1","flag":""}`; a repeated key
/// keeps its first value.
pub fn parse_ddtags(tags: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for tag in tags.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (k, v) = tag.split_once(':').unwrap_or((tag, ""));
        out.entry(k.trim().to_string())
            .or_insert_with(|| Value::String(v.trim().to_string()));
    }
    out
}

fn truncate_utf8(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

/// One intake entry as the normaliser expects it: tags parsed (query tags added), `service`
/// and `host` taken from the tags when the entry has none, the message cut at 1 MB.
fn intake_entry(value: Value, query_tags: &Map<String, Value>) -> Value {
    let Value::Object(mut map) = value else {
        return value;
    };
    let mut tags = match map.remove("ddtags") {
        Some(Value::String(s)) => parse_ddtags(&s),
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for (k, v) in query_tags {
        tags.entry(k.clone()).or_insert_with(|| v.clone());
    }
    for (field, tag) in [("service", "service"), ("hostname", "host")] {
        if !map.contains_key(field)
            && let Some(Value::String(v)) = tags.get(tag)
            && !v.is_empty()
        {
            map.insert(field.to_string(), Value::String(v.clone()));
        }
    }
    if !tags.is_empty() {
        map.insert("ddtags".into(), Value::Object(tags));
    }
    if let Some(Value::String(message)) = map.get_mut("message") {
        truncate_utf8(message, MAX_LOG_BYTES);
    }
    Value::Object(map)
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

/// Parses a webhook body: JSON, or JSON whose strings carry raw control characters (a
/// template filled with multi-line text), which are escaped and parsed again.
pub fn lenient_json(body: &[u8]) -> Result<Value, String> {
    match serde_json::from_slice(body) {
        Ok(v) => Ok(v),
        Err(first) => {
            let text = String::from_utf8_lossy(body);
            let repaired = escape_controls_in_strings(&text);
            serde_json::from_str(&repaired).map_err(|_| {
                format!(
                    "not JSON (line {}, column {}): {first}",
                    first.line(),
                    first.column()
                )
            })
        }
    }
}

/// Escapes raw control characters that appear inside string literals; everything else is
/// left to the JSON parser.
fn escape_controls_in_strings(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            } else if c.is_control() {
                match c {
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    other => out.push_str(&format!("\\u{:04x}", other as u32)),
                }
                continue;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
    }
    out
}

/// The first of `keys` present as a non-empty string (or number) in `map`.
fn field(map: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match map.get(*k) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// Markdown bodies arrive wrapped in `%%%` lines.
fn strip_markdown_fence(body: &str) -> String {
    body.trim()
        .trim_start_matches("%%%")
        .trim_end_matches("%%%")
        .trim()
        .to_string()
}

/// The level a notification stands for, from its transition or title.
fn webhook_level(transition: Option<&str>, title: Option<&str>) -> &'static str {
    let text = format!("{} {}", transition.unwrap_or(""), title.unwrap_or("")).to_lowercase();
    if text.contains("recovered") || text.contains("resolved") {
        "INFO"
    } else if text.contains("warn") || text.contains("no data") {
        "WARN"
    } else if text.contains("trigger") || text.contains("alert") || text.contains("error") {
        "ERROR"
    } else {
        "INFO"
    }
}

/// A notification as one log record (for the normaliser) and its delivery key.
pub fn webhook_record(payload: Value) -> (Value, Option<String>) {
    let Value::Object(map) = payload else {
        return (
            json!({ "level": "WARN", "service": "datadog", "message": payload.to_string() }),
            None,
        );
    };
    let title = field(&map, &["title", "event_title", "alert_title"]);
    let body = field(
        &map,
        &["body", "message", "text", "event_msg", "text_only_msg"],
    )
    .map(|b| strip_markdown_fence(&b));
    let transition = field(&map, &["alert_transition", "alertTransition", "transition"]);
    let message = match (&title, &body) {
        (Some(t), Some(b)) => format!("{t}\n{b}"),
        (Some(t), None) => t.clone(),
        (None, Some(b)) => b.clone(),
        (None, None) => Value::Object(map.clone()).to_string(),
    };
    let tags = field(&map, &["tags", "alert_scope", "alertScope"])
        .map(|t| parse_ddtags(&t))
        .unwrap_or_default();
    let service = field(&map, &["service"])
        .or_else(|| match tags.get("service") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "datadog".to_string());
    let mut record = Map::new();
    record.insert("message".into(), Value::String(message));
    record.insert(
        "level".into(),
        Value::String(webhook_level(transition.as_deref(), title.as_deref()).into()),
    );
    record.insert("service".into(), Value::String(service));
    if let Some(host) = field(&map, &["host", "hostname"]) {
        record.insert("host".into(), Value::String(host));
    }
    // `$DATE` is epoch milliseconds, as a string.
    if let Some(ms) = field(&map, &["date", "last_updated"]).and_then(|d| d.parse::<i64>().ok()) {
        record.insert("timestamp".into(), Value::from(ms));
    }
    let key = field(&map, &["id", "event_id"])
        .map(|id| format!("datadog-webhook:{id}"))
        .or_else(|| {
            let cycle = field(&map, &["alert_cycle_key", "alertCycleKey"])?;
            Some(format!(
                "datadog-webhook:{cycle}:{}",
                transition.as_deref().unwrap_or("")
            ))
        });
    if !tags.is_empty() {
        record.insert("ddtags".into(), Value::Object(tags));
    }
    record.insert("datadog".into(), Value::Object(map));
    (Value::Object(record), key)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddtags_become_an_object() {
        let tags = parse_ddtags("env:staging, version:5.1,flag,env:prod,url:http://x:1");
        assert_eq!(
            Value::Object(tags),
            json!({"env": "staging", "version": "5.1", "flag": "", "url": "http://x:1"})
        );
    }

    #[test]
    fn raw_newlines_and_tabs_in_strings_are_repaired() {
        let body = b"{\"title\": \"[Triggered] CPU\", \"body\": \"%%%\nline one\n\tline \\\"two\\\"\n%%%\", \"id\": \"42\"}";
        let value = lenient_json(body).unwrap();
        assert_eq!(value["body"], "%%%\nline one\n\tline \"two\"\n%%%");
        let (record, key) = webhook_record(value);
        assert_eq!(
            record["message"],
            "[Triggered] CPU\nline one\n\tline \"two\""
        );
        assert_eq!(record["level"], "ERROR");
        assert_eq!(key.as_deref(), Some("datadog-webhook:42"));
    }

    #[test]
    fn hopeless_bodies_say_where_they_broke() {
        let err = lenient_json(b"{\"title\": \"x\" \"y\"}").unwrap_err();
        assert!(err.contains("line 1, column"), "{err}");
    }

    #[test]
    fn transitions_map_to_levels() {
        assert_eq!(webhook_level(Some("Recovered"), None), "INFO");
        assert_eq!(webhook_level(Some("Re-Warn"), None), "WARN");
        assert_eq!(
            webhook_level(None, Some("[Triggered] High latency")),
            "ERROR"
        );
        assert_eq!(webhook_level(Some("No Data"), None), "WARN");
    }

    #[test]
    fn alert_cycle_keys_dedupe_per_transition() {
        let (_, key) =
            webhook_record(json!({"alert_cycle_key": "77", "alert_transition": "Triggered"}));
        assert_eq!(key.as_deref(), Some("datadog-webhook:77:Triggered"));
    }
}
