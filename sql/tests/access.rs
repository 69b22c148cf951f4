//! Safe to expose: SCRAM-SHA-256 users, TLS (`sslmode=require` and `verify-full` from psql),
//! the connection limit, the statement timeout, cancel requests (psql's Ctrl-C), and the
//! read-only surface — each against a real endpoint with real clients.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio_postgres::NoTls;

/// A query that runs for minutes unless stopped (10^10 rows through a cross join; the filter
/// keeps DataFusion from answering the count from the inputs' exact row counts).
const ENDLESS: &str =
    "SELECT count(*) FROM range(100000) a CROSS JOIN range(100000) b WHERE a.value <> b.value";

fn psql(port: u16, conninfo: &str, password: Option<&str>, sql: &str) -> std::process::Output {
    let mut command = Command::new("psql");
    command
        .arg(format!(
            "host=127.0.0.1 port={port} user=loginsight dbname=loginsight {conninfo}"
        ))
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env_remove("PGPASSWORD")
        .env_remove("PGSSLMODE");
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    command.output().expect("run psql")
}

/// The server's message of a failed call.
fn message(err: &tokio_postgres::Error) -> String {
    err.as_db_error()
        .map_or_else(|| err.to_string(), |db| db.message().to_string())
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn connect(
    port: u16,
    password: Option<&str>,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config = format!("host=127.0.0.1 port={port} user=loginsight dbname=loginsight");
    if let Some(password) = password {
        config.push_str(&format!(" password='{password}'"));
    }
    let (client, connection) = tokio_postgres::connect(&config, NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

fn with_password() -> sql::Access {
    sql::Access {
        users: vec![sql::User::with_password("loginsight", "correct horse")],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn scram_users_must_authenticate() {
    let endpoint = support::start_with(with_password()).await;
    let client = connect(endpoint.port, Some("correct horse")).await.unwrap();
    let n: i64 = client
        .query_one("SELECT count(*) FROM logs", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 3);
    let ok = psql(
        endpoint.port,
        "",
        Some("correct horse"),
        "SELECT count(*) FROM logs",
    );
    assert!(ok.status.success(), "{}", text(&ok));
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "3");

    let wrong = psql(endpoint.port, "", Some("wrong"), "SELECT 1");
    assert!(!wrong.status.success());
    assert!(
        text(&wrong)
            .to_lowercase()
            .contains("password authentication failed"),
        "{}",
        text(&wrong)
    );
    let none = psql(endpoint.port, "", None, "SELECT 1");
    assert!(!none.status.success(), "no password: {}", text(&none));

    let client = connect(endpoint.port, Some("correct horse")).await.unwrap();
    let n: i64 = client
        .query_one("SELECT count(*) FROM logs", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 3);
    let err = connect(endpoint.port, Some("nope")).await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("28P01"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_with_sslmode_require_and_verify_full() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("run openssl");
    assert!(made.success());
    let endpoint = support::start_with(sql::Access {
        tls: Some(sql::TlsFiles {
            cert: cert.clone(),
            key,
        }),
        ..with_password()
    })
    .await;
    let required = psql(
        endpoint.port,
        "sslmode=require",
        Some("correct horse"),
        "SELECT count(*) FROM logs",
    );
    assert!(required.status.success(), "{}", text(&required));
    let verified = psql(
        endpoint.port,
        &format!("sslmode=verify-full sslrootcert={}", cert.display()),
        Some("correct horse"),
        "SELECT count(*) FROM logs",
    );
    assert!(verified.status.success(), "{}", text(&verified));
    assert_eq!(String::from_utf8_lossy(&verified.stdout).trim(), "3");

    // Without TLS configured, sslmode=require is refused by the client.
    let plain = support::start_with(with_password()).await;
    let refused = psql(
        plain.port,
        "sslmode=require",
        Some("correct horse"),
        "SELECT 1",
    );
    assert!(!refused.status.success());
    assert!(text(&refused).contains("SSL"), "{}", text(&refused));
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_beyond_the_limit_get_53300() {
    let endpoint = support::start_with(sql::Access {
        max_connections: 2,
        ..Default::default()
    })
    .await;
    let first = connect(endpoint.port, None).await.unwrap();
    let second = connect(endpoint.port, None).await.unwrap();
    let err = connect(endpoint.port, None).await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("53300"), "{err}");
    assert!(message(&err).contains("too many clients"), "{err}");
    drop(second);
    // The slot is freed when the connection's task ends.
    let deadline = Instant::now() + Duration::from_secs(10);
    let third = loop {
        match connect(endpoint.port, None).await {
            Ok(c) => break c,
            Err(e) => {
                assert!(Instant::now() < deadline, "slot not freed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    for client in [&first, &third] {
        client.simple_query("SELECT 1").await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_statement_timeout_stops_a_running_query() {
    let endpoint = support::start_with(sql::Access {
        statement_timeout: Some(Duration::from_secs(2)),
        ..Default::default()
    })
    .await;
    let client = connect(endpoint.port, None).await.unwrap();
    let started = Instant::now();
    let err = client.simple_query(ENDLESS).await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("57014"), "{err}");
    assert!(message(&err).contains("statement timeout"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(60));
    // The extended protocol too, and a session's own timeout wins.
    client
        .simple_query("SET statement_timeout = 500")
        .await
        .unwrap();
    let err = client.query(ENDLESS, &[]).await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("57014"), "{err}");
    assert!(message(&err).contains("500 ms"), "{err}");
    let n: i64 = client
        .query_one("SELECT count(*) FROM logs", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 3, "the connection is usable after a timeout");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_requests_stop_a_running_query() {
    let endpoint = support::start().await;
    // tokio-postgres' cancel token.
    let client = connect(endpoint.port, None).await.unwrap();
    let token = client.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        token.cancel_query(NoTls).await.unwrap();
    });
    let err = client.simple_query(ENDLESS).await.unwrap_err();
    canceller.await.unwrap();
    assert_eq!(err.code().map(|c| c.code()), Some("57014"), "{err}");
    assert!(message(&err).contains("user request"), "{err}");
    client.simple_query("SELECT 1").await.unwrap();

    // psql's Ctrl-C: SIGINT makes psql send a cancel request.
    let child = Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={} user=loginsight dbname=loginsight",
            endpoint.port
        ))
        .args(["-X", "-At", "-c", ENDLESS])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        text(&out).contains("canceling statement due to user request"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_files_and_other_databases_are_refused() {
    let endpoint = support::start().await;
    let client = connect(endpoint.port, None).await.unwrap();
    for (sql, code, says) in [
        ("DROP TABLE logs", "25006", "read-only"),
        (
            "INSERT INTO logs (message) VALUES ('x')",
            "25006",
            "read-only",
        ),
        ("COPY logs TO 'out.csv'", "25006", "read-only"),
        ("COPY logs TO STDOUT", "25006", "read-only"),
        (
            "ATTACH DATABASE '/tmp/other.duckdb' AS other",
            "25006",
            "read-only",
        ),
        // Not even PostgreSQL syntax: refused by the parser before anything could plan it.
        (
            "CREATE EXTERNAL TABLE pw STORED AS CSV LOCATION '/etc/passwd'",
            "42601",
            "syntax",
        ),
        ("SELECT * FROM read_csv('/etc/passwd')", "42883", "read_csv"),
        (
            "SELECT * FROM read_parquet('/tmp/x.parquet')",
            "42883",
            "read_parquet",
        ),
    ] {
        for extended in [false, true] {
            let err = if extended {
                client.query(sql, &[]).await.map(drop).unwrap_err()
            } else {
                client.simple_query(sql).await.map(drop).unwrap_err()
            };
            let db = err.as_db_error().unwrap_or_else(|| panic!("{sql}: {err}"));
            assert_eq!(db.code().code(), code, "{sql}: {}", db.message());
            assert!(db.message().contains(says), "{sql}: {}", db.message());
        }
    }
    let n: i64 = client
        .query_one("SELECT count(*) FROM logs", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 3, "healthy after every refusal");
    assert!(!std::path::Path::new("out.csv").exists());
}
