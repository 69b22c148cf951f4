//! JSON log payloads: NDJSON (one object per line) or one JSON array of objects.
//!
//! Recognised fields, matched case-insensitively, fill the columns; every other field is kept
//! in `attributes` as JSON. A payload is all-or-nothing: any malformed line fails the whole
//! request, with the first errors and their line numbers.

use model::{Level, LogBatchBuilder, LogRecord, parse_timestamp};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// How many line errors a failed request reports (the total is always given).
pub const MAX_REPORTED_ERRORS: usize = 10;

/// One malformed line (or array element) of a request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineError {
    /// 1-based line of the body (for NDJSON) or of the array element's start.
    pub line: usize,
    /// 1-based column within that line, where the parser knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    pub message: String,
}

/// All errors of a rejected payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PayloadErrors {
    /// How many lines were malformed in total.
    pub count: usize,
    /// The first [`MAX_REPORTED_ERRORS`] of them.
    pub errors: Vec<LineError>,
}

impl PayloadErrors {
    pub fn new() -> Self {
        PayloadErrors {
            count: 0,
            errors: Vec::new(),
        }
    }

    pub fn push(&mut self, error: LineError) {
        self.count += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(error);
        }
    }
}

/// Field names (lower-case) that fill each column, best first.
const TIMESTAMP_KEYS: &[&str] = &["timestamp", "ts", "time", "@timestamp", "date", "datetime"];
const LEVEL_KEYS: &[&str] = &[
    "level",
    "severity",
    "status",
    "loglevel",
    "log_level",
    "lvl",
];
const SERVICE_KEYS: &[&str] = &[
    "service",
    "service.name",
    "service_name",
    "app",
    "application",
];
const HOST_KEYS: &[&str] = &["host", "hostname", "host.name"];
const MESSAGE_KEYS: &[&str] = &["message", "msg", "log"];
const TRACE_KEYS: &[&str] = &["trace_id", "traceid", "trace.id", "dd.trace_id"];

/// Service name of records that carry none.
pub const UNKNOWN_SERVICE: &str = "unknown";

/// Parses a request body into a batch. `received_at` stamps every record (and stands in for
/// missing timestamps); `source` names the ingestion channel.
pub fn parse_body(
    body: &[u8],
    received_at: i64,
    source: &'static str,
) -> Result<LogBatchBuilder, PayloadErrors> {
    let first = body.iter().position(|b| !b.is_ascii_whitespace());
    let is_array = first.is_some_and(|i| body[i] == b'[');
    let mut out = LogBatchBuilder::with_capacity(body.len() / 200 + 1);
    let mut errors = PayloadErrors::new();
    if is_array {
        parse_array(body, received_at, source, &mut out, &mut errors);
    } else {
        parse_ndjson(body, received_at, source, &mut out, &mut errors);
    }
    if errors.count > 0 {
        Err(errors)
    } else {
        Ok(out)
    }
}

fn parse_ndjson(
    body: &[u8],
    received_at: i64,
    source: &'static str,
    out: &mut LogBatchBuilder,
    errors: &mut PayloadErrors,
) {
    for (i, line) in body.split(|b| *b == b'\n').enumerate() {
        let line_no = i + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(value) => match object_to_record(value, line.len(), received_at, source) {
                Ok(record) => out.push(&record),
                Err(message) => errors.push(LineError {
                    line: line_no,
                    column: None,
                    message,
                }),
            },
            Err(err) => errors.push(LineError {
                line: line_no,
                column: Some(err.column()),
                message: serde_message(&err),
            }),
        }
    }
}

fn parse_array(
    body: &[u8],
    received_at: i64,
    source: &'static str,
    out: &mut LogBatchBuilder,
    errors: &mut PayloadErrors,
) {
    let elements: Vec<&RawValue> = match serde_json::from_slice(body) {
        Ok(elements) => elements,
        Err(err) => {
            errors.push(LineError {
                line: err.line(),
                column: Some(err.column()),
                message: serde_message(&err),
            });
            return;
        }
    };
    let base = body.as_ptr() as usize;
    for raw in elements {
        let text = raw.get();
        // Borrowed raw values point into `body`, so their offset gives the line they start on.
        let offset = (text.as_ptr() as usize)
            .saturating_sub(base)
            .min(body.len());
        let line = body[..offset].iter().filter(|b| **b == b'\n').count() + 1;
        let result = serde_json::from_str::<Value>(text)
            .map_err(|e| serde_message(&e))
            .and_then(|value| object_to_record(value, text.len(), received_at, source));
        match result {
            Ok(record) => out.push(&record),
            Err(message) => errors.push(LineError {
                line,
                column: None,
                message,
            }),
        }
    }
}

/// serde_json's message without its " at line L column C" suffix, which is reported in fields.
fn serde_message(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Takes the best-ranked field among `keys` out of `map`, matching names case-insensitively,
/// and only if `accept` takes its value.
fn take_field<T>(
    map: &mut Map<String, Value>,
    keys: &[&str],
    mut accept: impl FnMut(&str, &Value) -> Option<T>,
) -> Option<T> {
    let mut best: Option<(usize, String, T)> = None;
    for (name, value) in map.iter() {
        let lower = name.to_ascii_lowercase();
        let Some(rank) = keys.iter().position(|k| *k == lower) else {
            continue;
        };
        if best.as_ref().is_some_and(|(r, _, _)| *r <= rank) {
            continue;
        }
        if let Some(v) = accept(&lower, value) {
            best = Some((rank, name.clone(), v));
        }
    }
    let (_, name, value) = best?;
    map.remove(&name);
    Some(value)
}

fn text_value(_: &str, value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn level_value(key: &str, value: &Value) -> Option<String> {
    match value {
        Value::String(s) => match Level::parse(s) {
            Some(level) => Some(level.as_str().to_string()),
            // HTTP logs use `status` for "200"/"active": only a real level name counts there.
            None if key == "status" || s.trim().is_empty() => None,
            None => Some(s.trim().chars().take(32).collect::<String>().to_uppercase()),
        },
        Value::Number(n) if key != "status" => n
            .as_f64()
            .and_then(Level::from_number)
            .map(|l| l.as_str().to_string()),
        _ => None,
    }
}

/// Turns one parsed JSON value into a record, or says why it cannot.
pub fn object_to_record(
    value: Value,
    size: usize,
    received_at: i64,
    source: &'static str,
) -> Result<LogRecord, String> {
    let mut map = match value {
        Value::Object(map) => map,
        other => {
            let kind = match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            };
            return Err(format!("expected a JSON object, found {kind}"));
        }
    };

    let mut ts_error = None;
    let ts = take_field(&mut map, TIMESTAMP_KEYS, |key, v| {
        let parsed = match v {
            Value::String(s) => parse_timestamp(s).map_err(|e| e.to_string()),
            Value::Number(n) => n
                .as_i64()
                .and_then(model::epoch_int_to_micros)
                .or_else(|| n.as_f64().and_then(model::epoch_to_micros))
                .ok_or_else(|| format!("epoch value {n} is out of range")),
            _ => Err("expected a string or a number".to_string()),
        };
        match parsed {
            Ok(ts) => Some(ts),
            Err(e) => {
                ts_error.get_or_insert(format!("field {key:?}: {e}"));
                None
            }
        }
    });
    if let Some(err) = ts_error
        && ts.is_none()
    {
        return Err(err);
    }

    let level = take_field(&mut map, LEVEL_KEYS, level_value);
    let service = take_field(&mut map, SERVICE_KEYS, text_value);
    let host = take_field(&mut map, HOST_KEYS, text_value);
    let trace_id = take_field(&mut map, TRACE_KEYS, text_value);
    let message = take_field(&mut map, MESSAGE_KEYS, |_, v| {
        Some(match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    });
    let message = match message {
        Some(m) => m,
        // No message field: the remaining object is the message, so it stays searchable.
        None => Value::Object(map.clone()).to_string(),
    };
    let level = level.unwrap_or_else(|| {
        Level::infer(&message)
            .unwrap_or(Level::Info)
            .as_str()
            .to_string()
    });
    let attributes = (!map.is_empty()).then(|| Value::Object(map).to_string());

    Ok(LogRecord {
        ts: ts.unwrap_or(received_at),
        received_at,
        level,
        service: service.unwrap_or_else(|| UNKNOWN_SERVICE.to_string()),
        host,
        message,
        trace_id,
        attributes,
        source,
        size: size as u64,
    })
}

/// A parsed log object with its size as received, when it arrived as this JSON.
pub fn with_size(object: Value) -> (Value, usize) {
    let size = object.to_string().len();
    (object, size)
}

/// Log objects (each with its size as received) → a batch. Every object that cannot be a
/// record is reported as `{what} N` (1-based), and then nothing is stored.
pub fn objects_to_batch(
    objects: impl IntoIterator<Item = (Value, usize)>,
    received_at: i64,
    source: &'static str,
    what: &str,
) -> Result<LogBatchBuilder, PayloadErrors> {
    let objects = objects.into_iter();
    let mut out = LogBatchBuilder::with_capacity(objects.size_hint().0);
    let mut errors = PayloadErrors::new();
    for (i, (object, size)) in objects.enumerate() {
        match object_to_record(object, size, received_at, source) {
            Ok(record) => out.push(&record),
            Err(message) => errors.push(LineError {
                line: i + 1,
                column: None,
                message: format!("{what} {}: {message}", i + 1),
            }),
        }
    }
    if errors.count > 0 {
        Err(errors)
    } else {
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000_000_000;

    fn record(v: Value) -> LogRecord {
        object_to_record(v, 10, NOW, "http").unwrap()
    }

    #[test]
    fn known_fields_fill_columns_and_the_rest_is_attributes() {
        let r = record(json!({
            "Timestamp": "2024-05-01T12:00:00Z", "LEVEL": "warning", "service": "api",
            "hostname": "h1", "msg": "slow", "trace_id": "abc", "user": 7
        }));
        assert_eq!(r.ts, 1_714_564_800_000_000);
        assert_eq!(r.level, "WARN");
        assert_eq!(r.service, "api");
        assert_eq!(r.host.as_deref(), Some("h1"));
        assert_eq!(r.message, "slow");
        assert_eq!(r.trace_id.as_deref(), Some("abc"));
        assert_eq!(r.attributes.as_deref(), Some("{\"user\":7}"));
    }

    #[test]
    fn defaults_when_fields_are_missing() {
        let r = record(json!({"message": "ERROR could not connect"}));
        assert_eq!(r.ts, NOW);
        assert_eq!(r.level, "ERROR");
        assert_eq!(r.service, UNKNOWN_SERVICE);
        assert_eq!(r.attributes, None);
        let r = record(json!({"message": "all good"}));
        assert_eq!(r.level, "INFO");
    }

    #[test]
    fn http_status_codes_are_not_levels() {
        let r = record(json!({"message": "GET /", "status": 500}));
        assert_eq!(r.level, "INFO");
        assert!(r.attributes.unwrap().contains("\"status\":500"));
        let r = record(json!({"message": "x", "status": "error"}));
        assert_eq!(r.level, "ERROR");
    }

    #[test]
    fn epoch_numbers_by_magnitude() {
        assert_eq!(record(json!({"ts": 1714564800})).ts, 1_714_564_800_000_000);
        assert_eq!(
            record(json!({"ts": 1714564800123u64})).ts,
            1_714_564_800_123_000
        );
        assert_eq!(
            record(json!({"time": 1714564800.5})).ts,
            1_714_564_800_500_000
        );
    }

    #[test]
    fn bad_timestamps_are_errors_naming_the_field() {
        let err = object_to_record(json!({"timestamp": "soon"}), 1, NOW, "http").unwrap_err();
        assert!(err.contains("\"timestamp\""), "{err}");
    }

    #[test]
    fn ndjson_errors_name_their_lines_and_nothing_is_accepted() {
        let body = b"{\"message\":\"a\"}\n\n{\"message\": oops}\n[1]\n{\"message\":\"b\"}\r\n";
        let errors = parse_body(body, NOW, "http").unwrap_err();
        assert_eq!(errors.count, 2);
        assert_eq!(errors.errors[0].line, 3);
        assert_eq!(errors.errors[1].line, 4);
        assert!(errors.errors[1].message.contains("array"));
    }

    #[test]
    fn arrays_and_ndjson_give_the_same_records() {
        let nd = parse_body(b"{\"message\":\"a\"}\n{\"message\":\"b\"}", NOW, "http").unwrap();
        let arr = parse_body(
            b" [{\"message\":\"a\"},\n {\"message\":\"b\"}]",
            NOW,
            "http",
        )
        .unwrap();
        assert_eq!(nd.len(), 2);
        assert_eq!(arr.len(), 2);
    }

    #[test]
    fn array_element_errors_name_the_line() {
        let errors = parse_body(b"[{\"message\":\"a\"},\n 5]", NOW, "http").unwrap_err();
        assert_eq!(errors.errors[0].line, 2);
    }
}
