//! Datadog monitor webhooks: the repair of bodies whose strings carry raw control characters,
//! and the notification → record mapping. Properties: valid JSON is parsed exactly as
//! serde_json parses it (the repair only ever runs on what failed), every payload becomes a
//! record with a text message, a known level and a service, and the record is storable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use normalise::datadog::{lenient_json, webhook_record};
use normalise::json::object_to_record;
use serde_json::Value;

fuzz_target!(|body: &[u8]| {
    let strict = serde_json::from_slice::<Value>(body);
    let lenient = lenient_json(body);
    if let Ok(strict) = &strict {
        assert_eq!(lenient.as_ref().ok(), Some(strict));
    }
    let Ok(payload) = lenient else { return };
    let (record, key) = webhook_record(payload);
    assert!(record["message"].is_string());
    assert!(matches!(
        record["level"].as_str(),
        Some("INFO" | "WARN" | "ERROR")
    ));
    assert!(record["service"].is_string());
    if let Some(key) = key {
        assert!(key.starts_with("datadog-webhook:"));
    }
    let size = body.len();
    object_to_record(record, size, 1_800_000_000_000_000, "datadog-webhook")
        .expect("a webhook record is always storable");
});
