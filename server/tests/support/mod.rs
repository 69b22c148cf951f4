//! Shared helpers for the server's integration tests: start the real `loginsight` binary on
//! port 0, read its bound addresses back, and stop it by PID.

#![allow(dead_code)] // each test crate uses a different subset

pub mod receiver;
pub mod services;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The answer to an ingest request.
#[derive(Debug)]
pub struct Posted {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
}

/// A running `loginsight serve`.
pub struct TestServer {
    child: Child,
    pub http: SocketAddr,
    pub pg: SocketAddr,
    pub data_dir: PathBuf,
    /// The ready line, with every address the server bound.
    ready: String,
}

/// `loginsight serve` on `data_dir`, every listener on a loopback port the kernel picks.
pub fn serve_command(data_dir: &Path) -> Command {
    serve_command_on(data_dir, "127.0.0.1:0")
}

/// [`serve_command`] with HTTP on a given address (for tests that restart a server under
/// a client that keeps its address).
pub fn serve_command_on(data_dir: &Path, http_addr: &str) -> Command {
    let mut command = Command::new(binary());
    command
        .args([
            "serve",
            "--http-addr",
            http_addr,
            "--pg-addr",
            "127.0.0.1:0",
        ])
        .args(["--grpc-addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir);
    command
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_loginsight")
}

impl TestServer {
    pub fn start(data_dir: &Path) -> TestServer {
        Self::start_with(data_dir, &[])
    }

    /// Starts the server with extra flags and waits for its ready line.
    pub fn start_with(data_dir: &Path, extra: &[&str]) -> TestServer {
        Self::start_on(data_dir, "127.0.0.1:0", extra)
    }

    /// Starts the server with HTTP on `http_addr` and extra flags.
    pub fn start_on(data_dir: &Path, http_addr: &str, extra: &[&str]) -> TestServer {
        let mut command = serve_command_on(data_dir, http_addr);
        command.args(extra);
        let (child, line) = spawn_until_ready(&mut command, "loginsight ready");
        let field = |name: &str| -> SocketAddr {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("no {name}= in {line:?}"))
                .parse()
                .unwrap()
        };
        TestServer {
            http: field("http"),
            pg: field("pg"),
            ready: line.clone(),
            data_dir: data_dir.to_path_buf(),
            child,
        }
    }

    /// An address from the ready line (`syslog_udp`, `syslog_tcp`, …).
    pub fn addr(&self, name: &str) -> SocketAddr {
        self.ready
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name}= in {:?}", self.ready))
            .parse()
            .unwrap()
    }

    /// POSTs NDJSON to `/v1/logs` and expects it acknowledged (`200`).
    pub async fn post_logs(&self, body: String) {
        let posted = self.post_ndjson(body).await;
        assert_eq!(posted.status, 200, "{}", posted.body);
    }

    /// POSTs NDJSON to `/v1/logs`, whatever the answer.
    pub async fn post_ndjson(&self, body: String) -> Posted {
        let response = reqwest::Client::new()
            .post(self.url("/v1/logs"))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .unwrap();
        Posted {
            status: response.status().as_u16(),
            retry_after: response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string()),
            body: response.text().await.unwrap(),
        }
    }

    /// The one integer a query answers (`count(*)`, a cast sum), over tokio-postgres.
    pub async fn number(&self, sql: &str) -> i64 {
        let row = self.pg().await.query_one(sql, &[]).await.unwrap();
        row.get::<_, i64>(0)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }

    /// `host=… port=…` connection string for tokio-postgres.
    pub fn pg_config(&self) -> String {
        format!(
            "host={} port={} user=loginsight dbname=loginsight",
            self.pg.ip(),
            self.pg.port()
        )
    }

    pub async fn pg(&self) -> tokio_postgres::Client {
        let (client, connection) =
            tokio_postgres::connect(&self.pg_config(), tokio_postgres::NoTls)
                .await
                .expect("connect over the Postgres wire");
        tokio::spawn(connection);
        client
    }

    /// `psql -c sql` against the server, unaligned and tuples-only, stopping at an error.
    fn psql_command(&self, sql: &str) -> Command {
        let mut command = Command::new("psql");
        command
            .args([
                "-h",
                &self.pg.ip().to_string(),
                "-p",
                &self.pg.port().to_string(),
            ])
            .args(["-U", "loginsight", "-d", "loginsight", "-X", "-A", "-t"])
            .args(["-v", "ON_ERROR_STOP=1", "-c", sql]);
        command
    }

    /// Runs `sql` with psql and returns stdout.
    pub fn psql(&self, sql: &str) -> String {
        let out = self.psql_command(sql).output().expect("run psql");
        assert!(
            out.status.success(),
            "psql failed for {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs `sql` with psql, expects it to fail, and returns psql's error output.
    pub fn psql_error(&self, sql: &str) -> String {
        let out = self.psql_command(sql).output().expect("run psql");
        assert!(!out.status.success(), "{sql:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Kills the server with SIGKILL: a crash, no shutdown work at all.
    pub fn crash(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `GET /metrics` and the value of one sample (`name` without labels).
    pub async fn metric(&self, name: &str) -> f64 {
        let response = reqwest::get(self.url("/metrics")).await;
        let response = match response {
            Ok(r) => r,
            Err(err) => {
                let alive = Command::new("kill")
                    .args(["-0", &self.child.id().to_string()])
                    .status()
                    .is_ok_and(|s| s.success());
                // A zombie also answers `kill -0`: "alive" means not yet reaped.
                panic!("GET /metrics: {err:?}; server process exists: {alive}")
            }
        };
        let text = response.text().await.unwrap();
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix(' '))
                    .map(|v| v.trim().parse::<f64>().unwrap())
            })
            .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not stop within 60 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `check` every 100 ms until it returns `Some`, failing after `secs` seconds with
/// `what` and the last value seen.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) => {
                assert!(
                    Instant::now() < deadline,
                    "{what}: not reached within {secs} s; last: {last}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One incident of `shared/genlogs.py`'s ground truth.
pub struct GenIncident {
    pub root_service: String,
    pub affected: Vec<String>,
}

/// Runs `shared/genlogs.py` with `args` (and `--no-truth-fields`) into `dir`: the NDJSON
/// lines, and the incidents of its truth file.
pub fn genlogs(dir: &Path, args: &[&str]) -> (String, Vec<GenIncident>) {
    // Read at run time: a test binary reused from another checkout must not look there.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo test");
    let script = Path::new(&manifest).join("../../shared/genlogs.py");
    let (out, truth) = (dir.join("logs.ndjson"), dir.join("truth.json"));
    let status = Command::new("python3")
        .arg(&script)
        .args(args)
        .arg("--no-truth-fields")
        .arg("--out")
        .arg(&out)
        .arg("--truth")
        .arg(&truth)
        .status()
        .expect("python3 runs genlogs.py");
    assert!(status.success());
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&truth).unwrap()).unwrap();
    let incidents = truth["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| GenIncident {
            root_service: i["root_service"].as_str().unwrap().to_string(),
            affected: i["affected_services"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect(),
        })
        .collect();
    (std::fs::read_to_string(&out).unwrap(), incidents)
}

/// Waits until at least `want` incidents' root insights name their incident (marks reach an
/// insight on the tracker's pass after the worker wrote it).
pub async fn wait_root_insights_linked(client: &tokio_postgres::Client, want: i64) {
    eventually(120, "root insights naming their incident", || async move {
        let linked: i64 = client
            .query_one(
                "SELECT count(*) FROM insights i JOIN incidents n ON i.incident_id = n.id \
                 WHERE i.service = n.root_service AND i.pattern_id = n.root_pattern",
                &[],
            )
            .await
            .map_err(|e| e.to_string())?
            .get(0);
        (linked >= want)
            .then_some(())
            .ok_or_else(|| format!("{linked} root insights linked"))
    })
    .await;
}

/// A child process stopped by PID when dropped.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn terminate(&mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not stop within 60 s",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `loginsight worker` with `args` and waits for its ready line.
pub fn start_worker(args: &[&str]) -> Proc {
    let mut command = Command::new(binary());
    command.arg("worker").args(args);
    let (child, _) = spawn_until_ready(&mut command, "loginsight worker ready");
    Proc {
        child,
        name: "loginsight worker".into(),
    }
}

/// Spawns `command` (the `loginsight` binary) with the test log filter, and returns once it
/// printed a stdout line starting with `ready`, with that line. Stdout keeps being drained so
/// the process never blocks on a full pipe.
fn spawn_until_ready(command: &mut Command, ready: &'static str) -> (Child, String) {
    let mut child = command
        .env(
            "LOGINSIGHT_LOG",
            std::env::var("LOGINSIGHT_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn loginsight");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.starts_with(ready) {
                let _ = tx.send(line);
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("no {ready:?} line within 60 s"));
    (child, line)
}

/// `n` NDJSON log lines over three services, a fifth of them errors, one per second from
/// 2024-05-01T12:00:00Z.
pub fn ndjson(n: usize) -> String {
    let services = ["api", "db", "web"];
    let mut out = String::new();
    for i in 0..n {
        let level = if i % 5 == 0 { "ERROR" } else { "INFO" };
        let line = serde_json::json!({
            "timestamp": 1_714_564_800 + i as i64,
            "level": level,
            "service": services[i % 3],
            "host": format!("host-{}", i % 2),
            "message": format!("request {i} handled"),
            "trace_id": format!("{i:032x}"),
            "request_id": i,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}
