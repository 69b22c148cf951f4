//! `loginsight demo` against a fresh `serve`: the workload is stored, and the embedded
//! builtin analyst explains the incidents, naming a root-cause service. (How soon is measured
//! by hand on a release build, not asserted: the deadline below only stops a hung test.)

mod support;

use std::process::Command;

use support::{TestServer, binary, eventually};

/// The root-cause services `demo` announces (`… root cause in SERVICE, felt by …`).
fn announced_roots(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.split("root cause in ").nth(1))
        .filter_map(|rest| rest.split(',').next())
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_yields_insights_naming_the_root_cause_within_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());

    // The defaults a newcomer runs: 100,000 lines at 20,000 lines/s.
    let out = Command::new(binary())
        .args(["demo", "--url", &server.url("/")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let roots = announced_roots(&stdout);
    assert_eq!(roots.len(), 3, "three incidents announced: {stdout}");
    assert!(stdout.contains("sent 100000 lines"), "{stdout}");

    let client = server.pg().await;
    let count: i64 = client
        .query_one("SELECT count(*) FROM logs", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 100_000, "every line acknowledged is stored");
    let services: i64 = client
        .query_one("SELECT count(DISTINCT service) FROM logs", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(services, 9);

    // An insight whose service is an announced root cause and whose root cause names it.
    let (service, root_cause) = eventually(120, "a root-cause insight", || {
        let client = &client;
        let roots = &roots;
        async move {
            let rows = client
                .query("SELECT service, root_cause FROM insights", &[])
                .await
                .map_err(|e| e.to_string())?;
            rows.iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, Option<String>>(1)))
                .find_map(|(service, cause)| {
                    let cause = cause?;
                    (roots.contains(&service)
                        && cause.starts_with(&format!("{service} is the likely root cause")))
                    .then_some((service, cause))
                })
                .ok_or_else(|| format!("{} insights, none names a root cause yet", rows.len()))
        }
    })
    .await;
    assert!(root_cause.contains("named by"), "{service}: {root_cause}");

    // The incident tracker groups the three incidents under the announced roots.
    let incidents: Vec<(String, String, String, i64)> =
        eventually(120, "three incidents with the announced roots", || {
            let client = &client;
            let roots = &roots;
            async move {
                let rows = client
                    .query(
                        "SELECT id, root_service, symptom_services, insight_count FROM incidents \
                         ORDER BY started",
                        &[],
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                let found: Vec<(String, String, String, i64)> = rows
                    .iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                    .collect();
                let found_roots: Vec<&String> = found.iter().map(|f| &f.1).collect();
                if found_roots == roots.iter().collect::<Vec<_>>() {
                    Ok(found)
                } else {
                    Err(format!("incidents so far: {found:?}"))
                }
            }
        })
        .await;
    for (_, root, symptoms, count) in &incidents {
        let symptoms: Vec<String> = serde_json::from_str(symptoms).unwrap();
        assert!(
            !symptoms.is_empty() && !symptoms.contains(root),
            "{root}: {symptoms:?}"
        );
        assert!(*count > symptoms.len() as i64, "{root}: {count} insights");
    }
    support::wait_root_insights_linked(&client, 3).await;

    // The same seed sends the same incidents.
    let again = Command::new(binary())
        .args([
            "demo",
            "--url",
            &server.url("/"),
            "--lines",
            "1000",
            "--rate",
            "0",
        ])
        .output()
        .unwrap();
    assert!(again.status.success());
    assert_eq!(
        announced_roots(&String::from_utf8_lossy(&again.stdout)),
        roots
    );
    server.stop();
}

#[test]
fn demo_reports_a_server_that_is_not_there() {
    // A port nothing listens on: bind, read it back, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(binary())
        .args([
            "demo",
            "--url",
            &format!("http://127.0.0.1:{port}"),
            "--lines",
            "10",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is `loginsight serve` running"), "{stderr}");
}
