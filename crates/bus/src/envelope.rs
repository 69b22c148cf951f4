//! The wire format of both topics: compact, versioned JSON.
//!
//! ```json
//! {"v":1,"type":"error_event","event":{"event_id":"…","ts_us":…,"service":"…",…}}
//! {"v":1,"type":"insight_update","update":{"insight":{…},"event_ids":["…"]}}
//! ```
//!
//! `v` is bumped only for changes an older reader would misread; new optional fields do not
//! bump it. Readers refuse a `v` they do not know rather than guess.

use model::{ErrorEvent, InsightUpdate};
use serde::{Deserialize, Serialize};

use crate::BusError;

/// The envelope version this build writes and reads.
pub const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Body {
    ErrorEvent { event: ErrorEvent },
    InsightUpdate { update: InsightUpdate },
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    v: u32,
    #[serde(flatten)]
    body: Body,
}

fn encode(body: Body) -> Vec<u8> {
    // Serialising plain structs of strings and numbers cannot fail.
    serde_json::to_vec(&Envelope { v: VERSION, body }).unwrap_or_default()
}

fn decode(bytes: &[u8]) -> Result<Body, BusError> {
    #[derive(Deserialize)]
    struct Version {
        v: u32,
    }
    let version: Version =
        serde_json::from_slice(bytes).map_err(|e| BusError::Envelope(e.to_string()))?;
    if version.v != VERSION {
        return Err(BusError::Envelope(format!(
            "envelope version {} is not supported (this build reads {VERSION})",
            version.v
        )));
    }
    let envelope: Envelope =
        serde_json::from_slice(bytes).map_err(|e| BusError::Envelope(e.to_string()))?;
    Ok(envelope.body)
}

pub fn encode_event(event: &ErrorEvent) -> Vec<u8> {
    encode(Body::ErrorEvent {
        event: event.clone(),
    })
}

pub fn decode_event(bytes: &[u8]) -> Result<ErrorEvent, BusError> {
    match decode(bytes)? {
        Body::ErrorEvent { event } => Ok(event),
        Body::InsightUpdate { .. } => Err(BusError::Envelope(
            "expected an error_event, got an insight_update".into(),
        )),
    }
}

pub fn encode_update(update: &InsightUpdate) -> Vec<u8> {
    encode(Body::InsightUpdate {
        update: update.clone(),
    })
}

pub fn decode_update(bytes: &[u8]) -> Result<InsightUpdate, BusError> {
    match decode(bytes)? {
        Body::InsightUpdate { update } => Ok(update),
        Body::ErrorEvent { .. } => Err(BusError::Envelope(
            "expected an insight_update, got an error_event".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> ErrorEvent {
        ErrorEvent {
            event_id: "abc-1".into(),
            ts_us: 1_700_000_000_000_000,
            service: "checkout".into(),
            level: "ERROR".into(),
            message: "db \"timeout\"\nat x".into(),
            host: None,
            trace_id: Some("t1".into()),
            pattern_id: Some("p1".into()),
            template: None,
        }
    }

    #[test]
    fn events_round_trip_and_are_tagged() {
        let bytes = encode_event(&event());
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with(r#"{"v":1,"type":"error_event""#), "{text}");
        assert!(!text.contains("host"), "absent fields are left out: {text}");
        assert_eq!(decode_event(&bytes).unwrap(), event());
    }

    #[test]
    fn unknown_versions_and_wrong_types_are_refused() {
        let err = decode_event(br#"{"v":2,"type":"error_event","event":{}}"#).unwrap_err();
        assert!(err.to_string().contains("version 2"), "{err}");
        let err = decode_update(&encode_event(&event())).unwrap_err();
        assert!(
            err.to_string().contains("expected an insight_update"),
            "{err}"
        );
        assert!(decode_event(b"not json").is_err());
    }
}
