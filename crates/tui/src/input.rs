//! Keys from the terminal: crossterm's key events → the [`Key`]s the TUI reacts to.
//!
//! [`Key`] is the app's own small vocabulary, so [`crate::app`] stays pure and its tests
//! need no terminal; crossterm reads and decodes the terminal's input.

use ratatui_crossterm::crossterm::event::{
    self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers,
};
use tokio::sync::mpsc;

/// A key the TUI reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A printable character (also `q`, `j`, `/`, …).
    Char(char),
    /// Enter / Return.
    Enter,
    /// Escape.
    Esc,
    /// Backspace.
    Backspace,
    /// Tab.
    Tab,
    /// Shift-Tab.
    BackTab,
    /// Arrow up.
    Up,
    /// Arrow down.
    Down,
    /// Arrow left.
    Left,
    /// Arrow right.
    Right,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// Home.
    Home,
    /// End.
    End,
    /// Ctrl-C: raw mode turns it into a key instead of SIGINT.
    CtrlC,
    /// Ctrl-U: clears the filter being typed.
    CtrlU,
}

/// The [`Key`] of a terminal event, if the TUI has a use for it. Releases and repeats
/// (reported only by terminals with the kitty protocol) are not presses.
pub fn key_of(event: &Event) -> Option<Key> {
    let Event::Key(KeyEvent {
        code,
        modifiers,
        kind: KeyEventKind::Press,
        ..
    }) = event
    else {
        return None;
    };
    let ctrl = modifiers.contains(KeyModifiers::CONTROL);
    Some(match code {
        KeyCode::Char('c') if ctrl => Key::CtrlC,
        KeyCode::Char('u') if ctrl => Key::CtrlU,
        _ if ctrl => return None,
        KeyCode::Char(c) => Key::Char(*c),
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Tab if modifiers.contains(KeyModifiers::SHIFT) => Key::BackTab,
        KeyCode::Tab => Key::Tab,
        KeyCode::BackTab => Key::BackTab,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Left => Key::Left,
        KeyCode::Right => Key::Right,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        _ => return None,
    })
}

/// Reads terminal events on a plain thread (`event::read` blocks, and the runtime's threads
/// should not) and sends the keys. The thread ends when the terminal's input fails or the
/// receiver is gone; at exit a thread blocked in `read` does not hold the process.
pub fn spawn_reader(keys: mpsc::UnboundedSender<Key>) {
    std::thread::spawn(move || {
        while let Ok(event) = event::read() {
            if let Some(key) = key_of(&event)
                && keys.send(key).is_err()
            {
                return;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> Option<Key> {
        key_of(&Event::Key(KeyEvent::new(code, modifiers)))
    }

    #[test]
    fn maps_the_keys_the_tui_uses() {
        let none = KeyModifiers::NONE;
        assert_eq!(press(KeyCode::Char('q'), none), Some(Key::Char('q')));
        assert_eq!(
            press(KeyCode::Char('G'), KeyModifiers::SHIFT),
            Some(Key::Char('G'))
        );
        assert_eq!(
            press(KeyCode::Char('c'), KeyModifiers::CONTROL),
            Some(Key::CtrlC)
        );
        assert_eq!(
            press(KeyCode::Char('u'), KeyModifiers::CONTROL),
            Some(Key::CtrlU)
        );
        assert_eq!(
            press(KeyCode::BackTab, KeyModifiers::SHIFT),
            Some(Key::BackTab)
        );
        assert_eq!(press(KeyCode::Tab, KeyModifiers::SHIFT), Some(Key::BackTab));
        assert_eq!(press(KeyCode::PageDown, none), Some(Key::PageDown));
        assert_eq!(press(KeyCode::Char('é'), none), Some(Key::Char('é')));
    }

    #[test]
    fn other_events_are_not_keys() {
        // A Ctrl chord the TUI has no binding for is not its letter.
        assert_eq!(press(KeyCode::Char('x'), KeyModifiers::CONTROL), None);
        assert_eq!(press(KeyCode::F(5), KeyModifiers::NONE), None);
        let mut release = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
        release.kind = KeyEventKind::Release;
        assert_eq!(key_of(&Event::Key(release)), None);
        assert_eq!(key_of(&Event::Resize(80, 24)), None);
    }
}
