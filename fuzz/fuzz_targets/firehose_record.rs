//! Firehose record data (base64, maybe gzip, maybe a CloudWatch Logs message) → log objects.
//! Properties: every output is a JSON object, decompression never passes its limit, and the
//! objects a record yields are bounded by what it decompressed to.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const LIMIT: usize = 1 << 16;

fuzz_target!(|data: &str| {
    let mut out = Vec::new();
    match normalise::firehose::decode_record(data, LIMIT, &mut out) {
        Ok(()) => {
            assert!(out.iter().all(Value::is_object));
            // A record decodes to at most LIMIT bytes; each object is at least one of them
            // (a line or an event), so there are at most that many objects.
            assert!(out.len() <= LIMIT + 1, "{} objects", out.len());
        }
        Err(message) => assert!(!message.is_empty()),
    }
});
