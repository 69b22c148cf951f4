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
//! room in the pipeline rather than giving up). A UDP datagram that arrives while the batcher
//! is behind is dropped and counted (`loginsight_syslog_udp_dropped_total`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use serde_json::{Map, Value, json};
use syslog_loose::{Message, ProcId, Variant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};

use crate::normalise::json::object_to_record;
use crate::pipeline::Pipeline;

/// Largest message taken (longer UDP datagrams are cut by the socket; longer TCP frames are
/// an error that closes the connection, as the stream cannot be resynchronised).
const MAX_MESSAGE: usize = 1024 * 1024;
const BATCH: usize = 1_000;
const FLUSH: Duration = Duration::from_millis(200);

/// One received message, not yet parsed.
struct Raw {
    text: String,
    peer: IpAddr,
    received_at: i64,
}

/// The log object of one syslog message, for the normaliser.
pub fn to_object(text: &str, peer: IpAddr) -> Value {
    let parsed: Message<&str> = syslog_loose::parse_message(text, Variant::Either);
    let mut attrs = Map::new();
    attrs.insert("peer".into(), Value::String(peer.to_string()));
    attrs.insert(
        "protocol".into(),
        Value::String(match parsed.protocol {
            syslog_loose::Protocol::RFC5424(_) => "rfc5424".into(),
            syslog_loose::Protocol::RFC3164 => "rfc3164".into(),
        }),
    );
    if let Some(f) = parsed.facility {
        attrs.insert("facility".into(), Value::String(f.as_str().into()));
    }
    match &parsed.procid {
        Some(ProcId::PID(pid)) => {
            attrs.insert("procid".into(), Value::from(*pid));
        }
        Some(ProcId::Name(name)) => {
            attrs.insert("procid".into(), Value::String((*name).into()));
        }
        None => {}
    }
    if let Some(id) = parsed.msgid {
        attrs.insert("msgid".into(), Value::String(id.into()));
    }
    if !parsed.structured_data.is_empty() {
        let mut sd = Map::new();
        for element in &parsed.structured_data {
            let params: Map<String, Value> = element
                .params
                .iter()
                .map(|(k, v)| ((*k).to_string(), Value::String((*v).to_string())))
                .collect();
            sd.insert(element.id.to_string(), Value::Object(params));
        }
        attrs.insert("structured_data".into(), Value::Object(sd));
    }
    let message = if parsed.msg.trim().is_empty() {
        text
    } else {
        parsed.msg
    };
    let mut object = json!({
        "message": message,
        "service": parsed.appname.unwrap_or("syslog"),
        "host": parsed.hostname.map_or_else(|| peer.to_string(), str::to_string),
        "syslog": Value::Object(attrs),
    });
    if let Some(severity) = parsed.severity {
        object["level"] = Value::String(severity.as_str().into());
    }
    if let Some(ts) = parsed.timestamp {
        object["timestamp"] = Value::String(ts.to_rfc3339());
    }
    object
}

/// Collects messages from every listener and commits them in batches.
async fn batcher(pipeline: Pipeline, mut rx: mpsc::Receiver<Raw>) {
    let mut pending = Vec::with_capacity(BATCH);
    loop {
        let more = tokio::select! {
            m = rx.recv() => m,
            _ = tokio::time::sleep(FLUSH), if !pending.is_empty() => {
                flush(&pipeline, &mut pending).await;
                continue;
            }
        };
        match more {
            Some(raw) => {
                pending.push(raw);
                if pending.len() >= BATCH {
                    flush(&pipeline, &mut pending).await;
                }
            }
            None => break,
        }
    }
    flush(&pipeline, &mut pending).await;
}

async fn flush(pipeline: &Pipeline, pending: &mut Vec<Raw>) {
    if pending.is_empty() {
        return;
    }
    let raws = std::mem::take(pending);
    let built = tokio::task::spawn_blocking(move || {
        let mut out = model::LogBatchBuilder::with_capacity(raws.len());
        for raw in raws {
            let object = to_object(&raw.text, raw.peer);
            // The object always has a string message, so this cannot fail; if it ever did,
            // the text is kept anyway.
            let record = object_to_record(object, raw.text.len(), raw.received_at, "syslog")
                .or_else(|_| {
                    object_to_record(
                        json!({ "message": raw.text }),
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
    })
    .await;
    match built {
        Ok(batch) => {
            if let Err(err) = pipeline.submit_waiting(batch).await {
                tracing::error!(error = %err, "syslog batch not stored");
            }
        }
        Err(err) => tracing::error!(error = %err, "syslog batch builder panicked"),
    }
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

/// The next RFC 6587 frame: `LEN SP MSG` when the stream is at digits, a space and `<`; else
/// the next line. `None` at the end of the stream.
async fn next_frame(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Vec<u8>>> {
    let head = reader.fill_buf().await?;
    if head.is_empty() {
        return Ok(None);
    }
    let digits = head.iter().take_while(|b| b.is_ascii_digit()).count();
    let counted = digits > 0
        && digits <= 7
        && head.get(digits) == Some(&b' ')
        && head.get(digits + 1).is_none_or(|b| *b == b'<');
    if counted {
        let len: usize = std::str::from_utf8(&head[..digits])
            .ok()
            .and_then(|d| d.parse().ok())
            .unwrap_or(0);
        reader.consume(digits + 1);
        if len > MAX_MESSAGE {
            return Err(std::io::Error::other(format!(
                "frame of {len} bytes exceeds {MAX_MESSAGE}"
            )));
        }
        let mut frame = vec![0u8; len];
        reader.read_exact(&mut frame).await?;
        return Ok(Some(frame));
    }
    let mut line = Vec::new();
    let n = (&mut *reader)
        .take(MAX_MESSAGE as u64 + 1)
        .read_until(b'\n', &mut line)
        .await?;
    if n == 0 {
        return Ok(None);
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(Some(line))
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
    let batcher = tokio::spawn(batcher(pipeline, rx));
    while tasks.join_next().await.is_some() {}
    // Connections still open hold senders until they see `stop`; the batcher ends after them.
    let _ = batcher.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn rfc5424_fields_land_where_they_belong() {
        let o = to_object(
            "<11>1 2026-11-29T10:00:00.123Z web-1 checkout 4242 ID47 [origin ip=\"10.0.0.1\"] payment failed",
            PEER,
        );
        assert_eq!(o["message"], "payment failed");
        assert_eq!(o["level"], "err");
        assert_eq!(o["service"], "checkout");
        assert_eq!(o["host"], "web-1");
        assert_eq!(o["timestamp"], "2026-11-29T10:00:00.123+00:00");
        assert_eq!(o["syslog"]["facility"], "user");
        assert_eq!(o["syslog"]["procid"], 4242);
        assert_eq!(o["syslog"]["msgid"], "ID47");
        assert_eq!(o["syslog"]["structured_data"]["origin"]["ip"], "10.0.0.1");
        assert_eq!(o["syslog"]["protocol"], "rfc5424");
    }

    #[test]
    fn rfc3164_and_garbage_are_kept() {
        let o = to_object("<34>Oct 11 22:14:15 mymachine su: 'su root' failed", PEER);
        assert_eq!(o["service"], "su");
        assert_eq!(o["host"], "mymachine");
        assert_eq!(o["level"], "crit");
        assert_eq!(o["message"], "'su root' failed");
        let o = to_object("%%% not syslog at all", PEER);
        assert!(o["message"].as_str().unwrap().contains("not syslog at all"));
        assert_eq!(o["host"], "127.0.0.1");
    }
}
