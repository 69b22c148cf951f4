//! OTLP/HTTP bodies, protobuf and JSON, decoded by the crate's own types and mapped to log
//! objects. Properties: what decodes maps to one object per log record, each with a text
//! message, and the batch normaliser takes every one of them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use normalise::json::{objects_to_batch, with_size};
use normalise::otlp::{OtlpEncoding, otlp_objects};

fuzz_target!(|input: (bool, &[u8])| {
    let (json, body) = input;
    let encoding = if json {
        OtlpEncoding::Json
    } else {
        OtlpEncoding::Protobuf
    };
    let Ok(request) = encoding.decode(body) else {
        return;
    };
    let records: usize = request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len())
        .sum();
    let objects = otlp_objects(&request);
    assert_eq!(objects.len(), records);
    assert!(objects.iter().all(|o| o["message"].is_string()));
    let batch = objects_to_batch(
        objects.into_iter().map(with_size),
        1_800_000_000_000_000,
        "otlp",
        "log record",
    )
    .expect("every OTLP log record is storable");
    assert_eq!(batch.len(), records);
});
