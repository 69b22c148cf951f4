//! The file tail's multi-line joiner. Properties: records come in file order with exact,
//! adjacent byte ranges inside what was read, the read position never passes the bytes given
//! nor goes back, and when the end is closed every byte belongs to a record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use normalise::multiline::{Ending, split};

fuzz_target!(|input: (u32, bool, bool, &[u8])| {
    let (base, close_last, take_partial, bytes) = input;
    let base = u64::from(base);
    let end = base + bytes.len() as u64;
    let (records, next) = split(
        bytes,
        base,
        Ending {
            close_last,
            take_partial,
        },
    );
    assert!(
        next >= base && next <= end,
        "next {next} outside [{base}, {end}]"
    );
    let mut at = base;
    for record in &records {
        assert!(record.start >= at, "records overlap or go back");
        assert!(record.start < record.end && record.end <= next);
        at = record.end;
    }
    if close_last && take_partial && !bytes.is_empty() {
        assert_eq!(next, end, "with the end closed, every byte is consumed");
    }
});
