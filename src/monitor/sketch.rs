//! Long windows from the per-minute rollups and sketches: which part of a
//! window they answer, and how an answer says so.
//!
//! Short windows are read from the raw rows, exactly. A window of at least
//! [`SKETCH_MIN_WINDOW_US`] (and [`Precision::Auto`]) is read in parts that
//! never overlap: the partial minutes at its edges from raw rows, the whole
//! minutes in between from the rollups (counts, sums: exact) and the
//! duration and latency sketches (percentiles within
//! [`RELATIVE_ERROR`] of the exact nearest-rank value), whole hours from
//! the hour sketches; a live run's latest minute, which its writer has not
//! added to the sketches yet, from raw rows
//! (`queries/worker_performance_sketch.sql`,
//! `queries/event_metrics_sketch.sql`). [`Precision::Exact`] (`--exact`)
//! always reads raw rows.

use serde::Serialize;

use super::coverage::{Provenance, Source, Span, Watermarks};
use crate::clock;
pub use crate::store::sketch::RELATIVE_ERROR;
use crate::store::sketch::{HOUR_US, MINUTE_US};
use crate::window::TimeWindow;

/// Windows at least this long are answered from sketches under
/// [`Precision::Auto`]: 10 minutes, past the dashboard's and the seed's
/// windows (1 and 5 minutes), which stay exact.
pub const SKETCH_MIN_WINDOW_US: i64 = 10 * MINUTE_US;

/// The latest minute start a sketch span reaches (year 9999): keeps the
/// SQL's hour arithmetic inside `i64` for "all time" windows.
const LATEST_US: i64 = 253_402_300_800_000_000 - HOUR_US;

/// How percentiles of a long window are read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// Raw rows for short windows, sketches for the whole minutes of long
    /// ones (percentiles within 1 %).
    #[default]
    Auto,
    /// Raw rows only: exact percentiles, at the cost of reading every row.
    Exact,
}

fn floor_minute(us: i64) -> i64 {
    us - us.rem_euclid(MINUTE_US)
}

fn ceil_minute(us: i64) -> i64 {
    let floor = floor_minute(us);
    if floor == us { us } else { floor + MINUTE_US }
}

/// The whole minutes `[start, end)` of `window` read from rollups and
/// sketches, or `None` when the window is read from raw rows (exact, or
/// shorter than [`SKETCH_MIN_WINDOW_US`], or without a whole minute).
///
/// Where retention deleted the raw rows (`marks`), the edge minute is read
/// whole from the rollups instead, as [`Watermarks::split`] does.
pub fn sketch_span(
    window: TimeWindow,
    marks: &Watermarks,
    precision: Precision,
) -> Option<TimeWindow> {
    let length = i128::from(window.end_us) - i128::from(window.start_us);
    if precision == Precision::Exact || length < i128::from(SKETCH_MIN_WINDOW_US) {
        return None;
    }
    let start = window.start_us.clamp(0, LATEST_US);
    let end = window.end_us.clamp(0, LATEST_US);
    let deleted_before = marks.traces_before_us.unwrap_or(i64::MIN);
    let m0 = if deleted_before > window.start_us {
        floor_minute(start)
    } else {
        ceil_minute(start)
    };
    let m1 = if deleted_before > floor_minute(end) {
        ceil_minute(end)
    } else {
        floor_minute(end)
    };
    (m0 < m1).then_some(TimeWindow {
        start_us: m0,
        end_us: m1,
    })
}

/// The parts of a window for answers made of per-minute rows (throughput,
/// histograms, workflow outcomes): the whole minutes from the rollups, and
/// the rest from raw rows. They never overlap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts {
    /// The minutes whose start lies here come from the rollups.
    pub rollups: Option<TimeWindow>,
    /// Each of these from raw rows.
    pub raw: Vec<TimeWindow>,
}

/// Splits `window` into [`Parts`]: the sketch span and its edges for a long
/// window under `precision`, else retention's split ([`Watermarks::split`]).
pub fn parts(window: TimeWindow, marks: &Watermarks, precision: Precision) -> Parts {
    match sketch_span(window, marks, precision) {
        Some(span) => {
            let raw = [
                TimeWindow {
                    start_us: window.start_us,
                    end_us: span.start_us.min(window.end_us),
                },
                TimeWindow {
                    start_us: span.end_us.max(window.start_us),
                    end_us: window.end_us,
                },
            ]
            .into_iter()
            .filter(|w| w.start_us < w.end_us)
            .collect();
            Parts {
                rollups: Some(span),
                raw,
            }
        }
        None => {
            let split = marks.split(window);
            Parts {
                rollups: split.rollups,
                raw: split.raw.into_iter().collect(),
            }
        }
    }
}

/// How an answer over `window` was made: `marks`' account of retention,
/// and, when the whole minutes `span` came from rollups and sketches, that
/// too, with the `approximate` fields.
pub fn provenance(
    marks: &Watermarks,
    window: TimeWindow,
    precision: Precision,
    approximate: &[&'static str],
) -> Provenance {
    let mut provenance = marks.provenance(window, approximate);
    let Some(span) = sketch_span(window, marks, precision) else {
        return provenance;
    };
    provenance.source = Source::Mixed;
    provenance.rollups = Some(Span::of(span));
    provenance.approximate = approximate.to_vec();
    let how = if approximate.is_empty() {
        "exact".to_string()
    } else {
        format!(
            "counts exact, {} within {:.0} % of the exact values",
            approximate.join(", "),
            RELATIVE_ERROR * 100.0
        )
    };
    provenance.notes.push(format!(
        "the whole minutes from {} to {} come from the per-minute rollups and sketches: {how} (--exact reads every raw row)",
        clock::format_iso(span.start_us),
        clock::format_iso(span.end_us),
    ));
    provenance
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_704_067_200_000_000;

    #[test]
    fn long_windows_read_their_whole_minutes_from_sketches() {
        let none = Watermarks::default();
        let w = TimeWindow {
            start_us: T + 10_000_000,
            end_us: T + 3 * HOUR_US + 5_000_000,
        };
        assert_eq!(
            sketch_span(w, &none, Precision::Auto),
            Some(TimeWindow {
                start_us: T + MINUTE_US,
                end_us: T + 3 * HOUR_US
            })
        );
        assert_eq!(sketch_span(w, &none, Precision::Exact), None);
        let short = TimeWindow {
            start_us: T,
            end_us: T + 5 * MINUTE_US,
        };
        assert_eq!(sketch_span(short, &none, Precision::Auto), None);
        // Retention deleted the start: its minute is read whole.
        let marks = Watermarks {
            traces_before_us: Some(T + HOUR_US),
            ..Watermarks::default()
        };
        assert_eq!(
            sketch_span(w, &marks, Precision::Auto).map(|s| s.start_us),
            Some(T)
        );
        // "All time" stays inside the SQL's arithmetic.
        let all = super::super::scope::ALL_TIME;
        let span = sketch_span(all, &none, Precision::Auto).unwrap();
        assert!(span.start_us == 0 && span.end_us <= LATEST_US);
        assert_eq!(
            provenance(&none, w, Precision::Auto, &["p95"]).source,
            Source::Mixed
        );
    }
}
