//! Normalisers: raw payloads → [`model::LogRecord`]s. One file per payload family; sources pick
//! the one that fits and hand the records to the pipeline.

pub mod json;
pub mod otlp;
