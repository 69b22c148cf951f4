//! File tail against the real server: `serve --tail` and the standalone `loginsight tail`
//! shipper. Files are appended to, rotated (rename + create, with the writer still appending
//! to the renamed file), truncated in place, and the readers are stopped, killed and
//! restarted; every line must be stored exactly once and multi-line records as one row.

mod support;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use support::{Proc, TestServer};

fn append(path: &Path, lines: impl IntoIterator<Item = String>) {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
    file.sync_all().unwrap();
}

fn numbered(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix} {i:05}")).collect()
}

/// Waits until `logs` holds `expected` rows, then checks no message is stored twice.
async fn exactly(server: &TestServer, expected: usize) {
    support::eventually(60, &format!("{expected} rows"), || async {
        let n = server.psql("SELECT count(*) FROM logs");
        if n.trim() == expected.to_string() {
            Ok(())
        } else {
            Err(n)
        }
    })
    .await;
    let twice =
        server.psql("SELECT message, count(*) FROM logs GROUP BY message HAVING count(*) > 1");
    assert_eq!(twice.trim(), "", "stored more than once");
}

/// Waits until `logs` holds more than `rows` rows: part of a backlog is stored.
async fn more_than(server: &TestServer, rows: usize) {
    support::eventually(60, "part of the backlog", || async {
        let n: usize = server
            .psql("SELECT count(*) FROM logs")
            .trim()
            .parse()
            .unwrap();
        if n > rows { Ok(()) } else { Err(n.to_string()) }
    })
    .await;
}

const JAVA_TRACE: &str = "2026-11-29 10:00:00,120 ERROR [main] Checkout - payment failed\n\
java.lang.IllegalStateException: card service unavailable\n\
\tat com.shop.Pay.charge(Pay.java:42)\n\
\tat com.shop.Checkout.run(Checkout.java:7)\n\
Caused by: java.net.ConnectException: Connection refused\n\
\t... 2 more";

#[tokio::test(flavor = "multi_thread")]
async fn serve_tail_follows_rotation_truncation_and_restarts_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let data = dir.path().join("data");
    let app = logs.join("app.log");
    let api = logs.join("api.log");
    let pattern = format!("{}/*.log", logs.display());

    // Before the server starts: a plain file, and one with a Java trace and a JSON line.
    append(&app, numbered("app before start", 0..200));
    append(
        &api,
        [
            JAVA_TRACE.to_string(),
            r#"{"level":"warn","message":"slow upstream","service":"gateway","latency_ms":950}"#
                .to_string(),
        ],
    );
    let server = TestServer::start_with(&data, &["--tail", &pattern]);
    exactly(&server, 202).await;
    let trace = server.psql(&format!(
        "SELECT level, service, ts FROM logs WHERE message = '{}'",
        JAVA_TRACE.replace('\'', "''")
    ));
    assert!(
        trace.trim().starts_with("ERROR|api|2026-11-29 10:00:00.12"),
        "the stack trace is one record, with its line's level and timestamp: {trace}"
    );
    let json =
        server.psql("SELECT level, service, attributes FROM logs WHERE message = 'slow upstream'");
    let (head, attributes) = json.trim().rsplit_once('|').unwrap();
    assert_eq!(head, "WARN|gateway");
    let attributes: serde_json::Value = serde_json::from_str(attributes).unwrap();
    assert_eq!(attributes["latency_ms"], 950);
    assert!(
        attributes["file"]["path"]
            .as_str()
            .unwrap()
            .ends_with("/api.log")
    );

    // Rotation: rename, the writer still appends to the renamed file, then a new file.
    let rotated = logs.join("app.log.1");
    let mut old_writer = OpenOptions::new().append(true).open(&app).unwrap();
    std::fs::rename(&app, &rotated).unwrap();
    for line in numbered("app late write", 0..10) {
        writeln!(old_writer, "{line}").unwrap();
    }
    drop(old_writer);
    append(&app, numbered("app after rotation", 0..50));
    exactly(&server, 262).await;

    // Truncation in place (copytruncate), then new lines.
    File::create(&api).unwrap();
    append(&api, numbered("api after truncation", 0..30));
    exactly(&server, 292).await;

    // A clean restart, with lines written while the server is down.
    assert!(server.stop().success());
    append(&app, numbered("app while stopped", 0..40));
    let server = TestServer::start_with(&data, &["--tail", &pattern]);
    exactly(&server, 332).await;

    // A crash in the middle of a large backlog.
    append(&app, numbered("app before crash", 0..20_000));
    more_than(&server, 332).await;
    server.crash();
    let server = TestServer::start_with(&data, &["--tail", &pattern]);
    exactly(&server, 20_332).await;
    let sources = server.psql("SELECT DISTINCT source FROM logs");
    assert_eq!(sources.trim(), "file");
    let paths = server
        .psql("SELECT count(*) FROM logs WHERE attributes LIKE '%/app.log\"%' AND service = 'app'");
    assert_eq!(
        paths.trim(),
        "20300",
        "every app line, with its file's path"
    );
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tail_shipper_survives_kills_and_server_outages() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let state = dir.path().join("shipper-state.json");
    let log = logs.join("worker.log");
    let port = support::services::free_port();
    let http = format!("127.0.0.1:{port}");
    let shipper = || Proc {
        child: Command::new(support::binary())
            .args(["tail", &format!("{}/*.log", logs.display())])
            .args(["--to", &format!("http://{http}"), "--service", "batch"])
            .arg("--state")
            .arg(&state)
            .env("LOGINSIGHT_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
        name: "loginsight tail".into(),
    };

    let server = TestServer::start_on(&dir.path().join("data"), &http, &[]);
    append(&log, numbered("job", 0..100));
    let mut ship = shipper();
    exactly(&server, 100).await;

    // SIGKILL in the middle of a backlog; the next shipper resumes from the state file.
    append(&log, numbered("bulk", 0..20_000));
    more_than(&server, 100).await;
    ship.kill9();
    let mut ship = shipper();
    exactly(&server, 20_100).await;

    // The server goes away; lines written meanwhile arrive once it is back.
    assert!(server.stop().success());
    append(&log, numbered("during outage", 0..50));
    std::thread::sleep(std::time::Duration::from_millis(800));
    let server = TestServer::start_on(&dir.path().join("data"), &http, &[]);
    exactly(&server, 20_150).await;
    let services = server.psql("SELECT DISTINCT service FROM logs");
    assert_eq!(services.trim(), "batch");
    assert!(ship.terminate().success());
    assert!(server.stop().success());
}
