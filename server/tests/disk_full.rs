//! A full disk: ingest is refused with `503` and nothing stored, queries go on, ingest resumes
//! by itself once there is room, and the database reopens with exactly the acknowledged rows.
//!
//! The data directory is a small tmpfs mounted for the test (the tests run as root, as CI
//! does), so the disk really fills: once below the reserve kept for checkpoints
//! (`min_free_disk`), and once to the last byte with no reserve, where DuckDB's own write of
//! its log fails with `ENOSPC`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{TestServer, eventually, ndjson};

/// A tmpfs of `mib` MiB, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(parent: &Path, mib: u64) -> Tmpfs {
        let dir = parent.join("disk");
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&dir)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs failed: this test needs root, as the test command and CI run"
        );
        Tmpfs(dir)
    }

    fn free(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.0)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// Fills the disk until `leave` bytes are free.
    fn fill(&self, leave: u64) -> PathBuf {
        let filler = self.0.join("filler");
        let size = self.free().saturating_sub(leave);
        let file = std::fs::File::create(&filler).unwrap();
        // A tmpfs allocates on write, not on set_len: write the bytes.
        let mut writer = std::io::BufWriter::new(file);
        let chunk = vec![0xA5u8; 1 << 16];
        let mut left = size;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            if std::io::Write::write_all(&mut writer, &chunk[..n]).is_err() {
                break;
            }
            left -= n as u64;
        }
        let _ = std::io::Write::flush(&mut writer);
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn config(dir: &Path, toml: &str) -> PathBuf {
    let path = dir.join("loginsight.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

/// A 64 MiB tmpfs, the data directory on it and a configuration keeping a 16 MiB reserve.
fn with_reserve(root: &Path) -> (Tmpfs, PathBuf, PathBuf) {
    let disk = Tmpfs::mount(root, 64);
    let data = disk.0.join("data");
    let toml = config(
        root,
        "[store]\nwal_autocheckpoint = \"4MB\"\nmin_free_disk = \"16MiB\"\n",
    );
    (disk, data, toml)
}

#[tokio::test(flavor = "multi_thread")]
async fn below_the_reserve_ingest_gets_503_queries_go_on_and_ingest_resumes() {
    let root = tempfile::tempdir().unwrap();
    let (disk, data, toml) = with_reserve(root.path());
    let server = TestServer::start_with(&data, &["--config", toml.to_str().unwrap()]);
    for _ in 0..5 {
        server.post_logs(ndjson(2000)).await;
    }
    let filler = disk.fill(8 << 20);

    let posted = server.post_ndjson(ndjson(2000)).await;
    assert_eq!(posted.status, 503, "{}", posted.body);
    assert_eq!(posted.retry_after.as_deref(), Some("1"));
    assert!(posted.body.contains("disk is full"), "{}", posted.body);
    assert!(server.metric("loginsight_disk_full_requests_total").await >= 1.0);
    // Queries are answered meanwhile, with exactly the acknowledged rows.
    assert_eq!(server.number("SELECT count(*) FROM logs").await, 10_000);

    // Room again: the next request is stored, with no restart.
    std::fs::remove_file(filler).unwrap();
    server.post_logs(ndjson(2000)).await;
    assert_eq!(server.number("SELECT count(*) FROM logs").await, 12_000);
    assert_eq!(server.stop().code(), Some(0));
    let server = TestServer::start(&data);
    assert_eq!(server.number("SELECT count(*) FROM logs").await, 12_000);
    assert_eq!(server.stop().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_enospc_while_committing_stores_nothing_and_the_database_stays_whole() {
    let root = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(root.path(), 32);
    let data = disk.0.join("data");
    // No reserve, and no checkpoint during the test: DuckDB's write of its log is what fails.
    let toml = config(
        root.path(),
        "[store]\nwal_autocheckpoint = \"1GB\"\nmin_free_disk = \"0\"\n",
    );
    let server = TestServer::start_with(&data, &["--config", toml.to_str().unwrap()]);
    for _ in 0..3 {
        server.post_logs(ndjson(2000)).await;
    }
    let filler = disk.fill(16 << 10);
    let mut refused = 0;
    for _ in 0..3 {
        let posted = server.post_ndjson(ndjson(2000)).await;
        assert_eq!(posted.status, 503, "{}", posted.body);
        assert_eq!(posted.retry_after.as_deref(), Some("1"));
        assert!(
            posted.body.contains("No space left on device"),
            "{}",
            posted.body
        );
        refused += 1;
    }
    assert_eq!(refused, 3);
    assert_eq!(server.number("SELECT count(*) FROM logs").await, 6_000);

    std::fs::remove_file(filler).unwrap();
    eventually(30, "ingest resumed", || async {
        match server.post_ndjson(ndjson(2000)).await {
            posted if posted.status == 200 => Ok(()),
            posted => Err(format!("{} {}", posted.status, posted.body)),
        }
    })
    .await;
    assert_eq!(server.number("SELECT count(*) FROM logs").await, 8_000);
    // A crash right after: the log replays to exactly the acknowledged rows.
    server.crash();
    let server = TestServer::start(&data);
    assert_eq!(server.number("SELECT count(*) FROM logs").await, 8_000);
    let sum: i64 = server
        .pg()
        .await
        .query_one("SELECT CAST(sum(count) AS BIGINT) FROM stats", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(sum, 8_000);
    assert_eq!(server.stop().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn syslog_messages_received_while_the_disk_is_full_are_stored_once_there_is_room() {
    use tokio::io::AsyncWriteExt;
    let root = tempfile::tempdir().unwrap();
    let (disk, data, toml) = with_reserve(root.path());
    let server = TestServer::start_with(
        &data,
        &[
            "--config",
            toml.to_str().unwrap(),
            "--syslog-tcp",
            "127.0.0.1:0",
        ],
    );
    server.post_logs(ndjson(2000)).await;
    let filler = disk.fill(8 << 20);

    // Syslog has no acknowledgement to refuse: the batch the store turns away must wait for
    // room instead of being dropped.
    let mut tcp = tokio::net::TcpStream::connect(server.addr("syslog_tcp"))
        .await
        .unwrap();
    let stream: String = (0..300)
        .map(|i| format!("<11>Oct 11 22:14:15 web-1 checkout: payment {i} failed\n"))
        .collect();
    tcp.write_all(stream.as_bytes()).await.unwrap();
    tcp.shutdown().await.unwrap();
    eventually(30, "the syslog batch refused for the full disk", || async {
        match server.metric("loginsight_disk_full_requests_total").await {
            n if n >= 1.0 => Ok(()),
            n => Err(format!("{n} refusals")),
        }
    })
    .await;
    assert_eq!(
        server
            .number("SELECT count(*) FROM logs WHERE source = 'syslog'")
            .await,
        0
    );

    std::fs::remove_file(filler).unwrap();
    eventually(30, "every syslog message stored", || async {
        match server
            .number("SELECT count(DISTINCT message) FROM logs WHERE source = 'syslog'")
            .await
        {
            300 => Ok(()),
            n => Err(format!("{n} distinct messages")),
        }
    })
    .await;
    assert_eq!(
        server
            .number("SELECT count(*) FROM logs WHERE source = 'syslog'")
            .await,
        300
    );
    assert_eq!(server.stop().code(), Some(0));
}
