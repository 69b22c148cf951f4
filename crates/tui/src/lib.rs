//! `loginsight tui`: watch incidents, insights, patterns, stats, logs and alerts in the terminal.
//!
//! A thin SQL client, the last stage seen from outside: it connects to the server's
//! Postgres-wire endpoint like any other client and links no server crate, so it works
//! against a remote server as well as a local one. The major components are:
//!
//! * [`db`]: the database task, the only code that speaks to the server. It polls, runs
//!   `analyze()`, reconnects with a backoff, and sends [`data::Update`]s over a channel.
//! * [`app`]: the state and the key bindings; pure, so every interaction is a unit test.
//! * [`ui`]: draws a frame from the state (ratatui diffs frames, so nothing flickers).
//! * [`input`] and [`terminal`]: keys from crossterm's event reader, and the terminal's mode
//!   (raw, the alternate screen, restored on exit, Ctrl-C and panic); ratatui's crossterm
//!   backend draws.
//!
//! The event loop in [`run`] owns the state: it draws, then waits for a key, an update or a
//! timer tick, and never for the server.

pub mod app;
pub mod data;
pub mod db;
pub mod error;
pub mod input;
pub mod terminal;
pub mod ui;

use std::io::{self, BufWriter};
use std::time::Duration;

use anyhow::Context;
use ratatui::Terminal;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::app::{Action, App, TICK_MS};
use ratatui_crossterm::CrosstermBackend;

use crate::terminal::TerminalGuard;

/// `loginsight tui` options.
#[derive(Debug, Clone, clap::Args)]
pub struct TuiArgs {
    /// The server's Postgres-wire endpoint. A password can be given in the URL
    /// (`postgres://user:secret@host:5433/loginsight`) or in PGPASSWORD.
    #[arg(
        long,
        env = "LOGINSIGHT_URL",
        hide_env_values = true,
        default_value = "postgres://loginsight@127.0.0.1:5433/loginsight"
    )]
    pub url: String,
    /// Seconds between two polls of the server.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub interval: u64,
}

/// Runs the TUI until `q`, Ctrl-C or SIGTERM. The terminal is restored on every way out.
pub async fn run(args: TuiArgs) -> anyhow::Result<()> {
    // Checked before the terminal is taken over, so a typo prints as a plain error.
    let config = db::config(&args.url)?;
    let mut app = App::new();
    app.server = db::describe(&config);
    app.interval_secs = args.interval;

    let (request_tx, request_rx) = mpsc::unbounded_channel();
    let (update_tx, mut update_rx) = mpsc::unbounded_channel();
    let db_task = tokio::spawn(db::run(
        config,
        Duration::from_secs(args.interval),
        request_rx,
        update_tx,
    ));
    let mut sigterm = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;

    let guard = TerminalGuard::enter().context("cannot set up the terminal")?;
    let mut terminal = Terminal::new(CrosstermBackend::new(BufWriter::new(io::stdout())))
        .context("cannot set up the terminal")?;
    terminal.clear().context("cannot clear the terminal")?;
    // Only now: setting up may ask the terminal for its cursor position, and crossterm reads
    // that answer from the same input the key reader would be taking it from.
    let (key_tx, mut key_rx) = mpsc::unbounded_channel();
    input::spawn_reader(key_tx);
    let mut ticks = tokio::time::interval(Duration::from_millis(TICK_MS));

    let result = 'events: loop {
        if let Err(err) = terminal.draw(|frame| ui::render(frame, &app)) {
            break Err(anyhow::Error::from(err).context("cannot draw"));
        }
        tokio::select! {
            key = key_rx.recv() => {
                // Standard input closed: nobody can press `q` any more.
                let Some(key) = key else { break 'events Ok(()) };
                for action in app.handle_key(key) {
                    match action {
                        Action::Quit => break 'events Ok(()),
                        Action::Send(request) => {
                            let _ = request_tx.send(request);
                        }
                    }
                }
            }
            Some(update) = update_rx.recv() => app.apply(update),
            _ = ticks.tick() => app.tick(),
            // Raw mode turns Ctrl-C into a key; these cover a signal sent from elsewhere.
            _ = tokio::signal::ctrl_c() => break 'events Ok(()),
            _ = sigterm.recv() => break 'events Ok(()),
        }
    };
    db_task.abort();
    drop(terminal);
    drop(guard);
    result
}
