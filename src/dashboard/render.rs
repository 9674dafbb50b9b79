//! Drawing a [`DashboardSnapshot`]: with ratatui for the live view (from a
//! snapshot and the [`ViewState`]), as plain text for `--once`.
//!
//! The main screen, top to bottom: a title line, the events figures, the
//! source line (when there is room or something to say), charts of
//! throughput, p95 latency and error rate over the elapsed window plus the
//! system's CPU and memory, the tables (workers, active workflows, alerts)
//! and a help bar. Rows go to the tables by what they hold; what is left
//! makes the charts taller.

use std::fmt::Write as _;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState};

use super::charts::{compact, fit_title, line_chart, metric_row, share, span_label};
use super::detail::Detail;
use super::snapshot::{DashboardSnapshot, TrendPoint};
use super::state::{Panel, View, ViewState, WorkerColumn};
use super::views;

/// Colour of a health status: green, yellow, red (grey when inactive).
pub fn health_color(status: &str) -> Color {
    match status {
        "healthy" => Color::Green,
        "degraded" => Color::Yellow,
        "failing" | "failed" => Color::Red,
        _ => Color::DarkGray,
    }
}

pub(super) fn severity_color(severity: &str) -> Color {
    match severity {
        "critical" => Color::Red,
        "warning" => Color::Yellow,
        _ => Color::Cyan,
    }
}

/// Bold.
pub(super) fn bold() -> Style {
    Style::default().add_modifier(Modifier::BOLD)
}

/// The border of a panel: highlighted when it has the cursor.
pub(super) fn panel_block(title: Line<'_>, focused: bool) -> Block<'_> {
    let block = Block::bordered().title(title);
    if focused {
        block.border_style(Style::default().fg(Color::Cyan))
    } else {
        block
    }
}

/// The time of day of an ISO-8601 timestamp (`HH:MM:SS`), or all of it.
pub(super) fn time_of_day(iso: &str) -> &str {
    iso.get(11..19).unwrap_or(iso)
}

/// Draws the dashboard: the main screen or the drill-down view of `state`
/// (with `detail`, its data, once read), and the help overlay. Any terminal
/// size is accepted: what does not fit is clipped, never a panic. Text from
/// the database is shown escaped (ratatui would silently drop an ESC but
/// pass on the rest of its sequence and any bidirectional override).
pub fn render(
    frame: &mut Frame<'_>,
    snap: &DashboardSnapshot,
    state: &ViewState,
    detail: Option<&Detail>,
) {
    let snap = &snap.for_terminal();
    let area = frame.area();
    if area.height == 0 || area.width == 0 {
        return;
    }
    let show_source = area.height >= 30 || !snap.provenance.notes.is_empty();
    let [title, events, source, body, help] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(u16::from(area.height >= 8)),
        Constraint::Length(u16::from(show_source && area.height >= 8)),
        Constraint::Min(0),
        Constraint::Length(u16::from(area.height >= 4)),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(title_line(snap)), title);
    frame.render_widget(Paragraph::new(events_line(snap)), events);
    frame.render_widget(
        Paragraph::new(Span::styled(
            snap.source_line(),
            Style::default().fg(Color::DarkGray),
        )),
        source,
    );
    match &state.view {
        View::Main => render_main(frame, body, snap, state),
        View::Detail(focus) => {
            let detail = detail.map(Detail::for_terminal);
            views::render_detail(frame, body, snap, state, focus, detail.as_ref());
        }
    }
    frame.render_widget(Paragraph::new(views::help_bar(state)), help);
    if state.help {
        views::render_help(frame, area);
    }
}

fn title_line(snap: &DashboardSnapshot) -> Line<'static> {
    Line::from(vec![
        Span::styled("MULTIAGENTS", bold()),
        Span::raw(format!(
            "  window {} ({} elapsed)  at {}  {}",
            span_label(snap.window_minutes * 60.0),
            span_label(snap.elapsed_seconds),
            time_of_day(&snap.generated_at),
            snap.database
        )),
    ])
}

fn events_line(snap: &DashboardSnapshot) -> Line<'static> {
    let e = &snap.events;
    let err_color = if e.error_rate > 0.0 {
        Color::Yellow
    } else {
        Color::Green
    };
    Line::from(vec![
        Span::styled("Events ", bold()),
        Span::raw(format!("{} ended · ", e.total)),
        Span::raw(format!("{}/min · ", compact(e.throughput_per_minute))),
        Span::styled(
            format!("{:.1}% errors", e.error_rate),
            Style::default().fg(err_color),
        ),
        Span::raw(format!(
            " · avg {} ms · p95 {} ms",
            compact(e.avg_latency_ms),
            compact(e.p95_latency_ms)
        )),
    ])
}

/// Chart points of one figure of the trend, at the middle of each bucket
/// (buckets where nothing ended have no latency and no point).
pub(super) fn points(
    trend: &[TrendPoint],
    bucket_s: f64,
    value: impl Fn(&TrendPoint) -> Option<f64>,
) -> Vec<(f64, f64)> {
    trend
        .iter()
        .filter_map(|p| value(p).map(|v| (p.offset_s + bucket_s / 2.0, v)))
        .collect()
}

/// The throughput, p95 latency and error-rate charts of a trend, side by
/// side in `areas`.
pub(super) fn trend_charts(
    frame: &mut Frame<'_>,
    areas: [Rect; 3],
    trend: &[TrendPoint],
    bucket_s: f64,
    span_s: f64,
    latency_name: &str,
) {
    let throughput = points(trend, bucket_s, |p| Some(p.throughput_per_s));
    let latest_rate = throughput.last().map_or(0.0, |p| p.1);
    let title = |full: String, short: &str, area: Rect| {
        Line::from(fit_title(full, &format!(" {short} "), area.width))
    };
    line_chart(
        frame,
        areas[0],
        title(
            format!(" Throughput {}/s ", compact(latest_rate)),
            "Throughput",
            areas[0],
        ),
        &throughput,
        span_s,
        "/s",
        Color::Cyan,
    );
    let p95 = points(trend, bucket_s, |p| p.p95_latency_ms);
    let latest = p95.last().map_or("-".to_string(), |p| compact(p.1));
    line_chart(
        frame,
        areas[1],
        title(
            format!(" {latency_name} {latest} ms "),
            latency_name,
            areas[1],
        ),
        &p95,
        span_s,
        "ms",
        Color::Magenta,
    );
    let errors = points(trend, bucket_s, |p| Some(p.error_rate));
    let max = errors.iter().map(|p| p.1).fold(0.0_f64, f64::max);
    line_chart(
        frame,
        areas[2],
        title(
            format!(" Error rate max {max:.1}% "),
            "Error rate",
            areas[2],
        ),
        &errors,
        span_s,
        "%",
        if max > 0.0 { Color::Red } else { Color::Green },
    );
}

/// The rows a table panel wants: its rows, a header and two borders.
fn table_demand(rows: usize, header: bool) -> u16 {
    u16::try_from(rows.max(1))
        .unwrap_or(u16::MAX)
        .saturating_add(2 + u16::from(header))
}

fn render_main(frame: &mut Frame<'_>, area: Rect, snap: &DashboardSnapshot, state: &ViewState) {
    // Wide screens put active workflows and alerts side by side under the
    // workers; narrower ones stack all three.
    let wide = area.width >= 150;
    let workers_want = table_demand(snap.workers.len(), true);
    let active_want = table_demand(snap.active.len(), true);
    let alerts_want = table_demand(snap.alerts.len(), false);
    // Workers first (they are few and each matters), then alerts, then
    // the long, scrolling list of workflows.
    let (demands, mins, order): (Vec<u16>, Vec<u16>, Vec<usize>) = if wide {
        (
            vec![workers_want, active_want.max(alerts_want)],
            vec![4, 4],
            vec![0, 1],
        )
    } else {
        (
            vec![workers_want, active_want, alerts_want],
            vec![4, 4, 3],
            vec![0, 2, 1],
        )
    };
    // The charts need 7 rows to be read (5 inside the box), and get a
    // quarter of a tall screen; when the tables want less than the rest,
    // the charts grow, up to 20.
    let charts_min = if area.height >= 18 {
        (area.height / 4).clamp(7, 14)
    } else {
        0
    };
    let mut heights = share(
        area.height.saturating_sub(charts_min),
        &demands,
        &mins,
        &order,
    );
    let charts_h = (area.height - heights.iter().sum::<u16>()).min(20.max(charts_min));
    // Rows neither the tables nor the charts want go to the scrolling list
    // of workflows.
    heights[1] += area.height - charts_h - heights.iter().sum::<u16>();
    let [charts, tables] =
        Layout::vertical([Constraint::Length(charts_h), Constraint::Min(0)]).areas(area);
    render_charts(frame, charts, snap);
    let rows = Layout::vertical(heights.iter().map(|h| Constraint::Length(*h))).split(tables);
    render_workers(frame, rows[0], snap, state);
    if wide {
        // The workflows table as wide as its columns; alerts (long
        // sentences) get the rest.
        let active_w = active_width(snap).min(rows[1].width * 3 / 5);
        let [active, alerts] =
            Layout::horizontal([Constraint::Length(active_w), Constraint::Min(0)]).areas(rows[1]);
        render_active(frame, active, snap, state);
        render_alerts(frame, alerts, snap, state);
    } else {
        render_active(frame, rows[1], snap, state);
        render_alerts(frame, rows[2], snap, state);
    }
}

/// Column widths of the active workflows table: workflow, step (by
/// content) and age.
fn active_columns(snap: &DashboardSnapshot) -> [u16; 3] {
    let widest = |f: fn(&super::snapshot::ActiveRow) -> usize, min: usize, max: usize| {
        snap.active.iter().map(f).max().unwrap_or(0).clamp(min, max) as u16
    };
    [
        widest(|a| a.workflow.chars().count(), 8, 24),
        widest(|a| a.current_step.chars().count(), 4, 18),
        7,
    ]
}

/// The width the active workflows table wants: its columns, the longest
/// transaction id, spacing and borders.
fn active_width(snap: &DashboardSnapshot) -> u16 {
    let id = snap
        .active
        .iter()
        .map(|a| a.transaction_id.chars().count())
        .max()
        .unwrap_or(11)
        .max(11) as u16;
    active_columns(snap).iter().sum::<u16>() + id + 3 + 2
}

fn render_charts(frame: &mut Frame<'_>, area: Rect, snap: &DashboardSnapshot) {
    if area.height == 0 {
        return;
    }
    let [throughput, latency, errors, system] = Layout::horizontal([
        Constraint::Ratio(1, 4),
        Constraint::Ratio(1, 4),
        Constraint::Ratio(1, 4),
        Constraint::Ratio(1, 4),
    ])
    .areas(area);
    trend_charts(
        frame,
        [throughput, latency, errors],
        &snap.trend.points,
        snap.trend.bucket_s,
        snap.elapsed_seconds,
        "p95 latency",
    );
    render_system(frame, system, snap);
}

fn render_system(frame: &mut Frame<'_>, area: Rect, snap: &DashboardSnapshot) {
    let s = &snap.system;
    let block = Block::bordered().title(fit_title(
        format!(
            " System load {:.2} conn {} ",
            s.load_avg_1m, s.active_connections
        ),
        " System ",
        area.width,
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if s.samples == 0 {
        frame.render_widget(
            Paragraph::new(Span::styled(
                "no samples in the window",
                Style::default().fg(Color::DarkGray),
            )),
            inner,
        );
        return;
    }
    let [cpu, memory] =
        Layout::vertical([Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)]).areas(inner);
    metric_row(
        frame,
        cpu,
        "cpu",
        s.cpu_usage_percent,
        &s.cpu_series,
        &s.sample_offsets_s,
        snap.elapsed_seconds,
        Color::Cyan,
    );
    metric_row(
        frame,
        memory,
        "mem",
        s.memory_usage_percent,
        &s.memory_series,
        &s.sample_offsets_s,
        snap.elapsed_seconds,
        Color::Magenta,
    );
}

/// "shown a–b of n" for a list that does not fit, else "".
pub(super) fn scroll_note(offset: usize, visible: usize, total: usize) -> String {
    if total <= visible || visible == 0 {
        String::new()
    } else {
        format!(
            " {}–{} of {} ",
            offset + 1,
            (offset + visible).min(total),
            total
        )
    }
}

/// A table's offset that keeps `selected` among `visible` rows (the
/// selected row scrolls into view at the bottom, as in a pager).
pub(super) fn offset_for(selected: usize, visible: usize) -> usize {
    (selected + 1).saturating_sub(visible.max(1))
}

fn render_workers(frame: &mut Frame<'_>, area: Rect, snap: &DashboardSnapshot, state: &ViewState) {
    let focused = state.panel == Panel::Workers;
    let rows = state.sorted_workers(snap);
    let header = Row::new(WorkerColumn::ALL.map(|c| {
        let arrow = if c != state.sort {
            ""
        } else if state.descending {
            "▼"
        } else {
            "▲"
        };
        let style = if c == state.sort {
            bold().fg(Color::Cyan)
        } else {
            bold()
        };
        Cell::from(format!("{} {}{}", c.key(), c.title(), arrow)).style(style)
    }));
    let name_w = rows
        .iter()
        .map(|w| w.name.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(8, 28) as u16
        + 2;
    let body = rows.iter().map(|w| {
        Row::new(vec![
            Cell::from(w.name.clone()),
            Cell::from(w.commands.to_string()),
            Cell::from(format!("{:.1}", w.success_rate)),
            Cell::from(compact(w.avg_duration_ms)),
            Cell::from(compact(w.p95_duration_ms)),
            Cell::from(w.health.clone()).style(Style::default().fg(health_color(&w.health))),
            Cell::from(w.issues.join("; ")),
        ])
    });
    let widths = [
        Constraint::Length(name_w),
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Min(8),
    ];
    let visible = usize::from(area.height.saturating_sub(3));
    let selected = state.selected(Panel::Workers, rows.len());
    let offset = offset_for(selected, visible);
    let title = Line::from(vec![
        Span::styled(format!(" Workers ({}) ", rows.len()), bold()),
        Span::raw(scroll_note(offset, visible, rows.len())),
    ]);
    let mut table_state = TableState::default().with_offset(offset);
    if focused && !rows.is_empty() {
        table_state.select(Some(selected));
    }
    frame.render_stateful_widget(
        Table::new(body, widths)
            .header(header)
            .column_spacing(1)
            .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
            .block(panel_block(title, focused)),
        area,
        &mut table_state,
    );
}

fn render_active(frame: &mut Frame<'_>, area: Rect, snap: &DashboardSnapshot, state: &ViewState) {
    let focused = state.panel == Panel::Active;
    let [workflow_w, step_w, age_w] = active_columns(snap);
    let rows = snap.active.iter().map(|a| {
        Row::new(vec![
            a.workflow.clone(),
            a.current_step.clone(),
            format!("{:.1}s", a.age_seconds),
            a.transaction_id.clone(),
        ])
    });
    let widths = [
        Constraint::Length(workflow_w),
        Constraint::Length(step_w),
        Constraint::Length(age_w),
        Constraint::Min(12),
    ];
    let visible = usize::from(area.height.saturating_sub(3));
    let selected = state.selected(Panel::Active, snap.active.len());
    let offset = offset_for(selected, visible);
    let more = if snap.active_total > snap.active.len() as i64 {
        format!(", first {} listed", snap.active.len())
    } else {
        String::new()
    };
    let title = Line::from(vec![
        Span::styled(
            format!(" Active workflows ({}{more}) ", snap.active_total),
            bold(),
        ),
        Span::raw(scroll_note(offset, visible, snap.active.len())),
    ]);
    if snap.active.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled(
                "no workflows in flight",
                Style::default().fg(Color::DarkGray),
            ))
            .block(panel_block(title, focused)),
            area,
        );
        return;
    }
    let mut table_state = TableState::default().with_offset(offset);
    if focused {
        table_state.select(Some(selected));
    }
    frame.render_stateful_widget(
        Table::new(rows, widths)
            .header(Row::new(["workflow", "step", "age", "transaction"]).style(bold()))
            .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
            .block(panel_block(title, focused)),
        area,
        &mut table_state,
    );
}

fn render_alerts(frame: &mut Frame<'_>, area: Rect, snap: &DashboardSnapshot, state: &ViewState) {
    let focused = state.panel == Panel::Alerts;
    let visible = usize::from(area.height.saturating_sub(2));
    let selected = state.selected(Panel::Alerts, snap.alerts.len());
    let offset = offset_for(selected, visible);
    let title = Line::from(vec![
        Span::styled(format!(" Alerts ({}) ", snap.alerts.len()), bold()),
        Span::raw(scroll_note(offset, visible, snap.alerts.len())),
    ]);
    if snap.alerts.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled(
                "no alerts firing",
                Style::default().fg(Color::Green),
            ))
            .block(panel_block(title, focused)),
            area,
        );
        return;
    }
    let rows = snap.alerts.iter().map(|a| {
        Row::new(vec![
            Cell::from(a.severity.clone()).style(Style::default().fg(severity_color(&a.severity))),
            Cell::from(time_of_day(&a.fired_at).to_string()),
            Cell::from(a.message.clone()),
        ])
    });
    let mut table_state = TableState::default().with_offset(offset);
    if focused {
        table_state.select(Some(selected));
    }
    frame.render_stateful_widget(
        Table::new(
            rows,
            [
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Min(10),
            ],
        )
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
        .block(panel_block(title, focused)),
        area,
        &mut table_state,
    );
}

/// Active workflows `--once` lists (the live view scrolls through more).
const TEXT_ACTIVE_ROWS: usize = 10;

fn status_icon(status: &str) -> &'static str {
    match status {
        "healthy" => "🟢",
        "degraded" => "🟡",
        "inactive" => "⚪",
        _ => "🔴",
    }
}

/// The snapshot as plain text, laid out like the seed's console dashboard.
/// Text from the database is escaped for a terminal, one value per line.
pub fn render_text(snap: &DashboardSnapshot) -> String {
    let snap = &snap.for_terminal();
    let mut out = String::new();
    let e = &snap.events;
    let s = &snap.system;
    let _ = writeln!(out, "📊 MULTIAGENTS MONITORING DASHBOARD");
    let _ = writeln!(out, "{}", "=".repeat(60));
    let _ = writeln!(
        out,
        "Database: {}   At: {}",
        snap.database, snap.generated_at
    );
    let _ = writeln!(out, "{}", snap.source_line());
    let _ = writeln!(out, "\n📨 EVENTS (Last {:.0} min)", snap.window_minutes);
    let _ = writeln!(out, "  Total: {}", e.total);
    let _ = writeln!(out, "  Success Rate: {:.1}%", e.success_rate);
    let _ = writeln!(
        out,
        "  Throughput: {:.1}/min (over the {:.0}s elapsed)",
        e.throughput_per_minute, snap.elapsed_seconds
    );
    let _ = writeln!(out, "  Avg Latency: {:.1}ms", e.avg_latency_ms);
    let _ = writeln!(out, "  P95 Latency: {:.1}ms", e.p95_latency_ms);
    let commands: i64 = snap.workers.iter().map(|w| w.commands).sum();
    let _ = writeln!(out, "\n👷 WORKERS (Last {:.0} min)", snap.window_minutes);
    let _ = writeln!(out, "  Commands: {commands}");
    for w in &snap.workers {
        let _ = writeln!(
            out,
            "  {} {}: {} | {} cmds | {:.1}% ok | avg {:.1}ms | p95 {:.1}ms{}",
            status_icon(&w.health),
            w.name,
            w.health,
            w.commands,
            w.success_rate,
            w.avg_duration_ms,
            w.p95_duration_ms,
            if w.issues.is_empty() {
                String::new()
            } else {
                format!(" | {}", w.issues.join("; "))
            }
        );
    }
    let _ = writeln!(out, "\n💻 SYSTEM");
    let _ = writeln!(out, "  CPU: {:.1}%", s.cpu_usage_percent);
    let _ = writeln!(out, "  Memory: {:.1}%", s.memory_usage_percent);
    let _ = writeln!(out, "  Load: {:.2}", s.load_avg_1m);
    let _ = writeln!(out, "  Connections: {}", s.active_connections);
    let _ = writeln!(out, "\n🔄 ACTIVE WORKFLOWS ({})", snap.active_total);
    for a in snap.active.iter().take(TEXT_ACTIVE_ROWS) {
        let _ = writeln!(
            out,
            "  {} at {} for {:.1}s ({})",
            a.workflow, a.current_step, a.age_seconds, a.transaction_id
        );
    }
    if snap.active.len() > TEXT_ACTIVE_ROWS {
        let _ = writeln!(
            out,
            "  … and {} more",
            snap.active_total - TEXT_ACTIVE_ROWS as i64
        );
    }
    let _ = writeln!(out, "\n🚨 ALERTS ({})", snap.alerts.len());
    for a in &snap.alerts {
        let _ = writeln!(
            out,
            "  [{}] {}: {} (since {})",
            a.severity, a.alert_type, a.message, a.fired_at
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::snapshot::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn sample() -> DashboardSnapshot {
        DashboardSnapshot {
            generated_at: "2026-11-29T05:00:00Z".into(),
            database: "multiagents.db".into(),
            window_minutes: 1.0,
            elapsed_seconds: 60.0,
            trend: Trend {
                bucket_s: 1.0,
                points: (0..60)
                    .map(|i| TrendPoint {
                        offset_s: f64::from(i),
                        throughput_per_s: 2.0,
                        p95_latency_ms: Some(40.0),
                        error_rate: 10.0,
                    })
                    .collect(),
            },
            events: EventPanel {
                total: 120,
                success_rate: 90.0,
                error_rate: 10.0,
                throughput_per_minute: 120.0,
                avg_latency_ms: 12.5,
                p95_latency_ms: 40.0,
            },
            workers: vec![
                WorkerRow {
                    name: "fast_processor".into(),
                    commands: 80,
                    success_rate: 100.0,
                    avg_duration_ms: 30.0,
                    p95_duration_ms: 48.0,
                    health: "healthy".into(),
                    issues: vec![],
                },
                WorkerRow {
                    name: "flaky_processor".into(),
                    commands: 40,
                    success_rate: 70.0,
                    avg_duration_ms: 400.0,
                    p95_duration_ms: 780.0,
                    health: "failing".into(),
                    issues: vec!["error rate 30.0% exceeds the 20.0% threshold".into()],
                },
            ],
            system: SystemPanel {
                cpu_usage_percent: 37.5,
                memory_usage_percent: 41.0,
                load_avg_1m: 1.25,
                active_connections: 2,
                cpu_series: vec![10.0, 50.0, 90.0],
                memory_series: vec![40.0, 41.0, 41.0],
                samples: 3,
                sample_offsets_s: vec![0.0, 15.0, 30.0],
            },
            active: vec![ActiveRow {
                transaction_id: "0193-abc".into(),
                workflow: "simple_monitoring".into(),
                current_step: "slow_step".into(),
                age_seconds: 1.5,
            }],
            active_total: 1,
            alerts: vec![AlertRow {
                severity: "critical".into(),
                alert_type: "worker_failed".into(),
                message: "Worker flaky_processor has failed".into(),
                fired_at: "2026-11-29T04:59:00Z".into(),
            }],
            provenance: Default::default(),
        }
    }

    fn screen(width: u16, height: u16, snap: &DashboardSnapshot) -> String {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal
            .draw(|f| render(f, snap, &ViewState::default(), None))
            .unwrap();
        let buffer = terminal.backend().buffer().clone();
        let mut text = String::new();
        for y in 0..buffer.area.height {
            for x in 0..buffer.area.width {
                text.push_str(buffer[(x, y)].symbol());
            }
            text.push('\n');
        }
        text
    }

    #[test]
    fn all_five_panels_are_drawn_on_a_normal_terminal() {
        let text = screen(140, 40, &sample());
        for title in [
            "Events",
            "System",
            "Workers",
            "Active workflows (1)",
            "Alerts (1)",
        ] {
            assert!(text.contains(title), "missing {title}:\n{text}");
        }
        assert!(text.contains("flaky_processor"));
        assert!(text.contains("slow_step"));
        assert!(text.contains("Worker flaky_processor has failed"));
    }

    #[test]
    fn health_is_coloured_green_yellow_red() {
        assert_eq!(health_color("healthy"), Color::Green);
        assert_eq!(health_color("degraded"), Color::Yellow);
        assert_eq!(health_color("failing"), Color::Red);
    }

    #[test]
    fn tiny_and_empty_terminals_do_not_panic() {
        for (w, h) in [(0, 0), (1, 1), (10, 3), (20, 10), (40, 12), (80, 24)] {
            screen(w, h, &sample());
            screen(w, h, &DashboardSnapshot::default());
        }
    }

    #[test]
    fn text_snapshot_has_every_section() {
        let text = render_text(&sample());
        for section in ["EVENTS", "WORKERS", "SYSTEM", "ACTIVE WORKFLOWS", "ALERTS"] {
            assert!(text.contains(section), "{section}");
        }
        assert!(text.contains("Success Rate: 90.0%"));
        assert!(text.contains("Source: raw rows."));
    }

    #[test]
    fn the_source_line_says_what_retention_removed_on_both_views() {
        let mut snap = sample();
        snap.provenance = crate::monitor::coverage::Provenance {
            source: crate::monitor::coverage::Source::Mixed,
            notes: vec!["raw rows before 2026-11-29T04:58:00Z were deleted by retention".into()],
            ..Default::default()
        };
        let text = render_text(&snap);
        assert!(
            text.contains("Source: raw rows and rollups. raw rows before 2026-11-29T04:58:00Z"),
            "{text}"
        );
        assert!(screen(140, 40, &snap).contains("Source: raw rows and rollups."));
        assert!(screen(140, 40, &sample()).contains("Source: raw rows."));
    }
}
