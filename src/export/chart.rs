//! Charts for the HTML pages, as hand-written SVG: a time chart (lines over
//! time since a run's start, with alert markers) and a horizontal bar chart.
//!
//! Why not plotters: its SVG has a fixed pixel size, and text drawn at
//! 12 px in a 760 px-wide drawing shrinks to 6 px when the drawing is
//! scaled to a phone. Here every chart is drawn in a small coordinate
//! system ([`WIDTH`] units wide, a `viewBox`), shown at `width="100%"`, so
//! it follows the page's width, and its text is [`FONT`] units tall: 14 px
//! at 480 px, never less than 12 px on a 420 px phone, larger on a desktop.
//! Lines break where a figure is missing (a bucket in which nothing ended
//! has no latency, which is not a latency of 0), every point and marker
//! carries a `<title>` (a tooltip, no script), and the x axis counts from
//! the run's start in seconds, minutes or hours ([`TimeUnit::for_span`]).
//!
//! The markup is built with maud, so every text (worker names, alert
//! messages) is escaped by construction.

use maud::{Markup, html};

/// Width of every chart's coordinate system (the `viewBox`), in units that
/// are pixels when the chart is shown 440 px wide.
pub const WIDTH: f64 = 440.0;
/// Font size of every text in a chart, in the same units.
pub const FONT: f64 = 14.0;
/// Rough width of one character at [`FONT`], for laying out legends and
/// labels (SVG cannot measure text without a script).
const CHAR_W: f64 = 0.6 * FONT;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 16.0;
const BOTTOM: f64 = 48.0;
const PLOT_HEIGHT: f64 = 170.0;
const LEGEND_ROW: f64 = 20.0;

/// Colours of the series, readable on white and in greyscale print.
pub mod color {
    /// Blue: the main figure.
    pub const BLUE: &str = "#3465a4";
    /// Orange: the second figure.
    pub const ORANGE: &str = "#ce5c00";
    /// Green.
    pub const GREEN: &str = "#4e9a06";
    /// Purple.
    pub const PURPLE: &str = "#75507b";
    /// Red: errors and alerts.
    pub const RED: &str = "#c62828";
    /// Grey: grid and axes.
    pub const GREY: &str = "#888888";
}

/// The unit of a time axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Seconds (spans up to three minutes).
    Seconds,
    /// Minutes (up to three hours).
    Minutes,
    /// Hours.
    Hours,
}

impl TimeUnit {
    /// The unit that keeps a span of `span_s` seconds between about 3 and
    /// 180 units: seconds up to 3 minutes, minutes up to 3 hours, then hours.
    pub fn for_span(span_s: f64) -> Self {
        if span_s <= 180.0 {
            TimeUnit::Seconds
        } else if span_s <= 3.0 * 3600.0 {
            TimeUnit::Minutes
        } else {
            TimeUnit::Hours
        }
    }

    /// Seconds in one unit.
    pub fn seconds(self) -> f64 {
        match self {
            TimeUnit::Seconds => 1.0,
            TimeUnit::Minutes => 60.0,
            TimeUnit::Hours => 3600.0,
        }
    }

    /// The unit's name, plural.
    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Seconds => "seconds",
            TimeUnit::Minutes => "minutes",
            TimeUnit::Hours => "hours",
        }
    }
}

/// One line of a [`TimeChart`].
#[derive(Debug, Clone)]
pub struct Line {
    /// Its name in the legend.
    pub name: String,
    /// Its colour (one of [`color`]).
    pub color: &'static str,
    /// Dashed (to tell two runs apart in greyscale).
    pub dashed: bool,
    /// `(seconds since the start, value)`, in order; `None` breaks the line.
    pub points: Vec<(f64, Option<f64>)>,
}

/// A moment marked on a [`TimeChart`]: an alert.
#[derive(Debug, Clone)]
pub struct Marker {
    /// Seconds since the start.
    pub at_s: f64,
    /// A short label drawn at the marker (e.g. `A1`).
    pub label: String,
    /// The tooltip: what happened.
    pub title: String,
}

/// Lines over time, the x axis counting from a start in [`TimeUnit`]s.
#[derive(Debug, Clone)]
pub struct TimeChart {
    /// What the chart shows, for screen readers.
    pub aria_label: String,
    /// The y axis' label (with its unit).
    pub y_label: String,
    /// The x axis' label after its unit, e.g. `since the run started`.
    pub x_label: String,
    /// The x axis runs from 0 to this many seconds.
    pub span_s: f64,
    /// The lines.
    pub lines: Vec<Line>,
    /// Alert markers.
    pub markers: Vec<Marker>,
    /// Start the y axis at 0 (counts, rates); otherwise it is fitted to
    /// the values (CPU and memory use that move within a few percent).
    pub y_from_zero: bool,
    /// The highest value the figure can take (100 for a percentage): the
    /// axis never goes past it.
    pub y_cap: Option<f64>,
    /// A logarithmic y axis (latency: a few 10 s steps beside many 5 ms
    /// ones would flatten the rest against the axis). Values of 0 or less
    /// have no place on it and are drawn at its bottom.
    pub y_log: bool,
}

/// The decades from `lo` to `hi` (powers of ten), and within them 2 and 5
/// times each when the range spans at most two decades.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (a, b) = (lo.log10().round() as i32, hi.log10().round() as i32);
    let mut out = Vec::new();
    for d in a..=b {
        let p = 10f64.powi(d);
        for m in [1.0, 2.0, 5.0] {
            let v = m * p;
            if (m == 1.0 || b - a <= 2) && v <= hi * (1.0 + 1e-9) {
                out.push(v);
            }
        }
    }
    out
}

/// One bar of a [`BarChart`].
#[derive(Debug, Clone)]
pub struct Bar {
    /// Its label, on the left.
    pub label: String,
    /// Its value, drawn at its end too.
    pub value: u64,
}

/// Horizontal bars: labels stay readable however narrow the page is.
#[derive(Debug, Clone)]
pub struct BarChart {
    /// What the chart shows, for screen readers.
    pub aria_label: String,
    /// What the values count, under the bars.
    pub value_label: String,
    /// The bars' colour.
    pub color: &'static str,
    /// The bars, top to bottom.
    pub bars: Vec<Bar>,
}

/// A coordinate with one decimal (enough at this size, and short).
fn n(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map_or(s.clone(), str::to_string)
}

/// A step of 1, 2, 2.5 or 5 × 10^k giving about `target` steps over `range`.
pub fn nice_step(range: f64, target: f64) -> f64 {
    if !(range.is_finite() && range > 0.0) {
        return 1.0;
    }
    let raw = range / target.max(1.0);
    let magnitude = 10f64.powf(raw.log10().floor());
    let norm = raw / magnitude;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 2.5 {
        2.5
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// A tick value at `step`'s precision: `12`, `2.5`, `0.05`, `120k`.
pub fn tick_label(v: f64, step: f64) -> String {
    if v.abs() >= 100_000.0 {
        return format!("{}k", tick_label(v / 1000.0, step / 1000.0));
    }
    // As many decimals as the step needs (0.25 → 2, 0.5 → 1, 5 → 0).
    let decimals = (0..6)
        .find(|&d| {
            let scaled = step * 10f64.powi(d);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
        })
        .unwrap_or(6) as usize;
    let s = format!("{v:.decimals$}");
    // 2.50 → 2.5 when the step is 0.25 … but keep "0".
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Ticks from the first multiple of `step` at or above `lo` to `hi`.
fn ticks(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut k = (lo / step - 1e-9).ceil();
    while k * step <= hi + step * 1e-9 && out.len() < 50 {
        // + 0.0: no tick labelled "-0".
        out.push(k * step + 0.0);
        k += 1.0;
    }
    out
}

/// The legend's entries laid out in rows: `(row, x)` of each.
fn legend_layout(names: &[&str]) -> Vec<(usize, f64)> {
    let mut out = Vec::new();
    let (mut row, mut x) = (0usize, LEFT);
    for name in names {
        let w = 24.0 + name.chars().count() as f64 * CHAR_W + 16.0;
        if x > LEFT && x + w > WIDTH - RIGHT {
            row += 1;
            x = LEFT;
        }
        out.push((row, x));
        x += w;
    }
    out
}

impl TimeChart {
    /// The y range: from 0 (or fitted below the lowest value) to a nice
    /// value above the highest, and its tick step.
    fn y_range(&self) -> (f64, f64, f64) {
        let values = self
            .lines
            .iter()
            .flat_map(|l| l.points.iter().filter_map(|p| p.1))
            .filter(|v| v.is_finite());
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        if self.y_log {
            let (lo, hi) = if hi > 0.0 {
                (lo.max(hi * 1e-6).max(1e-3), hi)
            } else {
                (1.0, 10.0)
            };
            let lo = 10f64.powf(lo.log10().floor());
            let hi = 10f64.powf(hi.log10().ceil()).max(lo * 10.0);
            return (lo, hi, 0.0);
        }
        if lo > hi {
            return (0.0, 1.0, 0.25);
        }
        let (lo, hi) = if self.y_from_zero {
            (0.0, hi.max(0.0))
        } else {
            // Fitted: at least one unit of room, a tenth of the range
            // either side.
            let pad = ((hi - lo) * 0.1).max(0.5);
            ((lo - pad).max(0.0), hi + pad)
        };
        let hi = match self.y_cap {
            Some(cap) => hi.min(cap),
            None => hi,
        };
        let hi = if hi <= lo { lo + 1.0 } else { hi };
        let step = nice_step(hi - lo, 4.0);
        let lo = (lo / step).floor() * step;
        let hi = (hi / step).ceil() * step;
        (lo, hi, step)
    }

    /// The chart as one `<svg>` element.
    pub fn render(&self) -> Markup {
        let names: Vec<&str> = self.lines.iter().map(|l| l.name.as_str()).collect();
        let legend = legend_layout(&names);
        let rows = legend.iter().map(|(r, _)| r + 1).max().unwrap_or(0);
        let top = 10.0 + rows as f64 * LEGEND_ROW + 8.0;
        let bottom = top + PLOT_HEIGHT;
        let height = bottom + BOTTOM;
        let right = WIDTH - RIGHT;

        let span_s = if self.span_s.is_finite() && self.span_s > 0.0 {
            self.span_s
        } else {
            1.0
        };
        let unit = TimeUnit::for_span(span_s);
        let span_u = span_s / unit.seconds();
        let x_step = nice_step(span_u, 6.0);
        let x_of = |s: f64| LEFT + (s / span_s).clamp(0.0, 1.0) * (right - LEFT);
        let (y_lo, y_hi, y_step) = self.y_range();
        let log = self.y_log;
        let y_of = |v: f64| {
            let share = if log {
                (v.max(y_lo).log10() - y_lo.log10()) / (y_hi.log10() - y_lo.log10())
            } else {
                (v - y_lo) / (y_hi - y_lo)
            };
            bottom - share.clamp(0.0, 1.0) * PLOT_HEIGHT
        };
        let y_ticks: Vec<(f64, String)> = if log {
            log_ticks(y_lo, y_hi)
                .into_iter()
                .map(|v| (v, tick_label(v, v)))
                .collect()
        } else {
            ticks(y_lo, y_hi, y_step)
                .into_iter()
                .map(|v| (v, tick_label(v, y_step)))
                .collect()
        };
        // Tooltip precision: a hundredth of a step, or of the value itself
        // on a log axis.
        let value_label = |v: f64| {
            if log {
                tick_label(v, nice_step(v.abs().max(1e-3), 100.0))
            } else {
                tick_label(v, y_step / 100.0)
            }
        };
        let x_label = format!("{} {}", unit.name(), self.x_label);
        let dots = self.lines.iter().map(|l| l.points.len()).max().unwrap_or(0) <= 60;
        let has_values = self
            .lines
            .iter()
            .any(|l| l.points.iter().any(|p| p.1.is_some()));
        let y_label_x = 16.0;
        let y_label_y = (top + bottom) / 2.0;

        html! {
            svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img"
                viewBox=(format!("0 0 {} {}", n(WIDTH), n(height)))
                width="100%" font-family="sans-serif" font-size=(n(FONT))
                aria-label=(self.aria_label)
                data-x-min="0" data-x-max=(n(span_s)) data-x-unit=(unit.name())
                data-y-min=(y_lo) data-y-max=(y_hi) {
                // Legend.
                @for (line, (row, x)) in self.lines.iter().zip(&legend) {
                    @let y = 10.0 + *row as f64 * LEGEND_ROW + FONT / 2.0;
                    line x1=(n(*x)) x2=(n(x + 18.0)) y1=(n(y)) y2=(n(y))
                        stroke=(line.color) stroke-width="3"
                        stroke-dasharray=[line.dashed.then_some("6 3")] {}
                    text x=(n(x + 24.0)) y=(n(y)) dominant-baseline="middle" { (line.name) }
                }
                // Grid and y ticks.
                @for (v, label) in &y_ticks {
                    line x1=(n(LEFT)) x2=(n(right)) y1=(n(y_of(*v))) y2=(n(y_of(*v)))
                        stroke="#e3e3e3" stroke-width="1" {}
                    text x=(n(LEFT - 6.0)) y=(n(y_of(*v))) text-anchor="end"
                        dominant-baseline="middle" { (label) }
                }
                text x=(n(y_label_x)) y=(n(y_label_y)) text-anchor="middle"
                    dominant-baseline="middle"
                    transform=(format!("rotate(-90 {} {})", n(y_label_x), n(y_label_y))) {
                    (self.y_label)
                }
                // X ticks and axis.
                @for u in ticks(0.0, span_u, x_step) {
                    @let x = x_of(u * unit.seconds());
                    line x1=(n(x)) x2=(n(x)) y1=(n(bottom)) y2=(n(bottom + 5.0))
                        stroke=(color::GREY) {}
                    text x=(n(x)) y=(n(bottom + 8.0)) text-anchor="middle"
                        dominant-baseline="hanging" { (tick_label(u, x_step)) }
                }
                line x1=(n(LEFT)) x2=(n(right)) y1=(n(bottom)) y2=(n(bottom))
                    stroke=(color::GREY) {}
                line x1=(n(LEFT)) x2=(n(LEFT)) y1=(n(top)) y2=(n(bottom))
                    stroke=(color::GREY) {}
                text x=(n((LEFT + right) / 2.0)) y=(n(height - 6.0)) text-anchor="middle" {
                    (x_label)
                }
                @if !has_values {
                    text x=(n((LEFT + right) / 2.0)) y=(n((top + bottom) / 2.0))
                        text-anchor="middle" fill=(color::GREY) { "nothing recorded" }
                }
                // Alert markers, under the lines.
                @for m in &self.markers {
                    @let x = x_of(m.at_s);
                    @let near_right = x > right - 40.0;
                    g class="alert-marker" data-at-s=(n(m.at_s)) {
                        title { (m.title) }
                        line x1=(n(x)) x2=(n(x)) y1=(n(top)) y2=(n(bottom))
                            stroke=(color::RED) stroke-width="1.5" stroke-dasharray="4 3" {}
                        text x=(n(if near_right { x - 3.0 } else { x + 3.0 })) y=(n(top + 2.0))
                            text-anchor=(if near_right { "end" } else { "start" })
                            dominant-baseline="hanging" fill=(color::RED) font-weight="bold" {
                            (m.label)
                        }
                    }
                }
                // Lines: one path per unbroken run of points.
                @for line in &self.lines {
                    g class="series" data-name=(line.name) {
                        @for d in paths(&line.points, &x_of, &y_of) {
                            path d=(d) fill="none" stroke=(line.color) stroke-width="2"
                                stroke-linejoin="round"
                                stroke-dasharray=[line.dashed.then_some("6 3")] {}
                        }
                        @if dots {
                            @for (s, v) in line.points.iter().filter_map(|(s, v)| v.map(|v| (*s, v))) {
                                circle cx=(n(x_of(s))) cy=(n(y_of(v))) r="2.5" fill=(line.color) {
                                    title {
                                        (line.name) " at " (tick_label(s / unit.seconds(), x_step / 10.0))
                                        " " (unit.name()) ": " (value_label(v))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The path data of each unbroken run of points (a lone point is a short
/// dash, so it shows without dots too).
fn paths(
    points: &[(f64, Option<f64>)],
    x_of: &dyn Fn(f64) -> f64,
    y_of: &dyn Fn(f64) -> f64,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    let flush = |current: &mut Vec<(f64, f64)>, out: &mut Vec<String>| {
        match current.as_slice() {
            [] => {}
            [(x, y)] => out.push(format!("M{} {}h2", n(x - 1.0), n(*y))),
            [first, rest @ ..] => {
                let mut d = format!("M{} {}", n(first.0), n(first.1));
                for (x, y) in rest {
                    d.push_str(&format!("L{} {}", n(*x), n(*y)));
                }
                out.push(d);
            }
        }
        current.clear();
    };
    for (s, v) in points {
        match v {
            Some(v) if v.is_finite() => current.push((x_of(*s), y_of(*v))),
            _ => flush(&mut current, &mut out),
        }
    }
    flush(&mut current, &mut out);
    out
}

impl BarChart {
    /// The chart as one `<svg>` element.
    pub fn render(&self) -> Markup {
        const ROW: f64 = 24.0;
        const MAX_LABEL: usize = 22;
        let label = |s: &str| {
            if s.chars().count() > MAX_LABEL {
                let cut: String = s.chars().take(MAX_LABEL - 1).collect();
                format!("{cut}…")
            } else {
                s.to_string()
            }
        };
        let longest = self
            .bars
            .iter()
            .map(|b| label(&b.label).chars().count())
            .max()
            .unwrap_or(0);
        let left = (longest as f64 * CHAR_W + 12.0).clamp(50.0, WIDTH / 2.0);
        let max = self.bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
        // Room at the right for the value drawn after the longest bar.
        let value_room = (max.to_string().len() as f64 + 1.0) * CHAR_W;
        let bar_w = |v: u64| (WIDTH - RIGHT - value_room - left) * v as f64 / max as f64;
        let height = 8.0 + self.bars.len() as f64 * ROW + 30.0;
        html! {
            svg class="chart bars" xmlns="http://www.w3.org/2000/svg" role="img"
                viewBox=(format!("0 0 {} {}", n(WIDTH), n(height)))
                width="100%" font-family="sans-serif" font-size=(n(FONT))
                aria-label=(self.aria_label) {
                @for (i, b) in self.bars.iter().enumerate() {
                    @let y = 8.0 + i as f64 * ROW;
                    g {
                        title { (b.label) ": " (b.value) }
                        text x=(n(left - 6.0)) y=(n(y + ROW / 2.0)) text-anchor="end"
                            dominant-baseline="middle" { (label(&b.label)) }
                        rect x=(n(left)) y=(n(y + 3.0)) width=(n(bar_w(b.value)))
                            height=(n(ROW - 6.0)) fill=(self.color) {}
                        text x=(n(left + bar_w(b.value) + 4.0)) y=(n(y + ROW / 2.0))
                            dominant-baseline="middle" { (b.value) }
                    }
                }
                line x1=(n(left)) x2=(n(left)) y1="8"
                    y2=(n(8.0 + self.bars.len() as f64 * ROW)) stroke=(color::GREY) {}
                text x=(n((left + WIDTH - RIGHT) / 2.0)) y=(n(height - 8.0))
                    text-anchor="middle" { (self.value_label) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_the_span() {
        assert_eq!(TimeUnit::for_span(20.0), TimeUnit::Seconds);
        assert_eq!(TimeUnit::for_span(600.0), TimeUnit::Minutes);
        assert_eq!(TimeUnit::for_span(86_400.0), TimeUnit::Hours);
    }

    #[test]
    fn steps_and_labels_are_round() {
        assert_eq!(nice_step(20.0, 6.0), 5.0);
        assert_eq!(nice_step(100.0, 4.0), 25.0);
        assert!((nice_step(0.3, 4.0) - 0.1).abs() < 1e-12);
        assert_eq!(tick_label(0.75, 0.25), "0.75");
        assert_eq!(tick_label(2.5, 0.5), "2.5");
        assert_eq!(tick_label(20.0, 5.0), "20");
        assert_eq!(tick_label(0.0, 0.1), "0");
        assert_eq!(ticks(0.0, 20.0, 5.0), vec![0.0, 5.0, 10.0, 15.0, 20.0]);
    }

    #[test]
    fn log_ticks_are_decades_or_1_2_5() {
        assert_eq!(
            log_ticks(1.0, 10_000.0),
            vec![1.0, 10.0, 100.0, 1000.0, 10_000.0]
        );
        assert_eq!(log_ticks(10.0, 100.0), vec![10.0, 20.0, 50.0, 100.0]);
    }

    #[test]
    fn a_missing_value_breaks_the_line() {
        let id = |v: f64| v;
        let d = paths(
            &[
                (0.0, Some(1.0)),
                (1.0, Some(2.0)),
                (2.0, None),
                (3.0, Some(4.0)),
            ],
            &id,
            &id,
        );
        assert_eq!(d, vec!["M0 1L1 2".to_string(), "M2 4h2".to_string()]);
    }

    #[test]
    fn text_is_escaped_and_no_width_is_fixed() {
        let chart = TimeChart {
            aria_label: "<b>".into(),
            y_label: "ms".into(),
            x_label: "since the run started".into(),
            span_s: 20.0,
            lines: vec![Line {
                name: "<script>".into(),
                color: color::BLUE,
                dashed: false,
                points: vec![(0.5, Some(1.0)), (1.5, Some(3.0))],
            }],
            markers: vec![Marker {
                at_s: 12.0,
                label: "A1".into(),
                title: "x & y".into(),
            }],
            y_from_zero: true,
            y_cap: None,
            y_log: false,
        }
        .render()
        .into_string();
        assert!(!chart.contains("<script"), "{chart}");
        assert!(chart.contains("&lt;script&gt;"));
        assert!(chart.contains(r#"width="100%""#));
        assert!(chart.contains(r#"viewBox="0 0 440 "#));
        assert!(chart.contains(r#"data-at-s="12""#));
    }
}
