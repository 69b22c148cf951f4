//! The Datadog logs intake: a JSON entry (its `ddtags` parsed, service and host taken from the
//! tags) → a record. Properties: an entry stays an object with no message longer than
//! Datadog's limit, tags become an object, and the normaliser either takes it or says why.
#![no_main]

use libfuzzer_sys::fuzz_target;
use normalise::datadog::{MAX_LOG_BYTES, intake_entry, parse_ddtags};
use normalise::json::{objects_to_batch, with_size};
use serde_json::Value;

fuzz_target!(|input: (&str, &[u8])| {
    let (query_tags, body) = input;
    let tags = parse_ddtags(query_tags);
    assert!(tags.keys().all(|k| !k.contains(',')));
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let entries = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    let n = entries.len();
    let entries: Vec<(Value, usize)> = entries
        .into_iter()
        .map(|e| {
            let (e, size) = with_size(e);
            let e = intake_entry(e, &tags);
            if let Some(Value::String(m)) = e.get("message") {
                assert!(m.len() <= MAX_LOG_BYTES);
            }
            if let Some(t) = e.get("ddtags") {
                assert!(t.is_object());
            }
            (e, size)
        })
        .collect();
    match objects_to_batch(entries, 1_800_000_000_000_000, "datadog", "entry") {
        Ok(batch) => assert_eq!(batch.len(), n),
        Err(errors) => assert!(errors.count >= 1 && errors.count <= n),
    }
});
