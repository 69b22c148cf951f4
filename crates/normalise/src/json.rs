//! JSON log payloads: NDJSON (one object per line) or one JSON array of objects.
//!
//! Recognised fields, matched case-insensitively, fill the columns; every other field is kept
//! in `attributes` as JSON. A payload is all-or-nothing: any malformed line fails the whole
//! request, with the first errors and their line numbers.

mod fields;

use std::borrow::Cow;

use model::{LogBatchBuilder, LogRecord, RecordRef};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

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

impl LineError {
    /// An error whose line the caller fills in, at no known column.
    fn unplaced(message: String) -> LineError {
        LineError {
            line: 0,
            column: None,
            message,
        }
    }
}

/// All errors of a rejected payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PayloadErrors {
    /// How many lines were malformed in total.
    pub count: usize,
    /// The first [`MAX_REPORTED_ERRORS`] of them.
    pub errors: Vec<LineError>,
}

impl Default for PayloadErrors {
    fn default() -> Self {
        Self::new()
    }
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
    let mut entries = Vec::with_capacity(16);
    for (i, line) in body.split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Err(mut error) = push_object(line, &mut entries, received_at, source, out) {
            error.line = i + 1;
            errors.push(error);
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
    let mut entries = Vec::with_capacity(16);
    for raw in elements {
        let text = raw.get();
        if let Err(error) = push_object(text.as_bytes(), &mut entries, received_at, source, out) {
            // Borrowed raw values point into `body`, so their offset gives the line they
            // start on.
            let offset = (text.as_ptr() as usize)
                .saturating_sub(base)
                .min(body.len());
            errors.push(LineError {
                line: body[..offset].iter().filter(|b| **b == b'\n').count() + 1,
                column: None,
                message: error.message,
            });
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

/// Turns one parsed JSON value into a record, or says why it cannot.
pub fn object_to_record(
    value: Value,
    size: usize,
    received_at: i64,
    source: &'static str,
) -> Result<LogRecord, String> {
    let map = match value {
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
    let entries = fields::entries_of(map);
    let parts = fields::to_parts(&entries)?;
    Ok(LogRecord {
        ts: parts.ts.unwrap_or(received_at),
        received_at,
        level: parts.level.into_owned(),
        service: parts.service.into_owned(),
        host: parts.host.map(Cow::into_owned),
        message: parts.message.into_owned(),
        trace_id: parts.trace_id.map(Cow::into_owned),
        attributes: parts.attributes,
        source,
        size: size as u64,
    })
}

/// One object's text (an NDJSON line or an array element) into `out`: on the fast path its
/// fields are borrowed from `text` and copied only into the Arrow buffers; otherwise it is
/// parsed as a `Value` (which also gives serde's error for malformed JSON).
fn push_object<'a>(
    text: &'a [u8],
    entries: &mut Vec<fields::Entry<'a>>,
    received_at: i64,
    source: &'static str,
    out: &mut LogBatchBuilder,
) -> Result<(), LineError> {
    if fields::borrowed_entries(text, entries) {
        let parts = fields::to_parts(entries).map_err(LineError::unplaced)?;
        out.push_ref(&RecordRef {
            ts: parts.ts.unwrap_or(received_at),
            received_at,
            level: &parts.level,
            service: &parts.service,
            host: parts.host.as_deref(),
            message: &parts.message,
            trace_id: parts.trace_id.as_deref(),
            attributes: parts.attributes.as_deref(),
            source,
            size: text.len() as u64,
        });
        return Ok(());
    }
    match serde_json::from_slice::<Value>(text) {
        Ok(value) => {
            let record = object_to_record(value, text.len(), received_at, source)
                .map_err(LineError::unplaced)?;
            out.push(&record);
            Ok(())
        }
        Err(err) => Err(LineError {
            line: 0,
            column: Some(err.column()),
            message: serde_message(&err),
        }),
    }
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
        assert_eq!(r.service, fields::UNKNOWN_SERVICE);
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

    /// The fast path (fields borrowed from the body) and the general one (a `Value` per line)
    /// must give the same rows, whatever the line looks like.
    #[test]
    fn borrowed_fields_give_what_a_value_gives() {
        let lines: &[&str] = &[
            r#"{"timestamp":"2024-05-01T12:00:00Z","level":"warn","service":"api","msg":"slow"}"#,
            r#"{"message":"quote \" and \u00e9 and \n","mes\u0073age":"x","Service":"a\/b"}"#,
            r#"{"Level":"INFO","level":"error","LEVEL":"debug","message":"ties by name"}"#,
            r#"{"message":"dup","message":"last wins","service":"s"}"#,
            r#"{"message":{"nested":[1,2.5,{"a":null}]},"extra":true,"n":1e5,"m":-0,"big":18446744073709551615}"#,
            r#"{"status":500,"severity":"bogus","msg":"status is not a level"}"#,
            r#"{"status":"error","lvl":30,"message":"levels"}"#,
            r#"{"ts":1714564800.5,"time":"soon","message":"a bad ts beside a good one"}"#,
            r#"{"host":7,"hostname":"h","trace_id":123,"TraceID":"t","message":"numbers as text"}"#,
            r#"{"service":"only", "user": {"id": 7, "name": "ü"}}"#,
            r#"{}"#,
            r#"  { "message" : "spaces" , "level" : 40 }  "#,
            r#"{"time":"2024-05-01 12:00:00","message":"ERROR inferred","level":""}"#,
        ];
        for line in lines {
            let mut fast = LogBatchBuilder::default();
            let mut entries = Vec::new();
            push_object(line.as_bytes(), &mut entries, NOW, "http", &mut fast).unwrap();
            let value: Value = serde_json::from_str(line).unwrap();
            let mut general = LogBatchBuilder::default();
            general.push(&object_to_record(value, line.len(), NOW, "http").unwrap());
            let (fast, fast_stats) = fast.finish().unwrap();
            let (general, general_stats) = general.finish().unwrap();
            assert_eq!(fast, general, "{line}");
            assert_eq!(fast_stats, general_stats, "{line}");
        }
    }

    #[test]
    fn both_paths_report_the_same_errors() {
        for line in [
            r#"{"timestamp":"soon","message":"m"}"#,
            r#"{"message": oops}"#,
            r#"[1]"#,
            r#""text""#,
            r#"{"message":"a"} trailing"#,
        ] {
            let mut out = LogBatchBuilder::default();
            let fast = push_object(line.as_bytes(), &mut Vec::new(), NOW, "http", &mut out)
                .unwrap_err()
                .message;
            let general = match serde_json::from_str::<Value>(line) {
                Ok(value) => object_to_record(value, line.len(), NOW, "http").unwrap_err(),
                Err(err) => serde_message(&err),
            };
            assert_eq!(fast, general, "{line}");
            assert!(out.is_empty());
        }
    }
}
