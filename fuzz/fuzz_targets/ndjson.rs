//! The HTTP body normaliser (`POST /v1/logs`): NDJSON or a JSON array → a batch. Properties:
//! never more records than lines (or array elements), a rejected body reports at least one
//! error and never more than it counted, and an accepted batch builds its Arrow arrays.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let lines = body.split(|b| *b == b'\n').count();
    match normalise::json::parse_body(body, 1_800_000_000_000_000, "http") {
        Ok(batch) => {
            let rows = batch.len();
            let is_array = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
            if !is_array {
                assert!(rows <= lines, "{rows} records from {lines} lines");
            }
            let (arrow, _stats) = batch.finish().expect("an accepted batch builds");
            assert_eq!(arrow.num_rows(), rows);
        }
        Err(errors) => {
            assert!(errors.count >= 1);
            assert!(errors.errors.len() <= errors.count);
            assert!(!errors.errors.is_empty());
        }
    }
});
