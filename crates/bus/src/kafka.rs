//! rdkafka clients: the idempotent producer, the batch consumer and topic creation.
//!
//! Consumers are `BaseConsumer`s driven from blocking threads: dropping an rdkafka
//! `StreamConsumer` can hang indefinitely (rust-rdkafka #509), and a blocking poll loop is
//! also the simplest way to cut batches by size and linger.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message as _, Offset, TopicPartitionList};

use crate::BusError;

/// Where the brokers are and how the topics are named and created.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaConfig {
    /// `host:port[,host:port…]`.
    pub brokers: String,
    pub analyze_topic: String,
    pub insights_topic: String,
    /// Partitions of topics this process creates (the unit of parallelism of workers).
    pub partitions: i32,
    pub replication: i32,
    /// Create missing topics at start-up (needs the broker to allow it).
    pub create_topics: bool,
    /// How long the producer retries one message before reporting it undelivered.
    pub delivery_timeout: Duration,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: String::new(),
            analyze_topic: "logs.to.analyze".into(),
            insights_topic: "ai.insights.processed".into(),
            partitions: 3,
            replication: 1,
            create_topics: true,
            delivery_timeout: Duration::from_secs(15),
        }
    }
}

impl KafkaConfig {
    fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            // Fail fast on a broker that is down instead of librdkafka's long defaults.
            .set("socket.connection.setup.timeout.ms", "5000")
            .set("reconnect.backoff.max.ms", "2000");
        // librdkafka's own tracing (e.g. `cgrp,fetch`) for diagnosing group behaviour.
        if let Ok(contexts) = std::env::var("LOGINSIGHT_KAFKA_DEBUG") {
            c.set("debug", contexts);
        }
        c
    }
}

/// Checks that the brokers answer and, when allowed, creates the two topics. Errors say which
/// brokers could not be reached.
pub async fn check_and_create_topics(config: &KafkaConfig) -> Result<(), BusError> {
    let admin: AdminClient<DefaultClientContext> = config.client().create()?;
    let admin = Arc::new(admin);
    let probe = admin.clone();
    let brokers = config.brokers.clone();
    tokio::task::spawn_blocking(move || {
        probe
            .inner()
            .fetch_metadata(None, Duration::from_secs(10))
            .map(|_| ())
            .map_err(|e| BusError::Unreachable {
                brokers,
                reason: e.to_string(),
            })
    })
    .await
    .map_err(|e| BusError::Join(e.to_string()))??;
    if !config.create_topics {
        return Ok(());
    }
    let topics: Vec<NewTopic> = [&config.analyze_topic, &config.insights_topic]
        .into_iter()
        .map(|name| {
            NewTopic::new(
                name,
                config.partitions,
                TopicReplication::Fixed(config.replication),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&topics, &options).await? {
        match result {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(BusError::CreateTopic {
                    topic,
                    reason: code.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// An idempotent producer (`enable.idempotence`, `acks=all`): a message is reported delivered
/// only once every in-sync replica has it, and librdkafka's retries never duplicate it.
#[derive(Clone)]
pub struct Producer {
    inner: FutureProducer,
    timeout: Duration,
}

impl Producer {
    pub fn new(config: &KafkaConfig) -> Result<Producer, BusError> {
        let inner: FutureProducer = config
            .client()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set(
                "message.timeout.ms",
                config.delivery_timeout.as_millis().to_string(),
            )
            .create()?;
        Ok(Producer {
            inner,
            timeout: config.delivery_timeout,
        })
    }

    /// Sends every `(key, payload)` to `topic` and waits for each acknowledgement. The result
    /// has one entry per message, in order, so the caller can keep what was not delivered.
    pub async fn send_all(
        &self,
        topic: &str,
        messages: &[(String, Vec<u8>)],
    ) -> Vec<Result<(), BusError>> {
        let sends = messages.iter().map(|(key, payload)| {
            let record = FutureRecord::to(topic).key(key).payload(payload);
            async move {
                self.inner
                    .send(record, self.timeout)
                    .await
                    .map(|_| ())
                    .map_err(|(err, _)| BusError::Delivery {
                        topic: topic.to_string(),
                        reason: err.to_string(),
                    })
            }
        });
        futures::future::join_all(sends).await
    }
}

/// One consumed message.
#[derive(Debug, Clone)]
pub struct Message {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

/// A consumer-group member that reads in batches and commits only what it is told to.
pub struct BatchConsumer {
    inner: Arc<BaseConsumer>,
}

impl BatchConsumer {
    /// Joins `group` and subscribes to `topic`. A group without committed offsets starts at
    /// the earliest message, so nothing published before the first worker started is lost.
    pub fn new(config: &KafkaConfig, group: &str, topic: &str) -> Result<BatchConsumer, BusError> {
        let inner: BaseConsumer = config
            .client()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            .create()?;
        inner.subscribe(&[topic])?;
        Ok(BatchConsumer {
            inner: Arc::new(inner),
        })
    }

    /// Waits up to `linger` for messages and returns as soon as `max` arrived; an empty batch
    /// means nothing came within `linger`. The linger starts at the first message, so a lone
    /// message waits at most `linger` for company.
    pub async fn next_batch(&self, max: usize, linger: Duration) -> Result<Vec<Message>, BusError> {
        let consumer = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut batch = Vec::new();
            let mut deadline = Instant::now() + linger;
            while batch.len() < max {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                let wait = (deadline - now).min(Duration::from_millis(200));
                match consumer.poll(wait) {
                    None => {}
                    Some(Err(err)) => {
                        // Broker-side hiccups (a partition moving, a broker restarting) are
                        // reported here and retried by librdkafka itself.
                        tracing::warn!(error = %err, "kafka consumer error");
                        if batch.is_empty() {
                            continue;
                        }
                    }
                    Some(Ok(m)) => {
                        if batch.is_empty() {
                            deadline = Instant::now() + linger;
                        }
                        batch.push(Message {
                            topic: m.topic().to_string(),
                            partition: m.partition(),
                            offset: m.offset(),
                            key: m.key().map(<[u8]>::to_vec),
                            payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                        });
                    }
                }
            }
            Ok(batch)
        })
        .await
        .map_err(|e| BusError::Join(e.to_string()))?
    }

    /// Commits the offsets after `messages` (synchronously): call it only once they are
    /// durably handled.
    pub async fn commit(&self, messages: &[Message]) -> Result<(), BusError> {
        let mut next: std::collections::HashMap<(&str, i32), i64> = Default::default();
        for m in messages {
            let e = next.entry((m.topic.as_str(), m.partition)).or_insert(0);
            *e = (*e).max(m.offset + 1);
        }
        if next.is_empty() {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        for ((topic, partition), offset) in next {
            list.add_partition_offset(topic, partition, Offset::Offset(offset))?;
        }
        let consumer = self.inner.clone();
        tokio::task::spawn_blocking(move || consumer.commit(&list, CommitMode::Sync))
            .await
            .map_err(|e| BusError::Join(e.to_string()))??;
        Ok(())
    }

    /// Leaves the group, waiting at most `timeout` (closing can block on the broker).
    pub async fn close(self, timeout: Duration) {
        let consumer = self.inner;
        let closing = tokio::task::spawn_blocking(move || {
            consumer.unsubscribe();
            drop(consumer);
        });
        if tokio::time::timeout(timeout, closing).await.is_err() {
            tracing::warn!("the Kafka consumer did not close in time; leaving it behind");
        }
    }
}
