//! Normalisers: raw payloads → [`model::LogRecord`]s. One file per payload family; sources pick
//! the one that fits and hand the records to the pipeline. No IO, no async, no network types:
//! everything here is a function of its input, which is what the fuzz targets in `fuzz/`
//! exercise.

pub mod datadog;
pub mod firehose;
pub mod json;
pub mod multiline;
pub mod otlp;
pub mod syslog;
