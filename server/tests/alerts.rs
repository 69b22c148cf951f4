//! Alert rules and notifications through `serve`, with a real HTTP receiver on loopback in the
//! place of Slack, a generic webhook and PagerDuty: a rule fires from the logs, the receiver
//! is down at first and nothing is lost, the firing is announced once however many times the
//! rule is evaluated, it resolves when the condition clears, and `alerts`/`notifications`
//! show it all in SQL.

mod support;

use std::time::Duration;

use support::receiver::Receiver;
use support::{TestServer, eventually, serve_command};

fn errors(n: usize, service: &str) -> String {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    (0..n)
        .map(|i| {
            serde_json::json!({
                "timestamp": now, "level": "ERROR", "service": service,
                "message": format!("charge {i} declined by the acquirer"),
            })
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rule_fires_once_survives_a_receiver_outage_and_resolves() {
    let receiver = Receiver::start().await;
    receiver.answer(503);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("loginsight.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[notify]
on_incident = false
grafana_url = "http://grafana.example:3000"

[[notifiers]]
name = "slack"
kind = "slack"
url = "{slack}"

[[notifiers]]
name = "hook"
kind = "webhook"
url = "{hook}"

[[notifiers]]
name = "pd"
kind = "pagerduty"
url = "{pd}"
routing_key = "rk-123"

[[alerts]]
name = "checkout errors"
sql = "SELECT count(*) AS value FROM logs WHERE service = 'checkout' AND level = 'ERROR' AND ts > now() - INTERVAL '4 seconds'"
condition = "value > 5"
every = "300ms"
severity = "critical"
labels = {{ team = "payments", service = "checkout", note = "password=hunter2" }}
"#,
            slack = receiver.url("slack"),
            hook = receiver.url("hook"),
            pd = receiver.url("pd"),
        ),
    )
    .unwrap();
    let server = TestServer::start_with(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let client = server.pg().await;

    server.post_logs(errors(10, "checkout")).await;
    eventually(30, "the rule firing", || {
        let client = &client;
        async move {
            let (state, value): (String, Option<f64>) = client
                .query_one(
                    "SELECT state, last_value FROM alerts WHERE name = 'checkout errors'",
                    &[],
                )
                .await
                .map(|r| (r.get(0), r.get(1)))
                .map_err(|e| e.to_string())?;
            (state == "firing" && value == Some(10.0))
                .then_some(())
                .ok_or_else(|| format!("{state} {value:?}"))
        }
    })
    .await;
    // The receiver is down: the notifications wait in the outbox, with the reason.
    eventually(30, "failed attempts recorded", || {
        let client = &client;
        async move {
            let rows = client
                .query(
                    "SELECT status, attempts, last_error FROM notifications WHERE event = 'firing'",
                    &[],
                )
                .await
                .map_err(|e| e.to_string())?;
            let waiting = rows.iter().all(|r| {
                r.get::<_, String>(0) == "pending"
                    && r.get::<_, i64>(1) >= 1
                    && r.get::<_, Option<String>>(2)
                        .unwrap_or_default()
                        .contains("503")
            });
            (rows.len() == 3 && waiting)
                .then_some(())
                .ok_or_else(|| format!("{} rows", rows.len()))
        }
    })
    .await;
    assert!(receiver.accepted("slack").is_empty());

    // Back up: each notifier gets the firing exactly once.
    receiver.answer(200);
    eventually(60, "the firing delivered to every notifier", || async {
        let n = ["slack", "hook", "pd"]
            .iter()
            .map(|p| receiver.accepted(p).len())
            .collect::<Vec<_>>();
        (n == [1, 1, 1])
            .then_some(())
            .ok_or_else(|| format!("{n:?}"))
    })
    .await;

    // The condition clears four seconds after the errors: one resolved notification each.
    eventually(60, "the resolution delivered", || async {
        let n = ["slack", "hook", "pd"]
            .iter()
            .map(|p| receiver.accepted(p).len())
            .collect::<Vec<_>>();
        (n == [2, 2, 2])
            .then_some(())
            .ok_or_else(|| format!("{n:?}"))
    })
    .await;
    // Evaluated many times while firing, announced once (the repeat interval is 4 h).
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.accepted("hook").len(), 2);

    let hook = receiver.accepted("hook");
    assert_eq!(hook[0]["version"], 1);
    assert_eq!(
        (hook[0]["kind"].as_str(), hook[0]["event"].as_str()),
        (Some("alert"), Some("firing"))
    );
    assert_eq!(hook[1]["event"], "resolved");
    assert_eq!(hook[0]["fingerprint"], hook[1]["fingerprint"]);
    assert_eq!(hook[0]["value"], 10.0);
    assert_eq!(hook[0]["labels"]["team"], "payments");
    let slack = receiver.accepted("slack");
    assert_eq!(slack[0]["text"], "Alert firing: checkout errors");
    assert!(
        slack[0]["blocks"]
            .to_string()
            .contains("http://grafana.example:3000/d/loginsight-overview")
    );
    let pd = receiver.accepted("pd");
    assert_eq!(
        (
            pd[0]["event_action"].as_str(),
            pd[1]["event_action"].as_str()
        ),
        (Some("trigger"), Some("resolve"))
    );
    assert_eq!(pd[0]["dedup_key"], pd[1]["dedup_key"]);
    assert_eq!(pd[0]["routing_key"], "rk-123");
    assert_eq!(pd[0]["payload"]["severity"], "critical");
    // Everything is redacted before it leaves.
    for r in receiver.requests() {
        assert!(!r.body.to_string().contains("hunter2"), "{}", r.body);
    }

    let sent: i64 = client
        .query_one(
            "SELECT count(*) FROM notifications WHERE status = 'sent'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(sent, 6);
    let (state, _): (String, Option<f64>) = client
        .query_one("SELECT state, last_value FROM alerts", &[])
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(state, "inactive");
    assert_eq!(
        server
            .metric("loginsight_notifications_sent_total{notifier=\"hook\"}")
            .await,
        2.0
    );
    assert!(
        server
            .metric("loginsight_notifications_failed_total{notifier=\"hook\"}")
            .await
            >= 1.0
    );
    server.stop();
}

#[test]
fn a_rule_whose_query_does_not_plan_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("loginsight.toml");
    std::fs::write(
        &config,
        "[[alerts]]\nname = \"typo\"\nsql = \"SELECT count(*) FROM lgos\"\n",
    )
    .unwrap();
    let out = serve_command(&dir.path().join("data"))
        .args(["--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("alert \"typo\"") && stderr.contains("lgos"),
        "{stderr}"
    );
}
