//! Drawing a [`DashboardSnapshot`]: with ratatui for the live view, as plain
//! text for `--once`.

use std::fmt::Write as _;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Sparkline, Table};

use super::snapshot::DashboardSnapshot;

/// Colour of a health status: green, yellow, red (grey when inactive).
pub fn health_color(status: &str) -> Color {
    match status {
        "healthy" => Color::Green,
        "degraded" => Color::Yellow,
        "failing" | "failed" => Color::Red,
        _ => Color::DarkGray,
    }
}

fn severity_color(severity: &str) -> Color {
    match severity {
        "critical" => Color::Red,
        "warning" => Color::Yellow,
        _ => Color::Cyan,
    }
}

/// Scales percentages to sparkline bars (0–100 → 0–100).
fn bars(series: &[f64]) -> Vec<u64> {
    series
        .iter()
        .map(|v| {
            if v.is_finite() {
                v.clamp(0.0, 100.0).round() as u64
            } else {
                0
            }
        })
        .collect()
}

/// Draws the five panels. Any terminal size is accepted: panels that do not
/// fit are clipped by ratatui, never a panic. Text from the database is
/// shown escaped (ratatui would silently drop an ESC but pass on the rest
/// of its sequence and any bidirectional override).
pub fn render(frame: &mut Frame<'_>, snap: &DashboardSnapshot) {
    let snap = &snap.for_terminal();
    let area = frame.area();
    let [title, source, top, middle, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(8),
        Constraint::Min(5),
        Constraint::Length(8),
    ])
    .areas(area);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(
                "MULTIAGENTS MONITORING DASHBOARD",
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(
                "  {}  window {:.0} min  {}  (q quits)",
                snap.database, snap.window_minutes, snap.generated_at
            )),
        ])),
        title,
    );
    frame.render_widget(Paragraph::new(snap.source_line()), source);
    let [events_area, system_area] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(top);
    render_events(frame, events_area, snap);
    render_system(frame, system_area, snap);
    render_workers(frame, middle, snap);
    let [active_area, alerts_area] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(bottom);
    render_active(frame, active_area, snap);
    render_alerts(frame, alerts_area, snap);
}

fn render_events(frame: &mut Frame<'_>, area: Rect, snap: &DashboardSnapshot) {
    let e = &snap.events;
    let lines = vec![
        Line::from(format!("Total:        {}", e.total)),
        Line::from(format!("Success Rate: {:.1}%", e.success_rate)),
        Line::from(format!("Error Rate:   {:.1}%", e.error_rate)),
        Line::from(format!("Throughput:   {:.1}/min", e.throughput_per_minute)),
        Line::from(format!("Avg Latency:  {:.1} ms", e.avg_latency_ms)),
        Line::from(format!("P95 Latency:  {:.1} ms", e.p95_latency_ms)),
    ];
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Events ")),
        area,
    );
}

fn render_system(frame: &mut Frame<'_>, area: Rect, snap: &DashboardSnapshot) {
    let s = &snap.system;
    let block = Block::bordered().title(" System ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [text, cpu, memory] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(2),
        Constraint::Min(1),
    ])
    .areas(inner);
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(format!(
                "CPU {:.1}%  Memory {:.1}%  Load {:.2}",
                s.cpu_usage_percent, s.memory_usage_percent, s.load_avg_1m
            )),
            Line::from(format!(
                "Connections {}  Samples {}",
                s.active_connections, s.samples
            )),
        ]),
        text,
    );
    let cpu_bars = bars(&s.cpu_series);
    frame.render_widget(
        Sparkline::default()
            .block(Block::default().title("cpu"))
            .data(&cpu_bars)
            .max(100)
            .style(Style::default().fg(Color::Cyan)),
        cpu,
    );
    let memory_bars = bars(&s.memory_series);
    frame.render_widget(
        Sparkline::default()
            .block(Block::default().title("memory"))
            .data(&memory_bars)
            .max(100)
            .style(Style::default().fg(Color::Magenta)),
        memory,
    );
}

fn render_workers(frame: &mut Frame<'_>, area: Rect, snap: &DashboardSnapshot) {
    let header = Row::new([
        "worker", "commands", "success", "avg ms", "p95 ms", "health", "issues",
    ])
    .style(Style::default().add_modifier(Modifier::BOLD));
    let rows = snap.workers.iter().map(|w| {
        Row::new(vec![
            Cell::from(w.name.clone()),
            Cell::from(w.commands.to_string()),
            Cell::from(format!("{:.1}%", w.success_rate)),
            Cell::from(format!("{:.1}", w.avg_duration_ms)),
            Cell::from(format!("{:.1}", w.p95_duration_ms)),
            Cell::from(w.health.clone()).style(Style::default().fg(health_color(&w.health))),
            Cell::from(w.issues.join("; ")),
        ])
    });
    let widths = [
        Constraint::Length(18),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Min(10),
    ];
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(Block::bordered().title(" Workers ")),
        area,
    );
}

fn render_active(frame: &mut Frame<'_>, area: Rect, snap: &DashboardSnapshot) {
    let rows = snap.active.iter().map(|a| {
        Row::new(vec![
            a.workflow.clone(),
            a.current_step.clone(),
            format!("{:.1}s", a.age_seconds),
            a.transaction_id.clone(),
        ])
    });
    let widths = [
        Constraint::Length(24),
        Constraint::Length(14),
        Constraint::Length(8),
        Constraint::Min(10),
    ];
    frame.render_widget(
        Table::new(rows, widths)
            .header(
                Row::new(["workflow", "step", "age", "transaction"])
                    .style(Style::default().add_modifier(Modifier::BOLD)),
            )
            .block(Block::bordered().title(format!(" Active workflows ({}) ", snap.active_total))),
        area,
    );
}

fn render_alerts(frame: &mut Frame<'_>, area: Rect, snap: &DashboardSnapshot) {
    let lines: Vec<Line> = if snap.alerts.is_empty() {
        vec![Line::from(Span::styled(
            "no alerts firing",
            Style::default().fg(Color::Green),
        ))]
    } else {
        snap.alerts
            .iter()
            .map(|a| {
                Line::from(vec![
                    Span::styled(
                        format!("{:<8} ", a.severity),
                        Style::default().fg(severity_color(&a.severity)),
                    ),
                    Span::raw(a.message.clone()),
                ])
            })
            .collect()
    };
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::bordered().title(format!(" Alerts ({}) ", snap.alerts.len()))),
        area,
    );
}

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
    let _ = writeln!(out, "  Throughput: {:.1}/min", e.throughput_per_minute);
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
    for a in &snap.active {
        let _ = writeln!(
            out,
            "  {} at {} for {:.1}s ({})",
            a.workflow, a.current_step, a.age_seconds, a.transaction_id
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
        terminal.draw(|f| render(f, snap)).unwrap();
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
