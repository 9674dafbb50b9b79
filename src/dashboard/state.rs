//! What the person at the dashboard chose: the panel in focus, the worker
//! table's sort, the selected rows, the drill-down view and the help
//! overlay. A plain struct changed by a pure [`ViewState::handle_key`], so
//! every key is testable without a terminal.

use std::cmp::Ordering;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::detail::Focus;
use super::snapshot::{DashboardSnapshot, WorkerRow};

/// The panels that take the cursor, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Panel {
    /// The worker table.
    #[default]
    Workers,
    /// The active workflows.
    Active,
    /// The firing alerts.
    Alerts,
}

impl Panel {
    fn next(self) -> Panel {
        match self {
            Panel::Workers => Panel::Active,
            Panel::Active => Panel::Alerts,
            Panel::Alerts => Panel::Workers,
        }
    }

    fn previous(self) -> Panel {
        match self {
            Panel::Workers => Panel::Alerts,
            Panel::Active => Panel::Workers,
            Panel::Alerts => Panel::Active,
        }
    }
}

/// A column of the worker table (each one sorts it: keys 1–7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkerColumn {
    /// Worker name.
    #[default]
    Name,
    /// Executions in the window.
    Commands,
    /// Success rate.
    Success,
    /// Mean duration.
    Avg,
    /// p95 duration.
    P95,
    /// Health (worst first when descending).
    Health,
    /// The issues text.
    Issues,
}

impl WorkerColumn {
    /// Every column, in table order.
    pub const ALL: [WorkerColumn; 7] = [
        WorkerColumn::Name,
        WorkerColumn::Commands,
        WorkerColumn::Success,
        WorkerColumn::Avg,
        WorkerColumn::P95,
        WorkerColumn::Health,
        WorkerColumn::Issues,
    ];

    /// The header text.
    pub fn title(self) -> &'static str {
        match self {
            WorkerColumn::Name => "worker",
            WorkerColumn::Commands => "cmds",
            WorkerColumn::Success => "ok%",
            WorkerColumn::Avg => "avg ms",
            WorkerColumn::P95 => "p95 ms",
            WorkerColumn::Health => "health",
            WorkerColumn::Issues => "issues",
        }
    }

    /// The key that sorts by it: '1' to '7'.
    pub fn key(self) -> char {
        let i = WorkerColumn::ALL
            .iter()
            .position(|c| *c == self)
            .unwrap_or(0);
        char::from(b'1' + i as u8)
    }

    fn from_key(c: char) -> Option<WorkerColumn> {
        let i = (c as u32).checked_sub('1' as u32)? as usize;
        WorkerColumn::ALL.get(i).copied()
    }

    /// Numbers and health start with the largest (worst) first; text A→Z.
    fn descending_first(self) -> bool {
        !matches!(self, WorkerColumn::Name | WorkerColumn::Issues)
    }
}

/// Worst first: failing, degraded, healthy, inactive, anything else.
fn health_rank(health: &str) -> u8 {
    match health {
        "failing" | "failed" => 4,
        "degraded" => 3,
        "healthy" => 2,
        "inactive" => 1,
        _ => 0,
    }
}

fn compare(column: WorkerColumn, a: &WorkerRow, b: &WorkerRow) -> Ordering {
    match column {
        WorkerColumn::Name => a.name.cmp(&b.name),
        WorkerColumn::Commands => a.commands.cmp(&b.commands),
        WorkerColumn::Success => a.success_rate.total_cmp(&b.success_rate),
        WorkerColumn::Avg => a.avg_duration_ms.total_cmp(&b.avg_duration_ms),
        WorkerColumn::P95 => a.p95_duration_ms.total_cmp(&b.p95_duration_ms),
        WorkerColumn::Health => health_rank(&a.health).cmp(&health_rank(&b.health)),
        WorkerColumn::Issues => a.issues.join("; ").cmp(&b.issues.join("; ")),
    }
}

/// The main screen, or a drill-down view.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum View {
    /// Charts and tables.
    #[default]
    Main,
    /// One worker or one workflow.
    Detail(Focus),
}

/// What the caller does after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Draw again (the state may have changed).
    Redraw,
    /// The view changed: read its data now, then draw.
    Refresh,
    /// Leave the dashboard.
    Quit,
}

/// Rows PageUp/PageDown move.
const PAGE: usize = 10;

/// Everything the person chose; rendered together with a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ViewState {
    /// The panel the cursor keys move in.
    pub panel: Panel,
    /// The worker table's sort column.
    pub sort: WorkerColumn,
    /// Largest first.
    pub descending: bool,
    /// Selected row of the (sorted) worker table.
    pub worker_row: usize,
    /// Selected active workflow.
    pub active_row: usize,
    /// Selected alert.
    pub alert_row: usize,
    /// The main screen or a drill-down.
    pub view: View,
    /// First line shown of a drill-down's scrolling list.
    pub detail_scroll: usize,
    /// The help overlay is shown.
    pub help: bool,
}

impl ViewState {
    /// The workers in the table's order.
    pub fn sorted_workers<'a>(&self, snap: &'a DashboardSnapshot) -> Vec<&'a WorkerRow> {
        let mut rows: Vec<&WorkerRow> = snap.workers.iter().collect();
        rows.sort_by(|a, b| {
            let o = compare(self.sort, a, b).then_with(|| a.name.cmp(&b.name));
            if self.descending { o.reverse() } else { o }
        });
        rows
    }

    /// The selected row of `panel`, kept inside a list of `len` rows.
    pub fn selected(&self, panel: Panel, len: usize) -> usize {
        let row = match panel {
            Panel::Workers => self.worker_row,
            Panel::Active => self.active_row,
            Panel::Alerts => self.alert_row,
        };
        row.min(len.saturating_sub(1))
    }

    fn len(&self, snap: &DashboardSnapshot) -> usize {
        match self.panel {
            Panel::Workers => snap.workers.len(),
            Panel::Active => snap.active.len(),
            Panel::Alerts => snap.alerts.len(),
        }
    }

    fn move_cursor(&mut self, snap: &DashboardSnapshot, delta: isize) {
        let len = self.len(snap);
        let current = self.selected(self.panel, len);
        let next = current
            .saturating_add_signed(delta)
            .min(len.saturating_sub(1));
        match self.panel {
            Panel::Workers => self.worker_row = next,
            Panel::Active => self.active_row = next,
            Panel::Alerts => self.alert_row = next,
        }
    }

    fn sort_by(&mut self, column: WorkerColumn) {
        if self.sort == column {
            self.descending = !self.descending;
        } else {
            self.sort = column;
            self.descending = column.descending_first();
        }
        self.panel = Panel::Workers;
    }

    /// What Enter opens on the main screen: the selected worker or active
    /// workflow (alerts have no view).
    fn focus(&self, snap: &DashboardSnapshot) -> Option<Focus> {
        match self.panel {
            Panel::Workers => {
                let rows = self.sorted_workers(snap);
                let row = rows.get(self.selected(Panel::Workers, rows.len()))?;
                Some(Focus::Worker(row.name.clone()))
            }
            Panel::Active => {
                let row = snap
                    .active
                    .get(self.selected(Panel::Active, snap.active.len()))?;
                Some(Focus::Workflow(row.transaction_id.clone()))
            }
            Panel::Alerts => None,
        }
    }

    /// Applies one key pressed while `snap` is shown.
    pub fn handle_key(&mut self, key: KeyEvent, snap: &DashboardSnapshot) -> Action {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if (ctrl && key.code == KeyCode::Char('c')) || key.code == KeyCode::Char('q') {
            return Action::Quit;
        }
        if self.help {
            // Any other key closes the overlay.
            self.help = false;
            return Action::Redraw;
        }
        let back = matches!(
            key.code,
            KeyCode::Esc | KeyCode::Backspace | KeyCode::Left | KeyCode::Char('h')
        );
        if let View::Detail(_) = self.view {
            return match key.code {
                _ if back => {
                    self.view = View::Main;
                    self.detail_scroll = 0;
                    Action::Redraw
                }
                KeyCode::Char('?') => {
                    self.help = true;
                    Action::Redraw
                }
                KeyCode::Down | KeyCode::Char('j') => {
                    self.detail_scroll = self.detail_scroll.saturating_add(1);
                    Action::Redraw
                }
                KeyCode::Up | KeyCode::Char('k') => {
                    self.detail_scroll = self.detail_scroll.saturating_sub(1);
                    Action::Redraw
                }
                KeyCode::PageDown => {
                    self.detail_scroll = self.detail_scroll.saturating_add(PAGE);
                    Action::Redraw
                }
                KeyCode::PageUp => {
                    self.detail_scroll = self.detail_scroll.saturating_sub(PAGE);
                    Action::Redraw
                }
                KeyCode::Home | KeyCode::Char('g') => {
                    self.detail_scroll = 0;
                    Action::Redraw
                }
                _ => Action::Redraw,
            };
        }
        match key.code {
            KeyCode::Esc => Action::Quit,
            KeyCode::Char('?') => {
                self.help = true;
                Action::Redraw
            }
            KeyCode::Tab => {
                self.panel = self.panel.next();
                Action::Redraw
            }
            KeyCode::BackTab => {
                self.panel = self.panel.previous();
                Action::Redraw
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.move_cursor(snap, 1);
                Action::Redraw
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.move_cursor(snap, -1);
                Action::Redraw
            }
            KeyCode::PageDown => {
                self.move_cursor(snap, PAGE as isize);
                Action::Redraw
            }
            KeyCode::PageUp => {
                self.move_cursor(snap, -(PAGE as isize));
                Action::Redraw
            }
            KeyCode::Home | KeyCode::Char('g') => {
                self.move_cursor(snap, isize::MIN);
                Action::Redraw
            }
            KeyCode::End | KeyCode::Char('G') => {
                self.move_cursor(snap, isize::MAX);
                Action::Redraw
            }
            KeyCode::Char('s') => {
                let i = WorkerColumn::ALL
                    .iter()
                    .position(|c| *c == self.sort)
                    .unwrap_or(0);
                self.sort_by(WorkerColumn::ALL[(i + 1) % WorkerColumn::ALL.len()]);
                Action::Redraw
            }
            KeyCode::Char('r') => {
                self.descending = !self.descending;
                Action::Redraw
            }
            KeyCode::Char(c) if WorkerColumn::from_key(c).is_some() => {
                if let Some(column) = WorkerColumn::from_key(c) {
                    self.sort_by(column);
                }
                Action::Redraw
            }
            KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => match self.focus(snap) {
                Some(focus) => {
                    self.view = View::Detail(focus);
                    self.detail_scroll = 0;
                    Action::Refresh
                }
                None => Action::Redraw,
            },
            _ => Action::Redraw,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::snapshot::ActiveRow;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn snap() -> DashboardSnapshot {
        let worker = |name: &str, commands, health: &str| WorkerRow {
            name: name.into(),
            commands,
            health: health.into(),
            ..WorkerRow::default()
        };
        DashboardSnapshot {
            workers: vec![
                worker("b", 5, "healthy"),
                worker("a", 9, "failing"),
                worker("c", 1, "degraded"),
            ],
            active: vec![
                ActiveRow {
                    transaction_id: "t1".into(),
                    ..ActiveRow::default()
                },
                ActiveRow {
                    transaction_id: "t2".into(),
                    ..ActiveRow::default()
                },
            ],
            ..DashboardSnapshot::default()
        }
    }

    fn names(state: &ViewState, snap: &DashboardSnapshot) -> Vec<String> {
        state
            .sorted_workers(snap)
            .iter()
            .map(|w| w.name.clone())
            .collect()
    }

    #[test]
    fn number_keys_sort_and_pressing_again_reverses() {
        let s = snap();
        let mut state = ViewState::default();
        assert_eq!(names(&state, &s), ["a", "b", "c"]);
        state.handle_key(key(KeyCode::Char('2')), &s);
        assert_eq!(names(&state, &s), ["a", "b", "c"]);
        assert_eq!(
            (state.sort, state.descending),
            (WorkerColumn::Commands, true)
        );
        state.handle_key(key(KeyCode::Char('2')), &s);
        assert_eq!(names(&state, &s), ["c", "b", "a"]);
        state.handle_key(key(KeyCode::Char('6')), &s);
        assert_eq!(names(&state, &s), ["a", "c", "b"], "worst health first");
        state.handle_key(key(KeyCode::Char('r')), &s);
        assert_eq!(names(&state, &s), ["b", "c", "a"]);
        state.handle_key(key(KeyCode::Char('s')), &s);
        assert_eq!(state.sort, WorkerColumn::Issues);
        state.handle_key(key(KeyCode::Char('9')), &s);
        assert_eq!(state.sort, WorkerColumn::Issues);
    }

    #[test]
    fn enter_opens_the_selected_row_of_the_sorted_table_and_esc_goes_back() {
        let s = snap();
        let mut state = ViewState::default();
        state.handle_key(key(KeyCode::Char('2')), &s);
        state.handle_key(key(KeyCode::Down), &s);
        assert_eq!(state.handle_key(key(KeyCode::Enter), &s), Action::Refresh);
        assert_eq!(state.view, View::Detail(Focus::Worker("b".into())));
        state.handle_key(key(KeyCode::Down), &s);
        assert_eq!(state.detail_scroll, 1);
        assert_eq!(state.handle_key(key(KeyCode::Esc), &s), Action::Redraw);
        assert_eq!(state.view, View::Main);
        state.handle_key(key(KeyCode::Tab), &s);
        state.handle_key(key(KeyCode::End), &s);
        state.handle_key(key(KeyCode::Down), &s);
        assert_eq!(state.active_row, 1, "the cursor stops at the last row");
        state.handle_key(key(KeyCode::Enter), &s);
        assert_eq!(state.view, View::Detail(Focus::Workflow("t2".into())));
        state.handle_key(key(KeyCode::Backspace), &s);
        state.handle_key(key(KeyCode::Tab), &s);
        assert_eq!(state.panel, Panel::Alerts);
        assert_eq!(state.handle_key(key(KeyCode::Enter), &s), Action::Redraw);
        assert_eq!(state.view, View::Main, "no alerts, nothing to open");
    }

    #[test]
    fn help_toggles_and_quit_keys_quit() {
        let s = snap();
        let mut state = ViewState::default();
        state.handle_key(key(KeyCode::Char('?')), &s);
        assert!(state.help);
        state.handle_key(key(KeyCode::Char('x')), &s);
        assert!(!state.help);
        assert_eq!(state.handle_key(key(KeyCode::Char('q')), &s), Action::Quit);
        assert_eq!(state.handle_key(key(KeyCode::Esc), &s), Action::Quit);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(state.handle_key(ctrl_c, &s), Action::Quit);
        let empty = DashboardSnapshot::default();
        state.handle_key(key(KeyCode::Down), &empty);
        assert_eq!(
            state.handle_key(key(KeyCode::Enter), &empty),
            Action::Redraw
        );
    }
}
