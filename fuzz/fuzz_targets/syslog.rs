//! Syslog: RFC 6587 framing of a TCP stream, then each frame parsed as RFC 5424/3164.
//! Properties: frames never hold more bytes than the stream (nor more than the message limit),
//! every message becomes an object with a non-empty text message (nothing is dropped), and
//! the normaliser takes it.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use normalise::json::object_to_record;
use normalise::syslog::{MAX_MESSAGE, split_frames, to_object};

fuzz_target!(|stream: &[u8]| {
    let (frames, _error) = split_frames(stream);
    let total: usize = frames.iter().map(Vec::len).sum();
    assert!(total <= stream.len());
    for frame in frames {
        assert!(frame.len() <= MAX_MESSAGE + 1);
        let text = String::from_utf8_lossy(&frame);
        if text.trim().is_empty() {
            continue;
        }
        let object = to_object(&text, IpAddr::V4(Ipv4Addr::LOCALHOST));
        let message = object["message"].as_str().expect("a text message");
        assert!(!message.is_empty());
        object_to_record(object, frame.len(), 1_800_000_000_000_000, "syslog")
            .expect("a syslog message is always storable");
    }
});
