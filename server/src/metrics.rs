//! `/metrics`: the server's counters in the Prometheus text format (`prometheus-client`).
//! Everything that can silently pile up (the analysis queue or Kafka spool) is visible here.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Every metric the server exports; cheap to clone (the metrics are shared handles).
#[derive(Clone)]
pub struct Metrics {
    registry: std::sync::Arc<Registry>,
    /// Records committed to `logs`.
    pub ingested: Counter,
    /// Records routed to analysis (queued with their commit).
    pub routed: Counter,
    /// Events waiting in the analysis queue (embedded) or the Kafka spool; set when scraped.
    pub backlog: Gauge,
    /// Events handed to Kafka and acknowledged by it.
    pub published: Counter,
    /// Failed deliveries to Kafka (each is retried from the spool).
    pub publish_failures: Counter,
    /// Events newly counted by an insight.
    pub insight_events: Counter,
    /// Insight rows written.
    pub insights_written: Counter,
    /// Insight updates that were redeliveries and changed nothing.
    pub insight_duplicates: Counter,
    /// Bus messages that could not be decoded and were skipped.
    pub malformed_messages: Counter,
    /// Model calls made by analyses whose results were stored.
    pub model_calls: Counter,
    /// Tokens (prompt + completion) those calls used.
    pub model_tokens: Counter,
    /// Requests per source (`http`, `datadog`, `otlp`, `grpc`, …) and outcome (`accepted`,
    /// `rejected`).
    pub source_requests: Family<Vec<(&'static str, &'static str)>, Counter>,
    /// Records committed per source (every source, including syslog and the file tail).
    pub source_records: Family<Vec<(&'static str, String)>, Counter>,
    /// Requests refused because bodies filled `max_body_memory`, or records waiting for the
    /// store filled `max_pending_bytes`.
    pub overloaded: Counter,
    /// Bytes of records admitted and not yet committed (set when scraped).
    pub pending_bytes: Gauge,
    /// Syslog datagrams dropped because the store was behind (UDP cannot be slowed down).
    pub syslog_udp_dropped: Counter,
    /// CPU-bound time spent per ingest stage (`parse`, `mine`, `route`, `commit`), in seconds:
    /// divided by `ingested_records` it is the cost of a line in each stage.
    pub stage_seconds: Family<Vec<(&'static str, &'static str)>, Counter<f64, AtomicU64>>,
    /// Requests refused because the data directory's disk was full.
    pub disk_full: Counter,
    /// Rows removed by retention, per table (`logs`, `stats`, `patterns`, `insights`).
    pub retention_deleted: Family<Vec<(&'static str, &'static str)>, Counter>,
    /// Retention passes run, and those that failed.
    pub retention_passes: Counter,
    pub retention_failures: Counter,
    /// Incident tracker passes, failed passes, and incident changes by kind.
    pub incident_passes: Counter,
    pub incident_failures: Counter,
    pub incident_changes: Family<Vec<(&'static str, &'static str)>, Counter>,
    /// Notifications delivered, and attempts that failed, per notifier.
    pub notifications_sent: Family<Vec<(&'static str, String)>, Counter>,
    pub notifications_failed: Family<Vec<(&'static str, String)>, Counter>,
    /// The database file and its write-ahead log, and the part of it holding data; set by
    /// each retention pass and when scraped.
    pub db_file_bytes: Gauge,
    pub db_used_bytes: Gauge,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("loginsight");
        let mut counter = |name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let ingested = counter("ingested_records", "Records committed to logs");
        let routed = counter("routed_records", "Records routed to analysis");
        let published = counter("bus_published_events", "Events acknowledged by Kafka");
        let publish_failures = counter(
            "bus_publish_failures",
            "Deliveries to Kafka that failed and stay spooled for a retry",
        );
        let insight_events = counter("insight_events", "Events newly counted by an insight");
        let insights_written = counter("insights_written", "Insight rows inserted or updated");
        let insight_duplicates = counter(
            "insight_duplicate_updates",
            "Insight updates that were redeliveries and changed nothing",
        );
        let malformed_messages = counter(
            "bus_malformed_messages",
            "Bus messages that could not be decoded and were skipped",
        );
        let model_calls = counter(
            "model_calls",
            "Model calls made by analyses whose results were stored",
        );
        let model_tokens = counter(
            "model_tokens",
            "Tokens (prompt + completion) of those calls",
        );
        let syslog_udp_dropped = counter(
            "syslog_udp_dropped",
            "Syslog UDP datagrams dropped because ingest was behind",
        );
        let disk_full = counter(
            "disk_full_requests",
            "Ingest requests refused (503 / UNAVAILABLE) because the disk was full",
        );
        let retention_passes = counter(
            "retention_passes",
            "Retention passes completed (failed or not)",
        );
        let retention_failures = counter(
            "retention_failures",
            "Retention passes that failed (retried at the next interval)",
        );
        let incident_passes = counter(
            "incident_passes",
            "Incident tracker passes completed (failed or not)",
        );
        let incident_failures = counter(
            "incident_failures",
            "Incident tracker passes that failed (retried at the next interval)",
        );
        let incident_changes = Family::<Vec<(&'static str, &'static str)>, Counter>::default();
        registry.register(
            "incident_changes",
            "Incidents opened, changed, whose severity rose, or resolved",
            incident_changes.clone(),
        );
        let notifications_sent = Family::<Vec<(&'static str, String)>, Counter>::default();
        registry.register(
            "notifications_sent",
            "Notifications delivered (2xx), per notifier",
            notifications_sent.clone(),
        );
        let notifications_failed = Family::<Vec<(&'static str, String)>, Counter>::default();
        registry.register(
            "notifications_failed",
            "Notification attempts that failed (retried on 429/5xx/no answer), per notifier",
            notifications_failed.clone(),
        );
        let source_requests = Family::<Vec<(&'static str, &'static str)>, Counter>::default();
        registry.register(
            "source_requests",
            "Ingest requests per source and outcome (accepted or rejected)",
            source_requests.clone(),
        );
        let source_records = Family::<Vec<(&'static str, String)>, Counter>::default();
        registry.register(
            "source_records",
            "Records committed per source",
            source_records.clone(),
        );
        let overloaded = Counter::default();
        registry.register(
            "overloaded_requests",
            "Ingest requests refused (503 / RESOURCE_EXHAUSTED): request bodies or records waiting for the store filled their budget",
            overloaded.clone(),
        );
        let pending_bytes = Gauge::default();
        registry.register(
            "pending_bytes",
            "Bytes of records admitted and waiting for their commit",
            pending_bytes.clone(),
        );
        let stage_seconds =
            Family::<Vec<(&'static str, &'static str)>, Counter<f64, AtomicU64>>::default();
        registry.register(
            "stage_seconds",
            "Time spent per ingest stage (parse, mine, route, commit)",
            stage_seconds.clone(),
        );
        let retention_deleted = Family::<Vec<(&'static str, &'static str)>, Counter>::default();
        registry.register(
            "retention_deleted_rows",
            "Rows removed by retention, per table",
            retention_deleted.clone(),
        );
        let db_file_bytes = Gauge::default();
        registry.register(
            "db_file_bytes",
            "Size of the DuckDB file and its write-ahead log",
            db_file_bytes.clone(),
        );
        let db_used_bytes = Gauge::default();
        registry.register(
            "db_used_bytes",
            "Bytes of the DuckDB file holding data (the rest are free blocks, reused)",
            db_used_bytes.clone(),
        );
        let backlog = Gauge::default();
        registry.register(
            "analysis_backlog",
            "Events waiting in the analysis queue (embedded) or the Kafka spool",
            backlog.clone(),
        );
        Metrics {
            registry: std::sync::Arc::new(registry),
            ingested,
            routed,
            backlog,
            published,
            publish_failures,
            insight_events,
            insights_written,
            insight_duplicates,
            malformed_messages,
            model_calls,
            model_tokens,
            source_requests,
            source_records,
            overloaded,
            pending_bytes,
            syslog_udp_dropped,
            stage_seconds,
            disk_full,
            retention_deleted,
            retention_passes,
            retention_failures,
            incident_passes,
            incident_failures,
            incident_changes,
            notifications_sent,
            notifications_failed,
            db_file_bytes,
            db_used_bytes,
        }
    }

    /// Adds `elapsed` to the time spent in ingest stage `stage`.
    pub fn record_stage(&self, stage: &'static str, elapsed: std::time::Duration) {
        self.stage_seconds
            .get_or_create(&vec![("stage", stage)])
            .inc_by(elapsed.as_secs_f64());
    }

    /// Counts one request of `source`: accepted when it was answered with success.
    pub fn record_request(&self, source: &'static str, accepted: bool) {
        let outcome = if accepted { "accepted" } else { "rejected" };
        self.source_requests
            .get_or_create(&vec![("source", source), ("outcome", outcome)])
            .inc();
    }

    /// What the analyses behind `updates` cost (counted once per analysis, when stored).
    pub fn record_cost(&self, (calls, tokens): (u64, u64)) {
        self.model_calls.inc_by(calls);
        self.model_tokens.inc_by(tokens);
    }

    /// The calls and tokens carried by `updates`.
    pub fn cost(updates: &[model::InsightUpdate]) -> (u64, u64) {
        updates
            .iter()
            .fold((0, 0), |(c, t), u| (c + u.calls, t + u.tokens))
    }

    pub fn record_applied(&self, applied: model::Applied) {
        self.insight_events.inc_by(applied.new_events);
        self.insights_written.inc_by(applied.insights_written);
        self.insight_duplicates.inc_by(applied.duplicates);
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
