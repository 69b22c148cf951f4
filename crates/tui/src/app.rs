//! The TUI's state and what each key does to it.
//!
//! Pure: no terminal, no socket, no clock. [`App::handle_key`] returns [`Action`]s for the
//! event loop to carry out and [`App::apply`] folds in what the database task sends, so
//! every interaction is a unit test, and the screen is drawn only from this state.

use std::collections::HashSet;

use crate::data::{
    AlertState, AnalyzeTarget, Connection, Filter, Incident, Insight, LogLine, Pattern, Request,
    ServiceRate, Update, View, Watch, Window,
};
use crate::input::Key;

/// What the event loop must do after a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Restore the terminal and exit.
    Quit,
    /// Send this to the database task.
    Send(Request),
}

/// The `/` line being edited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterInput {
    /// What has been typed so far.
    pub text: String,
}

/// The analysis `a` started, while it runs and after.
#[derive(Debug, Clone, PartialEq)]
pub enum Analysis {
    /// Running since tick `started`.
    Running {
        /// What is being analysed.
        target: AnalyzeTarget,
        /// [`App::ticks`] when it started, for the elapsed time.
        started: u64,
    },
    /// Finished: one line for the status bar.
    Done {
        /// What was analysed.
        target: AnalyzeTarget,
        /// The outcome, e.g. `1 insight: …` or the error.
        message: String,
        /// Whether it failed.
        failed: bool,
    },
}

/// A list and its selection. The selection follows the selected row's key across reloads,
/// so a poll that inserts a newer insight above does not move the cursor to another one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows<T> {
    /// The rows, in display order.
    pub items: Vec<T>,
    /// Index of the selected row (0 when empty).
    pub selected: usize,
}

impl<T> Rows<T> {
    /// The selected row.
    pub fn current(&self) -> Option<&T> {
        self.items.get(self.selected)
    }

    fn replace(&mut self, items: Vec<T>, key: impl Fn(&T) -> String) {
        let selected_key = self.current().map(&key);
        self.items = items;
        self.selected = selected_key
            .and_then(|k| self.items.iter().position(|item| key(item) == k))
            .unwrap_or(self.selected)
            .min(self.items.len().saturating_sub(1));
    }

    fn move_by(&mut self, delta: isize) {
        let last = self.items.len().saturating_sub(1) as isize;
        self.selected = (self.selected as isize + delta).clamp(0, last.max(0)) as usize;
    }
}

/// Rows a page key moves.
const PAGE: isize = 10;

/// Everything the screen shows.
#[derive(Debug, Clone, Default)]
pub struct App {
    /// The view on screen.
    pub view: View,
    /// Incidents, open ones first, then the most recent.
    pub incidents: Rows<Incident>,
    /// Insights, newest first.
    pub insights: Rows<Insight>,
    /// Patterns, most frequent first.
    pub patterns: Rows<Pattern>,
    /// Per-service error rates, most errors first.
    pub stats: Rows<ServiceRate>,
    /// Recent log lines, newest first.
    pub logs: Rows<LogLine>,
    /// Alert rules, firing first.
    pub alerts: Rows<AlertState>,
    /// The applied filter of each view, by [`View::index`].
    pub filters: [Filter; 6],
    /// The filter text as typed, by [`View::index`], to edit it again.
    pub filter_texts: [String; 6],
    /// The patterns window.
    pub window: Window,
    /// Set while `/` is being typed.
    pub input: Option<FilterInput>,
    /// The help overlay is open.
    pub help: bool,
    /// Enter toggled the detail: the insight detail fills the screen, the other views show
    /// their detail pane.
    pub detail: bool,
    /// The connection state.
    pub connection: Connection,
    /// Server time of the last successful poll.
    pub refreshed_at: Option<String>,
    /// The last query error while connected (cleared by the next successful poll).
    pub query_error: Option<String>,
    /// The last analysis.
    pub analysis: Option<Analysis>,
    /// Insight ids seen in the first load: the others arrived while watching.
    seen_insights: Option<HashSet<String>>,
    /// Insights that appeared after the TUI started.
    pub fresh: HashSet<String>,
    /// Timer ticks (a quarter second each), for the spinner and elapsed time.
    pub ticks: u64,
    /// The server as the header shows it (`user@host:port`, never the password).
    pub server: String,
    /// The polling interval, for the empty-list message.
    pub interval_secs: u64,
}

/// How often the event loop calls [`App::tick`].
pub const TICK_MS: u64 = 250;

impl App {
    /// The state before anything is loaded.
    pub fn new() -> App {
        App {
            interval_secs: 2,
            ..App::default()
        }
    }

    /// The request that describes the current view, for the database task.
    pub fn watch(&self) -> Watch {
        Watch {
            view: self.view,
            filter: self.filters[self.view.index()].clone(),
            window: self.window,
        }
    }

    /// The applied filter text of the current view.
    pub fn filter_text(&self) -> &str {
        &self.filter_texts[self.view.index()]
    }

    /// One timer tick.
    pub fn tick(&mut self) {
        self.ticks += 1;
    }

    /// Whether an analysis is running.
    pub fn analysing(&self) -> bool {
        matches!(self.analysis, Some(Analysis::Running { .. }))
    }

    /// Reacts to one key.
    pub fn handle_key(&mut self, key: Key) -> Vec<Action> {
        if key == Key::CtrlC {
            return vec![Action::Quit];
        }
        if let Some(input) = &mut self.input {
            return match key {
                Key::Enter => {
                    let text = input.text.trim().to_owned();
                    self.input = None;
                    let i = self.view.index();
                    self.filters[i] = Filter::parse(&text);
                    self.filter_texts[i] = text;
                    vec![Action::Send(Request::Watch(self.watch()))]
                }
                Key::Esc => {
                    self.input = None;
                    Vec::new()
                }
                Key::Backspace => {
                    input.text.pop();
                    Vec::new()
                }
                Key::CtrlU => {
                    input.text.clear();
                    Vec::new()
                }
                Key::Char(c) => {
                    input.text.push(c);
                    Vec::new()
                }
                _ => Vec::new(),
            };
        }
        if self.help {
            return match key {
                Key::Char('q') => vec![Action::Quit],
                // Any other key only closes the overlay, so a stray key does nothing unseen.
                _ => {
                    self.help = false;
                    Vec::new()
                }
            };
        }
        match key {
            Key::Char('q') => vec![Action::Quit],
            Key::Char('?') => {
                self.help = true;
                Vec::new()
            }
            Key::Tab | Key::Right => self.switch(1),
            Key::BackTab | Key::Left => self.switch(-1),
            Key::Char(c @ '1'..='6') => {
                let index = c as usize - '1' as usize;
                self.switch(index as isize - self.view.index() as isize)
            }
            Key::Up | Key::Char('k') => self.move_by(-1),
            Key::Down | Key::Char('j') => self.move_by(1),
            Key::PageUp => self.move_by(-PAGE),
            Key::PageDown => self.move_by(PAGE),
            Key::Home | Key::Char('g') => self.move_by(isize::MIN / 2),
            Key::End | Key::Char('G') => self.move_by(isize::MAX / 2),
            Key::Enter => {
                self.detail = !self.detail;
                Vec::new()
            }
            Key::Esc => {
                self.detail = false;
                Vec::new()
            }
            Key::Char('/') => {
                self.input = Some(FilterInput {
                    text: self.filter_text().to_owned(),
                });
                Vec::new()
            }
            Key::Char('r') => vec![Action::Send(Request::Refresh)],
            Key::Char('w') if self.view == View::Patterns => {
                self.window = self.window.next();
                vec![Action::Send(Request::Watch(self.watch()))]
            }
            Key::Char('a') => self.analyze(),
            _ => Vec::new(),
        }
    }

    fn switch(&mut self, delta: isize) -> Vec<Action> {
        if delta == 0 {
            return Vec::new();
        }
        let n = View::ALL.len() as isize;
        let index = (self.view.index() as isize + delta).rem_euclid(n);
        self.view = View::ALL[index as usize];
        self.detail = false;
        vec![Action::Send(Request::Watch(self.watch()))]
    }

    fn move_by(&mut self, delta: isize) -> Vec<Action> {
        match self.view {
            View::Incidents => self.incidents.move_by(delta),
            View::Insights => self.insights.move_by(delta),
            View::Patterns => self.patterns.move_by(delta),
            View::Stats => self.stats.move_by(delta),
            View::Logs => self.logs.move_by(delta),
            View::Alerts => self.alerts.move_by(delta),
        }
        Vec::new()
    }

    fn analyze(&mut self) -> Vec<Action> {
        // One at a time: a second `a` while one runs would only queue the same work.
        if self.analysing() {
            return Vec::new();
        }
        let target = match self.view {
            View::Incidents => self
                .incidents
                .current()
                .map(|i| AnalyzeTarget::Service(i.root_service.clone())),
            View::Insights => self
                .insights
                .current()
                .map(|i| AnalyzeTarget::Service(i.service.clone())),
            View::Patterns => self
                .patterns
                .current()
                .map(|p| AnalyzeTarget::Pattern(p.pattern_id.clone())),
            View::Stats => self
                .stats
                .current()
                .map(|s| AnalyzeTarget::Service(s.service.clone())),
            View::Logs => self
                .logs
                .current()
                .map(|l| AnalyzeTarget::Service(l.service.clone())),
            // A rule is not a service: nothing to analyse.
            View::Alerts => None,
        };
        let Some(target) = target else {
            return Vec::new();
        };
        self.analysis = Some(Analysis::Running {
            target: target.clone(),
            started: self.ticks,
        });
        vec![Action::Send(Request::Analyze(target))]
    }

    /// Folds in one update from the database task.
    pub fn apply(&mut self, update: Update) {
        match update {
            Update::Connection(connection) => self.connection = connection,
            Update::Insights(rows) => {
                let ids: HashSet<String> = rows.iter().map(|i| i.id.clone()).collect();
                match &mut self.seen_insights {
                    None => self.seen_insights = Some(ids),
                    Some(seen) => {
                        for id in ids {
                            if seen.insert(id.clone()) {
                                self.fresh.insert(id);
                            }
                        }
                    }
                }
                self.insights.replace(rows, |i| i.id.clone());
            }
            Update::Incidents(rows) => self.incidents.replace(rows, |i| i.id.clone()),
            Update::Alerts(rows) => self.alerts.replace(rows, |a| a.name.clone()),
            Update::Patterns(rows) => self.patterns.replace(rows, |p| p.pattern_id.clone()),
            Update::Stats(rows) => self.stats.replace(rows, |s| s.service.clone()),
            Update::Logs(rows) => self
                .logs
                .replace(rows, |l| format!("{}\u{0}{}", l.ts, l.message)),
            Update::Refreshed { at } => {
                self.refreshed_at = Some(at);
                self.query_error = None;
            }
            Update::QueryFailed(error) => self.query_error = Some(error),
            Update::Analysis { target, result } => {
                let (message, failed) = match result {
                    Ok(rows) if rows.is_empty() => ("nothing to analyse".to_owned(), false),
                    Ok(rows) => {
                        let plural = if rows.len() == 1 { "" } else { "s" };
                        (
                            format!("{} insight{plural}: {}", rows.len(), rows[0].title),
                            false,
                        )
                    }
                    Err(error) => (error, true),
                };
                self.analysis = Some(Analysis::Done {
                    target,
                    message,
                    failed,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insight(id: &str, service: &str) -> Insight {
        Insight {
            id: id.into(),
            service: service.into(),
            title: format!("{service} fails"),
            ..Insight::default()
        }
    }

    fn keys(app: &mut App, keys: &[Key]) -> Vec<Action> {
        keys.iter().flat_map(|k| app.handle_key(*k)).collect()
    }

    #[test]
    fn tab_and_shift_tab_cycle_the_views_and_ask_for_their_data() {
        let mut app = App::new();
        assert_eq!(app.view, View::Incidents, "it opens on incidents");
        let actions = app.handle_key(Key::Tab);
        assert_eq!(app.view, View::Insights);
        assert_eq!(
            actions,
            vec![Action::Send(Request::Watch(Watch {
                view: View::Insights,
                ..Watch::default()
            }))]
        );
        keys(
            &mut app,
            &[Key::Tab, Key::Tab, Key::Tab, Key::Tab, Key::Tab],
        );
        assert_eq!(app.view, View::Incidents);
        app.handle_key(Key::BackTab);
        assert_eq!(app.view, View::Alerts);
        app.handle_key(Key::Char('3'));
        assert_eq!(app.view, View::Patterns);
    }

    #[test]
    fn selection_moves_within_bounds_and_follows_the_row_across_reloads() {
        let mut app = App::new();
        app.handle_key(Key::Char('2'));
        app.apply(Update::Insights(vec![
            insight("a", "api"),
            insight("b", "db"),
        ]));
        keys(&mut app, &[Key::Char('j'), Key::Down, Key::Down]);
        assert_eq!(app.insights.selected, 1);
        // A newer insight arrives on top: the cursor stays on "b".
        app.apply(Update::Insights(vec![
            insight("c", "web"),
            insight("a", "api"),
            insight("b", "db"),
        ]));
        assert_eq!(app.insights.current().unwrap().id, "b");
        assert!(app.fresh.contains("c") && !app.fresh.contains("a"));
        keys(&mut app, &[Key::Char('k'), Key::Up, Key::Up]);
        assert_eq!(app.insights.selected, 0);
        app.handle_key(Key::End);
        assert_eq!(app.insights.selected, 2);
        app.apply(Update::Insights(vec![insight("a", "api")]));
        assert_eq!(app.insights.selected, 0);
    }

    #[test]
    fn slash_edits_a_filter_that_enter_applies_and_esc_cancels() {
        let mut app = App::new();
        app.handle_key(Key::Char('5'));
        assert_eq!(app.view, View::Logs);
        app.handle_key(Key::Char('/'));
        // While typing, `q` is text, not quit.
        let actions = keys(
            &mut app,
            &[
                Key::Char('q'),
                Key::Backspace,
                Key::Char('l'),
                Key::Char('e'),
                Key::Char('v'),
                Key::Char('e'),
                Key::Char('l'),
                Key::Char(':'),
                Key::Char('e'),
                Key::Char(' '),
                Key::Char('x'),
            ],
        );
        assert!(actions.is_empty());
        assert_eq!(app.input.as_ref().unwrap().text, "level:e x");
        let actions = app.handle_key(Key::Enter);
        assert!(app.input.is_none());
        let Action::Send(Request::Watch(watch)) = &actions[0] else {
            panic!("{actions:?}")
        };
        assert_eq!(watch.view, View::Logs);
        assert_eq!(watch.filter.level.as_deref(), Some("E"));
        assert_eq!(watch.filter.text, "x");
        // Esc keeps the applied filter.
        keys(
            &mut app,
            &[Key::Char('/'), Key::CtrlU, Key::Char('y'), Key::Esc],
        );
        assert_eq!(app.filter_text(), "level:e x");
        assert_eq!(app.watch().filter.text, "x");
        // Each view has its own filter.
        app.handle_key(Key::Tab);
        assert!(app.watch().filter.is_empty());
    }

    #[test]
    fn a_analyses_the_selected_service_or_pattern_once_at_a_time() {
        let mut app = App::new();
        assert!(
            app.handle_key(Key::Char('a')).is_empty(),
            "nothing selected"
        );
        // On an incident, its root service.
        app.apply(Update::Incidents(vec![Incident {
            id: "n1".into(),
            root_service: "redis-cache".into(),
            ..Incident::default()
        }]));
        assert_eq!(
            app.handle_key(Key::Char('a')),
            vec![Action::Send(Request::Analyze(AnalyzeTarget::Service(
                "redis-cache".into()
            )))]
        );
        app.apply(Update::Analysis {
            target: AnalyzeTarget::Service("redis-cache".into()),
            result: Ok(Vec::new()),
        });
        app.handle_key(Key::Char('2'));
        app.apply(Update::Insights(vec![insight("a", "checkout")]));
        let actions = app.handle_key(Key::Char('a'));
        assert_eq!(
            actions,
            vec![Action::Send(Request::Analyze(AnalyzeTarget::Service(
                "checkout".into()
            )))]
        );
        assert!(app.analysing());
        assert!(app.handle_key(Key::Char('a')).is_empty());
        app.apply(Update::Analysis {
            target: AnalyzeTarget::Service("checkout".into()),
            result: Ok(vec![insight("a", "checkout")]),
        });
        assert!(
            matches!(&app.analysis, Some(Analysis::Done { message, failed: false, .. })
            if message == "1 insight: checkout fails")
        );
        app.handle_key(Key::Tab);
        app.apply(Update::Patterns(vec![Pattern {
            pattern_id: "p1".into(),
            ..Pattern::default()
        }]));
        assert_eq!(
            app.handle_key(Key::Char('a')),
            vec![Action::Send(Request::Analyze(AnalyzeTarget::Pattern(
                "p1".into()
            )))]
        );
    }

    #[test]
    fn help_q_ctrl_c_refresh_and_window() {
        let mut app = App::new();
        app.handle_key(Key::Char('?'));
        assert!(app.help);
        app.handle_key(Key::Char('j'));
        assert!(!app.help, "any key closes help");
        app.handle_key(Key::Char('?'));
        assert_eq!(app.handle_key(Key::Char('q')), vec![Action::Quit]);
        assert_eq!(app.handle_key(Key::CtrlC), vec![Action::Quit]);
        app.handle_key(Key::Char('/'));
        assert_eq!(app.handle_key(Key::CtrlC), vec![Action::Quit]);
        let mut app = App::new();
        assert_eq!(
            app.handle_key(Key::Char('r')),
            vec![Action::Send(Request::Refresh)]
        );
        assert!(
            app.handle_key(Key::Char('w')).is_empty(),
            "w is for patterns"
        );
        app.handle_key(Key::Char('3'));
        app.handle_key(Key::Char('w'));
        assert_eq!(app.window, Window::SixHours);
        app.handle_key(Key::Enter);
        assert!(app.detail);
        app.handle_key(Key::Esc);
        assert!(!app.detail);
    }
}
