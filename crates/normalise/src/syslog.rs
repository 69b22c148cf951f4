//! Syslog messages as log objects, and RFC 6587 framing of a TCP stream. Messages are RFC
//! 5424 or RFC 3164, parsed by `syslog_loose`, which always yields a message: anything it
//! cannot take apart is kept whole as the message text, never dropped.
//!
//! Mapping: severity → level (`err` → ERROR, `warning` → WARN, `emerg`/`alert`/`crit` → FATAL,
//! `notice` → INFO), APP-NAME → service (else `syslog`), HOSTNAME → host (else the peer's
//! address); facility, proc id, msg id, structured data, the peer and the RFC go to
//! `attributes`.

use std::net::IpAddr;

use serde_json::{Map, Value, json};
use syslog_loose::{Message, ProcId, Variant};

/// Largest message taken (longer UDP datagrams are cut by the socket; longer TCP frames are
/// an error that closes the connection, as the stream cannot be resynchronised).
pub const MAX_MESSAGE: usize = 1024 * 1024;

/// How the next frame of an RFC 6587 stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameStart {
    /// Octet counting, `LEN SP MSG`: `header` bytes of length and space, then `len` bytes.
    Counted { header: usize, len: usize },
    /// Non-transparent framing: the message runs to the next newline.
    Line,
}

/// Reads the start of a frame from the bytes buffered at it: octet counting when they are
/// at most seven digits, a space and `<` (a PRI), else a line.
pub fn frame_start(head: &[u8]) -> FrameStart {
    let digits = head.iter().take_while(|b| b.is_ascii_digit()).count();
    let counted = digits > 0
        && digits <= 7
        && head.get(digits) == Some(&b' ')
        && head.get(digits + 1).is_none_or(|b| *b == b'<');
    if !counted {
        return FrameStart::Line;
    }
    let len = std::str::from_utf8(&head[..digits])
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    FrameStart::Counted {
        header: digits + 1,
        len,
    }
}

/// Drops a line's `\n` / `\r\n` ending.
pub fn trim_line_end(line: &mut Vec<u8>) {
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
}

/// Why a stream stopped being framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// A counted frame longer than [`MAX_MESSAGE`]: the stream cannot be resynchronised.
    TooLong(usize),
    /// The stream ended inside a counted frame.
    Truncated { expected: usize, got: usize },
}

/// Splits a whole stream into frames the way the TCP listener reads it, frame by frame with
/// [`frame_start`] (lines longer than `MAX_MESSAGE` are cut there, as the listener's bounded
/// read does). Returns the frames taken before an error, and the error.
pub fn split_frames(mut stream: &[u8]) -> (Vec<Vec<u8>>, Option<FrameError>) {
    let mut frames = Vec::new();
    while !stream.is_empty() {
        match frame_start(stream) {
            FrameStart::Counted { header, len } => {
                if len > MAX_MESSAGE {
                    return (frames, Some(FrameError::TooLong(len)));
                }
                let rest = &stream[header..];
                if rest.len() < len {
                    let got = rest.len();
                    return (frames, Some(FrameError::Truncated { expected: len, got }));
                }
                frames.push(rest[..len].to_vec());
                stream = &rest[len..];
            }
            FrameStart::Line => {
                let limit = stream.len().min(MAX_MESSAGE + 1);
                let end = stream[..limit]
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(limit, |i| i + 1);
                let mut line = stream[..end].to_vec();
                trim_line_end(&mut line);
                frames.push(line);
                stream = &stream[end..];
            }
        }
    }
    (frames, None)
}

/// The log object of one syslog message, for the normaliser.
pub fn to_object(text: &str, peer: IpAddr) -> Value {
    let parsed: Message<&str> = syslog_loose::parse_message(text, Variant::Either);
    let mut attrs = Map::new();
    attrs.insert("peer".into(), Value::String(peer.to_string()));
    attrs.insert(
        "protocol".into(),
        Value::String(match parsed.protocol {
            syslog_loose::Protocol::RFC5424(_) => "rfc5424".into(),
            syslog_loose::Protocol::RFC3164 => "rfc3164".into(),
        }),
    );
    if let Some(f) = parsed.facility {
        attrs.insert("facility".into(), Value::String(f.as_str().into()));
    }
    match &parsed.procid {
        Some(ProcId::PID(pid)) => {
            attrs.insert("procid".into(), Value::from(*pid));
        }
        Some(ProcId::Name(name)) => {
            attrs.insert("procid".into(), Value::String((*name).into()));
        }
        None => {}
    }
    if let Some(id) = parsed.msgid {
        attrs.insert("msgid".into(), Value::String(id.into()));
    }
    if !parsed.structured_data.is_empty() {
        let mut sd = Map::new();
        for element in &parsed.structured_data {
            let params: Map<String, Value> = element
                .params
                .iter()
                .map(|(k, v)| ((*k).to_string(), Value::String((*v).to_string())))
                .collect();
            sd.insert(element.id.to_string(), Value::Object(params));
        }
        attrs.insert("structured_data".into(), Value::Object(sd));
    }
    let message = if parsed.msg.trim().is_empty() {
        text
    } else {
        parsed.msg
    };
    let mut object = json!({
        "message": message,
        "service": parsed.appname.unwrap_or("syslog"),
        "host": parsed.hostname.map_or_else(|| peer.to_string(), str::to_string),
        "syslog": Value::Object(attrs),
    });
    if let Some(severity) = parsed.severity {
        object["level"] = Value::String(severity.as_str().into());
    }
    if let Some(ts) = parsed.timestamp {
        object["timestamp"] = Value::String(ts.to_rfc3339());
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octet_counted_and_line_frames_mix() {
        let stream = b"11 <13>1 - - x\n<14>hello\r\n6 <1>ab";
        let (frames, err) = split_frames(stream);
        assert_eq!(
            frames,
            vec![b"<13>1 - - x".to_vec(), b"".to_vec(), b"<14>hello".to_vec()]
        );
        assert_eq!(
            err,
            Some(FrameError::Truncated {
                expected: 6,
                got: 5
            })
        );
        assert_eq!(frame_start(b"12 hello"), FrameStart::Line);
        assert_eq!(
            frame_start(b"9999999 <"),
            FrameStart::Counted {
                header: 8,
                len: 9_999_999
            }
        );
        assert_eq!(
            split_frames(b"9999999 <1>").1,
            Some(FrameError::TooLong(9_999_999))
        );
    }

    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn rfc5424_fields_land_where_they_belong() {
        let o = to_object(
            "<11>1 2026-11-29T10:00:00.123Z web-1 checkout 4242 ID47 [origin ip=\"10.0.0.1\"] payment failed",
            PEER,
        );
        assert_eq!(o["message"], "payment failed");
        assert_eq!(o["level"], "err");
        assert_eq!(o["service"], "checkout");
        assert_eq!(o["host"], "web-1");
        assert_eq!(o["timestamp"], "2026-11-29T10:00:00.123+00:00");
        assert_eq!(o["syslog"]["facility"], "user");
        assert_eq!(o["syslog"]["procid"], 4242);
        assert_eq!(o["syslog"]["msgid"], "ID47");
        assert_eq!(o["syslog"]["structured_data"]["origin"]["ip"], "10.0.0.1");
        assert_eq!(o["syslog"]["protocol"], "rfc5424");
    }

    #[test]
    fn rfc3164_and_garbage_are_kept() {
        let o = to_object("<34>Oct 11 22:14:15 mymachine su: 'su root' failed", PEER);
        assert_eq!(o["service"], "su");
        assert_eq!(o["host"], "mymachine");
        assert_eq!(o["level"], "crit");
        assert_eq!(o["message"], "'su root' failed");
        let o = to_object("%%% not syslog at all", PEER);
        assert!(o["message"].as_str().unwrap().contains("not syslog at all"));
        assert_eq!(o["host"], "127.0.0.1");
    }
}
