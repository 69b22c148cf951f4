//! `loginsight worker`: one member of the Kafka consumer group that analyses
//! `logs.to.analyze` and publishes to `ai.insights.processed`. Run as many as there are
//! partitions; they share the work and take over each other's partitions when one stops.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio::sync::watch;

use crate::config::ServeConfig;

#[derive(Debug, Clone, clap::Args)]
pub struct WorkerArgs {
    /// TOML configuration file; the [bus] and [worker] sections are used.
    #[arg(long, env = "LOGINSIGHT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Kafka bootstrap servers (host:port,...)
    #[arg(long, env = "LOGINSIGHT_BROKERS")]
    pub brokers: Option<String>,
    /// Consumer group shared by all workers [default: loginsight-workers]
    #[arg(long, env = "LOGINSIGHT_WORKER_GROUP")]
    pub group: Option<String>,
    /// Most events per batch [default: 1000]
    #[arg(long, env = "LOGINSIGHT_BATCH_SIZE")]
    pub batch_size: Option<usize>,
    /// How long a batch waits to fill, in milliseconds [default: 500]
    #[arg(long, env = "LOGINSIGHT_LINGER_MS")]
    pub linger_ms: Option<u64>,
    /// The server's SQL endpoint, for analysis context (postgres://user@host:5433/loginsight)
    #[arg(long, env = "LOGINSIGHT_SQL_URL")]
    pub sql_url: Option<String>,
}

pub async fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => ServeConfig::from_file(path)?,
        None => ServeConfig::default(),
    };
    if let Some(v) = args.brokers {
        config.bus.brokers = v;
    }
    if let Some(v) = args.group {
        config.worker.group = v;
    }
    if let Some(v) = args.batch_size {
        config.worker.batch_size = v;
    }
    if let Some(v) = args.linger_ms {
        config.worker.linger_ms = v;
    }
    if let Some(v) = args.sql_url {
        config.analyst.sql_url = v;
    }
    config.validate()?;
    let Some(kafka) = config.bus.kafka() else {
        bail!(
            "loginsight worker needs Kafka: pass --brokers host:port (with no brokers, \
             `loginsight serve` runs the worker itself)"
        );
    };
    bus::check_and_create_topics(&kafka)
        .await
        .context("cannot start the worker")?;
    let sql_url = (!config.analyst.sql_url.is_empty()).then(|| config.analyst.sql_url.clone());
    if sql_url.is_none() {
        tracing::warn!("no --sql-url: analyses see only their batch, not the store");
    }
    let processor = Arc::new(crate::analysis::processor(&config.analyst, sql_url)?);
    let (stop_tx, stop_rx) = watch::channel(false);
    let batch = config.worker.batch();
    let group = config.worker.group.clone();
    let mut task = tokio::spawn(async move {
        worker::kafka::run(&kafka, &group, &batch, processor, stop_rx).await
    });
    println!("loginsight worker ready group={}", config.worker.group);
    let totals = tokio::select! {
        _ = crate::serve::wait_for_signal() => {
            tracing::info!("worker stopping");
            let _ = stop_tx.send(true);
            task.await.context("worker task")??
        }
        done = &mut task => done.context("worker task")??,
    };
    tracing::info!(?totals, "worker stopped");
    Ok(())
}
