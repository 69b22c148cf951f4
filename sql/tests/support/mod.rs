//! Shared helpers for the SQL endpoint's client tests: a real endpoint on `127.0.0.1:0` over a
//! DuckDB store in a temp dir, holding the fixture described in `tests/clients/README.md`, and
//! a runner for client programs.

#![allow(dead_code)] // each test crate uses a different subset

use std::path::{Path, PathBuf};
use std::sync::Arc;

use model::{LogBatchBuilder, LogRecord};
use tokio::sync::oneshot;

/// A running endpoint; dropping it stops the server.
pub struct Endpoint {
    pub port: u16,
    _dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

const T0: i64 = 1_714_564_800_000_000; // 2024-05-01T12:00:00Z

fn record(
    offset_s: i64,
    level: &str,
    service: &str,
    host: Option<&str>,
    message: &str,
    trace_id: Option<&str>,
    attributes: Option<&str>,
) -> LogRecord {
    LogRecord {
        ts: T0 + offset_s * 1_000_000,
        received_at: T0,
        level: level.into(),
        service: service.into(),
        host: host.map(Into::into),
        message: message.into(),
        trace_id: trace_id.map(Into::into),
        attributes: attributes.map(Into::into),
        source: "http",
        size: 100,
    }
}

/// Starts the endpoint with the three fixture rows in `logs` (and their `stats`).
pub async fn start() -> Endpoint {
    start_with(sql::Access::default()).await
}

/// [`start`] with users, TLS and limits.
pub async fn start_with(access: sql::Access) -> Endpoint {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(store::Store::open(dir.path()).unwrap());
    let mut batch = LogBatchBuilder::default();
    for r in [
        record(
            0,
            "ERROR",
            "checkout",
            Some("web-1"),
            "payment timed out",
            Some("t1"),
            Some("{\"order\":42}"),
        ),
        record(30, "INFO", "checkout", None, "order placed", None, None),
        record(
            60,
            "WARN",
            "search",
            Some("web-2"),
            "slow query",
            None,
            Some("{\"latency_ms\":12.5}"),
        ),
    ] {
        batch.push(&r);
    }
    let (logs, stats) = batch.finish().unwrap();
    store.append_logs(&[logs], &stats).unwrap();

    let ctx = Arc::new(sql::session_context(store).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(sql::serve(listener, ctx, access, async {
        let _ = stopped.await;
    }));
    Endpoint {
        port,
        _dir: dir,
        _stop: stop,
    }
}

/// A tokio-postgres client connected to `endpoint` as `loginsight`, without TLS.
pub async fn connect(endpoint: &Endpoint) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=loginsight dbname=loginsight",
            endpoint.port
        ),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    client
}

/// `sql/tests/clients/<name>`.
pub fn client_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name)
}

/// Runs a client program (through `bash -c`) against the endpoint and fails the test, with
/// its output, unless it exits 0. The programs print one `ok`/`FAIL` line per check.
pub async fn run_client(endpoint: &Endpoint, script: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", endpoint.port.to_string())
        .env("PGUSER", "loginsight")
        .env("PGDATABASE", "loginsight")
        .env("CLIENTS", client_path(""))
        .env("WORK", work.path())
        .env_remove("PGPASSWORD")
        .output()
        .await
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "client failed ({}); is scripts/install-clients.sh installed?\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("ok ")),
        "no check ran:\n{stdout}"
    );
    assert!(!stdout.lines().any(|l| l.starts_with("FAIL")), "{stdout}");
    stdout
}

/// Runs psql with `commands` on standard input (unaligned, tuples only, stop on error) and
/// returns its output; fails the test if psql reports an error.
pub async fn psql(endpoint: &Endpoint, commands: &str) -> String {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &endpoint.port.to_string()])
        .args([
            "-U",
            "loginsight",
            "-d",
            "loginsight",
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run psql");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(commands.as_bytes()).await.unwrap();
    stdin.write_all(b"\n").await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "psql failed on {commands:?}: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Rows of a simple-protocol query (as Grafana's pgx sends them): column names, text rows, and
/// the row count of the command tag. `context` goes into the panic message of a failed query.
pub async fn simple(
    client: &tokio_postgres::Client,
    context: &str,
    sql: &str,
) -> (Vec<String>, Vec<Vec<Option<String>>>, Option<u64>) {
    use tokio_postgres::SimpleQueryMessage;
    let messages = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{context}\n{sql}\n→ {e:?}"));
    let mut columns = Vec::new();
    let mut rows = Vec::new();
    let mut tag = None;
    for m in messages {
        match m {
            SimpleQueryMessage::RowDescription(desc) => {
                columns = desc.iter().map(|c| c.name().to_string()).collect();
            }
            SimpleQueryMessage::Row(row) => {
                if columns.is_empty() {
                    columns = row.columns().iter().map(|c| c.name().to_string()).collect();
                }
                rows.push(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                );
            }
            SimpleQueryMessage::CommandComplete(n) => tag = Some(n),
            _ => {}
        }
    }
    (columns, rows, tag)
}
