//! `loginsight serve`: wires the store, the pipeline, the sources, the analysis path (embedded
//! worker, or Kafka relay + results consumer) and the SQL endpoint together, and shuts them
//! down in order on SIGINT/SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::FutureExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::analysis::EmbeddedWorker;
use crate::config::{ServeConfig, ServeOverrides};
use crate::metrics::Metrics;
use crate::mining::PatternStage;
use crate::pipeline::{Limits, Pipeline, Stages};
use crate::route::Router;
use crate::sources::http::{HttpState, router};

pub async fn run(overrides: ServeOverrides) -> anyhow::Result<()> {
    let config = ServeConfig::load(&overrides)?;
    let store = Arc::new(
        store::Store::open_with(&config.data_dir, &config.store.options())
            .with_context(|| format!("cannot use data directory {}", config.data_dir.display()))?,
    );
    let kafka = config.bus.kafka();
    if let Some(kafka) = &kafka {
        bus::check_and_create_topics(kafka).await.context(
            "the Kafka bus is configured (--brokers) but not usable; start the brokers or drop \
             --brokers to use the embedded queue",
        )?;
    }
    let insight_store = crate::insights::open(&config.insights_url, &store).await?;
    let http_listener = TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", config.http_addr))?;
    let pg_listener = TcpListener::bind(config.pg_addr)
        .await
        .with_context(|| format!("cannot listen for SQL on {}", config.pg_addr))?;
    let grpc_listener = TcpListener::bind(config.grpc_addr)
        .await
        .with_context(|| format!("cannot listen for gRPC on {}", config.grpc_addr))?;
    let grpc_addr = grpc_listener.local_addr()?;
    let http_addr = http_listener.local_addr()?;
    let pg_addr = pg_listener.local_addr()?;
    let metrics = Metrics::new();

    // The analysis step, shared by the in-process worker and `analyze()`; it reads context
    // over this server's own SQL endpoint, as `loginsight worker` does over the network.
    let (internal, internal_password) = sql::internal_user();
    let access = config.sql.access(Some(internal))?;
    sql::check_access(&access)?;
    let own_url = if access.users.is_empty() {
        format!("postgres://loginsight@{}/loginsight", own_address(pg_addr))
    } else {
        format!(
            "postgres://loginsight-internal:{internal_password}@{}/loginsight",
            own_address(pg_addr)
        )
    };
    let processor = Arc::new(crate::analysis::processor(&config.analyst, Some(own_url))?);
    // The routing rules decide what an error is, for the pipeline and for `analyze()` alike.
    let routing = Router::new(&config.routing)?;
    let on_demand = crate::on_demand::OnDemandAnalysis {
        store: store.clone(),
        processor: processor.clone(),
        sink: insight_store.clone(),
        router: routing.clone(),
        timeout: Duration::from_secs(config.analyst.timeout_secs.max(1) * 3),
        metrics: metrics.clone(),
    };
    let ctx = Arc::new(sql::session_context_with(
        store.clone(),
        insight_store.sql_source(),
        Some(Arc::new(on_demand)),
    )?);

    // Alert rules are checked against the same context clients query: a rule whose query
    // does not plan stops start-up, naming the rule.
    let notifier_names: Vec<String> = config.notifiers.iter().map(|n| n.name.clone()).collect();
    let alert_rules = crate::alerts::check(&config.alerts, &notifier_names, &ctx).await?;
    let outbox = crate::notify::Outbox::new(
        store.clone(),
        config.notifiers.clone(),
        config.notify.clone(),
        config.redactor()?,
    );

    let patterns = if config.mine_patterns {
        Some(PatternStage::load(&store).context("cannot restore the pattern miner")?)
    } else {
        None
    };
    let queued = Arc::new(tokio::sync::Notify::new());
    let stages = Stages {
        patterns,
        router: routing,
        queued: queued.clone(),
        metrics: metrics.clone(),
    };
    let limits = Limits {
        max_commit_rows: config.max_commit_rows,
        max_pending_bytes: config.max_pending_bytes,
        admit_wait: Duration::from_millis(config.admit_wait_ms),
    };
    let (pipeline, writer) =
        Pipeline::start(store.clone(), limits, stages).context("cannot start the writer thread")?;
    let (stop_tx, stop_rx) = watch::channel(false);

    // The analysis path: in-process worker on the embedded queue, or relay + results consumer.
    let mut background = tokio::task::JoinSet::new();
    match &kafka {
        None => {
            let worker = EmbeddedWorker {
                store: store.clone(),
                sink: insight_store.clone(),
                processor: processor.clone(),
                batch: config.worker.batch(),
                share_under_ingest: config.worker.share_under_ingest,
                queued: queued.clone(),
                metrics: metrics.clone(),
            };
            background.spawn(worker.run(stop_rx.clone()).map(|()| Ok(())));
        }
        Some(kafka) => {
            background.spawn(crate::relay::run(
                kafka.clone(),
                store.clone(),
                queued.clone(),
                metrics.clone(),
                stop_rx.clone(),
            ));
            background.spawn(crate::insights::consume_results(
                kafka.clone(),
                config.bus.insights_group.clone(),
                store.clone(),
                insight_store.clone(),
                metrics.clone(),
                stop_rx.clone(),
            ));
        }
    }
    let retention = tokio::spawn(crate::retention::run(
        config.retention_policy()?,
        store.clone(),
        insight_store.clone(),
        metrics.clone(),
        stop_rx.clone(),
    ));
    let incidents = if config.incidents.enabled {
        let (every, tracker) = config.incidents.resolve()?;
        Some(tokio::spawn(crate::incidents::run(
            every,
            tracker,
            store.clone(),
            insight_store.clone(),
            metrics.clone(),
            outbox.clone(),
            stop_rx.clone(),
        )))
    } else {
        None
    };
    let notifications = tokio::spawn(crate::notify::deliver(
        store.clone(),
        config.notifiers.clone(),
        humantime::parse_duration(&config.notify.keep)?,
        metrics.clone(),
        stop_rx.clone(),
    ));
    let alerts = tokio::spawn(crate::alerts::run(
        alert_rules,
        ctx.clone(),
        store.clone(),
        outbox.clone(),
        Duration::from_secs(match config.sql.statement_timeout_secs {
            0 => 300,
            s => s,
        }),
        stop_rx.clone(),
    ));
    let syslog_stop = stop_rx.clone();
    let tail_stop = stop_rx.clone();
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };

    let syslog_udp = match config.sources.syslog_udp {
        Some(addr) => Some(
            tokio::net::UdpSocket::bind(addr)
                .await
                .with_context(|| format!("cannot listen for syslog (UDP) on {addr}"))?,
        ),
        None => None,
    };
    let syslog_tcp = match config.sources.syslog_tcp {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen for syslog (TCP) on {addr}"))?,
        ),
        None => None,
    };
    let mut ready = format!("loginsight ready http={http_addr} pg={pg_addr} grpc={grpc_addr}");
    if let Some(socket) = &syslog_udp {
        ready.push_str(&format!(" syslog_udp={}", socket.local_addr()?));
    }
    if let Some(listener) = &syslog_tcp {
        ready.push_str(&format!(" syslog_tcp={}", listener.local_addr()?));
    }
    let syslog = (syslog_udp.is_some() || syslog_tcp.is_some()).then(|| {
        tokio::spawn(crate::sources::syslog::run(
            syslog_udp,
            syslog_tcp,
            pipeline.clone(),
            metrics.syslog_udp_dropped.clone(),
            syslog_stop,
        ))
    });

    let tail = if config.sources.tail.is_empty() {
        None
    } else {
        let options = crate::sources::tail::TailOptions::new(
            config.sources.tail.clone(),
            config.data_dir.join("tail-state.json"),
        );
        crate::sources::tail::check(&options)?;
        let sink = crate::sources::tail::PipelineSink(pipeline.clone());
        Some(tokio::spawn(crate::sources::tail::run(
            options, sink, tail_stop,
        )))
    };

    // Request bodies held at once, HTTP and gRPC together.
    let bodies = crate::pipeline::MemoryBudget::new(config.max_body_memory);
    let grpc = tokio::spawn(crate::sources::grpc::serve(
        grpc_listener,
        crate::sources::grpc::GrpcOptions {
            pipeline: pipeline.clone(),
            max_message_bytes: config.max_body_bytes,
            metrics: metrics.clone(),
            tokens: Arc::new(config.sources.tokens.clone()),
            disabled: config.sources.disable.clone(),
            bodies: bodies.clone(),
            admit_wait: Duration::from_millis(config.admit_wait_ms),
        },
        stopped(),
    ));

    let http = tokio::spawn({
        let app = router(HttpState {
            pipeline,
            max_body_bytes: config.max_body_bytes,
            metrics: metrics.clone(),
            store: store.clone(),
            datadog_api_keys: Arc::new(config.sources.datadog_api_keys.clone()),
            firehose_access_keys: Arc::new(config.sources.firehose_access_keys.clone()),
            tokens: Arc::new(config.sources.tokens.clone()),
            disabled: Arc::new(config.sources.disable.clone()),
            bodies,
            admit_wait: Duration::from_millis(config.admit_wait_ms),
        });
        let stopped = stopped();
        async move {
            // With the peer's address: the admin route trusts loopback peers only.
            axum::serve(
                http_listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(stopped)
            .await
        }
    });
    // The SQL endpoint stops last: the analysis path reads its context through it while it
    // finishes the batch in progress.
    let (sql_stop_tx, mut sql_stop_rx) = watch::channel(false);
    let pg = tokio::spawn(sql::serve(pg_listener, ctx, access, async move {
        let _ = sql_stop_rx.wait_for(|stop| *stop).await;
    }));

    tracing::info!(
        %http_addr,
        %pg_addr,
        data_dir = %config.data_dir.display(),
        bus = if kafka.is_some() { "kafka" } else { "embedded" },
        "serving"
    );
    // A machine-readable line on stdout, so scripts and tests can find the bound ports.
    println!("{ready}");

    wait_for_signal().await;
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    let _ = stop_tx.send(true);

    // HTTP first: in-flight requests finish, and only then are their pipeline handles dropped.
    http.await
        .context("HTTP server task")?
        .context("HTTP server")?;
    grpc.await
        .context("gRPC server task")?
        .context("gRPC server")?;
    if let Some(syslog) = syslog {
        syslog.await.context("syslog task")?;
    }
    if let Some(tail) = tail {
        tail.await.context("file tail task")?.context("file tail")?;
    }
    // The analysis path finishes its batch in progress; what is left stays queued.
    while let Some(done) = background.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(error = %format!("{err:#}"), "analysis task failed"),
            Err(err) => tracing::error!(error = %err, "analysis task panicked"),
        }
    }
    retention
        .await
        .context("retention task")?
        .context("retention")?;
    alerts.await.context("alert task")?.context("alerts")?;
    notifications
        .await
        .context("notification task")?
        .context("notifications")?;
    if let Some(incidents) = incidents {
        incidents
            .await
            .context("incident task")?
            .context("incidents")?;
    }
    let _ = sql_stop_tx.send(true);
    pg.await.context("SQL server task")?.context("SQL server")?;
    // With every handle gone the writer drains its queue, checkpoints and exits.
    tokio::task::spawn_blocking(move || writer.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the writer thread panicked"))?;
    tracing::info!("stopped cleanly");
    Ok(())
}

pub(crate) async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Where this process reaches its own listener: a wildcard address is dialled on loopback.
fn own_address(mut addr: std::net::SocketAddr) -> std::net::SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}
