//! Ship `tracing` events to Log Insight: a [`tracing_subscriber::Layer`] that turns each event
//! into a `loginsight.v1.LogEntry` and a background task that sends them in batches over gRPC
//! (`LogService/Push`).
//!
//! Memory is bounded: events wait in a queue of `capacity` entries; when it is full (the server
//! is slow or unreachable) new events are dropped and counted, never blocking the application.
//! A batch the server refuses or that cannot be delivered after `retries` attempts is dropped
//! and counted too. [`Shipper::dropped`] reports the count; [`Shipper::shutdown`] sends what is
//! queued and stops.
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//! # async fn run() {
//! let (layer, shipper) = loginsight_sdk::layer(loginsight_sdk::Config::new("http://127.0.0.1:4317", "checkout"));
//! tracing_subscriber::registry().with(layer).init();
//! tracing::error!(order = 42, "payment failed");
//! shipper.shutdown().await;
//! # }
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use loginsight_proto::v1::log_service_client::LogServiceClient;
use loginsight_proto::v1::{LogBatch, LogEntry};
use tokio::sync::{mpsc, oneshot};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

/// Where and how to ship.
#[derive(Debug, Clone)]
pub struct Config {
    /// gRPC endpoint, e.g. `http://127.0.0.1:4317`.
    pub endpoint: String,
    pub service: String,
    pub host: String,
    /// Events queued at most; more are dropped and counted.
    pub capacity: usize,
    /// Entries per push.
    pub batch: usize,
    /// How long a partial batch waits.
    pub flush_every: Duration,
    /// Attempts per batch after the first.
    pub retries: u32,
    /// Bearer token sent as `authorization` metadata, when the server has `--ingest-tokens`.
    pub token: Option<String>,
}

impl Config {
    pub fn new(endpoint: impl Into<String>, service: impl Into<String>) -> Config {
        Config {
            endpoint: endpoint.into(),
            service: service.into(),
            host: std::env::var("HOSTNAME").unwrap_or_default(),
            capacity: 10_000,
            batch: 500,
            flush_every: Duration::from_millis(500),
            retries: 2,
            token: None,
        }
    }
}

/// The layer: formats events and queues them without waiting.
pub struct LoginsightLayer {
    tx: mpsc::Sender<LogEntry>,
    dropped: Arc<AtomicU64>,
    service: String,
    host: String,
}

/// The background sender's handle.
pub struct Shipper {
    dropped: Arc<AtomicU64>,
    sent: Arc<AtomicU64>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Shipper {
    /// Events dropped so far (queue full, or their batch undeliverable).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Events the server acknowledged so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Sends what is queued (best effort), stops the task, and returns (sent, dropped).
    pub async fn shutdown(mut self) -> (u64, u64) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
        (self.sent(), self.dropped())
    }
}

/// Builds the layer and starts its sender on the current Tokio runtime.
pub fn layer(config: Config) -> (LoginsightLayer, Shipper) {
    let (tx, rx) = mpsc::channel(config.capacity.max(1));
    let dropped = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(ship(
        config.clone(),
        rx,
        stop_rx,
        dropped.clone(),
        sent.clone(),
    ));
    (
        LoginsightLayer {
            tx,
            dropped: dropped.clone(),
            service: config.service,
            host: config.host,
        },
        Shipper {
            dropped,
            sent,
            stop: Some(stop_tx),
            task,
        },
    )
}

/// Events of the shipping machinery itself would feed back into the queue.
fn is_own(target: &str) -> bool {
    ["loginsight_sdk", "tonic", "hyper", "h2", "tower", "rustls"]
        .iter()
        .any(|p| target.starts_with(p))
}

#[derive(Default)]
struct Fields {
    message: String,
    attributes: HashMap<String, String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.attributes
                .insert(field.name().to_string(), value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.attributes
                .insert(field.name().to_string(), format!("{value:?}"));
        }
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => "INFO",
        Level::WARN => "WARN",
        Level::ERROR => "ERROR",
    }
}

impl<S: Subscriber> Layer<S> for LoginsightLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if is_own(meta.target()) {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        fields
            .attributes
            .insert("target".into(), meta.target().to_string());
        let time_unix_nano = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        let trace_id = fields.attributes.remove("trace_id").unwrap_or_default();
        let entry = LogEntry {
            time_unix_nano,
            level: level_name(meta.level()).into(),
            service: self.service.clone(),
            host: self.host.clone(),
            message: fields.message,
            trace_id,
            attributes: fields.attributes,
        };
        if self.tx.try_send(entry).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn ship(
    config: Config,
    mut rx: mpsc::Receiver<LogEntry>,
    mut stop: oneshot::Receiver<()>,
    dropped: Arc<AtomicU64>,
    sent: Arc<AtomicU64>,
) {
    let mut client: Option<LogServiceClient<tonic::transport::Channel>> = None;
    let mut pending: Vec<LogEntry> = Vec::with_capacity(config.batch);
    let mut stopping = false;
    loop {
        if !stopping {
            tokio::select! {
                entry = rx.recv() => match entry {
                    Some(e) => {
                        pending.push(e);
                        if pending.len() < config.batch {
                            continue;
                        }
                    }
                    None => stopping = true,
                },
                _ = tokio::time::sleep(config.flush_every), if !pending.is_empty() => {}
                _ = &mut stop => stopping = true,
            }
        }
        if stopping {
            while pending.len() < config.batch {
                match rx.try_recv() {
                    Ok(e) => pending.push(e),
                    Err(_) => break,
                }
            }
        }
        if !pending.is_empty() {
            let batch = std::mem::take(&mut pending);
            let n = batch.len() as u64;
            if push(&config, &mut client, batch).await {
                sent.fetch_add(n, Ordering::Relaxed);
            } else {
                dropped.fetch_add(n, Ordering::Relaxed);
            }
        }
        if stopping && rx.is_empty() {
            return;
        }
    }
}

/// One batch, with retries; whether the server took it.
async fn push(
    config: &Config,
    client: &mut Option<LogServiceClient<tonic::transport::Channel>>,
    entries: Vec<LogEntry>,
) -> bool {
    let batch = LogBatch { entries };
    for attempt in 0..=config.retries {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 << attempt.min(5))).await;
        }
        if client.is_none() {
            let connect = tonic::transport::Endpoint::from_shared(config.endpoint.clone())
                .map(|e| e.connect_timeout(Duration::from_secs(2)));
            match connect {
                Ok(endpoint) => match endpoint.connect().await {
                    Ok(channel) => *client = Some(LogServiceClient::new(channel)),
                    Err(_) => continue,
                },
                Err(_) => return false,
            }
        }
        let Some(c) = client.as_mut() else { continue };
        let mut request = tonic::Request::new(batch.clone());
        if let Some(token) = &config.token {
            match format!("Bearer {token}").parse() {
                Ok(value) => {
                    request.metadata_mut().insert("authorization", value);
                }
                // Not a valid header value: no retry can fix it.
                Err(_) => return false,
            }
        }
        match c.push(request).await {
            Ok(_) => return true,
            // The server read the batch and refused it (or us): sending it again cannot help.
            Err(status)
                if matches!(
                    status.code(),
                    tonic::Code::InvalidArgument
                        | tonic::Code::Unauthenticated
                        | tonic::Code::PermissionDenied
                        | tonic::Code::Unimplemented
                ) =>
            {
                return false;
            }
            Err(_) => *client = None,
        }
    }
    false
}
