//! Drawing helpers of the dashboard: auto-scaled line charts with labelled
//! axes, time-placed sparklines, compact numbers and sharing rows between
//! panels by what they hold.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph, Sparkline};

/// A number in at most ~5 characters: 0.25, 12.5, 125, 1.3k, 12k, 1.3M.
pub fn compact(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        "-".to_string()
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A duration in seconds as 45s, 5m, 1h30m.
pub fn span_label(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as i64;
    if s < 120 {
        format!("{s}s")
    } else if s < 7200 {
        let (m, r) = (s / 60, s % 60);
        if r == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{r}s")
        }
    } else {
        let (h, m) = (s / 3600, (s % 3600) / 60);
        if m == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{m}m")
        }
    }
}

/// The top of a y axis starting at 0 for values up to `max`: a little
/// headroom, and never 0 (a flat line at zero stays visible).
pub fn y_top(max: f64) -> f64 {
    if max.is_finite() && max > 0.0 {
        max * 1.1
    } else {
        1.0
    }
}

/// One line chart in a bordered box: `points` are (seconds from the start
/// of the elapsed window, value); the x axis spans `span_s` and is labelled
/// from "-span" to "now" when the box is tall enough, the y axis from 0 to
/// the largest value (auto-scaled) with `unit` on top.
pub fn line_chart(
    frame: &mut Frame<'_>,
    area: Rect,
    title: Line<'_>,
    points: &[(f64, f64)],
    span_s: f64,
    unit: &str,
    color: Color,
) {
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    if inner.height < 2 || inner.width < 8 {
        frame.render_widget(block, area);
        return;
    }
    let max = points.iter().map(|p| p.1).fold(0.0_f64, f64::max);
    let top = y_top(max);
    let mut y_labels = vec![Span::raw("0"), Span::raw(compact(top))];
    if inner.height >= 7 {
        y_labels.insert(1, Span::raw(compact(top / 2.0)));
    }
    let span_s = if span_s > 0.0 { span_s } else { 1.0 };
    let mut x_axis = Axis::default()
        .bounds([0.0, span_s])
        .style(Style::default().fg(Color::DarkGray));
    if inner.height >= 5 {
        x_axis = x_axis.labels([
            Span::raw(format!("-{}", span_label(span_s))),
            Span::raw("now"),
        ]);
    }
    let dataset = Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(Style::default().fg(color))
        .data(points);
    let chart = Chart::new(vec![dataset])
        .block(block)
        .x_axis(x_axis)
        .y_axis(
            Axis::default()
                .title(unit.to_string())
                .bounds([0.0, top])
                .labels(y_labels)
                .style(Style::default().fg(Color::DarkGray)),
        );
    frame.render_widget(chart, area);
}

/// Values placed by time over `width` columns: each column shows the
/// latest sample at or before its time (nothing before the first sample),
/// so samples taken every 15 s still span the width at their real times.
/// Scaled between the smallest and largest value (auto-scaled, not to 100):
/// 1 is the lowest bar, 100 the highest; a constant series sits mid-height.
pub fn placed_bars(offsets_s: &[f64], values: &[f64], span_s: f64, width: u16) -> Vec<Option<u64>> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let scale = |v: f64| -> u64 {
        if !v.is_finite() {
            0
        } else if hi > lo {
            (1.0 + (v - lo) / (hi - lo) * 99.0).round() as u64
        } else {
            50
        }
    };
    let span_s = if span_s > 0.0 { span_s } else { 1.0 };
    (0..width)
        .map(|x| {
            let t = span_s * (f64::from(x) + 1.0) / f64::from(width.max(1));
            let i = offsets_s.iter().rposition(|o| *o <= t)?;
            values.get(i).map(|v| scale(*v))
        })
        .collect()
}

/// One metric as a labelled, auto-scaled sparkline: its latest value and
/// its range (left of the plot, or over it in a narrow box), and its
/// samples placed by time.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site per metric, all values named there"
)]
pub fn metric_row(
    frame: &mut Frame<'_>,
    area: Rect,
    name: &str,
    latest: f64,
    values: &[f64],
    offsets_s: &[f64],
    span_s: f64,
    color: Color,
) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    // Wide: the labels left of the plot; narrow: one label line over it.
    let narrow = area.width < 40 && area.height >= 2;
    let label_w = if narrow {
        area.width
    } else {
        15.min(area.width)
    };
    let label = Rect {
        width: label_w,
        height: if narrow { 1 } else { area.height },
        ..area
    };
    let plot = if narrow {
        Rect {
            y: area.y + 1,
            height: area.height - 1,
            ..area
        }
    } else {
        Rect {
            x: area.x + label_w,
            width: area.width - label_w,
            ..area
        }
    };
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let lo = finite.clone().fold(f64::INFINITY, f64::min);
    let hi = finite.fold(f64::NEG_INFINITY, f64::max);
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{name} "), Style::default().fg(color)),
        Span::raw(format!("{latest:.1}%")),
    ])];
    if lo.is_finite() {
        let range = Span::styled(
            format!("{lo:.1}–{hi:.1}%"),
            Style::default().fg(Color::DarkGray),
        );
        if narrow {
            lines[0].spans.push(Span::raw(" "));
            lines[0].spans.push(range);
        } else {
            lines.push(Line::from(range));
        }
    }
    frame.render_widget(Paragraph::new(lines), label);
    let bars = placed_bars(offsets_s, values, span_s, plot.width);
    frame.render_widget(
        Sparkline::default()
            .data(bars)
            .max(100)
            .style(Style::default().fg(color)),
        plot,
    );
}

/// Splits `total` rows between panels that want `demands[i]` rows and need
/// at least `mins[i]`: each gets its minimum; then, in the order of
/// `priority`, each gets what it wants up to 3/5 of the total (so a long
/// list first in line never squeezes the others to their minimum); then
/// what is left goes, in the same order, to those still wanting more. So a
/// panel never keeps empty rows while another is cut off. Rows nobody
/// wants are left over for the caller.
pub fn share(total: u16, demands: &[u16], mins: &[u16], priority: &[usize]) -> Vec<u16> {
    let n = demands.len();
    let mut out: Vec<u16> = (0..n).map(|i| mins.get(i).copied().unwrap_or(0)).collect();
    let sum: u16 = out.iter().sum();
    if sum > total {
        // Minimums do not fit: shrink from the last panel up.
        let mut over = sum - total;
        for v in out.iter_mut().rev() {
            let cut = over.min(*v);
            *v -= cut;
            over -= cut;
        }
        return out;
    }
    let mut left = total - sum;
    let cap = total * 3 / 5;
    for round in 0..2 {
        for &i in priority.iter().filter(|&&i| i < n) {
            let limit = if round == 0 {
                demands[i].min(cap.max(out[i]))
            } else {
                demands[i]
            };
            let give = limit.saturating_sub(out[i]).min(left);
            out[i] += give;
            left -= give;
        }
    }
    out
}

/// The title that fits a box `width` wide: `full`, else `short`.
pub fn fit_title(full: String, short: &str, width: u16) -> String {
    if full.chars().count() + 2 <= usize::from(width) {
        full
    } else {
        short.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_go_where_the_content_is() {
        // 3 workers (6 rows), 38 active workflows (41), 1 alert (3): the
        // workers box keeps no empty rows and the active one gets the rest.
        let order = [0, 2, 1];
        assert_eq!(share(30, &[6, 41, 3], &[4, 4, 3], &order), vec![6, 21, 3]);
        // At 80x24: all four workers and both alerts before more workflows.
        assert_eq!(share(15, &[7, 76, 4], &[4, 4, 3], &order), vec![7, 4, 4]);
        // Everything fits: each gets what it wants, the rest is left over.
        assert_eq!(share(30, &[6, 6, 3], &[4, 4, 3], &order), vec![6, 6, 3]);
        // A long first list stops at 3/5 until the others have theirs.
        assert_eq!(share(20, &[40, 40], &[4, 4], &[0, 1]), vec![12, 8]);
        // Too small for the minimums: never more than the total.
        assert_eq!(
            share(5, &[6, 6, 3], &[4, 4, 3], &order).iter().sum::<u16>(),
            5
        );
    }

    #[test]
    fn sparse_samples_span_the_width_and_small_values_are_visible() {
        // Four samples a minute of ~2 % memory: every column after the
        // first sample has a bar, and 2.0 vs 2.2 spans the whole height.
        let bars = placed_bars(&[0.0, 15.0, 30.0, 45.0], &[2.0, 2.1, 2.2, 2.0], 60.0, 60);
        assert!(bars.iter().all(Option::is_some));
        assert_eq!(bars[59], Some(1));
        assert_eq!(bars[35], Some(100));
        let late = placed_bars(&[30.0], &[5.0], 60.0, 10);
        assert_eq!(late[0], None);
        assert_eq!(late[9], Some(50));
    }

    #[test]
    fn numbers_and_spans_are_short() {
        assert_eq!(compact(7512.0), "7.5k");
        assert_eq!(compact(12.34), "12.3");
        assert_eq!(compact(0.5), "0.50");
        assert_eq!(span_label(60.0), "60s");
        assert_eq!(span_label(300.0), "5m");
        assert_eq!(span_label(5400.0), "90m");
        assert_eq!(span_label(9000.0), "2h30m");
    }
}
