//! Where an answer comes from: raw rows, or — for the part of a window whose
//! raw rows retention deleted — the per-minute rollups the writer keeps.
//!
//! Retention records, per run and kind of row, a watermark: every raw row at
//! or after it is still in the file (`retention_watermarks`, raised by each
//! retention slice). A window is then split at the first whole minute at or
//! after the traces watermark:
//!
//! - minutes before it come from the rollups — every minute that overlaps
//!   the window, counted whole (the rollups have no finer grain);
//! - the rest, from that minute to the window's end, from the raw rows,
//!   exactly as without retention.
//!
//! Counts, rates, means, throughput and the peak minute add up exactly over
//! the two parts; percentiles of a window read partly from rollups are
//! estimated from the duration and latency histograms (the upper bound of
//! the bucket holding the nearest rank) and marked approximate. Error
//! patterns, traces and unfinished workflows have no rollups: answers say
//! which part of the window they lost. No answer is ever a silent zero.

use rusqlite::{Connection, named_params};
use serde::Serialize;

use super::scope::RunScope;
use crate::clock;
use crate::sql;
use crate::window::TimeWindow;

const MINUTE_US: i64 = 60_000_000;

/// How far retention has deleted the raw rows of a scope (one run, or the
/// latest of every run's watermarks for all runs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Watermarks {
    /// Workflows and events before this may be gone (at or after: all kept).
    pub traces_before_us: Option<i64>,
    /// System samples, custom metrics and resolved alerts before this may be
    /// gone.
    pub metrics_before_us: Option<i64>,
    /// Rollups before this are gone too.
    pub rollups_before_us: Option<i64>,
}

impl Provenance {
    /// One line for tables: the source, and the notes, if the answer is not
    /// simply from raw rows.
    pub fn describe(&self) -> Option<String> {
        if self.notes.is_empty() {
            return None;
        }
        let source = match self.source {
            Source::Raw => "raw rows",
            Source::Rollups => "rollups",
            Source::Mixed => "raw rows and rollups",
        };
        Some(format!("Source: {source}. {}.", self.notes.join("; ")))
    }
}

/// Reads the watermarks of `scope` (`queries/retention_watermarks.sql`).
pub fn watermarks(conn: &Connection, scope: RunScope) -> rusqlite::Result<Watermarks> {
    let mut stmt = conn.prepare_cached(sql::queries::RETENTION_WATERMARKS)?;
    let mut rows = stmt.query(named_params! {":run_id": scope.run_id()})?;
    let mut marks = Watermarks::default();
    while let Some(row) = rows.next()? {
        let kind: String = row.get(0)?;
        let at: i64 = row.get(1)?;
        match kind.as_str() {
            "traces" => marks.traces_before_us = Some(at),
            "metrics" => marks.metrics_before_us = Some(at),
            "rollups" => marks.rollups_before_us = Some(at),
            _ => {}
        }
    }
    Ok(marks)
}

fn floor_minute(us: i64) -> i64 {
    // Saturating: "all time" starts at i64::MIN.
    us.saturating_sub(us.rem_euclid(MINUTE_US))
}

fn ceil_minute(us: i64) -> i64 {
    let floor = floor_minute(us);
    if floor == us {
        us
    } else {
        floor.saturating_add(MINUTE_US)
    }
}

/// A window split between the rollups and the raw rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// Minutes read from the rollups: those whose start lies in this range
    /// (its start is minute-aligned).
    pub rollups: Option<TimeWindow>,
    /// The part read from raw rows (its start is the window's start, or the
    /// minute where the raw rows are complete again).
    pub raw: Option<TimeWindow>,
}

impl Split {
    /// All of `window` from raw rows.
    pub fn raw_only(window: TimeWindow) -> Self {
        Split {
            rollups: None,
            raw: Some(window),
        }
    }
}

impl Watermarks {
    /// Splits `window` at the traces watermark (see the module docs).
    pub fn split(&self, window: TimeWindow) -> Split {
        let Some(mark) = self.traces_before_us else {
            return Split::raw_only(window);
        };
        if mark <= window.start_us || window.start_us >= window.end_us {
            return Split::raw_only(window);
        }
        let resume = ceil_minute(mark);
        let rollups = TimeWindow {
            start_us: floor_minute(window.start_us),
            end_us: resume.min(window.end_us),
        };
        let raw = (resume < window.end_us).then_some(TimeWindow {
            start_us: resume,
            end_us: window.end_us,
        });
        Split {
            rollups: Some(rollups),
            raw,
        }
    }

    /// How an answer about event or worker figures over `window` was made,
    /// for people and programs. `approximate` names the fields estimated
    /// from histograms when rollups were read.
    pub fn provenance(&self, window: TimeWindow, approximate: &[&'static str]) -> Provenance {
        let split = self.split(window);
        let mut notes = Vec::new();
        let source = match (split.rollups, split.raw) {
            (None, _) => Source::Raw,
            (Some(_), None) => Source::Rollups,
            (Some(_), Some(_)) => Source::Mixed,
        };
        if let Some(r) = split.rollups {
            notes.push(format!(
                "raw rows before {} were deleted by retention: the minutes from {} to {} come from the per-minute rollups{}",
                clock::format_iso(self.traces_before_us.unwrap_or(r.end_us)),
                clock::format_iso(r.start_us),
                clock::format_iso(r.end_us),
                if approximate.is_empty() {
                    String::new()
                } else {
                    format!(" ({} approximate)", approximate.join(", "))
                }
            ));
        }
        if let Some(mark) = self.rollups_before_us
            && mark > window.start_us
        {
            notes.push(format!(
                "rollups before {} were deleted too: nothing is known of that part of the window",
                clock::format_iso(mark)
            ));
        }
        Provenance {
            source,
            rollups: split.rollups.map(Span::of),
            raw: split.raw.map(Span::of),
            approximate: if split.rollups.is_some() {
                approximate.to_vec()
            } else {
                Vec::new()
            },
            notes,
        }
    }
}

impl Watermarks {
    /// How an answer that only raw rows can give was made (error patterns:
    /// rollups keep no error types), saying which part of `window` lost its
    /// raw rows.
    pub fn raw_only_provenance(&self, window: TimeWindow, what: &str) -> Provenance {
        raw_rows_provenance(
            self.traces_before_us,
            window,
            &format!("{what} before {{}} were deleted by retention and are not in the rollups"),
        )
    }

    /// How an answer about system samples, custom metrics or alerts was made:
    /// raw rows (they have no rollups), and which part of `window` retention
    /// emptied.
    pub fn metrics_provenance(&self, window: TimeWindow) -> Provenance {
        raw_rows_provenance(
            self.metrics_before_us,
            window,
            "system samples, custom metrics and resolved alerts before {} were deleted by retention (no rollups are kept for them)",
        )
    }
}

/// Where an answer's figures come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum Source {
    /// Raw rows only (exact).
    #[default]
    #[serde(rename = "raw")]
    Raw,
    /// The per-minute rollups only.
    #[serde(rename = "rollups")]
    Rollups,
    /// Rollups for the part retention deleted, raw rows for the rest.
    #[serde(rename = "raw+rollups")]
    Mixed,
}

/// A time range `[start, end)`, in µs and ISO-8601.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    /// First microsecond.
    pub start_us: i64,
    /// First microsecond after.
    pub end_us: i64,
    /// `start_us` as ISO-8601.
    pub start: String,
    /// `end_us` as ISO-8601.
    pub end: String,
}

impl Span {
    /// The span of a window.
    pub fn of(w: TimeWindow) -> Self {
        Span {
            start_us: w.start_us,
            end_us: w.end_us,
            start: clock::format_iso(w.start_us.max(0)),
            end: clock::format_iso(w.end_us),
        }
    }
}

/// How an answer was made: `source` (`raw`, `rollups`, `raw+rollups`),
/// which part came from where, which fields are estimates, and sentences
/// for people. The default is "raw rows, nothing removed".
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Provenance {
    /// Where the figures come from.
    pub source: Source,
    /// The minutes read from rollups, if any.
    #[serde(rename = "rollups_window")]
    pub rollups: Option<Span>,
    /// The part read from raw rows, if any.
    #[serde(rename = "raw_window")]
    pub raw: Option<Span>,
    /// Fields estimated from histogram buckets (approximate), or covering
    /// the raw part only.
    pub approximate: Vec<&'static str>,
    /// What retention removed from this window, in sentences.
    pub notes: Vec<String>,
}

/// The nearest-rank `p`-th percentile of a histogram of non-cumulative
/// `(le_ms, count)` buckets (`le_ms = -1` is +Inf), as the upper bound of
/// the bucket holding rank ceil(p n / 100), in ms; `max_ms` stands in for
/// +Inf. 0 for an empty histogram.
pub fn histogram_percentile(buckets: &[(i64, u64)], p: u64, max_ms: f64) -> f64 {
    let mut sorted: Vec<(i64, u64)> = buckets.to_vec();
    // +Inf (-1) last.
    sorted.sort_by_key(|&(le, _)| if le < 0 { i64::MAX } else { le });
    let n: u64 = sorted.iter().map(|&(_, c)| c).sum();
    if n == 0 {
        return 0.0;
    }
    let rank = (p * n).div_ceil(100).max(1);
    let mut seen = 0;
    for (le, count) in sorted {
        seen += count;
        if seen >= rank {
            return if le < 0 { max_ms } else { le as f64 };
        }
    }
    max_ms
}

/// A raw-rows answer over `window` whose rows before `deleted_before_us` (if
/// inside the window) were removed by retention: the note says so, with
/// `lost` naming what was lost (`{}` stands for the watermark's time).
fn raw_rows_provenance(
    deleted_before_us: Option<i64>,
    window: TimeWindow,
    lost: &str,
) -> Provenance {
    let mut notes = Vec::new();
    if let Some(mark) = deleted_before_us
        && mark > window.start_us
    {
        notes.push(format!(
            "{}: this answer covers {} to {} only",
            lost.replacen("{}", &clock::format_iso(mark), 1),
            clock::format_iso(mark.min(window.end_us)),
            clock::format_iso(window.end_us)
        ));
    }
    Provenance {
        source: Source::Raw,
        rollups: None,
        raw: Some(Span::of(window)),
        approximate: Vec::new(),
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_700_000_000_000_000 - 1_700_000_000_000_000 % MINUTE_US;

    #[test]
    fn a_window_splits_at_the_first_whole_minute_after_the_watermark() {
        let w = TimeWindow {
            start_us: T + 10_000_000,
            end_us: T + 5 * MINUTE_US,
        };
        let none = Watermarks::default();
        assert_eq!(none.split(w), Split::raw_only(w));
        let marks = Watermarks {
            traces_before_us: Some(T + 2 * MINUTE_US + 5),
            ..Watermarks::default()
        };
        let split = marks.split(w);
        assert_eq!(
            split.rollups,
            Some(TimeWindow {
                start_us: T,
                end_us: T + 3 * MINUTE_US
            })
        );
        assert_eq!(
            split.raw,
            Some(TimeWindow {
                start_us: T + 3 * MINUTE_US,
                end_us: w.end_us
            })
        );
        // Everything gone: rollups only.
        let all = Watermarks {
            traces_before_us: Some(T + 10 * MINUTE_US),
            ..Watermarks::default()
        };
        assert_eq!(all.split(w).raw, None);
        // A watermark before the window changes nothing.
        let before = Watermarks {
            traces_before_us: Some(T),
            ..Watermarks::default()
        };
        assert_eq!(before.split(w), Split::raw_only(w));
        assert_eq!(marks.provenance(w, &["p95"]).source, Source::Mixed);
    }

    #[test]
    fn histogram_percentiles_are_bucket_bounds_at_the_nearest_rank() {
        let b = [(1, 10), (5, 80), (10, 9), (-1, 1)];
        assert_eq!(histogram_percentile(&b, 50, 99.0), 5.0);
        assert_eq!(histogram_percentile(&b, 95, 99.0), 10.0);
        assert_eq!(histogram_percentile(&b, 100, 99.0), 99.0);
        assert_eq!(histogram_percentile(&[], 95, 1.0), 0.0);
    }
}
