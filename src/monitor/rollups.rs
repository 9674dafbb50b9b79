//! Whole-window summaries from the per-minute rollups the writer keeps
//! (`worker_minute_rollups`), for long windows: the worker performance
//! summary's counts, rates and averages, and throughput per minute, without
//! reading raw events. Event metrics from the rollups are
//! [`event_summary_from_rollups`](super::event::event_summary_from_rollups).
//!
//! Like every rollup question: a minute counts when its start lies in the
//! window (so the answers equal the raw queries' exactly on minute-aligned
//! windows), rows carry their run (one run, or every run with
//! [`RunScope::AllRuns`]), and there are no exact percentiles — those are
//! exact from the raw rows, or estimated from the histograms
//! ([`worker_performance`](super::worker::worker_performance)).

use std::collections::BTreeMap;

use rusqlite::{Connection, named_params};
use serde::Serialize;

use super::worker::AggregatedMetrics;
use super::{MonitorError, RunScope, get_count, mean_ms, percent};
use crate::export::queries::MinuteThroughput;
use crate::window::TimeWindow;

/// `queries/worker_summary_rollups.sql`.
pub const WORKER_SUMMARY_ROLLUPS_SQL: &str =
    include_str!("../../queries/worker_summary_rollups.sql");
/// `queries/throughput_per_minute_rollups.sql`.
pub const THROUGHPUT_PER_MINUTE_ROLLUPS_SQL: &str =
    include_str!("../../queries/throughput_per_minute_rollups.sql");

/// One worker's executions over a window, from the rollups: the fields of
/// [`WorkerPerformance`](super::WorkerPerformance) the rollups can answer
/// (no percentiles, no last execution).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerRollupPerformance {
    /// The worker.
    pub worker: String,
    /// Executions that ended in the window (commands and compensations).
    pub total_executions: u64,
    /// Completed.
    pub successful_executions: u64,
    /// Failed.
    pub failed_executions: u64,
    /// Stopped by their timeout.
    pub timeout_executions: u64,
    /// Cancelled.
    pub cancelled_executions: u64,
    /// completed / total × 100.
    pub success_rate: f64,
    /// (failed + timeout) / total × 100.
    pub error_rate: f64,
    /// Mean duration, ms.
    pub avg_duration_ms: f64,
    /// Sum of the durations, µs (the weight of the execution-weighted mean).
    pub duration_sum_us: i64,
    /// Shortest duration, ms.
    pub min_duration_ms: f64,
    /// Longest duration, ms.
    pub max_duration_ms: f64,
    /// Start of the latest minute with executions, µs.
    pub last_minute_us: i64,
}

/// The worker performance summary's aggregate and per-worker figures over a
/// window, from the rollups.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerRollupSummary {
    /// Totals and means over the active workers, defined as in
    /// [`worker_performance_summary`](super::worker::worker_performance_summary).
    pub aggregated_metrics: AggregatedMetrics,
    /// Each worker with executions in the window, by name.
    pub workers: BTreeMap<String, WorkerRollupPerformance>,
}

/// Runs `queries/worker_summary_rollups.sql`: every worker's executions over
/// the minutes whose start lies in `window` in the runs of `scope`, and
/// their aggregate.
pub fn worker_summary_from_rollups(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
) -> Result<WorkerRollupSummary, MonitorError> {
    let mut stmt = conn.prepare_cached(WORKER_SUMMARY_ROLLUPS_SQL)?;
    let rows = stmt
        .query_map(
            named_params! {
                ":window_start": window.start_us,
                ":window_end": window.end_us,
                ":run_id": scope.run_id(),
            },
            |row| {
                let completed = get_count(row, "completed")?;
                let failed = get_count(row, "failed")?;
                let timeout = get_count(row, "timeout")?;
                let cancelled = get_count(row, "cancelled")?;
                let total = completed + failed + timeout + cancelled;
                let ms = |name: &str| -> rusqlite::Result<f64> {
                    Ok(row
                        .get::<_, Option<i64>>(name)?
                        .map_or(0.0, super::us_to_ms))
                };
                Ok(WorkerRollupPerformance {
                    worker: row.get("worker")?,
                    total_executions: total,
                    successful_executions: completed,
                    failed_executions: failed,
                    timeout_executions: timeout,
                    cancelled_executions: cancelled,
                    success_rate: percent(completed, total),
                    error_rate: percent(failed + timeout, total),
                    avg_duration_ms: mean_ms(row.get("duration_sum_us")?, total),
                    duration_sum_us: row.get("duration_sum_us")?,
                    min_duration_ms: ms("duration_min_us")?,
                    max_duration_ms: ms("duration_max_us")?,
                    last_minute_us: row.get("last_minute_us")?,
                })
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let active: Vec<&WorkerRollupPerformance> =
        rows.iter().filter(|p| p.total_executions > 0).collect();
    let n = active.len();
    let mean = |f: fn(&WorkerRollupPerformance) -> f64| {
        if n == 0 {
            0.0
        } else {
            active.iter().map(|p| f(p)).sum::<f64>() / n as f64
        }
    };
    let total_commands: u64 = active.iter().map(|p| p.total_executions).sum();
    let aggregated_metrics = AggregatedMetrics {
        total_commands,
        average_success_rate: mean(|p| p.success_rate),
        // Execution-weighted, as in worker_performance_summary.
        average_duration_ms: mean_ms(
            active.iter().map(|p| p.duration_sum_us).sum(),
            total_commands,
        ),
        active_workers: n as u64,
    };
    Ok(WorkerRollupSummary {
        aggregated_metrics,
        workers: rows.into_iter().map(|p| (p.worker.clone(), p)).collect(),
    })
}

/// Runs `queries/throughput_per_minute_rollups.sql`: events that ended per
/// minute over the minutes whose start lies in `window`, oldest first, for
/// the runs in `scope`; minutes without events are absent.
pub fn throughput_per_minute_from_rollups(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
) -> Result<Vec<MinuteThroughput>, MonitorError> {
    let mut stmt = conn.prepare_cached(THROUGHPUT_PER_MINUTE_ROLLUPS_SQL)?;
    let rows = stmt
        .query_map(
            named_params! {
                ":window_start": window.start_us,
                ":window_end": window.end_us,
                ":run_id": scope.run_id(),
            },
            |row| {
                let minute_us: i64 = row.get("minute_us")?;
                Ok(MinuteThroughput {
                    minute_us,
                    minute: crate::clock::format_iso(minute_us),
                    completed: get_count(row, "completed")?,
                    failed: get_count(row, "failed")?,
                    timeout: get_count(row, "timeout")?,
                    cancelled: get_count(row, "cancelled")?,
                })
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}
