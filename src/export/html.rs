//! The HTML form of a [`RunReport`]: one self-contained file — inline CSS,
//! inline SVG charts drawn with `plotters`, no script and no external
//! reference — so it reads the same offline, attached to a ticket, or
//! years later.
//!
//! Charts: duration distribution per worker, throughput over time, CPU and
//! memory over time, error patterns. The page is built with maud, which
//! escapes every interpolated value by construction, so text from the
//! database (worker names, error messages) cannot become markup; only the
//! CSS constant and plotters' SVG (plotters escapes the text it draws) go in
//! unescaped, each marked `PreEscaped`.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::ExportError;
use super::report::RunReport;

/// Chart titles, in page order (tests look for each).
pub const CHART_TITLES: [&str; 4] = [
    "Duration distribution per worker",
    "Throughput over time",
    "CPU and memory over time",
    "Error patterns",
];

const WIDTH: u32 = 760;
const HEIGHT: u32 = 300;
const BLUE: RGBColor = RGBColor(52, 101, 164);
const RED: RGBColor = RGBColor(204, 0, 0);
const GREEN: RGBColor = RGBColor(78, 154, 6);

fn chart_error(e: impl std::fmt::Display) -> ExportError {
    ExportError::Render(format!("chart: {e}"))
}

/// Draws into an SVG string of the given size.
fn svg(
    width: u32,
    height: u32,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), ExportError>,
) -> Result<String, ExportError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        draw(&root)?;
        root.present().map_err(chart_error)?;
    }
    Ok(out)
}

fn no_data(area: &DrawingArea<SVGBackend<'_>, Shift>, what: &str) -> Result<(), ExportError> {
    let (w, h) = area.dim_in_pixel();
    area.draw(&Text::new(
        format!("no {what} recorded in this run"),
        (w as i32 / 2 - 120, h as i32 / 2),
        ("sans-serif", 16).into_font().color(&BLACK.mix(0.6)),
    ))
    .map_err(chart_error)
}

fn bucket_label(le_ms: Option<i64>) -> String {
    match le_ms {
        Some(le) if le >= 1000 => format!("≤{}s", le as f64 / 1000.0),
        Some(le) => format!("≤{le}ms"),
        None => "slower".to_string(),
    }
}

/// A labelled bar chart: the duration histograms and the error patterns.
struct Bars<'a> {
    caption: Option<String>,
    labels: Vec<String>,
    values: Vec<u64>,
    y_desc: &'a str,
    color: RGBColor,
    bar_margin: u32,
}

fn draw_bars(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    bars: &Bars<'_>,
) -> Result<(), ExportError> {
    let max = bars.values.iter().copied().max().unwrap_or(0).max(1);
    let mut builder = ChartBuilder::on(root);
    if let Some(caption) = &bars.caption {
        builder.caption(caption, ("sans-serif", 16));
    }
    let mut chart = builder
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(
            (0..bars.values.len() as i32 - 1).into_segmented(),
            0..max + max / 10 + 1,
        )
        .map_err(chart_error)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(bars.values.len())
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                bars.labels.get(*i as usize).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        })
        .y_desc(bars.y_desc)
        .draw()
        .map_err(chart_error)?;
    chart
        .draw_series(
            Histogram::vertical(&chart)
                .style(bars.color.filled())
                .margin(bars.bar_margin)
                .data(bars.values.iter().enumerate().map(|(i, v)| (i as i32, *v))),
        )
        .map_err(chart_error)?;
    Ok(())
}

/// One worker's duration histogram.
fn duration_chart(worker: &str, report: &RunReport) -> Result<String, ExportError> {
    let buckets = report
        .duration_histograms
        .get(worker)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let bars = Bars {
        caption: Some(format!("{worker}: executions by duration")),
        labels: buckets.iter().map(|b| bucket_label(b.le_ms)).collect(),
        values: buckets.iter().map(|b| b.count).collect(),
        y_desc: "executions",
        color: BLUE,
        bar_margin: 4,
    };
    svg(WIDTH, 240, |root| {
        if bars.values.is_empty() {
            return no_data(root, "executions");
        }
        draw_bars(root, &bars)
    })
}

/// Events per minute: all, and errors (failed + timeout).
fn throughput_chart(report: &RunReport) -> Result<String, ExportError> {
    let points = &report.throughput;
    svg(WIDTH, HEIGHT, |root| {
        if points.is_empty() {
            return no_data(root, "events");
        }
        let start = report.run.window.start_us;
        let minute = |us: i64| (us - start) as f64 / 60e6;
        let max = points.iter().map(|m| m.total()).max().unwrap_or(1).max(1) as f64;
        let x_end = minute(points[points.len() - 1].minute_us) + 1.0;
        let x_start = minute(points[0].minute_us).min(0.0);
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(x_start..x_end, 0.0..max * 1.1)
            .map_err(chart_error)?;
        chart
            .configure_mesh()
            .x_desc("minutes since the run started")
            .y_desc("events per minute")
            .draw()
            .map_err(chart_error)?;
        // Each minute as a bar from its start to its end.
        let bar = |m: &crate::monitor::totals::MinuteThroughput, v: u64, color: RGBColor| {
            let x0 = minute(m.minute_us);
            Rectangle::new([(x0 + 0.05, 0.0), (x0 + 0.95, v as f64)], color.filled())
        };
        chart
            .draw_series(points.iter().map(|m| bar(m, m.total(), BLUE)))
            .map_err(chart_error)?
            .label("all events")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], BLUE.filled()));
        chart
            .draw_series(points.iter().map(|m| bar(m, m.failed + m.timeout, RED)))
            .map_err(chart_error)?
            .label("failed or timed out")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], RED.filled()));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(chart_error)?;
        Ok(())
    })
}

/// Whole-machine CPU and memory use, percent, over the run.
fn system_chart(report: &RunReport) -> Result<String, ExportError> {
    let points = &report.system_series;
    svg(WIDTH, HEIGHT, |root| {
        if points.is_empty() {
            return no_data(root, "system samples");
        }
        let start = report.run.window.start_us;
        let secs = |us: i64| (us - start) as f64 / 1e6;
        let x_end = secs(points[points.len() - 1].at_us).max(1.0);
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..x_end, 0.0..100.0)
            .map_err(chart_error)?;
        chart
            .configure_mesh()
            .x_desc("seconds since the run started")
            .y_desc("percent")
            .draw()
            .map_err(chart_error)?;
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (secs(p.at_us), p.cpu_usage_percent)),
                BLUE.stroke_width(2),
            ))
            .map_err(chart_error)?
            .label("CPU")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], BLUE.stroke_width(2)));
        chart
            .draw_series(LineSeries::new(
                points
                    .iter()
                    .map(|p| (secs(p.at_us), p.memory_usage_percent)),
                GREEN.stroke_width(2),
            ))
            .map_err(chart_error)?
            .label("memory")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], GREEN.stroke_width(2)));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(chart_error)?;
        Ok(())
    })
}

/// Errors by type.
fn errors_chart(report: &RunReport) -> Result<String, ExportError> {
    let patterns = &report.error_patterns;
    let bars = Bars {
        caption: None,
        labels: patterns.iter().map(|p| p.error_type.clone()).collect(),
        values: patterns.iter().map(|p| p.count).collect(),
        y_desc: "occurrences",
        color: RED,
        bar_margin: 10,
    };
    svg(WIDTH, HEIGHT, |root| {
        if bars.values.is_empty() {
            return no_data(root, "errors");
        }
        draw_bars(root, &bars)
    })
}

const CSS: &str = "
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
h3 { font-size: 1.05em; margin: 1em 0 0.3em; }
.meta { color: #555; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
td.text { text-align: left; }
.healthy { color: #2e7d32; } .degraded { color: #b26a00; } .failing { color: #c62828; font-weight: bold; } .inactive { color: #777; }
.cards { display: flex; flex-wrap: wrap; gap: 1em; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.6em 1em; min-width: 9em; }
.card b { display: block; font-size: 1.4em; }
figure { margin: 0.5em 0; }
";

/// A table cell: its text and its CSS class (empty for none).
type Cell = (String, &'static str);

fn table(header: &[&str], rows: &[Vec<Cell>]) -> Markup {
    html! {
        table {
            tr { @for h in header { th { (h) } } }
            @for row in rows {
                tr {
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

fn plain(s: impl Into<String>) -> Cell {
    (s.into(), "")
}

/// A chart's SVG, drawn by plotters (which escapes the text it draws).
fn figure(svg: String) -> Markup {
    html! { figure { (PreEscaped(svg)) } }
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
    outcome_header.push("total");
    let outcome_rows: Vec<Vec<Cell>> = report
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
            row
        })
        .collect();

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
                plain(format!("{:.1}", p.avg_duration_ms)),
                plain(format!("{:.1}", p.p50_duration_ms)),
                plain(format!("{:.1}", p.p95_duration_ms)),
                plain(format!("{:.1}", p.p99_duration_ms)),
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

    let alert_rows: Vec<Vec<Cell>> = a
        .alerts
        .iter()
        .map(|alert| {
            vec![
                plain(alert.timestamp.clone()),
                plain(alert.alert_type.clone()),
                plain(alert.severity.as_str()),
                plain(alert.worker.clone().unwrap_or_default()),
                plain(alert.resolved_at.clone().unwrap_or_else(|| "-".into())),
                (alert.message.clone(), "text"),
            ]
        })
        .collect();

    // Charts are drawn first: drawing can fail, markup cannot.
    let duration_charts = report
        .duration_histograms
        .keys()
        .map(|worker| duration_chart(worker, report).map(figure))
        .collect::<Result<Vec<_>, _>>()?;
    let throughput = figure(throughput_chart(report)?);
    let system = figure(system_chart(report)?);
    let errors = figure(errors_chart(report)?);

    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "multiagents run " (r.run_id) " report" }
                style { (PreEscaped(CSS)) }
            }
            body {
                h1 { "Run " (r.run_id) " report" }
                p.meta {
                    (r.started_at) " → " (r.ended_at)
                    @if r.unfinished { " (did not end cleanly)" }
                    " (" (format!("{:.1}", r.duration_seconds)) " s) · " (r.command)
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

                h2 { "Workflows by outcome" }
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

                h2 { (CHART_TITLES[0]) }
                @if duration_charts.is_empty() {
                    p { "No executions in this run." }
                }
                @for chart in &duration_charts { (chart) }

                h2 { (CHART_TITLES[1]) }
                (throughput)

                h2 { (CHART_TITLES[2]) }
                p.meta {
                    (s.sample_count) " samples · CPU avg "
                    (format!("{:.1}%, peak {:.1}%", s.avg_cpu_usage, s.peak_cpu_usage))
                    " · memory avg "
                    (format!("{:.1}%, peak {:.1}%", s.avg_memory_usage, s.peak_memory_usage))
                    " · load avg " (format!("{:.2}", s.avg_system_load))
                    " · process RSS peak "
                    (format!("{:.1}", s.peak_process_rss_bytes as f64 / 1048576.0))
                    " MiB · peak " (s.peak_active_workflows) " workflows in flight"
                }
                (system)

                h2 { (CHART_TITLES[3]) }
                (errors)
                @if !error_rows.is_empty() {
                    (table(
                        &["error type", "count", "workers", "first seen", "last seen", "example"],
                        &error_rows,
                    ))
                }

                h2 { "Alerts" }
                p { (a.fired) " fired, " (a.resolved) " resolved." }
                @if !alert_rows.is_empty() {
                    (table(
                        &["fired", "type", "severity", "subject", "resolved", "message"],
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
