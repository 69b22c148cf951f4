//! The real services the bus tests need: a Kafka-protocol broker (tansu, in-memory storage)
//! and PostgreSQL. `.ci/run` starts one of each and exports `LOGINSIGHT_TEST_KAFKA` and
//! `LOGINSIGHT_TEST_PG_URL`; without them a test starts private ones. Either way every test
//! works in its own topics and database, and whatever a test starts it stops by PID.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A name no other test of this run uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(addr: SocketAddr, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A tansu broker started by this test (or the shared one from `.ci/run`).
pub struct Broker {
    child: Option<Child>,
    pub addr: String,
}

impl Broker {
    /// The shared broker if `.ci/run` started one, else a private one.
    pub fn shared_or_start() -> Broker {
        match std::env::var("LOGINSIGHT_TEST_KAFKA") {
            Ok(addr) if !addr.is_empty() => Broker { child: None, addr },
            _ => Broker::start_on(free_port()),
        }
    }

    /// A private broker on `port` (in-memory: a restart is an empty broker).
    pub fn start_on(port: u16) -> Broker {
        Broker::start_advertising(port, port)
    }

    /// A private broker that tells clients to reach it on `advertised` (a [`Link`] in front).
    pub fn start_advertising(port: u16, advertised: u16) -> Broker {
        let url = format!("tcp://127.0.0.1:{port}");
        let advertised_url = format!("tcp://127.0.0.1:{advertised}");
        let child = Command::new("tansu")
            .args([
                "broker",
                "--storage-engine",
                "memory://tansu/",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised_url,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "cannot run `tansu` (install it: cargo install tansu --locked --features dynostore)",
            );
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        wait_for_port(addr, "tansu");
        Broker {
            child: Some(child),
            addr: format!("127.0.0.1:{advertised}"),
        }
    }

    /// Kills a private broker (its in-memory data is gone).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A PostgreSQL database for one test: in the shared server from `.ci/run`, or in a private
/// server started here (initdb + pg_ctl, trust auth on loopback, as user `postgres` when the
/// tests run as root, which PostgreSQL refuses).
pub struct Postgres {
    pub url: String,
    private: Option<(tempfile::TempDir, PathBuf)>,
}

fn as_postgres_user(program: &str) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", program]);
        c
    } else {
        Command::new(program)
    }
}

impl Postgres {
    pub async fn database() -> Postgres {
        let (admin_url, private) = match std::env::var("LOGINSIGHT_TEST_PG_URL") {
            Ok(url) if !url.is_empty() => (url, None),
            _ => {
                let dir = tempfile::tempdir().unwrap();
                let data = dir.path().join("data");
                let _ = Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(dir.path())
                    .status();
                let ok = as_postgres_user("initdb")
                    .args([
                        "-D",
                        data.to_str().unwrap(),
                        "-U",
                        "postgres",
                        "-A",
                        "trust",
                        "--no-sync",
                    ])
                    .stdout(Stdio::null())
                    .status()
                    .expect("run initdb (PostgreSQL 15 must be on the PATH)");
                assert!(ok.success(), "initdb failed");
                let port = free_port();
                let opts = format!(
                    "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                    dir.path().display()
                );
                let ok = as_postgres_user("pg_ctl")
                    .args(["-D", data.to_str().unwrap(), "-o", &opts, "-w", "-l"])
                    .arg(dir.path().join("log"))
                    .arg("start")
                    .stdout(Stdio::null())
                    .status()
                    .expect("run pg_ctl");
                assert!(ok.success(), "pg_ctl start failed");
                (
                    format!("postgres://postgres@127.0.0.1:{port}/postgres"),
                    Some((dir, data)),
                )
            }
        };
        let name = unique("li_test");
        let (client, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
            .await
            .expect("connect to PostgreSQL");
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let base = admin_url.rsplit_once('/').unwrap().0;
        Postgres {
            url: format!("{base}/{name}"),
            private,
        }
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .expect("connect to the test database");
        tokio::spawn(conn);
        client
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some((_dir, data)) = &self.private {
            let _ = as_postgres_user("pg_ctl")
                .args([
                    "-D",
                    data.to_str().unwrap(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ])
                .stdout(Stdio::null())
                .status();
        }
    }
}

/// A TCP relay in front of a broker that a test can cut and restore: a network outage, or a
/// broker restart that keeps its data, with every client connection dropped while it is cut.
pub struct Link {
    pub port: u16,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Link {
    /// Listens on a free loopback port; connect `start` to the broker behind it.
    pub async fn listen() -> (Link, impl FnOnce(SocketAddr)) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (target_tx, target_rx) = tokio::sync::oneshot::channel::<SocketAddr>();
        let (up2, connections2) = (up.clone(), connections.clone());
        let accept = tokio::spawn(async move {
            let target = target_rx.await.unwrap();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                connections2.lock().unwrap().push(task.abort_handle());
            }
        });
        let link = Link {
            port,
            up,
            connections,
            accept,
        };
        (link, move |target| target_tx.send(target).unwrap())
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Drops every open connection and refuses new ones until [`Link::restore`].
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
