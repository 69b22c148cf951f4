//! Multi-line records: which lines of a log file continue the record before them, and how a
//! run of bytes from a file becomes records with exact byte ranges (so a record is either
//! delivered whole or read again, never cut at an offset).
//!
//! A line continues the record before it when it is indented (stack frames, wrapped
//! messages), blank, or one of the unindented lines of a stack trace: Java and Python
//! exception headers (`java.lang.IllegalStateException: boom`, `ValueError: bad`),
//! `Caused by:`, `Suppressed:`, `Traceback (most recent call last):` and Python's chaining
//! sentences; Go's `goroutine N [running]:` and its frames (`net/http.(*conn).serve(...)`);
//! Rust's `thread '…' panicked at …`, the panic message on the line after it, and
//! `stack backtrace:`.

use std::sync::LazyLock;

use regex::Regex;

/// A record longer than this is cut: the rest starts a new record.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

static EXCEPTION_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z_$][\w.$]*(Error|Exception|Throwable|Warning|Exit|Interrupt)(:.*)?$")
        .expect("the exception-header regex is valid")
});

/// A Go stack frame: a package path, a function (maybe a method) and its arguments.
static GO_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z_][\w./-]*\.[\w.()*\[\]-]+\(.*\)$").expect("the Go-frame regex is valid")
});

static GO_GOROUTINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^goroutine \d+ \[.*\]:$").expect("the goroutine regex is valid"));

static RUST_PANIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^thread '.*' panicked at ").expect("the Rust-panic regex is valid")
});

const CONTINUATION_PREFIXES: &[&str] = &[
    "stack backtrace:",
    "Caused by:",
    "Suppressed:",
    "Traceback (most recent call last):",
    "During handling of the above exception",
    "The above exception was the direct cause",
];

/// Whether `line` (without its line break) belongs to the record before it.
pub fn continues(line: &str) -> bool {
    line.trim().is_empty()
        || line.starts_with([' ', '\t'])
        || CONTINUATION_PREFIXES.iter().any(|p| line.starts_with(p))
        || EXCEPTION_HEADER.is_match(line)
        || GO_GOROUTINE.is_match(line)
        || GO_FRAME.is_match(line)
        || RUST_PANIC.is_match(line)
}

/// Whether `line` is followed by a line that belongs to it whatever it says (Rust prints
/// the panic message on the line after `thread '…' panicked at …`).
fn takes_next(line: &str) -> bool {
    RUST_PANIC.is_match(line)
}

/// One record and the bytes it came from: `[start, end)` in the file, line breaks included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub start: u64,
    pub end: u64,
    pub text: String,
}

/// What to do with the end of the bytes given to [`split`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ending {
    /// Return the last record too: no continuation can follow (the file is quiet or done).
    pub close_last: bool,
    /// Treat bytes after the last line break as a line: the writer will not finish it (the
    /// file is done), or it is longer than anything we buffer.
    pub take_partial: bool,
}

/// The records of `bytes`, which start at file offset `base`, and the offset up to which they
/// go (where the next read starts). Records that are still open are left for the next read.
pub fn split(bytes: &[u8], base: u64, ending: Ending) -> (Vec<Record>, u64) {
    let mut records = Vec::new();
    // The open record: where it starts, where its last complete line ends, its lines.
    let mut open: Option<(u64, u64, Vec<String>, usize)> = None;
    let mut consumed = base;
    let mut pos = 0usize;
    let mut next_continues = false;
    while pos < bytes.len() {
        let (line, next) = match bytes[pos..].iter().position(|b| *b == b'\n') {
            Some(i) => (&bytes[pos..pos + i], pos + i + 1),
            None if ending.take_partial => (&bytes[pos..], bytes.len()),
            None => break,
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = String::from_utf8_lossy(line).into_owned();
        let line_start = base + pos as u64;
        let line_end = base + next as u64;
        let joins = next_continues || continues(&text);
        next_continues = takes_next(&text);
        match open.as_mut() {
            Some((_, end, lines, size)) if joins && *size + text.len() < MAX_RECORD_BYTES => {
                *size += text.len() + 1;
                lines.push(text);
                *end = line_end;
            }
            _ => {
                if let Some(done) = open.take() {
                    consumed = done.1;
                    push(&mut records, done);
                }
                let size = text.len();
                open = Some((line_start, line_end, vec![text], size));
            }
        }
        pos = next;
    }
    if ending.close_last
        && let Some(done) = open.take()
    {
        consumed = done.1;
        push(&mut records, done);
    }
    (records, consumed)
}

fn push(records: &mut Vec<Record>, (start, end, lines, _): (u64, u64, Vec<String>, usize)) {
    let text = lines.join("\n").trim_end().to_string();
    // Blank lines before the first record are consumed without a record.
    if !text.is_empty() {
        records.push(Record { start, end, text });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Ending = Ending {
        close_last: true,
        take_partial: true,
    };
    const LIVE: Ending = Ending {
        close_last: false,
        take_partial: false,
    };

    #[test]
    fn java_stack_traces_are_one_record() {
        let text = "2026-11-29 10:00:00 ERROR request failed\n\
                    java.lang.IllegalStateException: boom\n\
                    \tat com.shop.Cart.add(Cart.java:10)\n\
                    \tat com.shop.Api.post(Api.java:5)\n\
                    Caused by: java.io.IOException: disk full\n\
                    \t... 2 more\n\
                    2026-11-29 10:00:01 INFO next\n";
        let (records, consumed) = split(text.as_bytes(), 100, ALL);
        assert_eq!(records.len(), 2, "{records:?}");
        assert!(records[0].text.starts_with("2026-11-29 10:00:00 ERROR"));
        assert!(records[0].text.ends_with("\t... 2 more"));
        assert_eq!(records[0].text.lines().count(), 6);
        assert_eq!(records[1].text, "2026-11-29 10:00:01 INFO next");
        assert_eq!(records[0].start, 100);
        assert_eq!(records[1].start, records[0].end);
        assert_eq!(consumed, 100 + text.len() as u64);
    }

    #[test]
    fn python_tracebacks_are_one_record() {
        let text = "ERROR:root:charge failed\n\
                    Traceback (most recent call last):\n  \
                    File \"pay.py\", line 3, in charge\n    \
                    raise ValueError(\"card declined\")\n\
                    ValueError: card declined\n\
                    INFO:root:next\n";
        let (records, _) = split(text.as_bytes(), 0, ALL);
        assert_eq!(records.len(), 2, "{records:?}");
        assert!(records[0].text.ends_with("ValueError: card declined"));
        assert_eq!(records[1].text, "INFO:root:next");
    }

    #[test]
    fn go_and_rust_panics_are_one_record() {
        let text = "2026-11-01T00:46:51.025Z CRITICAL [payments] handshake failed\n\
                    goroutine 537 [running]:\n\
                    main.(*Handler).ServeHTTP(0xc0006f1b3, {0x9a1b40, 0xc0001b6000})\n\
                    \t/src/payments/handler.go:300 +0x1d4\n\
                    net/http.serverHandler.ServeHTTP(...)\n\
                    \t/usr/local/go/src/net/http/server.go:2936\n\
                    2026-11-01T01:05:00.564Z ERROR [inventory] disk full\n\
                    thread 'tokio-runtime-worker' panicked at src/segment.rs:495:14:\n\
                    called `Result::unwrap()` on an `Err` value: Os { code: 28 }\n\
                    stack backtrace:\n   \
                    0: rust_begin_unwind\n\
                    2026-11-01T01:05:00.593Z INFO [proxy] next\n";
        let (records, _) = split(text.as_bytes(), 0, ALL);
        assert_eq!(records.len(), 3, "{records:?}");
        assert!(records[0].text.ends_with("server.go:2936"));
        assert!(records[1].text.ends_with("0: rust_begin_unwind"));
        assert!(records[1].text.contains("called `Result::unwrap()`"));
        assert_eq!(
            records[2].text,
            "2026-11-01T01:05:00.593Z INFO [proxy] next"
        );
        // An ordinary line that happens to hold parentheses is not a Go frame.
        assert!(!continues("2026-11-01 GET /a(b) done"));
        assert!(!continues("INFO: started (pid 4)"));
    }

    #[test]
    fn the_last_record_waits_until_it_is_closed() {
        let text = b"first\nsecond\n  more of second\n";
        let (records, consumed) = split(text, 0, LIVE);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].text, "first");
        assert_eq!(consumed, 6, "the next read starts at the open record");
        let (records, consumed) = split(&text[6..], 6, ALL);
        assert_eq!(records[0].text, "second\n  more of second");
        assert_eq!(consumed, text.len() as u64);
    }

    #[test]
    fn a_partial_line_is_taken_only_when_asked() {
        let text = b"whole\nhalf a li";
        let (records, consumed) = split(
            text,
            0,
            Ending {
                close_last: true,
                take_partial: false,
            },
        );
        assert_eq!(records.len(), 1);
        assert_eq!(consumed, 6);
        let (records, consumed) = split(text, 0, ALL);
        assert_eq!(records[1].text, "half a li");
        assert_eq!(consumed, text.len() as u64);
    }

    #[test]
    fn crlf_and_leading_blank_lines() {
        let (records, consumed) = split(b"\n\r\none\r\ntwo\r\n", 0, ALL);
        assert_eq!(
            records.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(),
            ["one", "two"]
        );
        assert_eq!(consumed, 13);
    }
}
