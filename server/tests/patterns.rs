//! Pattern mining over the wire: every record gets a pattern_id, `patterns` sums them up, and
//! ids survive a restart.

mod support;

use support::TestServer;

async fn post_lines(server: &TestServer, lines: &[String]) {
    let response = reqwest::Client::new()
        .post(server.url("/v1/logs"))
        .header("content-type", "application/x-ndjson")
        .body(lines.join("\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        200,
        "{}",
        response.text().await.unwrap()
    );
}

fn logins(range: std::ops::Range<usize>) -> Vec<String> {
    range
        .map(|i| {
            serde_json::json!({
                "service": "auth", "level": "info",
                "message": format!("user u{i} logged in from 10.0.{}.{} in {}ms", i % 7, i % 250, 10 + i),
            })
            .to_string()
        })
        .collect()
}

fn declines(range: std::ops::Range<usize>) -> Vec<String> {
    range
        .map(|i| {
            serde_json::json!({
                "service": "payments", "level": "error",
                "message": format!("payment failed for order {}: card declined (code={})", 1000 + i, i % 5),
            })
            .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_record_gets_a_pattern_and_ids_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());
    post_lines(&server, &logins(0..30)).await;
    post_lines(&server, &declines(0..20)).await;

    let top =
        server.psql("SELECT service, level, template, count FROM patterns ORDER BY count DESC");
    let rows: Vec<&str> = top.lines().collect();
    assert_eq!(rows.len(), 2, "{top}");
    assert!(
        rows[0].starts_with("auth|INFO|user <*> logged in from <*>"),
        "{top}"
    );
    assert!(rows[0].ends_with("|30"), "{top}");
    assert!(
        rows[1].starts_with("payments|ERROR|payment failed for order <*>"),
        "{top}"
    );
    assert!(rows[1].ends_with("|20"), "{top}");
    assert_eq!(
        server
            .psql("SELECT count(*) FROM logs WHERE pattern_id IS NULL")
            .trim(),
        "0"
    );
    assert_eq!(
        server
            .psql("SELECT count(*) FROM logs l JOIN patterns p ON l.pattern_id = p.pattern_id")
            .trim(),
        "50"
    );
    // "New patterns in the last hour" is one query.
    assert_eq!(
        server
            .psql("SELECT count(*) FROM patterns WHERE first_seen > now() - interval '1 hour'")
            .trim(),
        "2"
    );
    let ids_before = server.psql("SELECT service, pattern_id FROM patterns ORDER BY service");
    assert!(server.stop().success());

    let server = TestServer::start(dir.path());
    post_lines(&server, &logins(30..35)).await;
    post_lines(&server, &declines(20..21)).await;
    assert_eq!(
        server.psql("SELECT service, pattern_id FROM patterns ORDER BY service"),
        ids_before
    );
    assert_eq!(
        server
            .psql("SELECT count FROM patterns ORDER BY service")
            .trim(),
        "35\n21"
    );
    assert_eq!(
        server
            .psql("SELECT count(DISTINCT pattern_id) FROM logs")
            .trim(),
        "2"
    );
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn mining_can_be_switched_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), &["--mine-patterns", "false"]);
    post_lines(&server, &logins(0..5)).await;
    assert_eq!(
        server
            .psql("SELECT count(*) FROM logs WHERE pattern_id IS NULL")
            .trim(),
        "5"
    );
    assert_eq!(server.psql("SELECT count(*) FROM patterns").trim(), "0");
}

#[test]
fn the_patterns_command_prints_scoreable_csv() {
    let input = "Served block blk_1 to 10.0.0.1\nServed block blk_2 to 10.0.0.2\nDeleting block blk_3 file /data/x\n";
    let mut child = std::process::Command::new(support::binary())
        .arg("patterns")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "line,pattern_id,template");
    assert_eq!(lines.len(), 4, "{text}");
    let id = |l: &str| l.split(',').nth(1).unwrap().to_string();
    assert_eq!(id(lines[1]), id(lines[2]));
    assert_ne!(id(lines[1]), id(lines[3]));
    assert!(lines[1].starts_with("1,"));
    assert!(lines[3].starts_with("3,"));
}

#[tokio::test(flavor = "multi_thread")]
async fn merged_patterns_repoint_stored_rows() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());
    // Word-valued positions generalise only after several distinct values, so the first
    // workers get patterns of their own that are later merged; each line is its own commit.
    for name in ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"] {
        let line = serde_json::json!({
            "service": "jobs", "message": format!("worker {name} started cleanly"),
        });
        post_lines(&server, &[line.to_string()]).await;
    }
    let rows = server.psql("SELECT template, count FROM patterns WHERE service = 'jobs'");
    assert_eq!(rows.trim(), "worker <*> started cleanly|6", "{rows}");
    assert_eq!(
        server
            .psql(
                "SELECT count(DISTINCT l.pattern_id), count(*) FROM logs l \
                 JOIN patterns p ON l.pattern_id = p.pattern_id WHERE l.service = 'jobs'"
            )
            .trim(),
        "1|6"
    );
}
