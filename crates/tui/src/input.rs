//! Keys from the terminal: raw bytes from standard input → [`Key`]s.
//!
//! crossterm's event reader would add features to crossterm, mio and rustix, which every
//! other crate in the workspace shares (arrow pulls crossterm in, tokio mio, tempfile rustix)
//! and so would rebuild DataFusion; the few keys the TUI needs are easy to decode here.
//! In raw mode a terminal writes each key press, escape sequence included, in one go, so a
//! read that is a lone ESC byte is the Escape key and not the start of a sequence.

use std::io::Read;

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
    /// Ctrl-C: raw mode turns it into a byte instead of SIGINT.
    CtrlC,
    /// Ctrl-U: clears the filter being typed.
    CtrlU,
}

/// Decodes one read's worth of bytes. Unknown sequences are dropped, never guessed at.
pub fn parse(bytes: &[u8]) -> Vec<Key> {
    if bytes == [0x1b] {
        return vec![Key::Esc];
    }
    let mut keys = Vec::new();
    let text = String::from_utf8_lossy(bytes);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let key = match c {
            '\x1b' => match chars.peek() {
                Some('[') | Some('O') => {
                    chars.next();
                    // CSI / SS3: parameters (digits and ';') then one final byte.
                    let mut params = String::new();
                    let mut last = None;
                    for c in chars.by_ref() {
                        if c.is_ascii_digit() || c == ';' {
                            params.push(c);
                        } else {
                            last = Some(c);
                            break;
                        }
                    }
                    match (last, params.as_str()) {
                        (Some('A'), _) => Some(Key::Up),
                        (Some('B'), _) => Some(Key::Down),
                        (Some('C'), _) => Some(Key::Right),
                        (Some('D'), _) => Some(Key::Left),
                        (Some('H'), _) => Some(Key::Home),
                        (Some('F'), _) => Some(Key::End),
                        (Some('Z'), _) => Some(Key::BackTab),
                        (Some('~'), "1" | "7") => Some(Key::Home),
                        (Some('~'), "4" | "8") => Some(Key::End),
                        (Some('~'), "5") => Some(Key::PageUp),
                        (Some('~'), "6") => Some(Key::PageDown),
                        _ => None,
                    }
                }
                // Alt-<key> or an ESC followed by more typing: the Escape, then the rest.
                _ => Some(Key::Esc),
            },
            '\r' | '\n' => Some(Key::Enter),
            '\t' => Some(Key::Tab),
            '\x7f' | '\x08' => Some(Key::Backspace),
            '\x03' => Some(Key::CtrlC),
            '\x15' => Some(Key::CtrlU),
            c if c.is_control() => None,
            c => Some(Key::Char(c)),
        };
        keys.extend(key);
    }
    keys
}

/// Reads standard input on a plain thread (reads block, and the runtime's threads should
/// not) and sends the decoded keys. The thread ends when stdin closes or the receiver is
/// gone; at exit a thread blocked in `read` does not hold the process.
pub fn spawn_reader(keys: mpsc::UnboundedSender<Key>) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 256];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    for key in parse(&buf[..n]) {
                        if keys.send(key).is_err() {
                            return;
                        }
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(bytes: &[u8], expected: &[Key]) {
        assert_eq!(parse(bytes), expected, "{bytes:?}");
    }

    #[test]
    fn decodes_the_keys_the_tui_uses() {
        check(b"q", &[Key::Char('q')]);
        check(b"jk/", &[Key::Char('j'), Key::Char('k'), Key::Char('/')]);
        check(b"\x1b", &[Key::Esc]);
        check(b"\x1b[A\x1b[B", &[Key::Up, Key::Down]);
        check(b"\x1bOA", &[Key::Up]);
        check(b"\t\x1b[Z", &[Key::Tab, Key::BackTab]);
        check(b"\r", &[Key::Enter]);
        check(b"\x7f", &[Key::Backspace]);
        check(b"\x03", &[Key::CtrlC]);
        check(b"\x1b[5~\x1b[6~", &[Key::PageUp, Key::PageDown]);
        check(b"\x1b[1;5A", &[Key::Up]);
        check("é".as_bytes(), &[Key::Char('é')]);
    }

    #[test]
    fn unknown_sequences_are_dropped() {
        check(b"\x1b[200~x", &[Key::Char('x')]);
        check(b"\x01", &[]);
    }
}
