//! Drawing: one frame from the [`App`] state, nothing else.
//!
//! The whole screen is rebuilt from state on every frame and ratatui writes only the cells
//! that changed since the previous one, so polling and ticking never flicker.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{
    Block, Borders, Cell, Clear, Paragraph, Row, Sparkline, Table, TableState, Tabs, Wrap,
};

use crate::app::{Analysis, App, TICK_MS};
use crate::data::{AlertState, Connection, Incident, Insight, View, short_time};

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// Draws the whole screen.
pub fn render(frame: &mut Frame, app: &App) {
    let [header, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    render_header(frame, app, header);
    match app.view {
        View::Incidents => render_incidents(frame, app, body),
        View::Insights => render_insights(frame, app, body),
        View::Patterns => render_patterns(frame, app, body),
        View::Stats => render_stats(frame, app, body),
        View::Logs => render_logs(frame, app, body),
        View::Alerts => render_alerts(frame, app, body),
    }
    render_status(frame, app, status);
    if app.help {
        render_help(frame, frame.area());
    }
}

/// The colour of a severity or level, whatever its case.
pub fn severity_style(severity: &str) -> Style {
    match severity.to_ascii_lowercase().as_str() {
        "critical" | "fatal" | "emergency" | "alert" => Style::new().fg(Color::Magenta).bold(),
        "error" | "high" => Style::new().fg(Color::Red).bold(),
        "warn" | "warning" | "medium" => Style::new().fg(Color::Yellow),
        "info" | "low" | "notice" => Style::new().fg(Color::Cyan),
        _ => Style::new().fg(Color::Gray),
    }
}

fn render_header(frame: &mut Frame, app: &App, area: Rect) {
    let (indicator, style) = match &app.connection {
        Connection::Live => ("● live", Style::new().fg(Color::Green).bold()),
        Connection::Connecting => ("◌ connecting", Style::new().fg(Color::Yellow)),
        Connection::Down { .. } => ("✕ disconnected", Style::new().fg(Color::Red).bold()),
    };
    let mut right = vec![Span::styled(indicator, style)];
    if let Some(at) = &app.refreshed_at {
        right.push(Span::raw(format!(" {at}")).dark_gray());
    }
    if !app.server.is_empty() {
        right.push(Span::raw(format!("  {}", app.server)).dark_gray());
    }
    let right = Line::from(right);
    let [left_area, right_area] = Layout::horizontal([
        Constraint::Min(0),
        Constraint::Length(right.width() as u16 + 1),
    ])
    .areas(area);
    let tabs = Tabs::new(View::ALL.map(|v| format!("{} {}", v.index() + 1, v.title())))
        .select(app.view.index())
        .highlight_style(Style::new().fg(Color::Black).bg(Color::Cyan).bold())
        .divider("│");
    let [brand, tabs_area] =
        Layout::horizontal([Constraint::Length(12), Constraint::Min(0)]).areas(left_area);
    frame.render_widget(Span::raw(" Log Insight").bold(), brand);
    frame.render_widget(tabs, tabs_area);
    frame.render_widget(right.right_aligned(), right_area);
}

fn titled(title: String) -> Block<'static> {
    Block::new()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(Color::DarkGray))
        .title(Line::from(title).bold())
}

fn selected_style() -> Style {
    Style::new()
        .bg(Color::DarkGray)
        .add_modifier(Modifier::BOLD)
}

fn empty(frame: &mut Frame, area: Rect, block: Block<'static>, message: String) {
    frame.render_widget(
        Paragraph::new(message)
            .wrap(Wrap { trim: false })
            .block(block)
            .dark_gray(),
        area,
    );
}

fn filter_suffix(app: &App) -> String {
    match app.filter_text() {
        "" => String::new(),
        text => format!(" — filter: {text}"),
    }
}

/// A list in the house style: dim bold column names, the selection marked with ▶, in `block`.
fn list_table<'a, const N: usize>(
    rows: impl IntoIterator<Item = Row<'a>>,
    columns: [(&'a str, Constraint); N],
    block: Block<'a>,
) -> Table<'a> {
    Table::new(rows, columns.map(|(_, width)| width))
        .header(
            Row::new(columns.map(|(name, _)| name)).style(Style::new().fg(Color::DarkGray).bold()),
        )
        .row_highlight_style(selected_style())
        .highlight_symbol("▶ ")
        .block(block)
}

fn render_list(frame: &mut Frame, table: Table, area: Rect, selected: usize) {
    let mut state = TableState::default().with_selected(Some(selected));
    frame.render_stateful_widget(table, area, &mut state);
}

/// The list and the detail side by side (the list takes `list_percent`), or the detail alone
/// when Enter zoomed it.
fn split_detail(area: Rect, zoomed: bool, list_percent: u16) -> (Option<Rect>, Rect) {
    if zoomed {
        return (None, area);
    }
    let [list, detail] = Layout::horizontal([
        Constraint::Percentage(list_percent),
        Constraint::Percentage(100 - list_percent),
    ])
    .areas(area);
    (Some(list), detail)
}

/// The detail pane's frame, saying what Enter does next.
fn detail_block(title: &str, zoomed: bool) -> Block<'static> {
    let hint = if zoomed {
        " Enter: back to the list "
    } else {
        " Enter: full screen "
    };
    titled(title.to_string()).title_bottom(Line::from(hint).dark_gray())
}

fn render_alerts(frame: &mut Frame, app: &App, area: Rect) {
    let firing = app
        .alerts
        .items
        .iter()
        .filter(|a| a.state == "firing")
        .count();
    let title = format!(
        " Alerts ({firing} firing, {} rules){} ",
        app.alerts.items.len(),
        filter_suffix(app)
    );
    if app.alerts.items.is_empty() {
        let message = "No alert rules. Add [[alerts]] to the server's configuration: a query, \
                       a condition and the notifiers to tell."
            .to_string();
        return empty(frame, area, titled(title), message);
    }
    let rows = app.alerts.items.iter().map(|a: &AlertState| {
        let state = match a.state.as_str() {
            "firing" => Cell::from("FIRING").red().bold(),
            "pending" => Cell::from("pending").yellow(),
            other => Cell::from(other.to_string()).dark_gray(),
        };
        let value = a.last_value.map(|v| format!("{v}")).unwrap_or_default();
        let note = if a.last_error.is_empty() {
            a.labels.clone()
        } else {
            format!("error: {}", a.last_error)
        };
        Row::new(vec![
            state,
            Cell::from(a.name.clone()),
            Cell::from(value),
            Cell::from(short_time(&a.since)),
            Cell::from(note),
        ])
    });
    let table = list_table(
        rows,
        [
            ("STATE", Constraint::Length(8)),
            ("RULE", Constraint::Length(28)),
            ("VALUE", Constraint::Length(10)),
            ("SINCE", Constraint::Length(14)),
            ("LABELS / ERROR", Constraint::Min(20)),
        ],
        titled(title),
    );
    render_list(frame, table, area, app.alerts.selected);
}

fn render_incidents(frame: &mut Frame, app: &App, area: Rect) {
    let open = app
        .incidents
        .items
        .iter()
        .filter(|i| i.status == "open")
        .count();
    let title = format!(
        " Incidents ({open} open, {} in all){} ",
        app.incidents.items.len(),
        filter_suffix(app)
    );
    if app.incidents.items.is_empty() {
        let message = format!(
            "No incidents. Error patterns that burst together appear here, root first \
             (polling every {} s); steady errors stay out as background.",
            app.interval_secs
        );
        return empty(frame, area, titled(title), message);
    }
    let (list_area, detail_area) = split_detail(area, app.detail, 55);
    if let Some(list_area) = list_area {
        let rows = app.incidents.items.iter().map(|i| {
            let status = if i.status == "open" {
                Cell::from("OPEN").red().bold()
            } else {
                Cell::from("resolved").dark_gray()
            };
            Row::new(vec![
                status,
                Cell::from(i.severity.to_uppercase()).style(severity_style(&i.severity)),
                Cell::from(i.root_service.clone()),
                Cell::from(i.title.clone()),
                Cell::from(i.symptom_services.len().to_string()),
                Cell::from(short_time(&i.started)),
            ])
        });
        let table = list_table(
            rows,
            [
                ("STATUS", Constraint::Length(8)),
                ("SEVERITY", Constraint::Length(8)),
                ("ROOT", Constraint::Length(14)),
                ("TITLE", Constraint::Min(20)),
                ("SYMPTOMS", Constraint::Length(8)),
                ("STARTED", Constraint::Length(14)),
            ],
            titled(title),
        );
        render_list(frame, table, list_area, app.incidents.selected);
    }
    if let Some(incident) = app.incidents.current() {
        let block = detail_block(" Root cause and symptoms ", app.detail);
        frame.render_widget(
            Paragraph::new(incident_detail(incident, &app.insights.items))
                .wrap(Wrap { trim: false })
                .block(block),
            detail_area,
        );
    }
}

/// The detail of one incident: the root first, its symptoms beneath, each with the insight
/// its pattern has (from the insights already polled).
pub fn incident_detail(incident: &Incident, insights: &[Insight]) -> Text<'static> {
    let heading = |s: &'static str| Line::from(s).fg(Color::Yellow).bold();
    let when = if incident.resolved_at.is_empty() {
        format!(
            "started {} · last error {}",
            short_time(&incident.started),
            short_time(&incident.last_seen)
        )
    } else {
        format!(
            "started {} · resolved {}",
            short_time(&incident.started),
            short_time(&incident.resolved_at)
        )
    };
    let mut lines = vec![
        Line::from(incident.title.clone()).bold(),
        Line::from(vec![
            Span::styled(
                incident.severity.to_uppercase(),
                severity_style(&incident.severity),
            ),
            Span::raw(format!(
                " · {} · {} errors · {} insights",
                incident.status, incident.errors, incident.insight_count
            )),
        ]),
        Line::from(when).dark_gray(),
    ];
    if !incident.previous_id.is_empty() {
        lines.push(Line::from(format!("recurrence of {}", incident.previous_id)).dark_gray());
    }
    lines.push(Line::default());
    lines.push(heading("Root"));
    lines.push(Line::from(format!("▶ {}", incident.root_service)).bold());
    lines.extend(
        incident
            .root_cause
            .lines()
            .map(|l| Line::from(format!("  {l}"))),
    );
    let members: Vec<&Insight> = insights
        .iter()
        .filter(|i| i.incident_id == incident.id)
        .collect();
    if let Some(fix) = members
        .iter()
        .find(|i| i.service == incident.root_service && i.pattern_id == incident.root_pattern)
        .map(|i| i.suggested_fix.clone())
        .filter(|f| !f.is_empty())
    {
        lines.push(Line::from(format!("  fix: {fix}")).cyan());
    }
    lines.push(Line::default());
    lines.push(heading("Symptoms"));
    let symptoms: Vec<&&Insight> = members
        .iter()
        .filter(|i| !(i.service == incident.root_service && i.pattern_id == incident.root_pattern))
        .collect();
    if symptoms.is_empty() {
        for service in &incident.symptom_services {
            lines.push(Line::from(format!("  └ {service}")));
        }
    } else {
        for i in symptoms {
            lines.push(Line::from(vec![
                Span::raw(format!("  └ {} ", i.service)),
                Span::styled(i.title.clone(), Style::new().fg(Color::Gray)),
                Span::raw(format!(" ({})", i.occurrences)).dark_gray(),
            ]));
        }
    }
    Text::from(lines)
}

fn render_insights(frame: &mut Frame, app: &App, area: Rect) {
    let fresh = app.fresh.len();
    let title = format!(
        " Insights ({}{}){} ",
        app.insights.items.len(),
        if fresh > 0 {
            format!(", {fresh} new")
        } else {
            String::new()
        },
        filter_suffix(app)
    );
    if app.insights.items.is_empty() {
        let message = format!(
            "No insights yet. They appear here as the analyst writes them (polling every {} s).",
            app.interval_secs
        );
        return empty(frame, area, titled(title), message);
    }
    let (list_area, detail_area) = split_detail(area, app.detail, 58);
    if let Some(list_area) = list_area {
        let rows = app.insights.items.iter().map(|i| {
            let marker = if app.fresh.contains(&i.id) {
                "★"
            } else {
                " "
            };
            Row::new(vec![
                Cell::from(marker).yellow(),
                Cell::from(i.severity.to_uppercase()).style(severity_style(&i.severity)),
                Cell::from(i.service.clone()),
                Cell::from(i.title.clone()),
                Cell::from(i.occurrences.to_string()),
                Cell::from(short_time(&i.last_seen)),
            ])
        });
        let table = list_table(
            rows,
            [
                ("", Constraint::Length(1)),
                ("SEVERITY", Constraint::Length(8)),
                ("SERVICE", Constraint::Length(14)),
                ("TITLE", Constraint::Min(20)),
                ("COUNT", Constraint::Length(7)),
                ("LAST SEEN", Constraint::Length(14)),
            ],
            titled(title),
        );
        render_list(frame, table, list_area, app.insights.selected);
    }
    if let Some(insight) = app.insights.current() {
        let block = detail_block(" Detail ", app.detail);
        frame.render_widget(
            Paragraph::new(insight_detail(insight))
                .wrap(Wrap { trim: false })
                .block(block),
            detail_area,
        );
    }
}

/// The detail pane of one insight.
pub fn insight_detail(insight: &Insight) -> Text<'static> {
    let heading = |s: &'static str| Line::from(s).fg(Color::Yellow).bold();
    let mut lines = vec![
        Line::from(insight.title.clone()).bold(),
        Line::from(vec![
            Span::styled(
                insight.severity.to_uppercase(),
                severity_style(&insight.severity),
            ),
            Span::raw(format!(
                " · {} · {} · {}{}",
                insight.service,
                insight.status,
                insight.model,
                insight
                    .confidence
                    .map(|c| format!(" · confidence {c:.2}"))
                    .unwrap_or_default()
            )),
        ]),
        Line::from(format!(
            "{} occurrences · first {} · last {}",
            insight.occurrences,
            short_time(&insight.first_seen),
            short_time(&insight.last_seen)
        ))
        .dark_gray(),
        Line::from(format!(
            "id {} · pattern {}",
            insight.id, insight.pattern_id
        ))
        .dark_gray(),
    ];
    for (name, body) in [
        ("Summary", &insight.summary),
        ("Root cause", &insight.root_cause),
        ("Suggested fix", &insight.suggested_fix),
    ] {
        lines.push(Line::default());
        lines.push(heading(name));
        lines.extend(body.lines().map(|l| Line::from(l.to_owned())));
    }
    if let Some(template) = insight.template() {
        lines.push(Line::default());
        lines.push(heading("Pattern"));
        lines.push(Line::from(template).cyan());
    }
    lines.push(Line::default());
    lines.push(heading("Evidence"));
    lines.extend(
        insight
            .evidence_text()
            .lines()
            .map(|l| Line::from(l.to_owned()).dark_gray()),
    );
    Text::from(lines)
}

fn render_patterns(frame: &mut Frame, app: &App, area: Rect) {
    let new = app.patterns.items.iter().filter(|p| p.is_new).count();
    let title = format!(
        " Patterns seen in the last {} ({} shown, {new} new){} ",
        app.window.interval(),
        app.patterns.items.len(),
        filter_suffix(app)
    );
    if app.patterns.items.is_empty() {
        let message = format!(
            "No patterns in the last {}. w: a longer window.",
            app.window.interval()
        );
        return empty(frame, area, titled(title), message);
    }
    let detail_height = if app.detail { area.height / 2 } else { 5 };
    let [list_area, detail_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(detail_height)]).areas(area);
    let rows = app.patterns.items.iter().map(|p| {
        let (marker, style) = if p.is_new {
            ("NEW", Style::new().fg(Color::Green).bold())
        } else {
            ("", Style::new())
        };
        Row::new(vec![
            Cell::from(marker),
            Cell::from(p.count.to_string()),
            Cell::from(p.service.clone()),
            Cell::from(p.level.clone()).style(severity_style(&p.level)),
            Cell::from(p.template.clone()),
            Cell::from(short_time(&p.last_seen)),
        ])
        .style(style)
    });
    let table = list_table(
        rows,
        [
            ("", Constraint::Length(3)),
            ("COUNT", Constraint::Length(9)),
            ("SERVICE", Constraint::Length(14)),
            ("LEVEL", Constraint::Length(5)),
            ("TEMPLATE", Constraint::Min(20)),
            ("LAST SEEN", Constraint::Length(14)),
        ],
        titled(title).title_bottom(Line::from(" w: window ").dark_gray()),
    );
    render_list(frame, table, list_area, app.patterns.selected);
    if let Some(p) = app.patterns.current() {
        let text = vec![
            Line::from(p.template.clone()).cyan(),
            Line::from(vec![
                Span::raw("example ").dark_gray(),
                Span::raw(p.example.clone()),
            ]),
            Line::from(format!(
                "id {} · first seen {} · last seen {}",
                p.pattern_id,
                short_time(&p.first_seen),
                short_time(&p.last_seen)
            ))
            .dark_gray(),
        ];
        frame.render_widget(
            Paragraph::new(text)
                .wrap(Wrap { trim: false })
                .block(titled(" Pattern ".into())),
            detail_area,
        );
    }
}

fn render_stats(frame: &mut Frame, app: &App, area: Rect) {
    let title = format!(
        " Errors per minute by service, last hour (ERROR + FATAL){} ",
        filter_suffix(app)
    );
    let block = titled(title);
    if app.stats.items.is_empty() {
        return empty(frame, area, block, "No log lines in the last hour.".into());
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // Three rows per service: the label and a two-row sparkline. Scroll so the selected
    // service is on screen.
    let per_screen = (inner.height / 3).max(1) as usize;
    let first = app.stats.selected.saturating_sub(per_screen - 1);
    for (slot, (index, rate)) in app
        .stats
        .items
        .iter()
        .enumerate()
        .skip(first)
        .take(per_screen)
        .enumerate()
    {
        let y = inner.y + 3 * slot as u16;
        let label_area = Rect::new(inner.x, y, inner.width, 1);
        let spark_area = Rect::new(inner.x + 2, y + 1, inner.width.saturating_sub(2), 2);
        let selected = index == app.stats.selected;
        let name = Span::styled(
            format!("{}{:<16}", if selected { "▶ " } else { "  " }, rate.service),
            if selected {
                Style::new().bold().reversed()
            } else {
                Style::new().bold()
            },
        );
        let rate_style = if rate.error_sum() > 0 {
            Style::new().fg(Color::Red)
        } else {
            Style::new().fg(Color::Green)
        };
        let label = Line::from(vec![
            name,
            Span::styled(
                format!(
                    "  {} errors / {} lines  {:.1}% ",
                    rate.error_sum(),
                    rate.total_sum(),
                    rate.error_rate()
                ),
                rate_style,
            ),
            Span::raw(format!(
                " peak {}/min",
                rate.errors.iter().max().unwrap_or(&0)
            ))
            .dark_gray(),
        ]);
        frame.render_widget(label, label_area);
        let width = spark_area.width as usize;
        let data: Vec<u64> = rate
            .errors
            .iter()
            .skip(rate.errors.len().saturating_sub(width))
            .copied()
            .collect();
        frame.render_widget(
            Sparkline::default().data(&data).style(rate_style),
            spark_area,
        );
    }
}

fn render_logs(frame: &mut Frame, app: &App, area: Rect) {
    let title = format!(
        " Recent logs ({}){} ",
        app.logs.items.len(),
        filter_suffix(app)
    );
    if app.logs.items.is_empty() {
        let message =
            "No log lines match. /: filter by service:NAME level:LEVEL @ATTR:VALUE and text."
                .into();
        return empty(frame, area, titled(title), message);
    }
    let detail_height = if app.detail { area.height / 2 } else { 0 };
    let [list_area, detail_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(detail_height)]).areas(area);
    let rows = app.logs.items.iter().map(|l| {
        Row::new(vec![
            Cell::from(short_time(&l.ts)),
            Cell::from(l.level.clone()).style(severity_style(&l.level)),
            Cell::from(l.service.clone()),
            Cell::from(l.host.clone()),
            Cell::from(l.message.clone()),
        ])
    });
    let table = list_table(
        rows,
        [
            ("TIME", Constraint::Length(14)),
            ("LEVEL", Constraint::Length(5)),
            ("SERVICE", Constraint::Length(14)),
            ("HOST", Constraint::Length(12)),
            ("MESSAGE", Constraint::Min(20)),
        ],
        titled(title).title_bottom(
            Line::from(" /: service:NAME level:LEVEL @ATTR:VALUE text · Enter: full message ")
                .dark_gray(),
        ),
    );
    render_list(frame, table, list_area, app.logs.selected);
    if app.detail
        && let Some(line) = app.logs.current()
    {
        frame.render_widget(
            Paragraph::new(line.message.clone())
                .wrap(Wrap { trim: false })
                .block(titled(format!(
                    " {} {} {} ",
                    line.ts, line.service, line.host
                ))),
            detail_area,
        );
    }
}

fn render_status(frame: &mut Frame, app: &App, area: Rect) {
    if let Some(input) = &app.input {
        let line = Line::from(vec![
            Span::raw("/").yellow().bold(),
            Span::raw(input.text.clone()),
            Span::raw("   Enter: apply · Esc: cancel · service:NAME level:LEVEL text").dark_gray(),
        ]);
        frame.render_widget(line, area);
        let x = area.x + 1 + Line::from(input.text.as_str()).width() as u16;
        frame.set_cursor_position((x.min(area.right().saturating_sub(1)), area.y));
        return;
    }
    let mut spans = Vec::new();
    match &app.connection {
        Connection::Down { error, retry_in } => spans.push(Span::styled(
            format!(" disconnected: {error} — retrying in {retry_in} s (r: now) "),
            Style::new().fg(Color::White).bg(Color::Red).bold(),
        )),
        Connection::Connecting => spans.push(Span::raw(" connecting… ").yellow()),
        Connection::Live => {}
    }
    match &app.analysis {
        Some(Analysis::Running { target, started }) => {
            let spinner = SPINNER[(app.ticks % SPINNER.len() as u64) as usize];
            let secs = (app.ticks - started) * TICK_MS / 1000;
            spans.push(Span::styled(
                format!(" {spinner} {} running… {secs} s ", target.label()),
                Style::new().fg(Color::Black).bg(Color::Yellow),
            ));
        }
        Some(Analysis::Done {
            target,
            message,
            failed,
        }) => spans.push(Span::styled(
            format!(" {}: {message} ", target.label()),
            if *failed {
                Style::new().fg(Color::Red)
            } else {
                Style::new().fg(Color::Green)
            },
        )),
        None => {}
    }
    if let Some(error) = &app.query_error {
        spans.push(Span::styled(
            format!(" query failed: {error} "),
            Style::new().fg(Color::Red),
        ));
    }
    let hints =
        Line::from(" ?: help  Tab: view  /: filter  a: analyze  r: refresh  q: quit ").dark_gray();
    let [left, right] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(hints.width() as u16)])
            .areas(area);
    frame.render_widget(Line::from(spans), left);
    frame.render_widget(hints.right_aligned(), right);
}

fn render_help(frame: &mut Frame, area: Rect) {
    let keys = [
        ("↑ ↓  j k", "move the selection (PgUp PgDn, g G: ends)"),
        ("Tab  Shift-Tab", "next / previous view (1-6: jump)"),
        ("Enter", "details (Esc: back)"),
        (
            "/",
            "filter: service:NAME level:LEVEL @ATTR:VALUE (logs) and text; Enter applies, Esc cancels",
        ),
        (
            "a",
            "analyze the selected service now (a pattern in Patterns)",
        ),
        ("w", "patterns window: 15 min, 1 h, 6 h, 24 h"),
        ("r", "refresh now (and reconnect)"),
        ("?", "this help (any key closes it)"),
        ("q  Ctrl-C", "quit"),
    ];
    let mut lines: Vec<Line> = keys
        .iter()
        .map(|(key, what)| {
            Line::from(vec![
                Span::styled(format!("{key:>16}  "), Style::new().fg(Color::Cyan).bold()),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::default());
    lines.push(
        Line::from("New insights appear by themselves; ★ marks those that arrived while watching.")
            .dark_gray(),
    );
    let height = lines.len() as u16 + 2;
    let popup = area.centered(Constraint::Length(96), Constraint::Length(height));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(Line::from(" Help — keys ").bold())
                .border_style(Style::new().fg(Color::Cyan)),
        ),
        popup,
    );
}
