//! Timestamps: everything is stored as microseconds since the Unix epoch, UTC.

use chrono::{DateTime, NaiveDateTime};

/// Microseconds since 1970-01-01T00:00:00Z.
pub type EpochMicros = i64;

/// Why a timestamp value could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TimestampError {
    #[error("cannot parse {0:?} as an RFC 3339 timestamp or a Unix epoch")]
    Unparseable(String),
    #[error("epoch value {0} is out of range")]
    OutOfRange(String),
}

/// Reads a timestamp given as text: RFC 3339 (`2024-05-01T12:00:00.123Z`), the same with a
/// space instead of `T`, a zone-less date-time taken as UTC, or a number (see
/// [`epoch_to_micros`]).
pub fn parse_timestamp(text: &str) -> Result<EpochMicros, TimestampError> {
    let text = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Ok(dt.timestamp_micros());
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%#z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(text, fmt) {
            return Ok(dt.timestamp_micros());
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(text, fmt) {
            return Ok(dt.and_utc().timestamp_micros());
        }
    }
    if let Ok(n) = text.parse::<f64>() {
        return epoch_to_micros(n).ok_or_else(|| TimestampError::OutOfRange(text.to_string()));
    }
    Err(TimestampError::Unparseable(text.to_string()))
}

/// Interprets an epoch number by its magnitude, as log shippers send seconds, milliseconds,
/// microseconds or nanoseconds without saying which: below 10^11 it is seconds (up to year
/// 5138), below 10^14 milliseconds, below 10^17 microseconds, otherwise nanoseconds.
pub fn epoch_to_micros(n: f64) -> Option<EpochMicros> {
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let micros = if n < 1e11 {
        n * 1e6
    } else if n < 1e14 {
        n * 1e3
    } else if n < 1e17 {
        n
    } else {
        n / 1e3
    };
    (micros < 9.2e18).then_some(micros.round() as i64)
}

/// Integer variant of [`epoch_to_micros`] that keeps full precision for nanosecond values.
pub fn epoch_int_to_micros(n: i64) -> Option<EpochMicros> {
    if n < 0 {
        return None;
    }
    Some(if n < 100_000_000_000 {
        n.checked_mul(1_000_000)?
    } else if n < 100_000_000_000_000 {
        n * 1_000
    } else if n < 100_000_000_000_000_000 {
        n
    } else {
        n / 1_000
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_714_564_800_000_000; // 2024-05-01T12:00:00Z

    #[test]
    fn rfc3339_and_variants() {
        assert_eq!(parse_timestamp("2024-05-01T12:00:00Z"), Ok(T));
        assert_eq!(parse_timestamp("2024-05-01T14:00:00+02:00"), Ok(T));
        assert_eq!(parse_timestamp("2024-05-01 12:00:00.5"), Ok(T + 500_000));
        assert_eq!(parse_timestamp("2024-05-01T12:00:00.000001Z"), Ok(T + 1));
    }

    #[test]
    fn epoch_by_magnitude() {
        assert_eq!(epoch_int_to_micros(1_714_564_800), Some(T));
        assert_eq!(epoch_int_to_micros(1_714_564_800_000), Some(T));
        assert_eq!(epoch_int_to_micros(1_714_564_800_000_000), Some(T));
        assert_eq!(epoch_int_to_micros(1_714_564_800_000_000_123), Some(T));
        assert_eq!(epoch_to_micros(1_714_564_800.25), Some(T + 250_000));
        assert_eq!(parse_timestamp("1714564800000"), Ok(T));
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(
            parse_timestamp("yesterday"),
            Err(TimestampError::Unparseable(_))
        ));
        assert_eq!(epoch_to_micros(-5.0), None);
    }
}
