//! The terminal: a ratatui [`Backend`] that writes crossterm commands, and the guard that
//! puts the terminal into raw mode on the alternate screen and always puts it back.
//!
//! ratatui's own crossterm backend would turn on crossterm's default features, and those
//! reach crates the rest of the workspace shares (see the root `Cargo.toml`); this backend
//! needs only crossterm's feature-less commands, which arrow's build already compiles.

use std::io::{self, Write};

use crossterm::cursor::{Hide, MoveTo, Show};
use crossterm::style::{
    Attribute, Color as CColor, Print, SetAttribute, SetBackgroundColor, SetForegroundColor,
};
use crossterm::terminal::{
    self, Clear, ClearType as CClearType, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{execute, queue};
use ratatui::backend::{Backend, ClearType, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};
use ratatui::style::{Color, Modifier};

/// A [`Backend`] over any writer (standard output in the TUI).
pub struct TermBackend<W: Write> {
    writer: W,
    /// Where the cursor was last put: reading the position back from the terminal needs
    /// crossterm's event reader, and ratatui asks only for inline viewports anyway.
    cursor: Position,
}

impl<W: Write> TermBackend<W> {
    /// A backend writing to `writer`.
    pub fn new(writer: W) -> Self {
        TermBackend {
            writer,
            cursor: Position::ORIGIN,
        }
    }
}

fn color(color: Color) -> CColor {
    match color {
        Color::Reset => CColor::Reset,
        Color::Black => CColor::Black,
        Color::Red => CColor::DarkRed,
        Color::Green => CColor::DarkGreen,
        Color::Yellow => CColor::DarkYellow,
        Color::Blue => CColor::DarkBlue,
        Color::Magenta => CColor::DarkMagenta,
        Color::Cyan => CColor::DarkCyan,
        Color::Gray => CColor::Grey,
        Color::DarkGray => CColor::DarkGrey,
        Color::LightRed => CColor::Red,
        Color::LightGreen => CColor::Green,
        Color::LightBlue => CColor::Blue,
        Color::LightYellow => CColor::Yellow,
        Color::LightMagenta => CColor::Magenta,
        Color::LightCyan => CColor::Cyan,
        Color::White => CColor::White,
        Color::Indexed(i) => CColor::AnsiValue(i),
        Color::Rgb(r, g, b) => CColor::Rgb { r, g, b },
    }
}

/// Writes the attribute changes from one cell's modifiers to the next one's. Bold and dim
/// share one "normal intensity" reset, so turning either off re-applies the other.
fn queue_modifiers<W: Write>(w: &mut W, from: Modifier, to: Modifier) -> io::Result<()> {
    let removed = from - to;
    let added = to - from;
    if removed.contains(Modifier::REVERSED) {
        queue!(w, SetAttribute(Attribute::NoReverse))?;
    }
    if removed.intersects(Modifier::BOLD | Modifier::DIM) {
        queue!(w, SetAttribute(Attribute::NormalIntensity))?;
        if to.contains(Modifier::DIM) {
            queue!(w, SetAttribute(Attribute::Dim))?;
        }
        if to.contains(Modifier::BOLD) {
            queue!(w, SetAttribute(Attribute::Bold))?;
        }
    }
    if removed.contains(Modifier::ITALIC) {
        queue!(w, SetAttribute(Attribute::NoItalic))?;
    }
    if removed.contains(Modifier::UNDERLINED) {
        queue!(w, SetAttribute(Attribute::NoUnderline))?;
    }
    if removed.contains(Modifier::CROSSED_OUT) {
        queue!(w, SetAttribute(Attribute::NotCrossedOut))?;
    }
    if removed.intersects(Modifier::SLOW_BLINK | Modifier::RAPID_BLINK) {
        queue!(w, SetAttribute(Attribute::NoBlink))?;
    }
    for (modifier, attribute) in [
        (Modifier::REVERSED, Attribute::Reverse),
        (Modifier::BOLD, Attribute::Bold),
        (Modifier::DIM, Attribute::Dim),
        (Modifier::ITALIC, Attribute::Italic),
        (Modifier::UNDERLINED, Attribute::Underlined),
        (Modifier::CROSSED_OUT, Attribute::CrossedOut),
        (Modifier::SLOW_BLINK, Attribute::SlowBlink),
        (Modifier::RAPID_BLINK, Attribute::RapidBlink),
    ] {
        if added.contains(modifier) {
            queue!(w, SetAttribute(attribute))?;
        }
    }
    Ok(())
}

impl<W: Write> Backend for TermBackend<W> {
    type Error = io::Error;

    fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        let mut fg = Color::Reset;
        let mut bg = Color::Reset;
        let mut modifier = Modifier::empty();
        let mut last: Option<Position> = None;
        for (x, y, cell) in content {
            // Only changed cells come here; move only when they are not contiguous.
            if !matches!(last, Some(p) if x == p.x + 1 && y == p.y) {
                queue!(self.writer, MoveTo(x, y))?;
            }
            last = Some(Position { x, y });
            if cell.modifier != modifier {
                queue_modifiers(&mut self.writer, modifier, cell.modifier)?;
                modifier = cell.modifier;
            }
            if cell.fg != fg {
                queue!(self.writer, SetForegroundColor(color(cell.fg)))?;
                fg = cell.fg;
            }
            if cell.bg != bg {
                queue!(self.writer, SetBackgroundColor(color(cell.bg)))?;
                bg = cell.bg;
            }
            queue!(self.writer, Print(cell.symbol()))?;
        }
        queue!(
            self.writer,
            SetForegroundColor(CColor::Reset),
            SetBackgroundColor(CColor::Reset),
            SetAttribute(Attribute::Reset)
        )
    }

    fn hide_cursor(&mut self) -> io::Result<()> {
        execute!(self.writer, Hide)
    }

    fn show_cursor(&mut self) -> io::Result<()> {
        execute!(self.writer, Show)
    }

    fn get_cursor_position(&mut self) -> io::Result<Position> {
        Ok(self.cursor)
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> io::Result<()> {
        let position = position.into();
        self.cursor = position;
        execute!(self.writer, MoveTo(position.x, position.y))
    }

    fn clear(&mut self) -> io::Result<()> {
        self.clear_region(ClearType::All)
    }

    fn clear_region(&mut self, clear_type: ClearType) -> io::Result<()> {
        let clear_type = match clear_type {
            ClearType::All => CClearType::All,
            ClearType::AfterCursor => CClearType::FromCursorDown,
            ClearType::BeforeCursor => CClearType::FromCursorUp,
            ClearType::CurrentLine => CClearType::CurrentLine,
            ClearType::UntilNewLine => CClearType::UntilNewLine,
        };
        execute!(self.writer, Clear(clear_type))
    }

    fn size(&self) -> io::Result<Size> {
        let (width, height) = terminal::size()?;
        Ok(Size { width, height })
    }

    fn window_size(&mut self) -> io::Result<WindowSize> {
        let size = terminal::window_size()?;
        Ok(WindowSize {
            columns_rows: Size {
                width: size.columns,
                height: size.rows,
            },
            pixels: Size {
                width: size.width,
                height: size.height,
            },
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

/// Raw mode and the alternate screen while alive; the normal screen when dropped, on
/// every way out of [`crate::run`] (`q`, Ctrl-C, an error).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_changed_cells_with_their_style() {
        let mut backend = TermBackend::new(Vec::new());
        let mut a = Cell::new("a");
        a.fg = Color::Red;
        a.modifier = Modifier::BOLD;
        let b = Cell::new("b");
        backend
            .draw([(2u16, 1u16, &a), (3, 1, &b)].into_iter())
            .unwrap();
        let out = String::from_utf8(backend.writer).unwrap();
        // Move once (cells are contiguous), bold + red for `a`, normal again for `b`.
        assert_eq!(out.matches("\x1b[2;3H").count(), 1, "{out:?}");
        assert!(out.contains("\x1b[1m"), "{out:?}");
        assert!(out.contains('a') && out.contains('b'));
        assert!(out.find("\x1b[22m").unwrap() > out.find('a').unwrap());
    }
}
