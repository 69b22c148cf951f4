//! Redaction before text leaves the process. Properties: redacting is idempotent (a redacted
//! text has nothing left to redact), and every built-in rule's marker survives a second pass.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use redact::{RedactConfig, Redactor};

/// Built once: compiling the rules' regexes is most of a redactor's cost.
static REDACTORS: LazyLock<[Redactor; 2]> = LazyLock::new(|| {
    [false, true].map(|ips| {
        Redactor::new(&RedactConfig {
            ips,
            extra: Vec::new(),
        })
        .unwrap()
    })
});

fuzz_target!(|input: (bool, &str)| {
    let (ips, text) = input;
    let redactor = &REDACTORS[usize::from(ips)];
    let once = redactor.redact(text);
    let twice = redactor.redact(&once);
    assert_eq!(once, twice, "redaction is not idempotent");
    assert_eq!(redactor.count(&once), 0);
});
