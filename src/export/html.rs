//! The HTML form of a [`RunReport`]: one self-contained file — inline CSS,
//! inline SVG charts ([`super::chart`]), no script and no external
//! reference — so it reads the same offline, attached to a ticket, or
//! years later, on a phone (charts and tables follow the page's width), and
//! printed on A4 (a print stylesheet).
//!
//! Over time, from the run's start (the series of [`crate::monitor::series`]):
//! throughput, error rate and p50/p95 latency, with the alerts marked at the
//! moment they fired, and CPU and memory on a fitted axis; then workflows
//! with their p50/p95/p99 latency, workers, duration distributions, error
//! patterns and alerts. The page is built with maud, which escapes every
//! interpolated value by construction, so text from the database (worker
//! names, error messages) cannot become markup; only the CSS constant goes
//! in unescaped, marked `PreEscaped`.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::ExportError;
use super::chart::{Bar, BarChart, Line, Marker, TimeChart, color};
use super::report::{ALL_WORKFLOWS, RunReport, over_time_heading};
use crate::monitor::series::Series;

/// Chart titles, in page order (tests look for each).
pub const CHART_TITLES: [&str; 6] = [
    "Throughput over time",
    "Error rate over time",
    "Latency over time",
    "CPU and memory over time",
    "Duration distribution per worker",
    "Error patterns",
];

fn bucket_label(le_ms: Option<i64>) -> String {
    match le_ms {
        Some(le) if le >= 1000 => format!("≤ {} s", le as f64 / 1000.0),
        Some(le) => format!("≤ {le} ms"),
        None => "slower".to_string(),
    }
}

/// The x of each bucket of `series` on a chart whose 0 is `start_us`: its
/// middle, in seconds.
fn bucket_x(series: &Series, start_us: i64) -> impl Iterator<Item = f64> + '_ {
    series
        .buckets
        .iter()
        .map(move |b| (b.start_us - start_us) as f64 / 1e6 + series.bucket_s / 2.0)
}

/// Figure `value` of every bucket, at its middle.
pub(crate) fn series_points(
    series: &Series,
    start_us: i64,
    value: impl Fn(&crate::monitor::series::SeriesBucket) -> Option<f64>,
) -> Vec<(f64, Option<f64>)> {
    bucket_x(series, start_us)
        .zip(series.buckets.iter().map(value))
        .collect()
}

/// The error rate of a bucket, `None` when nothing ended in it (no rate,
/// rather than a rate of 0).
pub(crate) fn error_rate(b: &crate::monitor::series::SeriesBucket) -> Option<f64> {
    (b.executions > 0).then_some(b.error_rate)
}

fn line(name: &str, color: &'static str, points: Vec<(f64, Option<f64>)>) -> Line {
    Line {
        name: name.to_string(),
        color,
        dashed: false,
        points,
    }
}

/// The alerts of the run as markers, numbered A1, A2… oldest first (the
/// alert table uses the same numbers).
fn alert_markers(report: &RunReport) -> Vec<Marker> {
    let start = report.run.window.start_us;
    let mut alerts: Vec<&crate::monitor::alerts::Alert> = report.alerts.alerts.iter().collect();
    alerts.sort_by_key(|a| (a.fired_at_us, a.id));
    alerts
        .iter()
        .enumerate()
        .map(|(i, a)| Marker {
            at_s: (a.fired_at_us - start) as f64 / 1e6,
            label: format!("A{}", i + 1),
            title: format!(
                "A{}: {} ({}) at {}: {}",
                i + 1,
                a.alert_type,
                a.severity.as_str(),
                a.timestamp,
                a.message
            ),
        })
        .collect()
}

/// The charts over time: throughput, error rate, latency, CPU and memory.
fn time_charts(report: &RunReport) -> [Markup; 4] {
    let s = &report.series;
    let start = report.run.window.start_us;
    let span_s = report.run.duration_seconds;
    let markers = alert_markers(report);
    // Percentages stop at 100; CPU and memory are fitted to their values.
    let chart = |aria: &str, y_label: &str, lines: Vec<Line>, y_from_zero: bool, y_cap| {
        // An axis drawn on a log scale says so in its label: one fact.
        let y_log = y_label.ends_with("(log scale)");
        TimeChart {
            aria_label: aria.to_string(),
            y_label: y_label.to_string(),
            x_label: "since the run started".to_string(),
            span_s,
            lines,
            markers: markers.clone(),
            y_from_zero,
            y_cap,
            y_log,
        }
        .render()
    };
    let throughput = chart(
        "Executions and workflows ended per second over the run",
        "per second",
        vec![
            line(
                "executions",
                color::BLUE,
                series_points(s, start, |b| Some(b.executions_per_s)),
            ),
            line(
                "workflows ended",
                color::GREEN,
                series_points(s, start, |b| Some(b.workflows_per_s)),
            ),
        ],
        true,
        None,
    );
    let errors = chart(
        "Failed or timed-out executions, percent of those that ended, over the run",
        "% failed or timed out",
        vec![line(
            "error rate",
            color::RED,
            series_points(s, start, error_rate),
        )],
        true,
        Some(100.0),
    );
    let latency = chart(
        "p50 and p95 event latency over the run",
        "latency, ms (log scale)",
        vec![
            line(
                "p50",
                color::BLUE,
                series_points(s, start, |b| b.p50_latency_ms),
            ),
            line(
                "p95",
                color::ORANGE,
                series_points(s, start, |b| b.p95_latency_ms),
            ),
        ],
        true,
        None,
    );
    let at = |us: i64| (us - start) as f64 / 1e6;
    let system = chart(
        "Machine CPU and memory use over the run",
        "percent",
        vec![
            line(
                "CPU",
                color::BLUE,
                report
                    .system_series
                    .iter()
                    .map(|p| (at(p.at_us), Some(p.cpu_usage_percent)))
                    .collect(),
            ),
            line(
                "memory",
                color::GREEN,
                report
                    .system_series
                    .iter()
                    .map(|p| (at(p.at_us), Some(p.memory_usage_percent)))
                    .collect(),
            ),
        ],
        false,
        Some(100.0),
    );
    [throughput, errors, latency, system]
}

/// One worker's duration histogram, from its fastest to its slowest
/// non-empty bucket.
fn duration_chart(worker: &str, report: &RunReport) -> Markup {
    let buckets = report
        .duration_histograms
        .get(worker)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let first = buckets.iter().position(|b| b.count > 0).unwrap_or(0);
    let last = buckets.iter().rposition(|b| b.count > 0).unwrap_or(0);
    BarChart {
        aria_label: format!("{worker}: executions by duration"),
        value_label: "executions".to_string(),
        color: color::BLUE,
        bars: buckets
            .get(first..=last)
            .unwrap_or_default()
            .iter()
            .map(|b| Bar {
                label: bucket_label(b.le_ms),
                value: b.count,
            })
            .collect(),
    }
    .render()
}

/// Errors by type.
fn errors_chart(report: &RunReport) -> Markup {
    BarChart {
        aria_label: "Errors by type".to_string(),
        value_label: "occurrences".to_string(),
        color: color::RED,
        bars: report
            .error_patterns
            .iter()
            .map(|p| Bar {
                label: p.error_type.clone(),
                value: p.count,
            })
            .collect(),
    }
    .render()
}

/// The page's CSS: readable on a phone (nothing wider than the screen:
/// charts follow the width, wide tables scroll inside their box) and on A4.
pub(crate) const CSS: &str = "
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; font-size: 16px; line-height: 1.4; margin: 0 auto; max-width: 1100px; color: #222; padding: 1em; overflow-wrap: anywhere; }
h1 { font-size: 1.6em; margin: 0.2em 0; }
h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.meta { color: #555; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; overflow-wrap: normal; white-space: nowrap; }
th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
td.text { text-align: left; min-width: 12em; overflow-wrap: anywhere; white-space: normal; }
td.name { text-align: left; }
.healthy { color: #2e7d32; } .degraded { color: #b26a00; } .failing { color: #c62828; font-weight: bold; } .inactive { color: #777; }
tr.regression td { background: #fdecea; }
td.flag { color: #c62828; font-weight: bold; text-align: left; }
.cards { display: flex; flex-wrap: wrap; gap: 0.6em; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.4em 0.8em; min-width: 7em; }
.card b { display: block; font-size: 1.3em; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 440px), 1fr)); gap: 1em 2em; }
figure { margin: 0.5em 0; min-width: 0; }
figcaption { font-weight: 600; margin-bottom: 0.3em; }
svg.chart { display: block; width: 100%; height: auto; max-width: 720px; }
@media print {
  @page { size: A4; margin: 14mm; }
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  .charts { display: block; }
  figure { break-inside: avoid; max-width: 150mm; }
  table, tr { break-inside: avoid; }
  h2 { break-after: avoid; }
  .scroll { overflow: visible; }
}
";

/// A table cell: its text and its CSS class (empty for none).
pub(crate) type Cell = (String, &'static str);

/// A table in a box that scrolls sideways on a narrow screen, so a wide
/// table never makes the page wider than the screen.
pub(crate) fn table(header: &[&str], rows: &[Vec<Cell>]) -> Markup {
    table_with_classes(header, rows, &[])
}

/// [`table`], each row `i` with the CSS class `row_classes[i]` (if any).
pub(crate) fn table_with_classes(
    header: &[&str],
    rows: &[Vec<Cell>],
    row_classes: &[&'static str],
) -> Markup {
    html! {
        div.scroll {
            table {
                tr { @for h in header { th { (h) } } }
                @for (i, row) in rows.iter().enumerate() {
                    @let class = row_classes.get(i).copied().unwrap_or("");
                    tr class=[(!class.is_empty()).then_some(class)] {
                        @for (cell, class) in row {
                            @if class.is_empty() {
                                td { (cell) }
                            } @else {
                                td class=(class) { (cell) }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub(crate) fn plain(s: impl Into<String>) -> Cell {
    (s.into(), "")
}

/// A chart with its title above it.
pub(crate) fn figure(title: &str, chart: Markup) -> Markup {
    html! { figure { figcaption { (title) } (chart) } }
}

/// The `<head>` of a page: charset, the viewport (a phone shows the page
/// at its own width), title and CSS.
pub(crate) fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) }
            style { (PreEscaped(CSS)) }
        }
    }
}

fn ms(v: f64) -> String {
    format!("{v:.1}")
}

/// The report as one self-contained HTML page.
pub fn render_html(report: &RunReport) -> Result<String, ExportError> {
    let r = &report.run;
    let e = &report.events;
    let s = &report.system;
    let a = &report.alerts;

    let outcomes: Vec<&String> = report.workflows.by_outcome.keys().collect();
    let mut outcome_header = vec!["workflow"];
    outcome_header.extend(outcomes.iter().map(|s| s.as_str()));
    outcome_header.extend(["total", "p50 ms", "p95 ms", "p99 ms"]);
    let latency_cells = |name: &str| -> Vec<Cell> {
        match report.workflows.latency.get(name) {
            Some(l) => vec![
                plain(ms(l.p50_latency_ms)),
                plain(ms(l.p95_latency_ms)),
                plain(ms(l.p99_latency_ms)),
            ],
            None => vec![plain("-"), plain("-"), plain("-")],
        }
    };
    let mut outcome_rows: Vec<Vec<Cell>> = report
        .workflows
        .by_workflow
        .iter()
        .map(|(name, by)| {
            let mut row = vec![plain(name.clone())];
            row.extend(
                outcomes
                    .iter()
                    .map(|o| plain(by.get(*o).copied().unwrap_or(0).to_string())),
            );
            row.push(plain(by.values().sum::<u64>().to_string()));
            row.extend(latency_cells(name));
            row
        })
        .collect();
    if report.workflows.by_workflow.len() > 1 {
        let mut row = vec![plain("all workflows")];
        row.extend(
            outcomes
                .iter()
                .map(|o| plain(report.workflows.by_outcome[*o].to_string())),
        );
        row.push(plain(report.workflows.total.to_string()));
        row.extend(latency_cells(ALL_WORKFLOWS));
        outcome_rows.push(row);
    }

    let worker_rows: Vec<Vec<Cell>> = report
        .workers
        .iter()
        .map(|w| {
            let p = &w.performance;
            vec![
                plain(p.worker.clone()),
                plain(p.total_executions.to_string()),
                plain(format!("{:.1}%", p.success_rate)),
                plain(format!("{:.1}%", p.error_rate)),
                plain(p.timeout_executions.to_string()),
                plain(ms(p.avg_duration_ms)),
                plain(ms(p.p50_duration_ms)),
                plain(ms(p.p95_duration_ms)),
                plain(ms(p.p99_duration_ms)),
                (w.health.to_string(), w.health.as_str()),
                (w.health_issues.join("; "), "text"),
            ]
        })
        .collect();

    let error_rows: Vec<Vec<Cell>> = report
        .error_patterns
        .iter()
        .map(|p| {
            vec![
                plain(p.error_type.clone()),
                plain(p.count.to_string()),
                (p.workers.join(", "), "text"),
                plain(p.first_seen.clone()),
                plain(p.last_seen.clone()),
                (p.example.clone().unwrap_or_default(), "text"),
            ]
        })
        .collect();

    // Oldest first, numbered as on the charts.
    let markers = alert_markers(report);
    let mut alerts: Vec<&crate::monitor::alerts::Alert> = a.alerts.iter().collect();
    alerts.sort_by_key(|a| (a.fired_at_us, a.id));
    let alert_rows: Vec<Vec<Cell>> = alerts
        .iter()
        .zip(&markers)
        .map(|(alert, marker)| {
            vec![
                plain(marker.label.clone()),
                plain(alert.timestamp.clone()),
                plain(super::report::offset_label(marker.at_s)),
                plain(alert.alert_type.clone()),
                plain(alert.severity.as_str()),
                plain(alert.worker.clone().unwrap_or_default()),
                plain(alert.resolved_at.clone().unwrap_or_else(|| "-".into())),
                (alert.message.clone(), "text"),
            ]
        })
        .collect();

    let [throughput, errors_over_time, latency, system] = time_charts(report);
    let duration_charts: Vec<(String, Markup)> = report
        .duration_histograms
        .keys()
        .map(|worker| (worker.clone(), duration_chart(worker, report)))
        .collect();

    let page = html! {
        (DOCTYPE)
        html lang="en" {
            (head(&format!("multiagents run {} report", r.run_id)))
            body {
                h1 { "Run " (r.run_id) " report" }
                p.meta {
                    (r.started_at) " → " (r.ended_at)
                    @if r.unfinished { " (did not end cleanly)" }
                    " (" (super::report::offset_label(r.duration_seconds)) ") · " (r.command)
                    " · version " (r.version) " on " (r.host)
                    " · generated " (report.generated_at)
                }
                p.meta {
                    "status: " (r.status.as_str())
                    @if let Some(why) = &r.end_reason { " (" (why) ")" }
                }
                @if let Some(line) = report.provenance.describe() {
                    p.meta { (line) }
                }
                div.cards {
                    div.card { "workflows" b { (report.workflows.total) } }
                    div.card { "events" b { (e.total_events) } }
                    div.card { "success" b { (format!("{:.1}%", e.success_rate)) } }
                    div.card { "errors" b { (format!("{:.1}%", e.error_rate)) } }
                    div.card { "avg latency" b { (format!("{:.1} ms", e.avg_latency_ms)) } }
                    div.card { "p95 latency" b { (format!("{:.1} ms", e.p95_latency_ms)) } }
                    div.card { "alerts fired" b { (a.fired) } }
                }

                h2 { "Over time" }
                p.meta {
                    (over_time_heading(&report.series)) "; latency is the event latency (dispatch → end)"
                    @if !markers.is_empty() { "; dashed red lines mark when alerts fired (A1… as in the alert table)" }
                    "."
                }
                @if let Some(line) = report.series.provenance.describe() {
                    p.meta { (line) }
                }
                div.charts {
                    (figure(CHART_TITLES[0], throughput))
                    (figure(CHART_TITLES[1], errors_over_time))
                    (figure(CHART_TITLES[2], latency))
                    (figure(CHART_TITLES[3], system))
                }
                p.meta {
                    (s.sample_count) " system samples · CPU avg "
                    (format!("{:.1}%, peak {:.1}%", s.avg_cpu_usage, s.peak_cpu_usage))
                    " · memory avg "
                    (format!("{:.1}%, peak {:.1}%", s.avg_memory_usage, s.peak_memory_usage))
                    " · load avg " (format!("{:.2}", s.avg_system_load))
                    " · process RSS peak "
                    (format!("{:.1}", s.peak_process_rss_bytes as f64 / 1048576.0))
                    " MiB · peak " (s.peak_active_workflows) " workflows in flight"
                }

                h2 { "Workflows" }
                p.meta { "By outcome, and latency (created → ended) of those that ended." }
                (table(&outcome_header, &outcome_rows))

                h2 { "Workers" }
                p.meta { "Rates and durations over the whole run; health evaluated at its end." }
                (table(
                    &[
                        "worker", "executions", "success", "errors", "timeouts", "avg ms",
                        "p50 ms", "p95 ms", "p99 ms", "health", "issues",
                    ],
                    &worker_rows,
                ))

                h2 { (CHART_TITLES[4]) }
                @if duration_charts.is_empty() {
                    p { "No executions in this run." }
                }
                div.charts {
                    @for (worker, chart) in &duration_charts {
                        (figure(worker, chart.clone()))
                    }
                }

                h2 { (CHART_TITLES[5]) }
                @if error_rows.is_empty() {
                    p { "No errors in this run." }
                } @else {
                    div.charts { (figure("Errors by type", errors_chart(report))) }
                    (table(
                        &["error type", "count", "workers", "first seen", "last seen", "example"],
                        &error_rows,
                    ))
                }

                h2 { "Alerts" }
                p { (a.fired) " fired, " (a.resolved) " resolved." }
                @if !alert_rows.is_empty() {
                    (table(
                        &["", "fired", "since start", "type", "severity", "subject", "resolved", "message"],
                        &alert_rows,
                    ))
                }
            }
        }
    };
    let mut out = page.into_string();
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{plain, table};

    #[test]
    fn text_from_the_database_is_escaped_by_construction() {
        let hostile = r#"<script>alert("x")</script>&"#;
        let html =
            table(&["<th>"], &[vec![plain(hostile), (hostile.into(), "text")]]).into_string();
        assert!(!html.contains("<script"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;"),
            "{html}"
        );
        assert!(html.contains("<th>&lt;th&gt;</th>"), "{html}");
    }
}
