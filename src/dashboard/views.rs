//! The drill-down views (one worker, one workflow's live trace), the help
//! bar and the `?` overlay.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Table, TableState, Wrap};

use super::charts::{compact, share};
use super::detail::{Detail, Focus, WorkerDetail, WorkflowDetail};
use super::render::{bold, health_color, panel_block, scroll_note, time_of_day, trend_charts};
use super::snapshot::DashboardSnapshot;
use super::state::{View, ViewState};

/// The keys of the screen shown, on one line.
pub fn help_bar(state: &ViewState) -> Line<'static> {
    let keys: &[(&str, &str)] = match state.view {
        View::Main => &[
            ("q", "quit"),
            ("?", "help"),
            ("Tab", "panel"),
            ("↑↓", "select"),
            ("Enter", "open"),
            ("1-7", "sort"),
            ("r", "reverse"),
        ],
        View::Detail(_) => &[
            ("Esc", "back"),
            ("↑↓", "scroll"),
            ("?", "help"),
            ("q", "quit"),
        ],
    };
    let mut spans = Vec::new();
    for (key, what) in keys {
        spans.push(Span::styled(
            format!(" {key}"),
            Style::default().fg(Color::Cyan),
        ));
        spans.push(Span::raw(format!(" {what} ")));
    }
    Line::from(spans)
}

/// The help overlay, centred over `area`.
pub fn render_help(frame: &mut Frame<'_>, area: Rect) {
    let lines: Vec<Line> = [
        ("q, Ctrl-C", "quit"),
        ("Esc", "close help / back / quit"),
        ("?", "this help"),
        ("Tab, Shift-Tab", "next / previous panel"),
        ("↑ ↓  j k", "select a row"),
        ("PgUp PgDn", "ten rows"),
        ("Home End  g G", "first / last row"),
        ("1 … 7", "sort workers by that column (again: reverse)"),
        ("s", "sort by the next column"),
        ("r", "reverse the sort"),
        ("Enter  → l", "open the worker or workflow"),
        ("Esc  ← h  Backspace", "back to the main screen"),
    ]
    .iter()
    .map(|(k, what)| {
        Line::from(vec![
            Span::styled(format!("{k:<20}"), Style::default().fg(Color::Cyan)),
            Span::raw(*what),
        ])
    })
    .collect();
    let w = 66.min(area.width);
    let h = (lines.len() as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(Span::styled(" Help (any key closes) ", bold()))
                .border_style(Style::default().fg(Color::Cyan)),
        ),
        popup,
    );
}

/// A drill-down view over `area`.
pub fn render_detail(
    frame: &mut Frame<'_>,
    area: Rect,
    snap: &DashboardSnapshot,
    state: &ViewState,
    focus: &Focus,
    detail: Option<&Detail>,
) {
    match detail {
        Some(Detail::Worker(w)) => render_worker(frame, area, snap, state, w),
        Some(Detail::Workflow(w)) => render_workflow(frame, area, snap, state, w),
        Some(Detail::Unavailable(why)) => {
            frame.render_widget(
                Paragraph::new(why.clone())
                    .wrap(Wrap { trim: false })
                    .block(Block::bordered().title(focus_title(focus))),
                area,
            );
        }
        None => frame.render_widget(
            Paragraph::new("reading…").block(Block::bordered().title(focus_title(focus))),
            area,
        ),
    }
}

fn focus_title(focus: &Focus) -> String {
    match focus {
        Focus::Worker(name) => format!(" Worker {} ", crate::terminal::escape(name)),
        Focus::Workflow(id) => format!(" Workflow {} ", crate::terminal::escape(id)),
    }
}

fn render_worker(
    frame: &mut Frame<'_>,
    area: Rect,
    snap: &DashboardSnapshot,
    state: &ViewState,
    d: &WorkerDetail,
) {
    let row = snap.workers.iter().find(|w| w.name == d.worker);
    let mut summary = vec![Line::from(match row {
        Some(w) => vec![
            Span::styled(
                format!("{} ", w.health),
                Style::default().fg(health_color(&w.health)),
            ),
            Span::raw(format!(
                "· {} executions · {:.1}% ok · avg {} ms · p95 {} ms",
                w.commands,
                w.success_rate,
                compact(w.avg_duration_ms),
                compact(w.p95_duration_ms)
            )),
        ],
        None => vec![Span::raw("not among the workers of the window")],
    })];
    if let Some(w) = row {
        for issue in &w.issues {
            summary.push(Line::from(Span::styled(
                format!("! {issue}"),
                Style::default().fg(Color::Yellow),
            )));
        }
    }
    if d.executions_read as i64 >= super::detail::EXECUTIONS_READ {
        summary.push(Line::from(format!(
            "slowest and trend from the latest {} executions of the window",
            d.executions_read
        )));
    }
    let block = Block::bordered().title(Span::styled(
        format!(" Worker {} ", d.worker),
        bold().fg(Color::Cyan),
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let summary_h = (summary.len() as u16).min(inner.height / 4).max(1);
    let charts_h = if inner.height >= 24 {
        inner.height / 3
    } else if inner.height >= 14 {
        7
    } else {
        0
    };
    let [top, charts, lists] = Layout::vertical([
        Constraint::Length(summary_h),
        Constraint::Length(charts_h),
        Constraint::Min(0),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(summary).wrap(Wrap { trim: false }), top);
    if charts_h > 0 {
        let [a, b, c] = Layout::horizontal([
            Constraint::Ratio(1, 3),
            Constraint::Ratio(1, 3),
            Constraint::Ratio(1, 3),
        ])
        .areas(charts);
        trend_charts(
            frame,
            [a, b, c],
            &d.trend,
            d.bucket_s,
            snap.elapsed_seconds,
            "p95 duration",
        );
    }
    let [patterns, slowest] = if lists.width >= 150 {
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(lists)
    } else {
        // Stacked: rows by what each list holds, error patterns first;
        // spare rows go to them too (the list that can be long).
        let want = |n: usize| {
            u16::try_from(n.max(1))
                .unwrap_or(u16::MAX)
                .saturating_add(3)
        };
        let h = share(
            lists.height,
            &[want(d.error_patterns.len()), want(d.slowest.len())],
            &[4, 4],
            &[0, 1],
        );
        Layout::vertical([Constraint::Min(0), Constraint::Length(h[1])]).areas(lists)
    };
    render_patterns(frame, patterns, state, d);
    render_slowest(frame, slowest, state, d);
}

fn render_patterns(frame: &mut Frame<'_>, area: Rect, state: &ViewState, d: &WorkerDetail) {
    let visible = usize::from(area.height.saturating_sub(3));
    let offset = state
        .detail_scroll
        .min(d.error_patterns.len().saturating_sub(visible));
    let title = Line::from(vec![
        Span::styled(
            format!(" Error patterns ({}) ", d.error_patterns.len()),
            bold(),
        ),
        Span::raw(scroll_note(offset, visible, d.error_patterns.len())),
    ]);
    if d.error_patterns.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled(
                "no errors in the window",
                Style::default().fg(Color::Green),
            ))
            .block(panel_block(title, false)),
            area,
        );
        return;
    }
    let rows = d.error_patterns.iter().map(|p| {
        Row::new(vec![
            Cell::from(p.error_type.clone()).style(Style::default().fg(Color::Red)),
            Cell::from(p.count.to_string()),
            Cell::from(time_of_day(&p.last_seen).to_string()),
            Cell::from(p.example.clone().unwrap_or_default()),
        ])
    });
    let mut table_state = TableState::default().with_offset(offset);
    frame.render_stateful_widget(
        Table::new(
            rows,
            [
                Constraint::Length(18),
                Constraint::Length(6),
                Constraint::Length(9),
                Constraint::Min(10),
            ],
        )
        .header(Row::new(["type", "count", "last", "latest message"]).style(bold()))
        .block(panel_block(title, false)),
        area,
        &mut table_state,
    );
}

fn render_slowest(frame: &mut Frame<'_>, area: Rect, state: &ViewState, d: &WorkerDetail) {
    let visible = usize::from(area.height.saturating_sub(3));
    let offset = state
        .detail_scroll
        .min(d.slowest.len().saturating_sub(visible));
    let title = Line::from(vec![
        Span::styled(
            format!(" Slowest executions ({}) ", d.slowest.len()),
            bold(),
        ),
        Span::raw(scroll_note(offset, visible, d.slowest.len())),
    ]);
    let rows = d.slowest.iter().map(|x| {
        let color = if x.is_error() {
            Color::Red
        } else {
            Color::Reset
        };
        Row::new(vec![
            Cell::from(format!("{:.1}", x.duration_ms)),
            Cell::from(x.status.clone()).style(Style::default().fg(color)),
            Cell::from(x.step.clone()),
            Cell::from(x.attempt.to_string()),
            Cell::from(time_of_day(&crate::clock::format_iso(x.finished_at_us)).to_string()),
            Cell::from(x.transaction_id.clone().unwrap_or_default()),
        ])
    });
    let mut table_state = TableState::default().with_offset(offset);
    frame.render_stateful_widget(
        Table::new(
            rows,
            [
                Constraint::Length(8),
                Constraint::Length(9),
                Constraint::Length(16),
                Constraint::Length(3),
                Constraint::Length(9),
                Constraint::Min(10),
            ],
        )
        .header(Row::new(["ms", "status", "step", "try", "ended", "transaction"]).style(bold()))
        .block(panel_block(title, false)),
        area,
        &mut table_state,
    );
}

fn render_workflow(
    frame: &mut Frame<'_>,
    area: Rect,
    snap: &DashboardSnapshot,
    state: &ViewState,
    d: &WorkflowDetail,
) {
    let active = snap
        .active
        .iter()
        .find(|a| a.transaction_id == d.transaction_id);
    let status = match active {
        Some(a) => format!(
            "{} · at {} · running for {:.1}s",
            a.workflow, a.current_step, a.age_seconds
        ),
        None => match d.stages.last() {
            Some(last) => format!("no longer active: {}", last.stage),
            None => "no stages".to_string(),
        },
    };
    let first_us = d.stages.first().map_or(0, |s| s.at_us);
    // Borders, the status line and the header.
    let visible = usize::from(area.height.saturating_sub(4));
    let offset = state
        .detail_scroll
        .min(d.stages.len().saturating_sub(visible));
    let title = Line::from(vec![
        Span::styled(
            format!(" Workflow {} ", d.transaction_id),
            bold().fg(Color::Cyan),
        ),
        Span::raw(scroll_note(offset, visible, d.stages.len())),
    ]);
    let block = panel_block(title, false);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [status_area, table_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    frame.render_widget(
        Paragraph::new(format!(
            "{status} · live trace of {} stages",
            d.stages.len()
        )),
        status_area,
    );
    // Names as wide as they are; the clock time and the event id only
    // where there is room.
    let widest = |f: fn(&crate::monitor::TraceStage) -> usize, min: usize| {
        d.stages.iter().map(f).max().unwrap_or(0).clamp(min, 24) as u16
    };
    let worker_w = widest(|s| s.worker.as_deref().map_or(0, |w| w.chars().count()), 6);
    let step_w = widest(|s| s.step.as_deref().map_or(0, |w| w.chars().count()), 4);
    let roomy = area.width >= 110;
    let rows = d.stages.iter().map(|s| {
        let color = match s.stage.as_str() {
            "failed" | "timeout" => Color::Red,
            "completed" => Color::Green,
            "cancelled" | "compensating" | "compensated" => Color::Yellow,
            _ => Color::Reset,
        };
        let mut cells = vec![
            Cell::from(format!("+{:.3}s", (s.at_us - first_us) as f64 / 1e6)),
            Cell::from(s.event_type.clone()),
            Cell::from(s.stage.clone()).style(Style::default().fg(color)),
            Cell::from(s.worker.clone().unwrap_or_default()),
            Cell::from(s.step.clone().unwrap_or_default()),
        ];
        if roomy {
            cells.insert(1, Cell::from(time_of_day(&s.timestamp).to_string()));
            cells.push(Cell::from(
                s.event_id.map(|i| i.to_string()).unwrap_or_default(),
            ));
        }
        Row::new(cells)
    });
    let mut widths = vec![
        Constraint::Length(9),
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Length(worker_w),
        Constraint::Length(step_w),
    ];
    let mut header = vec!["offset", "type", "stage", "worker", "step"];
    if roomy {
        widths.insert(1, Constraint::Length(9));
        header.insert(1, "at");
        widths.push(Constraint::Min(6));
        header.push("event");
    }
    let mut table_state = TableState::default().with_offset(offset);
    frame.render_stateful_widget(
        Table::new(rows, widths).header(Row::new(header).style(bold())),
        table_area,
        &mut table_state,
    );
}
