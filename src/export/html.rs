//! The HTML form of a [`RunReport`]: one self-contained file — inline CSS,
//! inline SVG charts drawn with `plotters`, no script and no external
//! reference — so it reads the same offline, attached to a ticket, or
//! years later.
//!
//! Charts: duration distribution per worker, throughput over time, CPU and
//! memory over time, error patterns. Text from the database (worker names,
//! error messages) is HTML-escaped; plotters escapes the text it draws.

use std::fmt::Write as _;

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

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

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
        let bar = |m: &super::queries::MinuteThroughput, v: u64, color: RGBColor| {
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

fn table_html(out: &mut String, header: &[&str], rows: &[Vec<(String, &str)>]) {
    out.push_str("<table><tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr>");
    for row in rows {
        out.push_str("<tr>");
        for (cell, class) in row {
            if class.is_empty() {
                let _ = write!(out, "<td>{}</td>", escape(cell));
            } else {
                let _ = write!(out, "<td class=\"{class}\">{}</td>", escape(cell));
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>\n");
}

fn plain(s: impl Into<String>) -> (String, &'static str) {
    (s.into(), "")
}

/// The report as one self-contained HTML page.
pub fn render_html(report: &RunReport) -> Result<String, ExportError> {
    let r = &report.run;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>multiagents run {} report</title><style>{CSS}</style></head><body>\n",
        r.run_id
    );
    let _ = writeln!(
        out,
        "<h1>Run {} report</h1><p class=\"meta\">{} → {}{} ({:.1} s) · {} · version {} on {} · generated {}</p>",
        r.run_id,
        escape(&r.started_at),
        escape(&r.ended_at),
        if r.unfinished {
            " (did not end cleanly)"
        } else {
            ""
        },
        r.duration_seconds,
        escape(&r.command),
        escape(&r.version),
        escape(&r.host),
        escape(&report.generated_at),
    );
    if let Some(line) = report.provenance.describe() {
        let _ = writeln!(out, "<p class=\"meta\">{}</p>", escape(&line));
    }
    let e = &report.events;
    let _ = writeln!(
        out,
        "<div class=\"cards\">\
         <div class=\"card\">workflows<b>{}</b></div>\
         <div class=\"card\">events<b>{}</b></div>\
         <div class=\"card\">success<b>{:.1}%</b></div>\
         <div class=\"card\">errors<b>{:.1}%</b></div>\
         <div class=\"card\">avg latency<b>{:.1} ms</b></div>\
         <div class=\"card\">p95 latency<b>{:.1} ms</b></div>\
         <div class=\"card\">alerts fired<b>{}</b></div></div>",
        report.workflows.total,
        e.total_events,
        e.success_rate,
        e.error_rate,
        e.avg_latency_ms,
        e.p95_latency_ms,
        report.alerts.fired
    );

    out.push_str("<h2>Workflows by outcome</h2>\n");
    let outcomes: Vec<&String> = report.workflows.by_outcome.keys().collect();
    let mut header = vec!["workflow"];
    header.extend(outcomes.iter().map(|s| s.as_str()));
    header.push("total");
    let rows: Vec<Vec<(String, &str)>> = report
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
    table_html(&mut out, &header, &rows);

    out.push_str("<h2>Workers</h2><p class=\"meta\">Rates and durations over the whole run; health evaluated at its end.</p>\n");
    let rows: Vec<Vec<(String, &str)>> = report
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
    table_html(
        &mut out,
        &[
            "worker",
            "executions",
            "success",
            "errors",
            "timeouts",
            "avg ms",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "health",
            "issues",
        ],
        &rows,
    );

    let _ = writeln!(out, "<h2>{}</h2>", CHART_TITLES[0]);
    if report.duration_histograms.is_empty() {
        out.push_str("<p>No executions in this run.</p>\n");
    }
    for worker in report.duration_histograms.keys() {
        let _ = writeln!(out, "<figure>{}</figure>", duration_chart(worker, report)?);
    }
    let _ = writeln!(
        out,
        "<h2>{}</h2><figure>{}</figure>",
        CHART_TITLES[1],
        throughput_chart(report)?
    );
    let s = &report.system;
    let _ = writeln!(
        out,
        "<h2>{}</h2><p class=\"meta\">{} samples · CPU avg {:.1}%, peak {:.1}% · memory avg {:.1}%, peak {:.1}% · load avg {:.2} · process RSS peak {:.1} MiB · peak {} workflows in flight</p><figure>{}</figure>",
        CHART_TITLES[2],
        s.sample_count,
        s.avg_cpu_usage,
        s.peak_cpu_usage,
        s.avg_memory_usage,
        s.peak_memory_usage,
        s.avg_system_load,
        s.peak_process_rss_bytes as f64 / 1048576.0,
        s.peak_active_workflows,
        system_chart(report)?
    );
    let _ = writeln!(
        out,
        "<h2>{}</h2><figure>{}</figure>",
        CHART_TITLES[3],
        errors_chart(report)?
    );
    let rows: Vec<Vec<(String, &str)>> = report
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
    if !rows.is_empty() {
        table_html(
            &mut out,
            &[
                "error type",
                "count",
                "workers",
                "first seen",
                "last seen",
                "example",
            ],
            &rows,
        );
    }

    let a = &report.alerts;
    let _ = writeln!(
        out,
        "<h2>Alerts</h2><p>{} fired, {} resolved.</p>",
        a.fired, a.resolved
    );
    let rows: Vec<Vec<(String, &str)>> = a
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
    if !rows.is_empty() {
        table_html(
            &mut out,
            &[
                "fired", "type", "severity", "subject", "resolved", "message",
            ],
            &rows,
        );
    }
    out.push_str("</body></html>\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
