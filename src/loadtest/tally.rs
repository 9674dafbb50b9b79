//! What the load test saw of each workflow it started: when it started,
//! when and how it ended, and its latency as recorded (created → ended, the
//! instants the database holds), kept in memory so that the progress line,
//! the latency percentiles and histogram, the error breakdown and the
//! per-second series all use the one definition the summary uses.
//!
//! Percentiles are nearest-rank (the value at 1-based rank ⌈p·n/100⌉ of
//! the sorted latencies), as in `queries/workflow_outcomes.sql`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::store::WorkflowState;

/// One workflow that ended.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ended {
    /// Index of its name in [`Tally::names`].
    pub name: u16,
    /// When it ended, from the start of the load.
    pub at: Duration,
    /// created → ended, microseconds.
    pub latency_us: i64,
    /// Whether it completed.
    pub completed: bool,
}

/// Everything seen so far; one lock guards it (each workflow touches it
/// twice: at its start and at its end).
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub names: Vec<String>,
    /// Start offsets' whole seconds, one count per second.
    pub started_per_second: Vec<u64>,
    pub ended: Vec<Ended>,
    /// (state, error class) → count, for workflows that did not complete.
    pub errors: BTreeMap<(String, String), u64>,
}

impl Tally {
    pub fn name_index(&mut self, name: &str) -> u16 {
        match self.names.iter().position(|n| n == name) {
            Some(i) => i as u16,
            None => {
                self.names.push(name.to_string());
                (self.names.len() - 1) as u16
            }
        }
    }

    pub fn note_start(&mut self, at: Duration) {
        let second = at.as_secs() as usize;
        if self.started_per_second.len() <= second {
            self.started_per_second.resize(second + 1, 0);
        }
        self.started_per_second[second] += 1;
    }

    pub fn note_end(&mut self, ended: Ended, state: WorkflowState, error: Option<&str>) {
        if !ended.completed {
            let key = (state.as_str().to_string(), error_class(error));
            *self.errors.entry(key).or_default() += 1;
        }
        self.ended.push(ended);
    }

    /// The latencies of every ended workflow, microseconds, unsorted.
    pub fn latencies(&self) -> Vec<i64> {
        self.ended.iter().map(|e| e.latency_us).collect()
    }
}

/// The class of a workflow's recorded error: `step "flaky" failed:
/// NetworkError: Connection timeout` → `step "flaky" failed: NetworkError`
/// (the step, how it ended, and the worker's error type as the events
/// record it: the text before its first ':', else `Error`); a short
/// message without a type (`interrupted`, `cancelled`) as it is; other
/// errors by their type; none → `(no error)`. What a compensation appended
/// after `; ` is left out.
pub fn error_class(error: Option<&str>) -> String {
    let Some(error) = error else {
        return "(no error)".to_string();
    };
    let first = error.split("; ").next().unwrap_or(error).trim();
    if first.starts_with("step ")
        && let Some((head, message)) = first.split_once(": ")
    {
        return format!("{head}: {}", crate::worker::error_type(message));
    }
    if !first.contains(':')
        && !first.contains('\n')
        && first.len() <= crate::worker::MAX_ERROR_TYPE_LEN
    {
        return first.to_string();
    }
    crate::worker::error_type(first).to_string()
}

/// The 1-based nearest rank of the `p`th percentile of `n` values,
/// ⌈p·n/100⌉ in integers (p to a tenth), as the SQL computes it: floating
/// point would put 99.9 % of 1000 at rank 1000.
fn rank(n: usize, p: f64) -> usize {
    let per_mille = (p * 10.0).round().clamp(0.0, 1000.0) as u128;
    let rank = (per_mille * n as u128).div_ceil(1000).max(1);
    (rank as usize).min(n)
}

/// The nearest-rank `p`th percentile of sorted values (0 when empty).
pub fn nearest_rank(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[rank(sorted.len(), p) - 1]
}

/// The nearest-rank `p`th percentile of unsorted values, without sorting
/// them all (for the progress line, about once a second).
pub fn select_rank(values: &mut [i64], p: f64) -> i64 {
    if values.is_empty() {
        return 0;
    }
    let at = rank(values.len(), p) - 1;
    *values.select_nth_unstable(at).1
}

fn ms(us: i64) -> f64 {
    us as f64 / 1000.0
}

/// Latency figures (created → ended) of a set of workflows, milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LatencyPercentiles {
    /// Workflows measured.
    pub count: u64,
    /// Mean.
    pub avg_ms: f64,
    /// Shortest.
    pub min_ms: f64,
    /// Nearest-rank median.
    pub p50_ms: f64,
    /// Nearest-rank 90th percentile.
    pub p90_ms: f64,
    /// Nearest-rank 95th percentile.
    pub p95_ms: f64,
    /// Nearest-rank 99th percentile.
    pub p99_ms: f64,
    /// Nearest-rank 99.9th percentile.
    pub p99_9_ms: f64,
    /// Longest.
    pub max_ms: f64,
}

impl LatencyPercentiles {
    /// From sorted microseconds.
    pub fn of_sorted(sorted: &[i64]) -> Self {
        if sorted.is_empty() {
            return LatencyPercentiles::default();
        }
        let sum: i128 = sorted.iter().map(|&v| i128::from(v)).sum();
        LatencyPercentiles {
            count: sorted.len() as u64,
            avg_ms: sum as f64 / sorted.len() as f64 / 1000.0,
            min_ms: ms(sorted[0]),
            p50_ms: ms(nearest_rank(sorted, 50.0)),
            p90_ms: ms(nearest_rank(sorted, 90.0)),
            p95_ms: ms(nearest_rank(sorted, 95.0)),
            p99_ms: ms(nearest_rank(sorted, 99.0)),
            p99_9_ms: ms(nearest_rank(sorted, 99.9)),
            max_ms: ms(sorted[sorted.len() - 1]),
        }
    }
}

/// One bar of the latency histogram.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistogramBucket {
    /// The bucket's upper bound (inclusive), milliseconds.
    pub le_ms: f64,
    /// Workflows in it.
    pub count: u64,
}

/// Number of bars, as oha draws them.
pub const HISTOGRAM_BUCKETS: usize = 11;

/// Equal-width buckets from the shortest to the longest latency (oha's
/// layout): each counts the latencies above the previous bound up to its
/// own.
pub fn histogram(sorted: &[i64]) -> Vec<HistogramBucket> {
    let (Some(&min), Some(&max)) = (sorted.first(), sorted.last()) else {
        return Vec::new();
    };
    if min == max {
        return vec![HistogramBucket {
            le_ms: ms(max),
            count: sorted.len() as u64,
        }];
    }
    let width = (max - min) as f64 / (HISTOGRAM_BUCKETS - 1) as f64;
    let mut buckets: Vec<HistogramBucket> = (0..HISTOGRAM_BUCKETS)
        .map(|i| HistogramBucket {
            le_ms: ms(min) + width * i as f64 / 1000.0,
            count: 0,
        })
        .collect();
    for &v in sorted {
        let i = (((v - min) as f64 / width).ceil() as usize).min(HISTOGRAM_BUCKETS - 1);
        buckets[i].count += 1;
    }
    buckets
}

/// Workflows that did not complete, by how they ended and their error class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorCount {
    /// The terminal state (`failed`, `compensated`, `cancelled`).
    pub state: String,
    /// See [`error_class`].
    pub error: String,
    /// How many.
    pub count: u64,
}

/// One second of the test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesPoint {
    /// Seconds from the first start (this point covers [second, second + 1)).
    pub second: u64,
    /// The rate the plan asked for in the middle of the second.
    pub target_rate: f64,
    /// Workflows started.
    pub started: u64,
    /// Workflows that ended completed.
    pub completed: u64,
    /// Workflows that ended otherwise (failed, compensated, cancelled).
    pub failed: u64,
    /// Nearest-rank median latency of the workflows that ended (0 if none).
    pub p50_ms: f64,
    /// Nearest-rank 95th percentile of the same.
    pub p95_ms: f64,
    /// Started and not yet ended at the end of the second.
    pub in_flight: u64,
}

impl Tally {
    /// The per-second series up to `until` (at least the seconds that saw
    /// a start or an end).
    pub fn series(&self, until: Duration, target: impl Fn(Duration) -> f64) -> Vec<SeriesPoint> {
        let last_end = self.ended.iter().map(|e| e.at.as_secs()).max().unwrap_or(0);
        let seconds = (until.as_secs())
            .max(last_end + 1)
            .max(self.started_per_second.len() as u64) as usize;
        let mut ends: Vec<Vec<&Ended>> = vec![Vec::new(); seconds];
        for e in &self.ended {
            if let Some(slot) = ends.get_mut(e.at.as_secs() as usize) {
                slot.push(e);
            }
        }
        let mut in_flight: u64 = 0;
        let mut points = Vec::with_capacity(seconds);
        for (second, ended) in ends.into_iter().enumerate() {
            let started = self.started_per_second.get(second).copied().unwrap_or(0);
            let completed = ended.iter().filter(|e| e.completed).count() as u64;
            let mut latencies: Vec<i64> = ended.iter().map(|e| e.latency_us).collect();
            latencies.sort_unstable();
            in_flight = (in_flight + started).saturating_sub(ended.len() as u64);
            points.push(SeriesPoint {
                second: second as u64,
                target_rate: target(Duration::from_millis(second as u64 * 1000 + 500)),
                started,
                completed,
                failed: ended.len() as u64 - completed,
                p50_ms: ms(nearest_rank(&latencies, 50.0)),
                p95_ms: ms(nearest_rank(&latencies, 95.0)),
                in_flight,
            });
        }
        points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_matches_the_sql() {
        let v: Vec<i64> = (1..=1000).collect();
        assert_eq!(nearest_rank(&v, 50.0), 500);
        assert_eq!(nearest_rank(&v, 95.0), 950);
        assert_eq!(nearest_rank(&v, 99.9), 999);
        assert_eq!(nearest_rank(&[7], 99.9), 7);
        assert_eq!(nearest_rank(&[], 50.0), 0);
        let mut shuffled: Vec<i64> = (1..=1000).rev().collect();
        assert_eq!(select_rank(&mut shuffled, 95.0), 950);
        let p = LatencyPercentiles::of_sorted(&v);
        assert_eq!((p.p90_ms, p.p99_9_ms, p.max_ms), (0.9, 0.999, 1.0));
    }

    #[test]
    fn the_histogram_counts_every_latency_once() {
        let v: Vec<i64> = (0..=100).map(|i| i * 1000).collect();
        let h = histogram(&v);
        assert_eq!(h.len(), HISTOGRAM_BUCKETS);
        assert_eq!(h.iter().map(|b| b.count).sum::<u64>(), 101);
        assert_eq!(h[0].count, 1, "only the minimum is at or below it");
        assert_eq!(h.last().map(|b| b.le_ms), Some(100.0));
        assert_eq!(histogram(&[5, 5]).len(), 1);
        assert!(histogram(&[]).is_empty());
    }

    #[test]
    fn error_classes_keep_the_step_and_the_type() {
        assert_eq!(
            error_class(Some(
                "step \"flaky\" failed: NetworkError: Connection timeout"
            )),
            "step \"flaky\" failed: NetworkError"
        );
        assert_eq!(
            error_class(Some(
                "step \"b\" timeout: took too long; compensation of step \"a\" failed: x"
            )),
            "step \"b\" timeout: Error"
        );
        assert_eq!(error_class(Some("interrupted")), "interrupted");
        assert_eq!(error_class(None), "(no error)");
    }

    #[test]
    fn the_series_follows_starts_and_ends() {
        let mut t = Tally::default();
        let n = t.name_index("w");
        for ms in [100, 200, 1100] {
            t.note_start(Duration::from_millis(ms));
        }
        let end = |at_ms, completed| Ended {
            name: n,
            at: Duration::from_millis(at_ms),
            latency_us: 1000,
            completed,
        };
        t.note_end(end(900, true), WorkflowState::Completed, None);
        t.note_end(
            end(2100, false),
            WorkflowState::Failed,
            Some("step \"x\" failed: E: m"),
        );
        let s = t.series(Duration::from_secs(2), |_| 3.0);
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].started, s[0].completed, s[0].in_flight), (2, 1, 1));
        assert_eq!((s[1].started, s[1].in_flight), (1, 2));
        assert_eq!((s[2].failed, s[2].in_flight), (1, 1));
        assert_eq!(t.errors.len(), 1);
    }
}
