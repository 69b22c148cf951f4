//! The Kafka side of the event bus: the only crate that names `rdkafka`.
//!
//! Two topics carry the analysis path: `logs.to.analyze` (one [`model::ErrorEvent`] per
//! message, keyed by service so one service's errors stay in order) and
//! `ai.insights.processed` (one [`model::InsightUpdate`] per message). [`envelope`] is their
//! versioned JSON encoding. [`Producer`] is idempotent with `acks=all`; [`BatchConsumer`] reads
//! in batches within a consumer group and commits offsets only when told to, after the caller
//! has durably handled the batch.
//!
//! The embedded queue (no brokers configured) is not here: it is a table in the store.

pub mod envelope;
mod kafka;

pub use kafka::{BatchConsumer, KafkaConfig, Message, Producer, check_and_create_topics};

/// What can go wrong on the bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot reach Kafka at {brokers}: {reason}")]
    Unreachable { brokers: String, reason: String },
    #[error("cannot create topic {topic}: {reason}")]
    CreateTopic { topic: String, reason: String },
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("delivery to {topic} failed: {reason}")]
    Delivery { topic: String, reason: String },
    #[error("invalid message envelope: {0}")]
    Envelope(String),
    #[error("the Kafka client thread stopped: {0}")]
    Join(String),
}
