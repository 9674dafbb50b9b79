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
//! ([`worker_performance`](super::performance::worker_performance)).

use std::collections::BTreeMap;

use rusqlite::Connection;
use serde::Serialize;

use super::error::MonitorError;
use super::figures::{get_count, mean_ms, percent, us_to_ms};
use super::scope::{RunScope, WindowParams};
use super::totals::MinuteThroughput;
use crate::sql;
use crate::window::TimeWindow;

/// Figures across the workers of a summary: of the raw one
/// ([`worker_performance_summary`](super::worker::worker_performance_summary))
/// and of [`WorkerRollupSummary`], defined alike.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AggregatedMetrics {
    /// Executions of every worker in the window (commands and compensations:
    /// a compensation is a command sent to the compensation worker).
    pub total_commands: u64,
    /// Mean of the workers' success rates, each worker with executions
    /// weighing the same — a rarely called failing worker is not drowned by
    /// a busy healthy one. Percent. (Labelled "mean of worker success
    /// rates" in tables.)
    pub average_success_rate: f64,
    /// Mean duration of every execution in the window, whichever worker ran
    /// it (execution-weighted: the sum of all durations over
    /// `total_commands`), milliseconds — the same definition as each
    /// worker's `avg_duration_ms` and as `query events`, so a busy fast
    /// worker weighs what it ran.
    pub average_duration_ms: f64,
    /// Workers with executions in the window.
    pub active_workers: u64,
}

/// One worker's executions over a window, from the rollups: the fields of
/// [`WorkerPerformance`](super::performance::WorkerPerformance) the rollups can answer
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
    let mut stmt = conn.prepare_cached(sql::queries::WORKER_SUMMARY_ROLLUPS)?;
    let rows = stmt
        .query_map(
            WindowParams::by_run_id(window, scope.run_id()).bind(),
            |row| {
                let completed = get_count(row, "completed")?;
                let failed = get_count(row, "failed")?;
                let timeout = get_count(row, "timeout")?;
                let cancelled = get_count(row, "cancelled")?;
                let total = completed + failed + timeout + cancelled;
                let ms = |name: &str| -> rusqlite::Result<f64> {
                    Ok(row.get::<_, Option<i64>>(name)?.map_or(0.0, us_to_ms))
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
    let mut stmt = conn.prepare_cached(sql::queries::THROUGHPUT_PER_MINUTE_ROLLUPS)?;
    let rows = stmt
        .query_map(
            WindowParams::by_run_id(window, scope.run_id()).bind(),
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
