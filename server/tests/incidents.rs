//! The incident tracker inside `serve`, fed the generated logs of `shared/genlogs.py`: six
//! incidents over two hours of steady background errors. The incidents appear in SQL with the
//! true roots, the background patterns' insights are marked and in no incident, and each
//! root's insight names its incident. (The tracker's accuracy over many seeds is measured in
//! `crates/diagnose/tests/genlogs_incidents.rs`; this is the same tracker, wired.)

mod support;

use support::receiver::Receiver;
use support::{TestServer, eventually};

#[tokio::test(flavor = "multi_thread")]
async fn generated_incidents_appear_in_sql_with_background_kept_out() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("loginsight.toml");
    std::fs::write(
        &config,
        format!(
            "[incidents]\nevery = \"1s\"\n\n[[notifiers]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{}\"\n\n[[alerts]]\nname = \"open incidents\"\nsql = \"SELECT count(*) AS value FROM incidents WHERE status = 'open'\"\ncondition = \"value > 0\"\nevery = \"500ms\"\n",
            receiver.url("hook")
        ),
    )
    .unwrap();
    let server = TestServer::start_with(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let (logs, truth) = support::genlogs(dir.path(), &["--lines", "20000", "--seed", "3"]);
    let roots: Vec<String> = truth.into_iter().map(|i| i.root_service).collect();
    let lines: Vec<&str> = logs.lines().collect();
    for chunk in lines.chunks(2_000) {
        server.post_logs(chunk.join("\n")).await;
    }
    let client = server.pg().await;

    let found = eventually(120, "the six incidents, in order", || {
        let client = &client;
        let roots = &roots;
        async move {
            let found: Vec<String> = client
                .query("SELECT root_service FROM incidents ORDER BY started", &[])
                .await
                .map_err(|e| e.to_string())?
                .iter()
                .map(|r| r.get(0))
                .collect();
            (&found == roots)
                .then_some(found.clone())
                .ok_or_else(|| format!("{found:?}, want {roots:?}"))
        }
    })
    .await;
    assert_eq!(found.len(), 6);

    // The five before the last are over; each later one with the same root would link back.
    let resolved: i64 = client
        .query_one(
            "SELECT count(*) FROM incidents WHERE status = 'resolved'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(resolved >= 5, "{resolved} resolved");

    eventually(120, "background validation insights in no incident", || {
        let client = &client;
        async move {
            let rows = client
                .query(
                    "SELECT service, incident_id, background FROM insights \
                     WHERE title LIKE '%validation%'",
                    &[],
                )
                .await
                .map_err(|e| e.to_string())?;
            let marks: Vec<(String, Option<String>, Option<bool>)> = rows
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect();
            if let Some(attached) = marks.iter().find(|m| m.1.is_some()) {
                panic!("a background pattern in an incident: {attached:?}");
            }
            let background = marks.iter().filter(|m| m.2 == Some(true)).count();
            (marks.len() >= 5 && background * 10 >= marks.len() * 9)
                .then_some(())
                .ok_or_else(|| format!("{background} of {} marked: {marks:?}", marks.len()))
        }
    })
    .await;

    // A root pattern recurring in a later incident names the later one.
    support::wait_root_insights_linked(&client, 5).await;

    // One notification per incident opened and per resolution, never one per symptom or
    // per count-only update.
    let notes = eventually(60, "incident notifications", || async {
        let notes: Vec<serde_json::Value> = receiver
            .accepted("hook")
            .into_iter()
            .filter(|n| n["kind"] == "incident")
            .collect();
        let opened = notes.iter().filter(|n| n["event"] == "opened").count();
        let resolved = notes.iter().filter(|n| n["event"] == "resolved").count();
        (opened == 6 && resolved >= 5)
            .then_some(notes.clone())
            .ok_or_else(|| format!("{opened} opened, {resolved} resolved"))
    })
    .await;
    // The alert rule over `incidents` fires on the one still open.
    let alert = eventually(30, "the open-incidents alert", || async {
        receiver
            .accepted("hook")
            .into_iter()
            .find(|n| n["kind"] == "alert")
            .ok_or_else(|| "not yet".to_string())
    })
    .await;
    assert_eq!(alert["event"], "firing");
    assert!(alert["value"].as_f64().unwrap() >= 1.0, "{alert}");
    for n in notes.iter().filter(|n| n["kind"] != "alert") {
        assert_eq!(n["kind"], "incident");
        assert!(
            ["opened", "resolved", "severity_rose"].contains(&n["event"].as_str().unwrap()),
            "{n}"
        );
    }
    let opened: Vec<&serde_json::Value> = notes.iter().filter(|n| n["event"] == "opened").collect();
    let services: Vec<&str> = opened
        .iter()
        .map(|n| n["service"].as_str().unwrap())
        .collect();
    assert_eq!(
        services,
        roots.iter().map(String::as_str).collect::<Vec<_>>()
    );
    for n in &opened {
        let cause = n["root_cause"].as_str().unwrap();
        assert!(cause.contains("is the likely root cause"), "{n}");
        assert!(!n["suggested_fix"].as_str().unwrap().is_empty(), "{n}");
    }
    server.stop();
}
