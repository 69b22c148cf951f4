//! Syslog over UDP (`--syslog-udp`, one message per datagram) and TCP (`--syslog-tcp`, RFC 6587
//! framing: octet counting `LEN SP MSG`, or a message per line). Messages are RFC 5424 or
//! RFC 3164, parsed by `syslog_loose`, which always yields a message: anything it cannot take
//! apart is kept whole as the message text, never dropped.
//!
//! Mapping: severity → level (`err` → ERROR, `warning` → WARN, `emerg`/`alert`/`crit` → FATAL,
//! `notice` → INFO), APP-NAME → service (else `syslog`), HOSTNAME → host (else the peer's
//! address); facility, proc id, msg id, structured data, the peer and the RFC go to
//! `attributes`.
//!
//! Syslog has no acknowledgement, so nothing can be promised to the sender: records are
//! committed in batches of up to 1,000 or every 200 ms, and a TCP sender is not read from while
//! the batcher is behind (backpressure instead of unbounded buffering; the batcher waits for
//! room in the pipeline rather than giving up, and on a full disk offers its batch again until
//! there is space). A UDP datagram that arrives while the batcher
//! is behind is dropped and counted (`loginsight_syslog_udp_dropped_total`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};

use crate::pipeline::{Pipeline, PipelineError};
use normalise::json::object_to_record;
use normalise::syslog::{FrameStart, MAX_MESSAGE, frame_start, to_object, trim_line_end};

const BATCH: usize = 1_000;
const FLUSH: Duration = Duration::from_millis(200);
/// How long a batch refused for a full disk waits before it is offered again.
const DISK_FULL_RETRY: Duration = Duration::from_secs(1);

/// One received message, not yet parsed.
struct Raw {
    text: String,
    peer: IpAddr,
    received_at: i64,
}

/// Collects messages from every listener and commits them in batches.
async fn batcher(pipeline: Pipeline, mut rx: mpsc::Receiver<Raw>, stop: watch::Receiver<bool>) {
    let mut pending = Vec::with_capacity(BATCH);
    loop {
        let more = tokio::select! {
            m = rx.recv() => m,
            _ = tokio::time::sleep(FLUSH), if !pending.is_empty() => {
                flush(&pipeline, &mut pending, &stop).await;
                continue;
            }
        };
        match more {
            Some(raw) => {
                pending.push(raw);
                if pending.len() >= BATCH {
                    flush(&pipeline, &mut pending, &stop).await;
                }
            }
            None => break,
        }
    }
    flush(&pipeline, &mut pending, &stop).await;
}

async fn flush(pipeline: &Pipeline, pending: &mut Vec<Raw>, stop: &watch::Receiver<bool>) {
    if pending.is_empty() {
        return;
    }
    let mut raws = std::mem::take(pending);
    // A full disk is the one refusal that passes by itself: the batch is kept and offered
    // again, and meanwhile nothing more is taken from the listeners (TCP senders wait, UDP
    // datagrams are dropped and counted), as while the pipeline is full.
    loop {
        let built = tokio::task::spawn_blocking(move || {
            let batch = build(&raws);
            (raws, batch)
        })
        .await;
        match built {
            Ok((kept, batch)) => match pipeline.submit_waiting(batch).await {
                Err(PipelineError::DiskFull(err)) if *stop.borrow() => {
                    tracing::error!(error = %err, messages = kept.len(), "syslog batch dropped at shutdown: the disk is full");
                    return;
                }
                Err(PipelineError::DiskFull(err)) => {
                    tracing::warn!(error = %err, "syslog batch waits for disk space");
                    tokio::time::sleep(DISK_FULL_RETRY).await;
                    raws = kept;
                }
                Err(err) => {
                    tracing::error!(error = %err, "syslog batch not stored");
                    return;
                }
                Ok(_) => return,
            },
            Err(err) => {
                tracing::error!(error = %err, "syslog batch builder panicked");
                return;
            }
        }
    }
}

fn build(raws: &[Raw]) -> model::LogBatchBuilder {
    let mut out = model::LogBatchBuilder::with_capacity(raws.len());
    for raw in raws {
        let object = to_object(&raw.text, raw.peer);
        // The object always has a string message, so this cannot fail; if it ever did, the
        // text is kept anyway.
        let record =
            object_to_record(object, raw.text.len(), raw.received_at, "syslog").or_else(|_| {
                object_to_record(
                    json!({ "message": raw.text.as_str() }),
                    raw.text.len(),
                    raw.received_at,
                    "syslog",
                )
            });
        if let Ok(record) = record {
            out.push(&record);
        }
    }
    out
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Receives datagrams. UDP has no way to slow a sender down: when the batcher is behind (the
/// store is full, see `max_pending_bytes`), a datagram is dropped and counted rather than left
/// to overflow the kernel's buffer uncounted.
async fn run_udp(
    socket: UdpSocket,
    tx: mpsc::Sender<Raw>,
    dropped: Counter,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let (n, peer) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(err) => {
                    tracing::warn!(error = %err, "syslog UDP receive failed");
                    continue;
                }
            },
            _ = stop.wait_for(|s| *s) => return,
        };
        let text = String::from_utf8_lossy(&buf[..n])
            .trim_end_matches(['\n', '\r', '\0'])
            .to_string();
        if text.is_empty() {
            continue;
        }
        let raw = Raw {
            text,
            peer: peer.ip(),
            received_at: now_us(),
        };
        match tx.try_send(raw) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                dropped.inc();
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

/// The next RFC 6587 frame (see [`frame_start`]). `None` at the end of the stream.
async fn next_frame(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Vec<u8>>> {
    let head = reader.fill_buf().await?;
    if head.is_empty() {
        return Ok(None);
    }
    match frame_start(head) {
        FrameStart::Counted { header, len } => {
            reader.consume(header);
            if len > MAX_MESSAGE {
                return Err(std::io::Error::other(format!(
                    "frame of {len} bytes exceeds {MAX_MESSAGE}"
                )));
            }
            let mut frame = vec![0u8; len];
            reader.read_exact(&mut frame).await?;
            Ok(Some(frame))
        }
        FrameStart::Line => {
            let mut line = Vec::new();
            let n = (&mut *reader)
                .take(MAX_MESSAGE as u64 + 1)
                .read_until(b'\n', &mut line)
                .await?;
            if n == 0 {
                return Ok(None);
            }
            trim_line_end(&mut line);
            Ok(Some(line))
        }
    }
}

async fn serve_tcp_connection(
    stream: TcpStream,
    peer: SocketAddr,
    tx: mpsc::Sender<Raw>,
    mut stop: watch::Receiver<bool>,
) {
    let mut reader = BufReader::new(stream);
    loop {
        let frame = tokio::select! {
            f = next_frame(&mut reader) => f,
            _ = stop.wait_for(|s| *s) => return,
        };
        match frame {
            Ok(Some(bytes)) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                if text.trim().is_empty() {
                    continue;
                }
                let raw = Raw {
                    text,
                    peer: peer.ip(),
                    received_at: now_us(),
                };
                if tx.send(raw).await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(%peer, error = %err, "closing syslog TCP connection");
                return;
            }
        }
    }
}

async fn run_tcp(listener: TcpListener, tx: mpsc::Sender<Raw>, mut stop: watch::Receiver<bool>) {
    loop {
        let (stream, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(err) => {
                    tracing::warn!(error = %err, "syslog TCP accept failed");
                    continue;
                }
            },
            _ = stop.wait_for(|s| *s) => return,
        };
        tokio::spawn(serve_tcp_connection(stream, peer, tx.clone(), stop.clone()));
    }
}

/// Serves the given listeners until `stop`; the last batch is committed before it returns.
pub async fn run(
    udp: Option<UdpSocket>,
    tcp: Option<TcpListener>,
    pipeline: Pipeline,
    dropped: Counter,
    stop: watch::Receiver<bool>,
) {
    let (tx, rx) = mpsc::channel(BATCH * 4);
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(socket) = udp {
        tasks.spawn(run_udp(socket, tx.clone(), dropped, stop.clone()));
    }
    if let Some(listener) = tcp {
        tasks.spawn(run_tcp(listener, tx.clone(), stop.clone()));
    }
    drop(tx);
    let batcher = tokio::spawn(batcher(pipeline, rx, stop));
    while tasks.join_next().await.is_some() {}
    // Connections still open hold senders until they see `stop`; the batcher ends after them.
    let _ = batcher.await;
}
