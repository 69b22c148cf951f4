//! OpenTelemetry logs (OTLP, from the maintained `opentelemetry-proto` types) and our own
//! `loginsight.v1` entries → records.
//!
//! OTLP mapping: `service.name` and `host.name` of the resource → service and host;
//! `time_unix_nano` (else `observed_time_unix_nano`) → ts; `severity_number` (else
//! `severity_text`) → level; the body → message (text, or JSON for structured bodies);
//! `trace_id` → hex `trace_id`. The span id, the log attributes, the other resource
//! attributes and the scope go to `attributes.otel`, so no attribute can shadow a column.
//! OTLP/HTTP bodies are decoded here too: protobuf (`prost`) or the OTLP JSON mapping (hex
//! ids, string 64-bit integers), both by the crate's own types.

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use serde_json::{Map, Value, json};

/// An OTLP `AnyValue` as JSON.
fn any_to_json(value: &AnyValue) -> Value {
    match &value.value {
        None => Value::Null,
        Some(any_value::Value::StringValue(s)) => Value::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(*b),
        Some(any_value::Value::IntValue(i)) => Value::from(*i),
        Some(any_value::Value::DoubleValue(d)) => Value::from(*d),
        Some(any_value::Value::BytesValue(b)) => Value::String(hex(b)),
        Some(any_value::Value::ArrayValue(a)) => {
            Value::Array(a.values.iter().map(any_to_json).collect())
        }
        Some(any_value::Value::KvlistValue(kv)) => Value::Object(attrs_to_json(&kv.values)),
    }
}

fn attrs_to_json(attrs: &[KeyValue]) -> Map<String, Value> {
    attrs
        .iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map_or(Value::Null, any_to_json),
            )
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// OTLP severity numbers: 1–4 TRACE, 5–8 DEBUG, 9–12 INFO, 13–16 WARN, 17–20 ERROR, 21–24 FATAL.
fn severity(number: i32) -> Option<&'static str> {
    Some(match number {
        1..=4 => "TRACE",
        5..=8 => "DEBUG",
        9..=12 => "INFO",
        13..=16 => "WARN",
        17..=20 => "ERROR",
        21..=24 => "FATAL",
        _ => return None,
    })
}

/// The log objects of an export request, for the normaliser.
pub fn otlp_objects(request: &ExportLogsServiceRequest) -> Vec<Value> {
    let mut out = Vec::new();
    for resource_logs in &request.resource_logs {
        let mut resource = resource_logs
            .resource
            .as_ref()
            .map(|r| attrs_to_json(&r.attributes))
            .unwrap_or_default();
        let service = match resource.remove("service.name") {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            _ => None,
        };
        let host = match resource.remove("host.name") {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            _ => None,
        };
        for scope_logs in &resource_logs.scope_logs {
            let scope = scope_logs.scope.as_ref().map(|s| {
                json!({"name": s.name, "version": s.version, "attributes": attrs_to_json(&s.attributes)})
            });
            for log in &scope_logs.log_records {
                let mut object = Map::new();
                let ts = if log.time_unix_nano > 0 {
                    log.time_unix_nano
                } else {
                    log.observed_time_unix_nano
                };
                if ts > 0 {
                    object.insert("timestamp".into(), Value::from(ts));
                }
                let level = severity(log.severity_number)
                    .map(str::to_string)
                    .or_else(|| (!log.severity_text.is_empty()).then(|| log.severity_text.clone()));
                if let Some(level) = level {
                    object.insert("level".into(), Value::String(level));
                }
                if let Some(s) = &service {
                    object.insert("service".into(), Value::String(s.clone()));
                }
                if let Some(h) = &host {
                    object.insert("host".into(), Value::String(h.clone()));
                }
                let message = match log.body.as_ref().map(any_to_json) {
                    Some(Value::String(s)) => s,
                    Some(Value::Null) | None => log.event_name.clone(),
                    Some(other) => other.to_string(),
                };
                object.insert("message".into(), Value::String(message));
                if !log.trace_id.is_empty() {
                    object.insert("trace_id".into(), Value::String(hex(&log.trace_id)));
                }
                let mut otel = Map::new();
                if !log.span_id.is_empty() {
                    otel.insert("span_id".into(), Value::String(hex(&log.span_id)));
                }
                if !log.attributes.is_empty() {
                    otel.insert(
                        "attributes".into(),
                        Value::Object(attrs_to_json(&log.attributes)),
                    );
                }
                if !resource.is_empty() {
                    otel.insert("resource".into(), Value::Object(resource.clone()));
                }
                if let Some(scope) = &scope {
                    otel.insert("scope".into(), scope.clone());
                }
                if !log.event_name.is_empty() {
                    otel.insert("event_name".into(), Value::String(log.event_name.clone()));
                }
                if !otel.is_empty() {
                    object.insert("otel".into(), Value::Object(otel));
                }
                out.push(Value::Object(object));
            }
        }
    }
    out
}

/// `loginsight.v1` entries as log objects; explicit fields win over same-named attributes.
pub fn entry_objects(batch: &loginsight_proto::v1::LogBatch) -> Vec<Value> {
    batch
        .entries
        .iter()
        .map(|e| {
            let mut object: Map<String, Value> = e
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            if e.time_unix_nano > 0 {
                object.insert("timestamp".into(), Value::from(e.time_unix_nano));
            }
            for (key, value) in [
                ("level", &e.level),
                ("service", &e.service),
                ("host", &e.host),
                ("trace_id", &e.trace_id),
            ] {
                if !value.is_empty() {
                    object.insert(key.into(), Value::String(value.clone()));
                }
            }
            object.insert("message".into(), Value::String(e.message.clone()));
            Value::Object(object)
        })
        .collect()
}

/// How an OTLP/HTTP body is encoded, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpEncoding {
    Protobuf,
    Json,
}

impl OtlpEncoding {
    pub fn from_content_type(content_type: &str) -> Option<OtlpEncoding> {
        match content_type.split(';').next().unwrap_or("").trim() {
            "application/x-protobuf" | "application/protobuf" => Some(OtlpEncoding::Protobuf),
            "application/json" => Some(OtlpEncoding::Json),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            OtlpEncoding::Protobuf => "application/x-protobuf",
            OtlpEncoding::Json => "application/json",
        }
    }

    /// Decodes an export request.
    pub fn decode(self, body: &[u8]) -> Result<ExportLogsServiceRequest, String> {
        match self {
            OtlpEncoding::Protobuf => ExportLogsServiceRequest::decode(body)
                .map_err(|e| format!("not an OTLP ExportLogsServiceRequest (protobuf): {e}")),
            OtlpEncoding::Json => serde_json::from_slice(body).map_err(|e| {
                format!(
                    "not an OTLP ExportLogsServiceRequest (JSON, line {}, column {}): {e}",
                    e.line(),
                    e.column()
                )
            }),
        }
    }

    /// The (empty: full success) export response.
    pub fn success(self) -> Vec<u8> {
        let response = ExportLogsServiceResponse::default();
        match self {
            OtlpEncoding::Protobuf => response.encode_to_vec(),
            OtlpEncoding::Json => serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as V};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    use super::*;

    fn kv(key: &str, value: V) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
        }
    }

    #[test]
    fn otlp_records_map_to_columns_and_otel_attributes() {
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", V::StringValue("checkout".into())),
                        kv("host.name", V::StringValue("web-1".into())),
                        kv("deployment.environment", V::StringValue("prod".into())),
                    ],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord {
                        time_unix_nano: 1_764_400_000_123_000_000,
                        severity_number: 17,
                        body: Some(AnyValue {
                            value: Some(V::StringValue("payment failed".into())),
                        }),
                        attributes: vec![kv("http.status_code", V::IntValue(502))],
                        trace_id: vec![0xab; 16],
                        span_id: vec![0x01; 8],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let objects = otlp_objects(&request);
        assert_eq!(objects.len(), 1);
        let o = &objects[0];
        assert_eq!(o["service"], "checkout");
        assert_eq!(o["host"], "web-1");
        assert_eq!(o["level"], "ERROR");
        assert_eq!(o["message"], "payment failed");
        assert_eq!(o["trace_id"], "ab".repeat(16));
        assert_eq!(o["otel"]["span_id"], "0101010101010101");
        assert_eq!(o["otel"]["attributes"]["http.status_code"], 502);
        assert_eq!(o["otel"]["resource"]["deployment.environment"], "prod");
        let batch = crate::json::objects_to_batch(
            objects.into_iter().map(crate::json::with_size),
            0,
            "otlp",
            "log record",
        )
        .unwrap();
        assert_eq!(batch.len(), 1);
    }

    #[test]
    fn otlp_json_uses_hex_ids_and_string_integers() {
        let body = br#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},
            "scopeLogs":[{"scope":{"name":"app"},"logRecords":[{"timeUnixNano":"1764400000000000000","severityText":"Warning",
            "body":{"stringValue":"slow"},"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}]}"#;
        let request = OtlpEncoding::Json.decode(body).unwrap();
        let o = &otlp_objects(&request)[0];
        assert_eq!(o["service"], "api");
        assert_eq!(o["level"], "Warning");
        assert_eq!(o["timestamp"], 1_764_400_000_000_000_000u64);
        assert_eq!(o["trace_id"], "5b8efff798038103d269b633813fc60c");
        let bytes = request.encode_to_vec();
        assert_eq!(OtlpEncoding::Protobuf.decode(&bytes).unwrap(), request);
        assert!(OtlpEncoding::Protobuf.decode(b"\xff\xff").is_err());
    }
}
