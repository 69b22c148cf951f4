//! The terminal: raw mode on the alternate screen while the TUI runs, and always put back.
//!
//! Drawing is ratatui's crossterm backend (`ratatui_crossterm::CrosstermBackend`); this module
//! only owns the terminal's mode, so every way out of [`crate::run`] (`q`, Ctrl-C, SIGTERM,
//! an error, a panic) leaves the shell usable.

use std::io;

use ratatui_crossterm::crossterm::cursor::{Hide, Show};
use ratatui_crossterm::crossterm::execute;
use ratatui_crossterm::crossterm::style::{Attribute, SetAttribute};
use ratatui_crossterm::crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};

/// Raw mode and the alternate screen while alive; the normal screen when dropped.
pub struct TerminalGuard(());

impl TerminalGuard {
    /// Enters raw mode and the alternate screen, and makes a panic restore the terminal
    /// before the panic message is printed (so the message is readable and the shell usable).
    pub fn enter() -> io::Result<TerminalGuard> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        terminal::enable_raw_mode()?;
        let guard = TerminalGuard(());
        execute!(io::stdout(), EnterAlternateScreen, Hide)?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves the alternate screen and raw mode. Safe to call twice (panic hook, then drop).
pub fn restore() {
    let _ = execute!(
        io::stdout(),
        SetAttribute(Attribute::Reset),
        Show,
        LeaveAlternateScreen
    );
    let _ = terminal::disable_raw_mode();
}
