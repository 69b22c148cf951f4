//! Online backup: `loginsight backup --to DIR` while a sender keeps ingesting, then a server on
//! DIR holds every request acknowledged before the backup began, whole, with `stats` and
//! `patterns` consistent with `logs` (one snapshot).

mod support;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use support::{TestServer, binary, eventually};

const LINES: usize = 500;

fn request(r: usize) -> String {
    let mut out = String::new();
    for j in 0..LINES {
        let line = serde_json::json!({
            "timestamp": 1_714_564_800 + (r * LINES + j) as i64,
            "level": if j % 50 == 0 { "ERROR" } else { "INFO" },
            "service": "shop",
            "message": format!("req {r} line {j}"),
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

fn backup(server: &TestServer, to: &std::path::Path) -> std::process::Output {
    Command::new(binary())
        .args(["backup", "--server", &server.url(""), "--to"])
        .arg(to)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_taken_under_load_restores_every_row_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Arc::new(TestServer::start(dir.path()));
    let acked = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    // One sender, so requests are acknowledged in order: request r acknowledged means every
    // request before it was too.
    let sender = tokio::spawn({
        let (server, acked, stop) = (server.clone(), acked.clone(), stop.clone());
        async move {
            let mut r = 0;
            while !stop.load(Ordering::SeqCst) {
                server.post_logs(request(r)).await;
                r += 1;
                acked.store(r, Ordering::SeqCst);
            }
        }
    });
    eventually(60, "some requests acknowledged", || async {
        match acked.load(Ordering::SeqCst) {
            n if n >= 10 => Ok(()),
            n => Err(format!("{n} acknowledged")),
        }
    })
    .await;

    let target = tempfile::tempdir().unwrap();
    let backup_dir = target.path().join("backup");
    let before = acked.load(Ordering::SeqCst);
    let out = tokio::task::spawn_blocking({
        let (server, backup_dir) = (server.clone(), backup_dir.clone());
        move || backup(&server, &backup_dir)
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "backup failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("logs:"), "{printed}");
    // The sender went on during the backup; let it send a little more, then stop.
    eventually(60, "ingest continued after the backup", || async {
        match acked.load(Ordering::SeqCst) {
            n if n > before + 2 => Ok(()),
            n => Err(format!("{n} acknowledged")),
        }
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    sender.await.unwrap();
    let total = acked.load(Ordering::SeqCst) as i64;

    // A second backup into the same directory is refused, naming why.
    let again = backup(&server, &backup_dir);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds a database"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        server.number("SELECT count(*) FROM logs").await,
        total * LINES as i64
    );
    let server = Arc::into_inner(server).unwrap();
    assert_eq!(server.stop().code(), Some(0));

    // Restore: a server on the backup directory.
    let restored = TestServer::start(&backup_dir);
    let rows = restored.number("SELECT count(*) FROM logs").await;
    let requests = restored
        .number("SELECT count(DISTINCT split_part(message, ' ', 2)) FROM logs")
        .await;
    let last = restored
        .number("SELECT max(CAST(split_part(message, ' ', 2) AS BIGINT)) FROM logs")
        .await;
    assert!(
        requests >= before as i64,
        "{requests} requests restored, {before} acknowledged before the backup"
    );
    // Whole requests only, contiguous from the first: a snapshot, not a torn copy.
    assert_eq!(rows, requests * LINES as i64);
    assert_eq!(last + 1, requests);
    assert!(requests <= total);
    // The rollup and the patterns were copied from the same snapshot as the rows.
    assert_eq!(
        restored
            .number("SELECT CAST(sum(count) AS BIGINT) FROM stats")
            .await,
        rows
    );
    assert_eq!(
        restored
            .number("SELECT CAST(sum(count) AS BIGINT) FROM patterns")
            .await,
        rows
    );
    // The restored server takes new rows.
    restored.post_logs(request(1_000_000)).await;
    assert_eq!(
        restored.number("SELECT count(*) FROM logs").await,
        rows + LINES as i64
    );
    assert_eq!(restored.stop().code(), Some(0));
}
