//! Monitoring questions answered in SQL: event metrics, transaction traces,
//! error patterns, worker performance and health ([`event`], [`worker`],
//! [`health`]); machine and process samples ([`system`]); custom counters,
//! gauges, histograms and business rollups ([`custom`]); alert rules, their
//! fire-once/resolve state machine and notification hooks ([`alerts`]).
//!
//! Every question is one file in `queries/` (runnable as-is in the sqlite3
//! shell with named parameters) and one typed function beside it that takes
//! a `&rusqlite::Connection` — a pooled reader, or a connection inside a
//! transaction — binds the parameters and maps the rows to a struct. The
//! monitors ([`EventMonitor`], [`WorkerMonitor`]) wrap those functions with a
//! [`Store`](crate::store::Store) and a [`RunScope`].
//!
//! The monitors are synchronous (rusqlite). Each call takes milliseconds on
//! an indexed database, so async callers may call them directly from a task;
//! a caller that asks over very long windows, or many times in a loop, should
//! use `tokio::task::spawn_blocking` so it never holds a runtime thread.
//!
//! Conventions shared by every query:
//! - a window is `[:window_start, :window_end)` in microseconds, and an event
//!   belongs to a window when its terminal stage (`finished_at_us`) lies in
//!   it;
//! - run scoping is an id range `[:run_first, :run_last]` (row ids are
//!   `(run_id << 40) | sequence`, see
//!   [`IdAllocator::run_range`](crate::store::IdAllocator::run_range)); all
//!   runs is the whole `i64` range ([`RunScope::id_bounds`]);
//! - rates are percentages 0–100, durations milliseconds, averages over
//!   executions, percentiles nearest-rank, and an empty window gives zeros
//!   (every definition, and the Prometheus exception, in `docs/figures.md`).

pub mod alerts;
pub mod coverage;
pub mod custom;
pub mod event;
pub mod health;
pub mod outcomes;
pub mod rollups;
pub mod system;
pub mod worker;

pub use event::{ErrorPattern, EventMetrics, EventMonitor, EventSummary, TraceStage};
pub use health::{
    HealthStatus, HealthThresholds, HealthTracker, Transition, WorkerHealth, evaluate_health,
};
pub use worker::{
    AggregatedMetrics, ProblemWorker, RankedWorker, WorkerMonitor, WorkerPerformance,
    WorkerPerformanceSummary,
};

use crate::store::{IdAllocator, StoreError};
use crate::window::TimeWindow;

/// Every top-level `queries/*.sql` file with its embedded text, so that one
/// test can check the plan of each and that none is forgotten (the test also
/// compares this list with the directory).
pub const QUERY_FILES: &[(&str, &str)] = &[
    (
        "active_workflow_count.sql",
        include_str!("../../queries/active_workflow_count.sql"),
    ),
    (
        "active_workflows.sql",
        include_str!("../../queries/active_workflows.sql"),
    ),
    (
        "alert_history.sql",
        include_str!("../../queries/alert_history.sql"),
    ),
    (
        "business_metrics_hourly.sql",
        include_str!("../../queries/business_metrics_hourly.sql"),
    ),
    (
        "custom_metric_counters.sql",
        include_str!("../../queries/custom_metric_counters.sql"),
    ),
    (
        "custom_metric_gauges.sql",
        include_str!("../../queries/custom_metric_gauges.sql"),
    ),
    (
        "custom_metric_histograms.sql",
        include_str!("../../queries/custom_metric_histograms.sql"),
    ),
    ("error_patterns.sql", event::ERROR_PATTERNS_SQL),
    ("event_metrics.sql", event::EVENT_METRICS_SQL),
    (
        "event_summary_rollups.sql",
        event::EVENT_SUMMARY_ROLLUPS_SQL,
    ),
    (
        "event_latency_histogram_rollups.sql",
        event::EVENT_LATENCY_HISTOGRAM_ROLLUPS_SQL,
    ),
    (
        "event_latency_histogram_events.sql",
        event::EVENT_LATENCY_HISTOGRAM_EVENTS_SQL,
    ),
    (
        "retention_watermarks.sql",
        coverage::RETENTION_WATERMARKS_SQL,
    ),
    (
        "workflow_outcomes_rollups.sql",
        outcomes::WORKFLOW_OUTCOMES_ROLLUPS_SQL,
    ),
    (
        "firing_alerts.sql",
        include_str!("../../queries/firing_alerts.sql"),
    ),
    (
        "run_bounds.sql",
        include_str!("../../queries/run_bounds.sql"),
    ),
    ("runs.sql", include_str!("../../queries/runs.sql")),
    (
        "system_metrics.sql",
        include_str!("../../queries/system_metrics.sql"),
    ),
    (
        "system_samples_series.sql",
        include_str!("../../queries/system_samples_series.sql"),
    ),
    ("tracked_workers.sql", worker::TRACKED_WORKERS_SQL),
    ("transaction_trace.sql", event::TRANSACTION_TRACE_SQL),
    ("worker_id.sql", worker::WORKER_ID_SQL),
    ("worker_performance.sql", worker::WORKER_PERFORMANCE_SQL),
    ("workflow_outcomes.sql", outcomes::WORKFLOW_OUTCOMES_SQL),
    (
        "workflow_status.sql",
        include_str!("../../queries/workflow_status.sql"),
    ),
    (
        "throughput_per_minute.sql",
        crate::export::queries::THROUGHPUT_PER_MINUTE_SQL,
    ),
    (
        "worker_histogram_events.sql",
        crate::export::queries::WORKER_HISTOGRAM_EVENTS_SQL,
    ),
    (
        "worker_histogram_rollups.sql",
        crate::export::queries::WORKER_HISTOGRAM_ROLLUPS_SQL,
    ),
    (
        "worker_totals_events.sql",
        crate::export::queries::WORKER_TOTALS_EVENTS_SQL,
    ),
    (
        "worker_totals_rollups.sql",
        crate::export::queries::WORKER_TOTALS_ROLLUPS_SQL,
    ),
    (
        "workflow_outcome_counts.sql",
        crate::export::queries::WORKFLOW_OUTCOME_COUNTS_SQL,
    ),
    (
        "worker_summary_rollups.sql",
        rollups::WORKER_SUMMARY_ROLLUPS_SQL,
    ),
    (
        "throughput_per_minute_rollups.sql",
        rollups::THROUGHPUT_PER_MINUTE_ROLLUPS_SQL,
    ),
];

/// A window that holds every timestamp: "all time" for questions that take a
/// window, such as [`WorkerMonitor::get_tracked_workers`].
pub const ALL_TIME: TimeWindow = TimeWindow {
    start_us: i64::MIN,
    end_us: i64::MAX,
};

/// Why a monitoring question could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// No workflow has this transaction id.
    #[error("unknown transaction {transaction_id:?}: no workflow has this transaction id")]
    UnknownTransaction {
        /// The id that was asked about.
        transaction_id: String,
    },
    /// No worker with this name has ever recorded an event.
    #[error("unknown worker {worker:?}: no events were recorded for a worker of this name")]
    UnknownWorker {
        /// The name that was asked about.
        worker: String,
    },
    /// The store could not hand out a connection.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A query failed.
    #[error("monitoring query failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A JSON column produced by a query could not be read.
    #[error("monitoring query returned malformed JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Which runs a question covers.
///
/// One database file holds many process runs (a demo, then a load test, …);
/// scoping to one run compares like with like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunScope {
    /// Every run in the file.
    #[default]
    AllRuns,
    /// One run, by its `runs.id`.
    Run(i64),
}

impl RunScope {
    /// The `[:run_first, :run_last]` id bounds the queries take.
    ///
    /// All runs is the whole `i64` range rather than a separate query, so
    /// that each question is one SQL file.
    pub fn id_bounds(self) -> (i64, i64) {
        match self {
            RunScope::AllRuns => (i64::MIN, i64::MAX),
            RunScope::Run(run_id) => IdAllocator::run_range(run_id),
        }
    }

    /// The `:run_id` the queries of tables that carry a `run_id` column
    /// (system samples, custom metrics, alerts, rollups) take: the run, or
    /// NULL for every run.
    pub fn run_id(self) -> Option<i64> {
        match self {
            RunScope::AllRuns => None,
            RunScope::Run(run_id) => Some(run_id),
        }
    }
}

/// `part / total` as a percentage; 0 for an empty total so that an empty
/// window reads as zeros, never NaN.
pub(crate) fn percent(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        part as f64 * 100.0 / total as f64
    }
}

/// A count column as `u64`. Counts are never negative; a negative one would
/// be a broken query, reported rather than wrapped.
pub(crate) fn get_count(row: &rusqlite::Row<'_>, column: &str) -> rusqlite::Result<u64> {
    let value: i64 = row.get(column)?;
    u64::try_from(value).map_err(|_| {
        rusqlite::Error::IntegralValueOutOfRange(
            row.as_ref().column_index(column).unwrap_or(0),
            value,
        )
    })
}

/// Microseconds as milliseconds, the unit of every duration in output.
pub(crate) fn us_to_ms(us: i64) -> f64 {
    us as f64 / 1000.0
}

/// `sum_us / n` in milliseconds; 0 when there is nothing to average.
pub(crate) fn mean_ms(sum_us: i64, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        sum_us as f64 / n as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_totals_give_zero_not_nan() {
        assert_eq!(percent(0, 0), 0.0);
        assert_eq!(mean_ms(0, 0), 0.0);
        assert_eq!(percent(1, 4), 25.0);
        assert_eq!(mean_ms(3_000, 2), 1.5);
    }

    #[test]
    fn a_run_scope_is_its_id_range() {
        assert_eq!(RunScope::AllRuns.id_bounds(), (i64::MIN, i64::MAX));
        let (first, last) = RunScope::Run(3).id_bounds();
        assert_eq!(first, 3 << 40);
        assert_eq!(last, (4 << 40) - 1);
    }
}
