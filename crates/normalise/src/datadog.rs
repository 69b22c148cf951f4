//! Datadog payloads as records: the intake's entries (`ddtags` parsed, `service` and `host`
//! from the tags, the message cut at Datadog's 1 MB) and monitor webhooks, whose templates
//! are filled with `$VARIABLES` that can carry raw newlines and quotes: such bodies are
//! repaired where a raw control character is the only fault ([`lenient_json`]), and each
//! notification becomes one record with its delivery key ([`webhook_record`]).

use serde_json::{Map, Value, json};

/// Datadog's limit of one log message.
pub const MAX_LOG_BYTES: usize = 1024 * 1024;

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
pub fn intake_entry(value: Value, query_tags: &Map<String, Value>) -> Value {
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
    // `$DATE` is epoch milliseconds, as a string. One that is no time (a template filled
    // with something else) is left in `datadog` rather than refusing the notification: a
    // refusal would lose the alert for good.
    if let Some(ms) = field(&map, &["date", "last_updated"])
        .and_then(|d| d.parse::<i64>().ok())
        .filter(|ms| model::epoch_int_to_micros(*ms).is_some())
    {
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

    /// Found by `fuzz/fuzz_targets/datadog_webhook.rs`: a `$DATE` out of range made the
    /// record unstorable, and the server answered 400, losing the alert.
    #[test]
    fn a_date_that_is_no_time_does_not_lose_the_notification() {
        let (record, _) = webhook_record(json!({"title": "x", "id": "42", "date": "-15"}));
        assert!(record.get("timestamp").is_none());
        assert_eq!(record["datadog"]["date"], "-15");
        crate::json::object_to_record(record, 10, 1_800_000_000_000_000, "datadog-webhook")
            .unwrap();
    }

    #[test]
    fn alert_cycle_keys_dedupe_per_transition() {
        let (_, key) =
            webhook_record(json!({"alert_cycle_key": "77", "alert_transition": "Triggered"}));
        assert_eq!(key.as_deref(), Some("datadog-webhook:77:Triggered"));
    }
}
