//! Sources: where logs enter. Each source decodes its transport, picks a normaliser and hands
//! records to the [`crate::pipeline::Pipeline`]; none of them writes to storage itself.

pub mod datadog;
pub mod firehose;
pub mod grpc;
pub mod http;
pub mod syslog;
pub mod tail;
