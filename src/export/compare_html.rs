//! The HTML form of a [`Comparison`] (`compare --format html`): both runs'
//! series on shared charts — throughput, p95 latency and error rate, the x
//! axis counting from each run's own start, the base dashed and the head
//! solid — above the regressions and the worker and workflow table with
//! the regressed rows highlighted. One self-contained page like the run
//! report ([`super::html`]): same CSS, no script, no external reference.

use maud::{DOCTYPE, Markup, html};

use super::chart::{Line, TimeChart, color};
use super::html::{self, Cell, error_rate, figure, plain, series_points, table_with_classes};
use crate::compare::{Comparison, Delta, Figures};
use crate::monitor::series::{Series, SeriesBucket};

/// Chart titles, in page order (tests look for each).
pub const COMPARE_CHART_TITLES: [&str; 3] = [
    "Throughput over time",
    "p95 latency over time",
    "Error rate over time",
];

/// The two runs' lines of one figure on one chart.
fn chart(
    aria: &str,
    y_label: &str,
    c: &Comparison,
    series: (&Series, &Series),
    value: fn(&SeriesBucket) -> Option<f64>,
) -> Markup {
    let side = |name: String, s: &Series, color: &'static str, dashed: bool| Line {
        name,
        color,
        dashed,
        points: series_points(s, s.window.start_us, value),
    };
    let span = |s: &Series| (s.window.end_us - s.window.start_us) as f64 / 1e6;
    TimeChart {
        aria_label: aria.to_string(),
        y_label: y_label.to_string(),
        x_label: "since each run started".to_string(),
        span_s: span(series.0).max(span(series.1)),
        lines: vec![
            side(
                format!("base run {}", c.base.run.run_id),
                series.0,
                color::BLUE,
                true,
            ),
            side(
                format!("head run {}", c.head.run.run_id),
                series.1,
                color::ORANGE,
                false,
            ),
        ],
        markers: Vec::new(),
        y_from_zero: true,
        y_cap: None,
        // An axis drawn on a log scale says so in its label.
        y_log: y_label.ends_with("(log scale)"),
    }
    .render()
}

fn side(f: Option<&Figures>, value: fn(&Figures) -> String) -> String {
    f.map_or_else(|| "-".to_string(), value)
}

fn arrow(d: &Delta, value: fn(&Figures) -> String, ratio: Option<f64>) -> String {
    format!(
        "{} → {}{}",
        side(d.base.as_ref(), value),
        side(d.head.as_ref(), value),
        ratio.map_or(String::new(), |r| format!(" ({r:.2}×)"))
    )
}

fn row(d: &Delta) -> Vec<Cell> {
    let flags: Vec<&str> = d.regressions.iter().map(|m| m.as_str()).collect();
    let flag = if flags.is_empty() {
        match (&d.base, &d.head) {
            (None, _) => ("only in head".to_string(), "text"),
            (_, None) => ("only in base".to_string(), "text"),
            _ => (String::new(), ""),
        }
    } else {
        (format!("REGRESSION: {}", flags.join(", ")), "flag")
    };
    vec![
        plain(d.kind.as_str()),
        (d.name.clone(), "name"),
        plain(arrow(d, |f| f.count.to_string(), None)),
        plain(arrow(d, |f| format!("{:.1}", f.success_rate), None)),
        plain(arrow(d, |f| format!("{:.1}", f.p95_ms), d.p95_ratio)),
        plain(arrow(
            d,
            |f| format!("{:.1}", f.throughput_per_minute),
            d.throughput_ratio,
        )),
        flag,
    ]
}

/// The comparison as one self-contained HTML page; `base` and `head` are
/// the two runs' series ([`crate::compare::run_series`]).
pub fn render_compare_html(c: &Comparison, base: &Series, head: &Series) -> String {
    let deltas: Vec<&Delta> = c.workers.iter().chain(c.workflows.iter()).collect();
    let rows: Vec<Vec<Cell>> = deltas.iter().map(|d| row(d)).collect();
    let classes: Vec<&'static str> = deltas
        .iter()
        .map(|d| {
            if d.regressions.is_empty() {
                ""
            } else {
                "regression"
            }
        })
        .collect();
    let pair = (base, head);
    let throughput = chart(
        "Executions per second over each run, base and head",
        "executions per second",
        c,
        pair,
        |b| Some(b.executions_per_s),
    );
    let p95 = chart(
        "p95 event latency over each run, base and head",
        "p95 latency, ms (log scale)",
        c,
        pair,
        |b| b.p95_latency_ms,
    );
    let errors = chart(
        "Error rate over each run, base and head",
        "% failed or timed out",
        c,
        pair,
        error_rate,
    );
    let run_line = |what: &str, s: &crate::compare::RunSide, series: &Series| {
        html! {
            li {
                b { (what) " run " (s.run.run_id) } ": started "
                (crate::clock::format_iso(s.run.started_at_us))
                ", " (s.workflows) " workflows over " (format!("{:.1}", s.active_span_s))
                " s of activity; " (series.buckets.len()) " buckets of "
                (super::report::width_label(series.bucket_s))
                @if let Some(line) = series.provenance.describe() { " (" (line) ")" }
            }
        }
    };
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            (html::head(&format!("multiagents compare: run {} → run {}", c.base.run.run_id, c.head.run.run_id)))
            body {
                h1 { "Run " (c.base.run.run_id) " → run " (c.head.run.run_id) }
                ul.meta {
                    (run_line("base", &c.base, base))
                    (run_line("head", &c.head, head))
                }
                div.cards {
                    div.card { "threshold" b { (c.thresholds.threshold) } }
                    div.card { "p95 floor" b { (format!("{} ms", c.thresholds.p95_floor_ms)) } }
                    div.card.failing[c.has_regressions()] {
                        "regressions" b { (c.regressions.len()) }
                    }
                }

                h2 { "Regressions" }
                @if c.regressions.is_empty() {
                    p.healthy { "No regressions." }
                } @else {
                    ul {
                        @for r in &c.regressions {
                            li.failing { (r.describe()) }
                        }
                    }
                }

                h2 { "Over time" }
                p.meta { "Each run from its own start; the base dashed, the head solid; latency is the event latency (dispatch → end)." }
                div.charts {
                    (figure(COMPARE_CHART_TITLES[0], throughput))
                    (figure(COMPARE_CHART_TITLES[1], p95))
                    (figure(COMPARE_CHART_TITLES[2], errors))
                }

                h2 { "Workers and workflows" }
                p.meta { "Base → head; p95 of a worker's own duration and of a workflow's created → ended latency; throughput per minute of each run's active span. Regressed rows are highlighted." }
                (table_with_classes(
                    &["kind", "name", "count", "success %", "p95 ms", "per minute", "flag"],
                    &rows,
                    &classes,
                ))
            }
        }
    };
    let mut out = page.into_string();
    out.push('\n');
    out
}
