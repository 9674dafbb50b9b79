//! How a window moved over time: per bucket, workflows and executions that
//! ended (and their rates per second), errors and the error rate, and the
//! p50/p95 event latency — the one series the dashboard, the report and
//! `query series` draw.
//!
//! Buckets are counted from the window's start (a 20 s run gives twenty
//! one-second buckets starting at 0 s, not one calendar minute), and their
//! width follows the span ([`bucket_width_us`]): one second up to 10
//! minutes, ten seconds up to an hour, then whole minutes. Every bucket of
//! the window is present, empty ones with zeros, so a chart's x axis is
//! continuous.
//!
//! Spans up to an hour are read from the raw rows (`queries/series_events.sql`:
//! exact, nearest-rank percentiles). Longer spans — minute buckets — and
//! any window part of whose raw rows retention deleted are read from the
//! per-minute rollups (`queries/series_rollups.sql`): counts exact,
//! percentiles the upper bound of the latency histogram bucket holding the
//! nearest rank (approximate). The answer's [`Provenance`] says which.
//!
//! Latency is the event latency, dispatch → terminal (what a caller waits
//! for one step, queueing included), because it is the one latency both
//! sources hold per minute: the rollups keep a histogram of it, and only a
//! sum and a maximum of the workflow latency.

use rusqlite::{Connection, Row};
use serde::Serialize;

use super::MonitorError;
use super::coverage::{self, Provenance, Span};
use super::scope::{RunScope, WindowParams};
use crate::clock;
use crate::sql;
use crate::window::TimeWindow;

const SECOND_US: i64 = 1_000_000;
const MINUTE_US: i64 = 60 * SECOND_US;

/// Spans up to this long get one-second buckets from the raw rows.
pub const PER_SECOND_UP_TO_US: i64 = 10 * MINUTE_US;
/// Spans up to this long (and longer than [`PER_SECOND_UP_TO_US`]) get
/// ten-second buckets from the raw rows; longer ones whole minutes from the
/// rollups.
pub const PER_TEN_SECONDS_UP_TO_US: i64 = 60 * MINUTE_US;
/// Minute buckets are widened (5, 10, 15, 30, 60 minutes, then whole hours)
/// until a span has at most this many.
pub const MAX_MINUTE_BUCKETS: i64 = 360;

/// The bucket width for a span of `span_us`: 1 s up to 10 minutes, 10 s up
/// to an hour, else the smallest of 1, 5, 10, 15, 30 or 60 minutes (then
/// whole hours) that gives at most [`MAX_MINUTE_BUCKETS`] buckets.
pub fn bucket_width_us(span_us: i64) -> i64 {
    if span_us <= PER_SECOND_UP_TO_US {
        return SECOND_US;
    }
    if span_us <= PER_TEN_SECONDS_UP_TO_US {
        return 10 * SECOND_US;
    }
    minute_width_us(span_us)
}

/// The bucket width when the rollups answer: the smallest whole-minute
/// width giving at most [`MAX_MINUTE_BUCKETS`] buckets over `span_us`.
pub fn minute_width_us(span_us: i64) -> i64 {
    for minutes in [1, 5, 10, 15, 30, 60] {
        let width = minutes * MINUTE_US;
        if ceil_div(span_us, width) <= MAX_MINUTE_BUCKETS {
            return width;
        }
    }
    let hour = 60 * MINUTE_US;
    let hours = ceil_div(ceil_div(span_us, hour), MAX_MINUTE_BUCKETS).max(1);
    hours.saturating_mul(hour)
}

/// One bucket of a [`Series`]: `[start_us, start_us + bucket_us)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesBucket {
    /// Seconds from the series' start to this bucket's start (the x axis).
    pub offset_s: f64,
    /// Start of the bucket, µs.
    pub start_us: i64,
    /// Start of the bucket, ISO-8601.
    pub start: String,
    /// Workflows that ended (any terminal state) in the bucket.
    pub workflows_ended: u64,
    /// Executions (events, commands and compensations) that ended.
    pub executions: u64,
    /// Executions that failed or timed out (cancelled ones are not errors).
    pub errors: u64,
    /// `errors / executions × 100`, 0 for an empty bucket.
    pub error_rate: f64,
    /// Workflows ended per second of the bucket (of its part inside the
    /// window, for a last bucket the window's end cuts short).
    pub workflows_per_s: f64,
    /// Executions ended per second, likewise.
    pub executions_per_s: f64,
    /// Median event latency (dispatch → terminal), ms; `None` (JSON null,
    /// an empty CSV field) for a bucket where nothing ended: no latency is
    /// not a latency of 0, and a chart must not dip to it.
    pub p50_latency_ms: Option<f64>,
    /// 95th percentile event latency, ms; `None` like the median.
    pub p95_latency_ms: Option<f64>,
}

/// Figures per bucket over a window, with where they came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// The window asked about.
    pub window: Span,
    /// Start of the first bucket: the window's start (rounded down to its
    /// minute when the rollups answer).
    pub start_us: i64,
    /// End of what the buckets count: the window's end, or from the
    /// rollups the end of its minute (they count whole minutes).
    pub end_us: i64,
    /// Width of every bucket, µs.
    pub bucket_us: i64,
    /// Width of every bucket, seconds.
    pub bucket_s: f64,
    /// Where the figures come from, and which are approximate.
    pub provenance: Provenance,
    /// Every bucket from the start to the window's end, oldest first.
    pub buckets: Vec<SeriesBucket>,
}

/// A latency as a CSV field: three decimals, empty when there is none.
fn csv_ms(ms: Option<f64>) -> String {
    ms.map(|v| format!("{v:.3}")).unwrap_or_default()
}

/// The CSV header of [`Series::to_csv`].
pub const CSV_HEADER: &str = "offset_s,start_us,start,workflows_ended,executions,errors,error_rate,workflows_per_s,executions_per_s,p50_latency_ms,p95_latency_ms";

impl Series {
    /// The buckets as CSV: [`CSV_HEADER`], then one line per bucket (no
    /// field holds a comma or a quote: numbers and ISO-8601 times).
    pub fn to_csv(&self) -> String {
        let mut out = String::from(CSV_HEADER);
        out.push('\n');
        for b in &self.buckets {
            out.push_str(&format!(
                "{},{},{},{},{},{},{:.3},{:.3},{:.3},{},{}\n",
                b.offset_s,
                b.start_us,
                b.start,
                b.workflows_ended,
                b.executions,
                b.errors,
                b.error_rate,
                b.workflows_per_s,
                b.executions_per_s,
                csv_ms(b.p50_latency_ms),
                csv_ms(b.p95_latency_ms)
            ));
        }
        out
    }
}

/// Which rows answer a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SeriesSource {
    /// Raw rows up to an hour, rollups beyond, and rollups wherever
    /// retention deleted raw rows of the window.
    #[default]
    Auto,
    /// The raw rows, at the span's bucket width (exact; a part retention
    /// deleted is missing, and the answer says so).
    Raw,
    /// The per-minute rollups, in whole-minute buckets.
    Rollups,
}

/// The series of `scope` over `window` (see the module docs), read from
/// `source`.
pub fn series(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
    source: SeriesSource,
) -> Result<Series, MonitorError> {
    let span_us = window.end_us.saturating_sub(window.start_us).max(0);
    let marks = coverage::watermarks(conn, scope)?;
    let lost_raw = marks
        .traces_before_us
        .is_some_and(|mark| mark > window.start_us);
    let use_rollups = match source {
        SeriesSource::Raw => false,
        SeriesSource::Rollups => true,
        SeriesSource::Auto => span_us > PER_TEN_SECONDS_UP_TO_US || lost_raw,
    };
    let mut notes = Vec::new();
    let (start_us, bucket_us, rows, provenance_source) = if use_rollups {
        let start_us = floor_minute(window.start_us);
        let bucket_us = minute_width_us(window.end_us.saturating_sub(start_us).max(1));
        let params = WindowParams::by_run_id(
            TimeWindow {
                start_us,
                end_us: window.end_us,
            },
            scope.run_id(),
        )
        .and(":bucket_us", bucket_us);
        let rows = read(conn, sql::queries::SERIES_ROLLUPS, &params)?;
        notes.push(if lost_raw && span_us <= PER_TEN_SECONDS_UP_TO_US {
            "raw rows of this window were deleted by retention: whole-minute buckets from the per-minute rollups (counts exact, latency percentiles approximate)".to_string()
        } else {
            "whole-minute buckets from the per-minute rollups (counts exact, latency percentiles approximate: histogram bucket bounds)".to_string()
        });
        (start_us, bucket_us, rows, coverage::Source::Rollups)
    } else {
        let bucket_us = bucket_width_us(span_us);
        let params =
            WindowParams::by_id_range(window, scope.id_bounds()).and(":bucket_us", bucket_us);
        let rows = read(conn, sql::queries::SERIES_EVENTS, &params)?;
        if let Some(mark) = marks.traces_before_us
            && mark > window.start_us
        {
            notes.push(format!(
                "raw rows before {} were deleted by retention: buckets before then are empty",
                clock::format_iso(mark)
            ));
        }
        (window.start_us, bucket_us, rows, coverage::Source::Raw)
    };
    if use_rollups
        && let Some(mark) = marks.rollups_before_us
        && mark > start_us
    {
        notes.push(format!(
            "rollups before {} were deleted too: buckets before then are empty",
            clock::format_iso(mark)
        ));
    }
    // The rollups count the window's last minute whole: so do its rates.
    let end_us = if use_rollups {
        ceil_minute(window.end_us)
    } else {
        window.end_us
    };
    let buckets = fill(start_us, bucket_us, end_us, rows);
    let answered = TimeWindow { start_us, end_us };
    Ok(Series {
        window: Span::of(window),
        start_us,
        end_us,
        bucket_us,
        bucket_s: bucket_us as f64 / SECOND_US as f64,
        provenance: Provenance {
            source: provenance_source,
            rollups: use_rollups.then(|| Span::of(answered)),
            raw: (!use_rollups).then(|| Span::of(answered)),
            approximate: if use_rollups {
                vec!["p50_latency_ms", "p95_latency_ms"]
            } else {
                Vec::new()
            },
            notes,
        },
        buckets,
    })
}

/// A bucket's row as either query returns it.
struct BucketRow {
    bucket: i64,
    workflows_ended: u64,
    executions: u64,
    errors: u64,
    p50_latency_us: Option<i64>,
    p95_latency_us: Option<i64>,
}

fn count(row: &Row<'_>, column: &str) -> rusqlite::Result<u64> {
    let v: Option<i64> = row.get(column)?;
    Ok(u64::try_from(v.unwrap_or(0)).unwrap_or(0))
}

fn read(conn: &Connection, sql: &str, params: &WindowParams) -> rusqlite::Result<Vec<BucketRow>> {
    conn.prepare_cached(sql)?
        .query_map(params.bind(), |row| {
            Ok(BucketRow {
                bucket: row.get("bucket")?,
                workflows_ended: count(row, "workflows_ended")?,
                executions: count(row, "executions")?,
                errors: count(row, "errors")?,
                p50_latency_us: row.get("p50_latency_us")?,
                p95_latency_us: row.get("p95_latency_us")?,
            })
        })?
        .collect()
}

/// Every bucket from `start_us` until `end_us`, those the query returned
/// with their figures, the others zero.
fn fill(start_us: i64, bucket_us: i64, end_us: i64, rows: Vec<BucketRow>) -> Vec<SeriesBucket> {
    let n = if end_us > start_us && bucket_us > 0 {
        ceil_div(end_us - start_us, bucket_us)
    } else {
        0
    };
    let mut rows = rows.into_iter().peekable();
    let mut out = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    for k in 0..n {
        let bucket_start = start_us.saturating_add(k.saturating_mul(bucket_us));
        // The part of the bucket inside the window, for rates.
        let seconds = (end_us.min(bucket_start.saturating_add(bucket_us)) - bucket_start) as f64
            / SECOND_US as f64;
        while rows.next_if(|r| r.bucket < k).is_some() {}
        let row = rows.next_if(|r| r.bucket == k);
        let (workflows_ended, executions, errors, p50, p95) = match row {
            Some(r) => (
                r.workflows_ended,
                r.executions,
                r.errors,
                r.p50_latency_us,
                r.p95_latency_us,
            ),
            None => (0, 0, 0, None, None),
        };
        let rate = |c: u64| {
            if seconds > 0.0 {
                c as f64 / seconds
            } else {
                0.0
            }
        };
        out.push(SeriesBucket {
            offset_s: (bucket_start - start_us) as f64 / SECOND_US as f64,
            start_us: bucket_start,
            start: clock::format_iso(bucket_start),
            workflows_ended,
            executions,
            errors,
            error_rate: if executions == 0 {
                0.0
            } else {
                errors as f64 * 100.0 / executions as f64
            },
            workflows_per_s: rate(workflows_ended),
            executions_per_s: rate(executions),
            p50_latency_ms: p50.map(|us| us as f64 / 1000.0),
            p95_latency_ms: p95.map(|us| us as f64 / 1000.0),
        });
    }
    out
}

/// `a / b` rounded up, for `a >= 0` and `b > 0` (`i64::div_ceil` is not
/// stable).
fn ceil_div(a: i64, b: i64) -> i64 {
    a / b + i64::from(a % b != 0)
}

fn floor_minute(us: i64) -> i64 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_follows_the_span() {
        assert_eq!(bucket_width_us(20 * SECOND_US), SECOND_US);
        assert_eq!(bucket_width_us(10 * MINUTE_US), SECOND_US);
        assert_eq!(bucket_width_us(10 * MINUTE_US + 1), 10 * SECOND_US);
        assert_eq!(bucket_width_us(60 * MINUTE_US), 10 * SECOND_US);
        assert_eq!(bucket_width_us(2 * 60 * MINUTE_US), MINUTE_US);
        assert_eq!(bucket_width_us(24 * 60 * MINUTE_US), 5 * MINUTE_US);
        let year = 365 * 24 * 60 * MINUTE_US;
        assert!(ceil_div(year, bucket_width_us(year)) <= MAX_MINUTE_BUCKETS);
    }

    #[test]
    fn empty_buckets_are_zeros_and_the_last_rate_uses_its_elapsed_part() {
        let rows = vec![BucketRow {
            bucket: 1,
            workflows_ended: 2,
            executions: 4,
            errors: 1,
            p50_latency_us: Some(1500),
            p95_latency_us: Some(3000),
        }];
        let b = fill(0, SECOND_US, 2 * SECOND_US + SECOND_US / 2, rows);
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].executions, 0);
        assert_eq!(b[0].p95_latency_ms, None);
        assert_eq!(b[1].executions_per_s, 4.0);
        assert_eq!(b[1].error_rate, 25.0);
        assert_eq!(b[1].p50_latency_ms, Some(1.5));
        assert_eq!(b[2].offset_s, 2.0);
    }
}
