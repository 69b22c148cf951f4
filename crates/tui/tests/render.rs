//! Rendering tests: fixture rows → [`App`] → one frame on ratatui's `TestBackend`, checked
//! as the text a user would see. No server, no terminal.

use loginsight_tui::app::App;
use loginsight_tui::data::{
    AlertState, AnalyzeTarget, Connection, Incident, Insight, LogLine, Pattern, ServiceRate,
    Update, View,
};
use loginsight_tui::input::Key;
use loginsight_tui::ui;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// Draws `app` on a `width`×`height` screen and returns its lines.
fn draw(app: &App, width: u16, height: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| ui::render(frame, app)).unwrap();
    let buffer = terminal.backend().buffer();
    (0..height)
        .map(|y| (0..width).map(|x| buffer[(x, y)].symbol()).collect())
        .collect()
}

fn text(app: &App) -> String {
    draw(app, 140, 40).join("\n")
}

fn insights() -> Vec<Insight> {
    vec![
        Insight {
            id: "i1".into(),
            service: "checkout".into(),
            pattern_id: "p1".into(),
            severity: "critical".into(),
            title: "Payment gateway times out".into(),
            summary: "Checkout calls to the gateway time out after 30 s.".into(),
            root_cause: "The gateway's connection pool is exhausted.".into(),
            suggested_fix: "Raise the pool size and add a circuit breaker.".into(),
            confidence: Some(0.8),
            model: "builtin".into(),
            status: "open".into(),
            first_seen: "2024-05-01T12:00:00Z".into(),
            last_seen: "2024-05-01T12:05:00Z".into(),
            occurrences: 420,
            evidence: r#"{"template":"gateway timeout after <*> ms","hosts":["web-1"]}"#.into(),
            ..Insight::default()
        },
        Insight {
            id: "i2".into(),
            service: "inventory".into(),
            pattern_id: "p2".into(),
            severity: "warning".into(),
            title: "Disk almost full".into(),
            summary: "The data volume is 95% full.".into(),
            root_cause: "Old snapshots are never deleted.".into(),
            suggested_fix: "Expire snapshots older than a week.".into(),
            evidence: r#"{"template":"disk usage at <*>%"}"#.into(),
            last_seen: "2024-05-01T11:00:00Z".into(),
            occurrences: 7,
            ..Insight::default()
        },
    ]
}

/// Live, on the insights view.
fn live_app() -> App {
    let mut app = App::new();
    app.handle_key(Key::Char('2'));
    app.apply(Update::Connection(Connection::Live));
    app.apply(Update::Insights(insights()));
    app.apply(Update::Refreshed {
        at: "12:06:00".into(),
    });
    app
}

#[test]
fn insights_view_lists_severity_service_and_title_and_details_the_selection() {
    let app = live_app();
    let screen = text(&app);
    for tab in ["Insights", "Patterns", "Stats", "Logs"] {
        assert!(screen.contains(tab), "{tab} tab missing:\n{screen}");
    }
    assert!(screen.contains("● live 12:06:00"), "{screen}");
    assert!(screen.contains("CRITICAL"), "{screen}");
    assert!(screen.contains("WARNING"), "{screen}");
    assert!(screen.contains("checkout") && screen.contains("inventory"));
    assert!(screen.contains("Payment gateway times out"));
    assert!(screen.contains("Disk almost full"));
    // The first row is selected: its detail, with the template from the evidence.
    assert!(screen.contains("▶"), "{screen}");
    assert!(
        screen.contains("Checkout calls to the gateway time out"),
        "{screen}"
    );
    assert!(screen.contains("The gateway's connection pool is exhausted."));
    assert!(screen.contains("Raise the pool size"));
    assert!(screen.contains("gateway timeout after <*> ms"));
    assert!(screen.contains("confidence 0.80"));
    assert!(!screen.contains("Old snapshots"), "{screen}");
}

#[test]
fn moving_down_shows_the_next_insight_and_enter_zooms_it() {
    let mut app = live_app();
    app.handle_key(Key::Char('j'));
    let screen = text(&app);
    assert!(
        screen.contains("Old snapshots are never deleted."),
        "{screen}"
    );
    assert!(screen.contains("disk usage at <*>%"));
    assert!(!screen.contains("Checkout calls to the gateway"));
    // Enter: the detail takes the whole width, the list is gone.
    app.handle_key(Key::Enter);
    let screen = text(&app);
    assert!(screen.contains("Expire snapshots"), "{screen}");
    assert!(!screen.contains("SEVERITY"), "{screen}");
}

#[test]
fn an_insight_arriving_while_watching_is_starred() {
    let mut app = live_app();
    let mut rows = insights();
    rows.insert(
        0,
        Insight {
            id: "i3".into(),
            service: "search".into(),
            severity: "error".into(),
            title: "Index rebuild fails".into(),
            ..Insight::default()
        },
    );
    app.apply(Update::Insights(rows));
    let screen = text(&app);
    let line = screen
        .lines()
        .find(|l| l.contains("Index rebuild fails"))
        .unwrap();
    assert!(line.contains('★'), "{line}");
    assert!(screen.contains("Insights (3, 1 new)"), "{screen}");
    // The selection stayed on the insight it was on.
    assert!(screen.contains("Checkout calls to the gateway"), "{screen}");
}

#[test]
fn help_overlay_lists_the_keys() {
    let mut app = live_app();
    app.handle_key(Key::Char('?'));
    let screen = text(&app);
    assert!(screen.contains("Help — keys"), "{screen}");
    for key in [
        "Tab  Shift-Tab",
        "q  Ctrl-C",
        "analyze the selected service",
    ] {
        assert!(screen.contains(key), "{key}:\n{screen}");
    }
    app.handle_key(Key::Esc);
    assert!(!text(&app).contains("Help — keys"));
}

#[test]
fn a_lost_connection_shows_in_the_header_and_status_bar() {
    let mut app = live_app();
    app.apply(Update::Connection(Connection::Down {
        error: "connection refused".into(),
        retry_in: 4,
    }));
    let screen = draw(&app, 140, 40);
    assert!(screen[0].contains("✕ disconnected"), "{}", screen[0]);
    let status = &screen[39];
    assert!(
        status.contains("disconnected: connection refused — retrying in 4 s"),
        "{status}"
    );
    // What was loaded stays on screen.
    assert!(screen.join("\n").contains("Payment gateway times out"));
}

#[test]
fn filter_input_and_analysis_progress_show_in_the_status_bar() {
    let mut app = live_app();
    app.handle_key(Key::Char('/'));
    for c in "service:checkout".chars() {
        app.handle_key(Key::Char(c));
    }
    let screen = draw(&app, 140, 40);
    assert!(
        screen[39].starts_with("/service:checkout"),
        "{}",
        screen[39]
    );
    app.handle_key(Key::Enter);
    app.handle_key(Key::Char('a'));
    let screen = draw(&app, 140, 40);
    assert!(
        screen[39].contains("analyze('checkout') running"),
        "{}",
        screen[39]
    );
    assert!(
        screen[1].contains("filter: service:checkout"),
        "{}",
        screen[1]
    );
    app.apply(Update::Analysis {
        target: AnalyzeTarget::Service("checkout".into()),
        result: Err("analysis timed out".into()),
    });
    let screen = draw(&app, 140, 40);
    assert!(
        screen[39].contains("analyze('checkout'): analysis timed out"),
        "{}",
        screen[39]
    );
}

#[test]
fn patterns_stats_and_logs_views() {
    let mut app = live_app();
    app.handle_key(Key::Tab);
    assert_eq!(app.view, View::Patterns);
    app.apply(Update::Patterns(vec![
        Pattern {
            pattern_id: "p1".into(),
            service: "checkout".into(),
            level: "ERROR".into(),
            template: "gateway timeout after <*> ms".into(),
            count: 420,
            example: "gateway timeout after 30000 ms".into(),
            is_new: true,
            ..Pattern::default()
        },
        Pattern {
            pattern_id: "p9".into(),
            service: "api".into(),
            level: "INFO".into(),
            template: "request <*> handled".into(),
            count: 9000,
            ..Pattern::default()
        },
    ]));
    let screen = text(&app);
    assert!(
        screen.contains("Patterns seen in the last 1 hour (2 shown, 1 new)"),
        "{screen}"
    );
    let new_line = screen
        .lines()
        .find(|l| l.contains("gateway timeout after <*> ms"))
        .unwrap();
    assert!(
        new_line.contains("NEW") && new_line.contains("420"),
        "{new_line}"
    );
    let old_line = screen.lines().find(|l| l.contains("request <*>")).unwrap();
    assert!(!old_line.contains("NEW"), "{old_line}");
    assert!(
        screen.contains("gateway timeout after 30000 ms"),
        "the example"
    );

    app.handle_key(Key::Tab);
    let mut errors = vec![0; 60];
    errors[59] = 12;
    app.apply(Update::Stats(vec![ServiceRate {
        service: "checkout".into(),
        errors,
        totals: vec![10; 60],
    }]));
    let screen = text(&app);
    assert!(screen.contains("Errors per minute by service"), "{screen}");
    assert!(screen.contains("checkout") && screen.contains("12 errors / 600 lines  2.0%"));
    assert!(screen.contains('█'), "a sparkline bar:\n{screen}");

    app.handle_key(Key::Tab);
    app.apply(Update::Logs(vec![LogLine {
        ts: "2024-05-01T12:00:01Z".into(),
        level: "ERROR".into(),
        service: "checkout".into(),
        host: "web-1".into(),
        message: "gateway timeout after 30000 ms".into(),
    }]));
    let screen = text(&app);
    let line = screen.lines().find(|l| l.contains("web-1")).unwrap();
    assert!(
        line.contains("05-01 12:00:01")
            && line.contains("ERROR")
            && line.contains("gateway timeout"),
        "{line}"
    );
}

#[test]
fn empty_views_say_what_will_appear() {
    let mut app = App::new();
    let screen = text(&app);
    assert!(screen.contains("◌ connecting"), "{screen}");
    assert!(screen.contains("No incidents."), "{screen}");
    app.handle_key(Key::Char('2'));
    assert!(text(&app).contains("No insights yet"));
    app.handle_key(Key::Char('5'));
    assert!(text(&app).contains("No log lines match"));
}

/// It opens on incidents: open ones listed, and the selected one's root first with its
/// symptoms beneath, each with its insight's title.
#[test]
fn incidents_view_shows_the_root_first_and_the_symptoms_beneath() {
    let mut app = App::new();
    app.apply(Update::Connection(Connection::Live));
    let mut members = insights();
    members[0].incident_id = "n1".into();
    members[0].service = "redis-cache".into();
    members[0].pattern_id = "oom".into();
    members[0].title = "out of memory in redis-cache".into();
    members[0].suggested_fix = "Raise maxmemory".into();
    members[1].incident_id = "n1".into();
    members[1].service = "checkout".into();
    members[1].title = "timeout in checkout: upstream redis-cache timed out".into();
    app.apply(Update::Insights(members));
    app.apply(Update::Incidents(vec![
        Incident {
            id: "n1".into(),
            status: "open".into(),
            severity: "error".into(),
            title: "out of memory in redis-cache: OOM command not allowed".into(),
            root_service: "redis-cache".into(),
            root_pattern: "oom".into(),
            root_cause: "redis-cache is the likely root cause: memory ran out.".into(),
            symptom_services: vec!["checkout".into()],
            started: "2024-05-01T12:00:00Z".into(),
            last_seen: "2024-05-01T12:04:00Z".into(),
            insight_count: 2,
            errors: 120,
            ..Incident::default()
        },
        Incident {
            id: "n0".into(),
            status: "resolved".into(),
            severity: "critical".into(),
            title: "disk full in inventory".into(),
            root_service: "inventory".into(),
            resolved_at: "2024-05-01T11:30:00Z".into(),
            ..Incident::default()
        },
    ]));
    let screen = text(&app);
    for want in [
        "Incidents (1 open, 2 in all)",
        "OPEN",
        "resolved",
        "Root",
        "▶ redis-cache",
        "redis-cache is the likely root cause",
        "fix: Raise maxmemory",
        "Symptoms",
        "└ checkout timeout in checkout",
    ] {
        assert!(screen.contains(want), "{want}:\n{screen}");
    }
    let root = screen.find("Root").unwrap();
    assert!(
        screen.find("Symptoms").unwrap() > root,
        "root first:\n{screen}"
    );
}

/// The alerts view lists the rules, firing ones first, with their value and any error.
#[test]
fn alerts_view_shows_firing_rules_first() {
    let mut app = App::new();
    app.apply(Update::Connection(Connection::Live));
    app.handle_key(Key::Char('6'));
    assert!(text(&app).contains("No alert rules"));
    app.apply(Update::Alerts(vec![
        AlertState {
            name: "checkout errors".into(),
            state: "firing".into(),
            since: "2024-05-01T12:00:00Z".into(),
            last_value: Some(140.0),
            labels: r#"{"team":"payments"}"#.into(),
            ..AlertState::default()
        },
        AlertState {
            name: "typo rule".into(),
            state: "inactive".into(),
            last_error: "no column \"count\"".into(),
            ..AlertState::default()
        },
    ]));
    let screen = text(&app);
    for want in [
        "Alerts (1 firing, 2 rules)",
        "FIRING",
        "checkout errors",
        "140",
        "payments",
        "error: no column",
    ] {
        assert!(screen.contains(want), "{want}:\n{screen}");
    }
}
