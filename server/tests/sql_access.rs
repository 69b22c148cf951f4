//! The SQL endpoint's exposure rules at the server level: no password, no listening beyond
//! loopback; with a password, clients authenticate and the server's own analysis (which reads
//! its context over the endpoint) still works.

mod support;

#[tokio::test(flavor = "multi_thread")]
async fn without_a_password_the_endpoint_stays_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(support::binary())
        .args([
            "serve",
            "--http-addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "127.0.0.1:0",
        ])
        .args(["--pg-addr", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("LOGINSIGHT_SQL_PASSWORD")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("without a password"), "{stderr}");
    assert!(stderr.contains("LOGINSIGHT_SQL_PASSWORD"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_password_clients_authenticate_and_analysis_still_reads_context() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let stderr_path = dir.path().join("stderr.log");
    let mut child = support::serve_command(&dir.path().join("data"))
        .args(["--sql-password", "s3cret pass"])
        .env("LOGINSIGHT_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    let addr = |name: &str| -> String {
        ready
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {ready:?}"))
            .to_string()
    };
    let body: String = (0..5)
        .map(|i| {
            format!(
                "{{\"service\":\"billing\",\"level\":\"ERROR\",\"message\":\"invoice {i} failed: connection refused\"}}\n"
            )
        })
        .collect();
    let posted = reqwest::Client::new()
        .post(format!("http://{}/v1/logs", addr("http")))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    let pg: std::net::SocketAddr = addr("pg").parse().unwrap();
    let config = format!(
        "host={} port={} user=loginsight dbname=loginsight",
        pg.ip(),
        pg.port()
    );
    let refused = tokio_postgres::connect(&config, tokio_postgres::NoTls).await;
    assert!(refused.is_err(), "a client without the password got in");
    let (client, connection) = tokio_postgres::connect(
        &format!("{config} password='s3cret pass'"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let insight = support::eventually(60, "an insight for billing", || async {
        let rows = client
            .query("SELECT service FROM insights", &[])
            .await
            .map_err(|e| e.to_string())?;
        if rows.is_empty() {
            Err("none".into())
        } else {
            Ok(rows[0].get::<_, String>(0))
        }
    })
    .await;
    assert_eq!(insight, "billing");
    let analyzed = client
        .query("SELECT service FROM analyze('billing')", &[])
        .await
        .unwrap();
    assert!(!analyzed.is_empty());
    let mut process = support::Proc {
        child,
        name: "loginsight serve".into(),
    };
    assert!(process.terminate().success());
    // The in-process worker read its context over the endpoint with its own credentials.
    let log = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(!log.contains("without store context"), "{log}");
}
