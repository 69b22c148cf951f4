//! A JSON log object as a list of named fields, and the rules that turn it into a record.
//!
//! The fast path deserializes an NDJSON line straight into [`Entry`]s whose names and string
//! values borrow from the request body (serde's borrowed strings: no `serde_json::Value` per
//! line, no copy of text until it reaches the Arrow builders). Any other object, or a line the
//! fast path cannot take as it is (a repeated field name), is parsed into a `Value` first and
//! converted, so both paths apply one set of rules and give the same record.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use model::{Level, parse_timestamp};
use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Field names (lower-case) that fill each column, best first.
const TIMESTAMP_KEYS: &[&str] = &["timestamp", "ts", "time", "@timestamp", "date", "datetime"];
const LEVEL_KEYS: &[&str] = &[
    "level",
    "severity",
    "status",
    "loglevel",
    "log_level",
    "lvl",
];
const SERVICE_KEYS: &[&str] = &[
    "service",
    "service.name",
    "service_name",
    "app",
    "application",
];
const HOST_KEYS: &[&str] = &["host", "hostname", "host.name"];
const MESSAGE_KEYS: &[&str] = &["message", "msg", "log"];
const TRACE_KEYS: &[&str] = &["trace_id", "traceid", "trace.id", "dd.trace_id"];

/// Service name of records that carry none.
pub const UNKNOWN_SERVICE: &str = "unknown";

/// A field's value: text (borrowed from the body when it has no escapes), or any other JSON.
#[derive(Debug)]
pub enum Field<'a> {
    Text(Cow<'a, str>),
    Other(Value),
}

impl Field<'_> {
    fn from_value(value: Value) -> Field<'static> {
        match value {
            Value::String(s) => Field::Text(Cow::Owned(s)),
            other => Field::Other(other),
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Field::Text(s) => Value::String(s.to_string()),
            Field::Other(v) => v.clone(),
        }
    }
}

/// One field of a log object; `taken` once a column has used it.
#[derive(Debug)]
pub struct Entry<'a> {
    key: Cow<'a, str>,
    value: Field<'a>,
    taken: Cell<bool>,
}

/// What one object becomes; text borrows from its entries where it can.
#[derive(Debug)]
pub struct Parts<'e> {
    pub ts: Option<i64>,
    pub level: Cow<'e, str>,
    pub service: Cow<'e, str>,
    pub host: Option<Cow<'e, str>>,
    pub message: Cow<'e, str>,
    pub trace_id: Option<Cow<'e, str>>,
    /// JSON object text of every field no column took.
    pub attributes: Option<String>,
}

/// The fields of an object that was parsed as a `Value`, in its map's order (by name).
pub fn entries_of(map: Map<String, Value>) -> Vec<Entry<'static>> {
    map.into_iter()
        .map(|(key, value)| Entry {
            key: Cow::Owned(key),
            value: Field::from_value(value),
            taken: Cell::new(false),
        })
        .collect()
}

/// Deserializes one JSON object into `out` (cleared first), borrowing from `text`. `false`
/// when `text` is not one object, or when the fast path cannot take it as it is (a field name
/// repeated): the caller then parses it as a `Value`, which also gives the exact error.
pub fn borrowed_entries<'a>(text: &'a [u8], out: &mut Vec<Entry<'a>>) -> bool {
    out.clear();
    let mut de = serde_json::Deserializer::from_slice(text);
    if EntriesSeed(out).deserialize(&mut de).is_err() || de.end().is_err() {
        return false;
    }
    // A `Value` map orders its fields by name; ties between spellings of one column are
    // settled in that order, so the fast path sorts the same way.
    out.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    // A repeated name: a `Value` map keeps the last value; leave that to the general path.
    !out.windows(2).any(|w| w[0].key == w[1].key)
}

/// Applies the column rules to the fields of one object.
pub fn to_parts<'e>(entries: &'e [Entry<'_>]) -> Result<Parts<'e>, String> {
    let mut ts_error = None;
    let ts = take(entries, TIMESTAMP_KEYS, |key, v| {
        let parsed = match v {
            Field::Text(s) => parse_timestamp(s).map_err(|e| e.to_string()),
            Field::Other(Value::Number(n)) => n
                .as_i64()
                .and_then(model::epoch_int_to_micros)
                .or_else(|| n.as_f64().and_then(model::epoch_to_micros))
                .ok_or_else(|| format!("epoch value {n} is out of range")),
            _ => Err("expected a string or a number".to_string()),
        };
        match parsed {
            Ok(ts) => Some(ts),
            Err(e) => {
                ts_error.get_or_insert(format!("field {key:?}: {e}"));
                None
            }
        }
    });
    if let Some(err) = ts_error
        && ts.is_none()
    {
        return Err(err);
    }
    let level = take(entries, LEVEL_KEYS, level_value);
    let service = take(entries, SERVICE_KEYS, text_value);
    let host = take(entries, HOST_KEYS, text_value);
    let trace_id = take(entries, TRACE_KEYS, text_value);
    let message = take(entries, MESSAGE_KEYS, |_, v| {
        Some(match v {
            Field::Text(s) => Cow::Borrowed(&**s),
            Field::Other(other) => Cow::Owned(other.to_string()),
        })
    });
    let rest = || -> Map<String, Value> {
        entries
            .iter()
            .filter(|e| !e.taken.get())
            .map(|e| (e.key.to_string(), e.value.to_value()))
            .collect()
    };
    let message = match message {
        Some(m) => m,
        // No message field: the remaining object is the message, so it stays searchable.
        None => Cow::Owned(Value::Object(rest()).to_string()),
    };
    let level = level
        .unwrap_or_else(|| Cow::Borrowed(Level::infer(&message).unwrap_or(Level::Info).as_str()));
    let attributes = entries
        .iter()
        .any(|e| !e.taken.get())
        .then(|| Value::Object(rest()).to_string());
    Ok(Parts {
        ts,
        level,
        service: service.unwrap_or(Cow::Borrowed(UNKNOWN_SERVICE)),
        host,
        message,
        trace_id,
        attributes,
    })
}

/// Takes the best-ranked field among `keys` (names matched case-insensitively; ties go to the
/// first by name), and only if `accept` takes its value.
fn take<'e, T>(
    entries: &'e [Entry<'_>],
    keys: &[&'static str],
    mut accept: impl FnMut(&'static str, &'e Field<'_>) -> Option<T>,
) -> Option<T> {
    let mut best: Option<(usize, usize, T)> = None;
    for (i, entry) in entries.iter().enumerate() {
        if entry.taken.get() {
            continue;
        }
        let Some(rank) = keys.iter().position(|k| entry.key.eq_ignore_ascii_case(k)) else {
            continue;
        };
        if best.as_ref().is_some_and(|(r, _, _)| *r <= rank) {
            continue;
        }
        if let Some(v) = accept(keys[rank], &entry.value) {
            best = Some((rank, i, v));
        }
    }
    let (_, i, value) = best?;
    entries[i].taken.set(true);
    Some(value)
}

fn text_value<'e>(_: &str, value: &'e Field<'_>) -> Option<Cow<'e, str>> {
    match value {
        Field::Text(s) => Some(Cow::Borrowed(&**s)),
        Field::Other(Value::Number(n)) => Some(Cow::Owned(n.to_string())),
        Field::Other(_) => None,
    }
}

fn level_value<'e>(key: &str, value: &'e Field<'_>) -> Option<Cow<'e, str>> {
    match value {
        Field::Text(s) => match Level::parse(s) {
            Some(level) => Some(Cow::Borrowed(level.as_str())),
            // HTTP logs use `status` for "200"/"active": only a real level name counts there.
            None if key == "status" || s.trim().is_empty() => None,
            None => Some(Cow::Owned(
                s.trim().chars().take(32).collect::<String>().to_uppercase(),
            )),
        },
        Field::Other(Value::Number(n)) if key != "status" => n
            .as_f64()
            .and_then(Level::from_number)
            .map(|l| Cow::Borrowed(l.as_str())),
        Field::Other(_) => None,
    }
}

/// Deserializes an object's fields into a vector, names and string values borrowed.
struct EntriesSeed<'a, 'v>(&'v mut Vec<Entry<'a>>);

impl<'de> DeserializeSeed<'de> for EntriesSeed<'de, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'de, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Name(key)) = map.next_key()? {
            let value = map.next_value()?;
            self.0.push(Entry {
                key,
                value,
                taken: Cell::new(false),
            });
        }
        Ok(())
    }
}

/// A field name, borrowed when it has no escapes.
struct Name<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Field<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Field<'de>, E> {
                Ok(Field::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Field<'de>, E> {
                Ok(Field::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Field<'de>, E> {
                Ok(Field::Text(Cow::Owned(v)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Field<'de>, E> {
                Ok(Field::Other(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Field<'de>, E> {
                Ok(Field::Other(Value::Number(v.into())))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Field<'de>, E> {
                Ok(Field::Other(Value::Number(v.into())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Field<'de>, E> {
                // As `serde_json::Value` does: JSON has no NaN or infinity to carry.
                Ok(Field::Other(
                    Number::from_f64(v).map_or(Value::Null, Value::Number),
                ))
            }
            fn visit_unit<E>(self) -> Result<Field<'de>, E> {
                Ok(Field::Other(Value::Null))
            }
            fn visit_none<E>(self) -> Result<Field<'de>, E> {
                Ok(Field::Other(Value::Null))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Field<'de>, A::Error> {
                Value::deserialize(MapAccessDeserializer::new(map)).map(Field::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Field<'de>, A::Error> {
                Value::deserialize(SeqAccessDeserializer::new(seq)).map(Field::Other)
            }
        }
        deserializer.deserialize_any(V)
    }
}
