//! Configuration of `loginsight serve`: one struct, read from a TOML file, overridden by
//! environment variables and flags (flags > env > file > defaults).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// Everything `serve` needs. Every field is documented in `config/loginsight.example.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// Directory holding the DuckDB database file (`loginsight.duckdb`).
    pub data_dir: PathBuf,
    /// Address of the HTTP ingest endpoint.
    pub http_addr: SocketAddr,
    /// Address of the Postgres-wire SQL endpoint.
    pub pg_addr: SocketAddr,
    /// Address of the gRPC endpoint (loginsight.v1 and OTLP logs).
    pub grpc_addr: SocketAddr,
    /// Largest accepted request body in bytes, before and after decompression.
    pub max_body_bytes: usize,
    /// Most rows written in one group commit; concurrent requests are merged up to this size.
    pub max_commit_rows: usize,
    /// Most bytes of parsed records waiting for their commit, over every source; a request
    /// beyond it waits up to `admit_wait_ms`, then is refused (HTTP 503 with `Retry-After`,
    /// gRPC `RESOURCE_EXHAUSTED`). Bounds the pipeline's memory when senders outrun the store.
    pub max_pending_bytes: usize,
    /// How long a request may wait for room under `max_pending_bytes`, in milliseconds.
    pub admit_wait_ms: u64,
    /// Most bytes of request bodies held at once, over every connection, HTTP and gRPC
    /// together, while a request is read, parsed and committed. HTTP counts `Content-Length`
    /// (a body without one counts as `max_body_bytes`), gRPC each message's declared length.
    /// A request beyond it waits up to `admit_wait_ms`, then is refused (503,
    /// `RESOURCE_EXHAUSTED`): senders on many connections cannot fill the memory with bodies.
    pub max_body_memory: usize,
    /// DuckDB's own limits.
    pub store: StoreConfig,
    /// `logs` rows older than this, by `ts`, are removed: `"30d"`, `"12h"`, `"90m"`, `"3600s"`.
    /// Empty: kept forever.
    pub retention: String,
    /// The database's disk budget (`"20GiB"`, `"500MB"`): the oldest `logs` rows are removed
    /// while the data is larger. Empty: no budget.
    pub max_disk: String,
    /// How long `stats` minutes are kept. Empty: 400 days once `retention` or `max_disk` is
    /// set, forever otherwise.
    pub stats_retention: String,
    /// How long an insight is kept after it was last seen (in DuckDB or PostgreSQL). Empty:
    /// as `retention`.
    pub insights_retention: String,
    /// How often retention runs.
    pub retention_interval: String,
    /// Mine every message into a pattern (`logs.pattern_id`, the `patterns` table).
    pub mine_patterns: bool,
    /// Where insights are stored: empty for the DuckDB file, or a `postgres://` URL.
    pub insights_url: String,
    /// Which records go to analysis.
    pub routing: RoutingConfig,
    /// The event bus: embedded queue, or Kafka when `brokers` is set.
    pub bus: BusConfig,
    /// How the analysis worker (in-process in embedded mode) cuts batches.
    pub worker: WorkerConfig,
    /// Who explains errors: the builtin analyst or an OpenAI-compatible model.
    pub analyst: AnalystConfig,
    /// Credentials of the vendor-protocol sources, and the syslog listeners.
    pub sources: SourcesConfig,
    /// Who may use the SQL endpoint, TLS, and its limits.
    pub sql: SqlConfig,
    /// `[incidents]`: grouping related error patterns into incidents.
    pub incidents: crate::incidents::IncidentsConfig,
    /// `[[alerts]]`: alert rules.
    pub alerts: Vec<crate::alerts::AlertRule>,
    /// `[[notifiers]]`: where notifications go.
    pub notifiers: Vec<crate::notify::NotifierConfig>,
    /// `[notify]`: incident notifications and what every notification shares.
    pub notify: crate::notify::NotifyConfig,
}

/// DuckDB's memory and threads: explicit, so that the store fits a small machine beside the
/// rest of the server (DuckDB's own default is 80% of the machine's memory).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// DuckDB's `memory_limit` (e.g. `"512MB"`, `"2GB"`): its buffer pool and query memory.
    pub memory_limit: String,
    /// DuckDB's worker threads; 0: one per core.
    pub threads: usize,
    /// DuckDB's `wal_autocheckpoint`: how much its write-ahead log grows before a commit
    /// checkpoints it (compresses the new rows into the file). Larger means fewer, larger
    /// checkpoints: at DuckDB's 16 MB an ingest at full speed checkpoints every few commits.
    pub wal_autocheckpoint: String,
    /// Free space kept on the data directory's file system (`"256MiB"`): a commit that finds
    /// less is refused (HTTP 503, gRPC `UNAVAILABLE`) with nothing stored, and ingest resumes
    /// by itself once there is room. At least `wal_autocheckpoint`, so that a checkpoint never
    /// finds the disk full. `"0"`: no reserve.
    pub min_free_disk: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            memory_limit: "192MB".into(),
            threads: 0,
            wal_autocheckpoint: "128MB".into(),
            min_free_disk: "256MiB".into(),
        }
    }
}

impl StoreConfig {
    pub fn options(&self) -> store::StoreOptions {
        store::StoreOptions {
            memory_limit: Some(self.memory_limit.clone()),
            threads: (self.threads > 0).then_some(self.threads),
            wal_autocheckpoint: Some(self.wal_autocheckpoint.clone()),
            min_free_bytes: match size_of(&self.min_free_disk) {
                Ok(0) | Err(_) => None,
                Ok(n) => Some(n),
            },
        }
    }
}

/// A size such as `"20GiB"`, `"500MB"` or `"1048576"`.
fn size_of(value: &str) -> Result<u64, String> {
    value
        .trim()
        .parse::<bytesize::ByteSize>()
        .map(|s| s.as_u64())
}

/// The SQL endpoint's users, TLS and limits. Without users it accepts loopback peers only,
/// and refuses to listen on another address.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqlConfig {
    /// `name:SCRAM-SHA-256$4096:…` entries made by `loginsight hash-password`.
    pub users: Vec<String>,
    /// Password of the user `loginsight`, hashed at start; better given as
    /// LOGINSIGHT_SQL_PASSWORD than written here.
    pub password: String,
    /// PEM certificate chain and private key; both set: TLS (`sslmode=require`) is offered.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Most open connections; 0 = unlimited.
    pub max_connections: usize,
    /// Longest a statement may run, in seconds; 0 = unlimited.
    pub statement_timeout_secs: u64,
}

impl Default for SqlConfig {
    fn default() -> Self {
        SqlConfig {
            users: Vec::new(),
            password: String::new(),
            tls_cert: None,
            tls_key: None,
            max_connections: 100,
            statement_timeout_secs: 300,
        }
    }
}

// Passwords and secrets never reach a log line through `{:?}`.
impl std::fmt::Debug for SqlConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlConfig")
            .field(
                "users",
                &self
                    .users
                    .iter()
                    .map(|u| u.split(':').next().unwrap_or_default())
                    .collect::<Vec<_>>(),
            )
            .field("password", &(!self.password.is_empty()).then_some("<set>"))
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("max_connections", &self.max_connections)
            .field("statement_timeout_secs", &self.statement_timeout_secs)
            .finish()
    }
}

impl SqlConfig {
    /// The endpoint's access settings: configured users, plus `extra` (the server's own
    /// connections use one of those).
    pub fn access(&self, extra: Option<sql::User>) -> anyhow::Result<sql::Access> {
        let mut users = Vec::new();
        for entry in &self.users {
            let (name, secret) = entry.split_once(':').ok_or_else(|| {
                anyhow::anyhow!("sql.users: an entry must be name:SCRAM-SHA-256$…")
            })?;
            users.push(sql::User::with_secret(name, secret)?);
        }
        if !self.password.is_empty() {
            users.push(sql::User::with_password("loginsight", &self.password));
        }
        let configured = !users.is_empty();
        if configured {
            users.extend(extra);
        }
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(sql::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            (None, None) => None,
            _ => bail!("sql.tls_cert and sql.tls_key go together: set both or neither"),
        };
        Ok(sql::Access {
            users,
            tls,
            max_connections: self.max_connections,
            statement_timeout: (self.statement_timeout_secs > 0)
                .then(|| std::time::Duration::from_secs(self.statement_timeout_secs)),
        })
    }

    pub fn has_users(&self) -> bool {
        !self.users.is_empty() || !self.password.is_empty()
    }
}

/// Keys the Datadog and Firehose routes accept; an empty list accepts any request.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourcesConfig {
    /// `DD-API-KEY` values accepted by `/api/v2/logs` and `/v1/input`.
    pub datadog_api_keys: Vec<String>,
    /// `X-Amz-Firehose-Access-Key` values accepted by `/v1/firehose`.
    pub firehose_access_keys: Vec<String>,
    /// Syslog over UDP on this address, if set.
    pub syslog_udp: Option<SocketAddr>,
    /// Syslog over TCP on this address, if set.
    pub syslog_tcp: Option<SocketAddr>,
    /// Glob patterns of files to follow (offsets kept in `tail-state.json` in the data dir).
    pub tail: Vec<String>,
    /// Bearer tokens accepted by `/v1/logs`, `/v1/otlp/logs`, `/v1/webhooks/datadog` and gRPC
    /// (`Authorization: Bearer …`); empty: no check.
    pub tokens: Vec<String>,
    /// Sources switched off (see [`SOURCES`]); their routes answer 404, their gRPC services
    /// `UNIMPLEMENTED`.
    pub disable: Vec<String>,
}

/// The sources that can be switched off, as named in `/metrics`.
pub const SOURCES: &[&str] = &[
    "http",
    "datadog",
    "datadog_webhook",
    "firehose",
    "otlp",
    "grpc",
];

/// The analyst: `builtin` (offline heuristics), `openai` (any OpenAI-compatible server), or
/// `auto` (openai when an API key is set, else builtin).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalystConfig {
    pub kind: String,
    /// Base URL of the chat-completions API (OpenAI, Azure OpenAI, Ollama, vLLM, llama.cpp).
    pub base_url: String,
    pub model: String,
    /// API key; better in the environment (LOGINSIGHT_OPENAI_API_KEY) than in the file.
    pub api_key: String,
    pub timeout_secs: u64,
    pub max_concurrency: usize,
    /// Tokens per hour across all calls; 0 = unlimited.
    pub hourly_token_budget: u64,
    /// Retries after a timeout, connection error or 5xx (429 is retried by the client).
    pub max_retries: u32,
    /// Size bound of one prompt's context, in tokens.
    pub context_tokens: usize,
    /// Context window around a group: its first occurrence ± this many seconds.
    pub window_secs: u64,
    /// SQL endpoint `loginsight worker` reads context from; `serve` uses its own.
    pub sql_url: String,
    /// Also redact IP addresses before anything is sent to a model.
    pub redact_ips: bool,
    /// Extra regexes whose matches are redacted.
    pub redact: Vec<String>,
}

impl AnalystConfig {
    pub fn redaction(&self) -> redact::RedactConfig {
        redact::RedactConfig {
            ips: self.redact_ips,
            extra: self.redact.clone(),
        }
    }

    /// The API key: the file's, else `LOGINSIGHT_OPENAI_API_KEY`, else `OPENAI_API_KEY`.
    pub fn api_key(&self) -> Option<String> {
        [
            Some(self.api_key.clone()),
            std::env::var("LOGINSIGHT_OPENAI_API_KEY").ok(),
            std::env::var("OPENAI_API_KEY").ok(),
        ]
        .into_iter()
        .flatten()
        .find(|k| !k.trim().is_empty())
    }
}

impl Default for AnalystConfig {
    fn default() -> Self {
        let o = worker::OpenAiConfig::default();
        AnalystConfig {
            kind: "auto".into(),
            base_url: o.base_url,
            model: o.model,
            api_key: String::new(),
            timeout_secs: o.timeout.as_secs(),
            max_concurrency: o.max_concurrency,
            hourly_token_budget: o.hourly_token_budget,
            max_retries: o.max_retries,
            context_tokens: o.context_tokens,
            window_secs: 300,
            sql_url: String::new(),
            redact_ips: false,
            redact: Vec::new(),
        }
    }
}

/// Routing rules: a record goes to analysis when its level is at least `min_level` or its
/// message matches a keyword (case-insensitive, whole word) or a pattern (a regex), and
/// matches no `exclude` regex.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    pub min_level: String,
    pub keywords: Vec<String>,
    pub patterns: Vec<String>,
    pub exclude: Vec<String>,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            min_level: "ERROR".into(),
            keywords: [
                "error",
                "panic",
                "exception",
                "fatal",
                "critical",
                "traceback",
            ]
            .map(String::from)
            .to_vec(),
            patterns: Vec::new(),
            exclude: Vec::new(),
        }
    }
}

/// The bus. With no `brokers` the analysis queue is a table in the DuckDB file and the worker
/// runs inside `serve`; with brokers, that table is the outbox relayed to Kafka.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    /// Kafka bootstrap servers (`host:port,…`); empty for the embedded queue.
    pub brokers: String,
    pub analyze_topic: String,
    pub insights_topic: String,
    /// Partitions of the topics when `serve` creates them.
    pub partitions: i32,
    pub replication: i32,
    pub create_topics: bool,
    /// How long one message may wait for the broker before it is retried from the outbox.
    pub delivery_timeout_ms: u64,
    /// Consumer group of the servers storing insights from `ai.insights.processed`.
    pub insights_group: String,
}

impl Default for BusConfig {
    fn default() -> Self {
        let k = bus::KafkaConfig::default();
        BusConfig {
            brokers: String::new(),
            analyze_topic: k.analyze_topic,
            insights_topic: k.insights_topic,
            partitions: k.partitions,
            replication: k.replication,
            create_topics: k.create_topics,
            delivery_timeout_ms: k.delivery_timeout.as_millis() as u64,
            insights_group: "loginsight-insights".into(),
        }
    }
}

impl BusConfig {
    /// The Kafka settings, or `None` for the embedded queue.
    pub fn kafka(&self) -> Option<bus::KafkaConfig> {
        (!self.brokers.trim().is_empty()).then(|| bus::KafkaConfig {
            brokers: self.brokers.trim().to_string(),
            analyze_topic: self.analyze_topic.clone(),
            insights_topic: self.insights_topic.clone(),
            partitions: self.partitions,
            replication: self.replication,
            create_topics: self.create_topics,
            delivery_timeout: std::time::Duration::from_millis(self.delivery_timeout_ms),
        })
    }
}

/// Batching of the analysis worker.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    pub batch_size: usize,
    pub linger_ms: u64,
    /// Consumer group of `loginsight worker` processes.
    pub group: String,
    /// The embedded worker's share of the machine while ingest is busy (0 < share ≤ 1): after
    /// a batch that took `t` it waits `t × (1 / share − 1)` if records were committed
    /// meanwhile. Ingest keeps the rest; the queue absorbs the difference and drains when
    /// ingest is quiet.
    pub share_under_ingest: f64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        let b = worker::BatchConfig::default();
        WorkerConfig {
            batch_size: b.max_events,
            linger_ms: b.linger.as_millis() as u64,
            group: "loginsight-workers".into(),
            share_under_ingest: 0.25,
        }
    }
}

impl WorkerConfig {
    pub fn batch(&self) -> worker::BatchConfig {
        worker::BatchConfig {
            max_events: self.batch_size,
            linger: std::time::Duration::from_millis(self.linger_ms),
        }
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            data_dir: PathBuf::from("./data"),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            pg_addr: SocketAddr::from(([127, 0, 0, 1], 5433)),
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 4317)),
            max_body_bytes: 32 * 1024 * 1024,
            max_commit_rows: 200_000,
            max_pending_bytes: 48 * 1024 * 1024,
            admit_wait_ms: 1000,
            max_body_memory: 32 * 1024 * 1024,
            store: StoreConfig::default(),
            retention: String::new(),
            max_disk: String::new(),
            stats_retention: String::new(),
            insights_retention: String::new(),
            retention_interval: "1m".into(),
            mine_patterns: true,
            insights_url: String::new(),
            routing: RoutingConfig::default(),
            bus: BusConfig::default(),
            worker: WorkerConfig::default(),
            analyst: AnalystConfig::default(),
            sources: SourcesConfig::default(),
            sql: SqlConfig::default(),
            incidents: crate::incidents::IncidentsConfig::default(),
            alerts: Vec::new(),
            notifiers: Vec::new(),
            notify: crate::notify::NotifyConfig::default(),
        }
    }
}

/// Values given on the command line or in `LOGINSIGHT_*` variables; each one present replaces
/// the file's value.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ServeOverrides {
    /// TOML configuration file (see config/loginsight.example.toml).
    #[arg(long, env = "LOGINSIGHT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory for the DuckDB database [default: ./data]
    #[arg(long, env = "LOGINSIGHT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// HTTP ingest address [default: 127.0.0.1:8080]
    #[arg(long, env = "LOGINSIGHT_HTTP_ADDR")]
    pub http_addr: Option<SocketAddr>,
    /// Postgres-wire SQL address [default: 127.0.0.1:5433]
    #[arg(long, env = "LOGINSIGHT_PG_ADDR")]
    pub pg_addr: Option<SocketAddr>,
    /// gRPC address: loginsight.v1 and OTLP logs [default: 127.0.0.1:4317]
    #[arg(long, env = "LOGINSIGHT_GRPC_ADDR")]
    pub grpc_addr: Option<SocketAddr>,
    /// Largest request body in bytes [default: 32 MiB]
    #[arg(long, env = "LOGINSIGHT_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Most rows per group commit [default: 200000]
    #[arg(long, env = "LOGINSIGHT_MAX_COMMIT_ROWS")]
    pub max_commit_rows: Option<usize>,
    /// Most bytes of records waiting for their commit before requests are refused with 503
    /// [default: 48 MiB]
    #[arg(long, env = "LOGINSIGHT_MAX_PENDING_BYTES")]
    pub max_pending_bytes: Option<usize>,
    /// How long a request waits for room under --max-pending-bytes, in ms [default: 1000]
    #[arg(long, env = "LOGINSIGHT_ADMIT_WAIT_MS")]
    pub admit_wait_ms: Option<u64>,
    /// Most bytes of request bodies held at once, HTTP and gRPC together [default: 32 MiB]
    #[arg(long, env = "LOGINSIGHT_MAX_BODY_MEMORY")]
    pub max_body_memory: Option<usize>,
    /// DuckDB's memory_limit, e.g. 512MB or 2GB [default: 192MB]
    #[arg(long, env = "LOGINSIGHT_DUCKDB_MEMORY_LIMIT")]
    pub duckdb_memory_limit: Option<String>,
    /// DuckDB's worker threads, 0 = one per core [default: 0]
    #[arg(long, env = "LOGINSIGHT_DUCKDB_THREADS")]
    pub duckdb_threads: Option<usize>,
    /// Mine message patterns: true or false [default: true]
    #[arg(long, env = "LOGINSIGHT_MIN_FREE_DISK")]
    pub min_free_disk: Option<String>,
    #[arg(long, env = "LOGINSIGHT_RETENTION")]
    pub retention: Option<String>,
    #[arg(long, env = "LOGINSIGHT_MAX_DISK")]
    pub max_disk: Option<String>,
    #[arg(long, env = "LOGINSIGHT_STATS_RETENTION")]
    pub stats_retention: Option<String>,
    #[arg(long, env = "LOGINSIGHT_INSIGHTS_RETENTION")]
    pub insights_retention: Option<String>,
    #[arg(long, env = "LOGINSIGHT_RETENTION_INTERVAL")]
    pub retention_interval: Option<String>,
    #[arg(long, env = "LOGINSIGHT_MINE_PATTERNS")]
    pub mine_patterns: Option<bool>,
    /// Kafka bootstrap servers (host:port,...); without them the embedded queue is used
    #[arg(long, env = "LOGINSIGHT_BROKERS")]
    pub brokers: Option<String>,
    /// Store insights in PostgreSQL (postgres://user:password@host/db) instead of DuckDB
    #[arg(long, env = "LOGINSIGHT_INSIGHTS_URL")]
    pub insights_url: Option<String>,
    /// Analysis batch size [default: 1000]
    #[arg(long, env = "LOGINSIGHT_BATCH_SIZE")]
    pub batch_size: Option<usize>,
    /// How long a batch waits to fill, in milliseconds [default: 500]
    #[arg(long, env = "LOGINSIGHT_LINGER_MS")]
    pub linger_ms: Option<u64>,
    /// Accepted Datadog API keys (comma-separated); none: no check
    #[arg(long, env = "LOGINSIGHT_DATADOG_API_KEYS", value_delimiter = ',')]
    pub datadog_api_keys: Option<Vec<String>>,
    /// Accepted Firehose access keys (comma-separated); none: no check
    #[arg(long, env = "LOGINSIGHT_FIREHOSE_ACCESS_KEYS", value_delimiter = ',')]
    pub firehose_access_keys: Option<Vec<String>>,
    /// Receive syslog over UDP on this address (e.g. 0.0.0.0:514)
    #[arg(long, env = "LOGINSIGHT_SYSLOG_UDP")]
    pub syslog_udp: Option<SocketAddr>,
    /// Receive syslog over TCP on this address (octet-counted or newline-framed)
    #[arg(long, env = "LOGINSIGHT_SYSLOG_TCP")]
    pub syslog_tcp: Option<SocketAddr>,
    /// Follow the files matching this glob (repeatable, e.g. --tail '/var/log/app/*.log')
    #[arg(long = "tail", env = "LOGINSIGHT_TAIL", value_delimiter = ',')]
    pub tail: Option<Vec<String>>,
    /// Bearer tokens accepted by /v1/logs, OTLP, the Datadog webhook and gRPC (comma-separated)
    #[arg(long, env = "LOGINSIGHT_INGEST_TOKENS", value_delimiter = ',')]
    pub ingest_tokens: Option<Vec<String>>,
    /// Sources to switch off: http, datadog, datadog_webhook, firehose, otlp, grpc
    #[arg(long, env = "LOGINSIGHT_DISABLE_SOURCES", value_delimiter = ',')]
    pub disable_sources: Option<Vec<String>>,
    /// Password of the SQL user `loginsight` (SCRAM-SHA-256); required to listen beyond loopback
    #[arg(long, env = "LOGINSIGHT_SQL_PASSWORD", hide_env_values = true)]
    pub sql_password: Option<String>,
    /// PEM certificate chain for TLS on the SQL endpoint (with --sql-tls-key)
    #[arg(long, env = "LOGINSIGHT_SQL_TLS_CERT")]
    pub sql_tls_cert: Option<PathBuf>,
    /// PEM private key for TLS on the SQL endpoint
    #[arg(long, env = "LOGINSIGHT_SQL_TLS_KEY")]
    pub sql_tls_key: Option<PathBuf>,
    /// Most open SQL connections, 0 = unlimited [default: 100]
    #[arg(long, env = "LOGINSIGHT_SQL_MAX_CONNECTIONS")]
    pub sql_max_connections: Option<usize>,
    /// Longest a SQL statement may run, in seconds, 0 = unlimited [default: 300]
    #[arg(long, env = "LOGINSIGHT_SQL_STATEMENT_TIMEOUT_SECS")]
    pub sql_statement_timeout_secs: Option<u64>,
}

impl ServeConfig {
    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> anyhow::Result<ServeConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    /// The file (if any) with the overrides applied, validated.
    pub fn load(overrides: &ServeOverrides) -> anyhow::Result<ServeConfig> {
        let mut config = match &overrides.config {
            Some(path) => ServeConfig::from_file(path)?,
            None => ServeConfig::default(),
        };
        let o = overrides.clone();
        if let Some(v) = o.data_dir {
            config.data_dir = v;
        }
        if let Some(v) = o.http_addr {
            config.http_addr = v;
        }
        if let Some(v) = o.pg_addr {
            config.pg_addr = v;
        }
        if let Some(v) = o.grpc_addr {
            config.grpc_addr = v;
        }
        if let Some(v) = o.max_body_bytes {
            config.max_body_bytes = v;
        }
        if let Some(v) = o.max_commit_rows {
            config.max_commit_rows = v;
        }
        if let Some(v) = o.max_pending_bytes {
            config.max_pending_bytes = v;
        }
        if let Some(v) = o.admit_wait_ms {
            config.admit_wait_ms = v;
        }
        if let Some(v) = o.max_body_memory {
            config.max_body_memory = v;
        }
        if let Some(v) = o.duckdb_memory_limit {
            config.store.memory_limit = v;
        }
        if let Some(v) = o.duckdb_threads {
            config.store.threads = v;
        }
        if let Some(v) = o.min_free_disk {
            config.store.min_free_disk = v;
        }
        if let Some(v) = o.retention {
            config.retention = v;
        }
        if let Some(v) = o.max_disk {
            config.max_disk = v;
        }
        if let Some(v) = o.stats_retention {
            config.stats_retention = v;
        }
        if let Some(v) = o.insights_retention {
            config.insights_retention = v;
        }
        if let Some(v) = o.retention_interval {
            config.retention_interval = v;
        }
        if let Some(v) = o.mine_patterns {
            config.mine_patterns = v;
        }
        if let Some(v) = o.brokers {
            config.bus.brokers = v;
        }
        if let Some(v) = o.insights_url {
            config.insights_url = v;
        }
        if let Some(v) = o.batch_size {
            config.worker.batch_size = v;
        }
        if let Some(v) = o.linger_ms {
            config.worker.linger_ms = v;
        }
        if let Some(v) = o.datadog_api_keys {
            config.sources.datadog_api_keys = v;
        }
        if let Some(v) = o.firehose_access_keys {
            config.sources.firehose_access_keys = v;
        }
        if let Some(v) = o.syslog_udp {
            config.sources.syslog_udp = Some(v);
        }
        if let Some(v) = o.syslog_tcp {
            config.sources.syslog_tcp = Some(v);
        }
        if let Some(v) = o.tail {
            config.sources.tail = v;
        }
        if let Some(v) = o.ingest_tokens {
            config.sources.tokens = v;
        }
        if let Some(v) = o.disable_sources {
            config.sources.disable = v;
        }
        if let Some(v) = o.sql_password {
            config.sql.password = v;
        }
        if let Some(v) = o.sql_tls_cert {
            config.sql.tls_cert = Some(v);
        }
        if let Some(v) = o.sql_tls_key {
            config.sql.tls_key = Some(v);
        }
        if let Some(v) = o.sql_max_connections {
            config.sql.max_connections = v;
        }
        if let Some(v) = o.sql_statement_timeout_secs {
            config.sql.statement_timeout_secs = v;
        }
        config.validate()?;
        Ok(config)
    }

    /// The retention settings, parsed: ages are humantime durations (`"30d"`, `"12h"`), the
    /// disk budget a size (`"20GiB"`).
    pub fn retention_policy(&self) -> anyhow::Result<crate::retention::RetentionPolicy> {
        let age = |key: &str, value: &str| -> anyhow::Result<Option<std::time::Duration>> {
            let value = value.trim();
            if value.is_empty() {
                return Ok(None);
            }
            let age = humantime::parse_duration(value).map_err(|e| {
                anyhow::anyhow!(
                    "{key} must be a duration such as \"30d\" or \"12h\", got {value:?}: {e}"
                )
            })?;
            if age.is_zero() {
                bail!("{key} must be longer than zero, got {value:?}");
            }
            Ok(Some(age))
        };
        let logs = age("retention", &self.retention)?;
        let max_disk = match self.max_disk.trim() {
            "" => None,
            value => {
                let size = size_of(value).map_err(|e| {
                    anyhow::anyhow!("max_disk must be a size such as \"20GiB\", got {value:?}: {e}")
                })?;
                if size < 1024 * 1024 {
                    bail!("max_disk must be at least 1MiB, got {value:?}");
                }
                Some(size)
            }
        };
        let stats = match age("stats_retention", &self.stats_retention)? {
            Some(age) => Some(age),
            None if logs.is_some() || max_disk.is_some() => {
                Some(std::time::Duration::from_secs(400 * 86_400))
            }
            None => None,
        };
        let insights = age("insights_retention", &self.insights_retention)?.or(logs);
        let interval = age("retention_interval", &self.retention_interval)?
            .unwrap_or(std::time::Duration::from_secs(60));
        Ok(crate::retention::RetentionPolicy {
            logs,
            stats,
            insights,
            max_disk,
            interval,
        })
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if self.max_body_bytes < 1024 {
            bail!(
                "max_body_bytes must be at least 1024, got {}",
                self.max_body_bytes
            );
        }
        if self.max_commit_rows == 0 {
            bail!("max_commit_rows must be at least 1");
        }
        if self.max_pending_bytes < self.max_body_bytes {
            bail!(
                "max_pending_bytes ({}) must be at least max_body_bytes ({}), or the largest \
                 request could never be admitted",
                self.max_pending_bytes,
                self.max_body_bytes
            );
        }
        if self.max_body_memory < self.max_body_bytes {
            bail!(
                "max_body_memory ({}) must be at least max_body_bytes ({}), or the largest \
                 request could never be read",
                self.max_body_memory,
                self.max_body_bytes
            );
        }
        let limit = self.store.memory_limit.trim();
        if limit.is_empty() || !limit.starts_with(|c: char| c.is_ascii_digit()) {
            bail!("store.memory_limit must be a size such as \"512MB\", got {limit:?}");
        }
        if self.worker.batch_size == 0 {
            bail!("worker.batch_size must be at least 1");
        }
        let share = self.worker.share_under_ingest;
        if !(share > 0.0 && share <= 1.0) {
            bail!("worker.share_under_ingest must be above 0 and at most 1, got {share}");
        }
        let url = &self.insights_url;
        if !(url.is_empty() || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            bail!("insights_url must be a postgres:// URL (or empty for the DuckDB file)");
        }
        crate::route::Router::new(&self.routing)?;
        self.retention_policy()?;
        self.incidents.resolve()?;
        crate::notify::validate(&self.notifiers, &self.notify)?;
        let reserve = &self.store.min_free_disk;
        size_of(reserve).map_err(|e| {
            anyhow::anyhow!(
                "store.min_free_disk must be a size such as \"256MiB\", got {reserve:?}: {e}"
            )
        })?;
        self.sql.access(None)?;
        if !self.sql.has_users() && !self.pg_addr.ip().is_loopback() {
            bail!(
                "refusing to serve SQL on {} without a password: anyone who can reach it could \
                 read every log. Set LOGINSIGHT_SQL_PASSWORD (or --sql-password, or [sql] \
                 users from `loginsight hash-password`), or listen on 127.0.0.1",
                self.pg_addr
            );
        }
        if let Some(unknown) = self
            .sources
            .disable
            .iter()
            .find(|s| !SOURCES.contains(&s.as_str()))
        {
            bail!(
                "sources.disable: unknown source {unknown:?}; known: {}",
                SOURCES.join(", ")
            );
        }
        if !["auto", "builtin", "openai"].contains(&self.analyst.kind.as_str()) {
            bail!(
                "analyst.kind must be auto, builtin or openai, got {:?}",
                self.analyst.kind
            );
        }
        self.redactor()?;
        Ok(())
    }

    /// The redaction every text leaving the process goes through.
    pub fn redactor(&self) -> anyhow::Result<redact::Redactor> {
        redact::Redactor::new(&self.analyst.redaction())
            .map_err(|e| anyhow::anyhow!("analyst.redact: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses_and_matches_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/loginsight.example.toml");
        let config = ServeConfig::from_file(&path).unwrap();
        assert_eq!(config, ServeConfig::default());
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "data_dir = \"/from/file\"\nhttp_addr = \"127.0.0.1:9000\"\n",
        )
        .unwrap();
        let overrides = ServeOverrides {
            config: Some(file),
            http_addr: Some("127.0.0.1:9100".parse().unwrap()),
            ..Default::default()
        };
        let config = ServeConfig::load(&overrides).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/from/file"));
        assert_eq!(config.http_addr.port(), 9100);
        assert_eq!(config.pg_addr.port(), 5433);
    }

    #[test]
    fn a_bad_routing_regex_is_named() {
        let mut config = ServeConfig::default();
        config.routing.patterns = vec!["ok".into(), "(unclosed".into()];
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("routing.patterns[1]"), "{err}");
        assert!(err.contains("(unclosed"), "{err}");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = toml::from_str::<ServeConfig>("http_adr = \"x\"").unwrap_err();
        assert!(err.to_string().contains("http_adr"), "{err}");
    }
}
