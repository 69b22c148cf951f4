//! Firehose records as log objects: each record's data is base64, optionally gzip; with
//! CloudWatch Logs behind it, a `DATA_MESSAGE` whose `logEvents` become one object each (log
//! group and stream as attributes), while `CONTROL_MESSAGE`s are reachability probes and
//! yield nothing. Other data is read as a JSON log object or as text lines.

use std::io::Read;

use base64::Engine;
use serde_json::{Value, json};

/// The records of one Firehose record's data, appended to `out` as JSON log objects.
pub fn decode_record(data: &str, limit: usize, out: &mut Vec<Value>) -> Result<(), String> {
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
