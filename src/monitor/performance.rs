//! One worker's performance over a window ([`WorkerPerformance`]): its
//! executions, rates and duration percentiles, from the raw events and, for
//! the part of the window retention emptied, from the per-minute rollups.
//! Health ([`super::health`]) judges it; the worker monitor
//! ([`super::worker`]) asks it of every worker.
//!
//! An execution is one call of a worker that ended in the window — every
//! event of the worker, commands and compensations alike (see
//! [`super::worker`] for why). success = completed; error = failed +
//! timeout; cancelled counts in the total only.

use rusqlite::{Connection, OptionalExtension, named_params};
use serde::Serialize;

use super::error::MonitorError;
use super::figures::{get_count, mean_ms, percent, us_to_ms};
use super::scope::{RunScope, WindowParams};
use super::sketch::{self, Precision};
use super::totals::{self, Source};
use super::{coverage, rollups};
use crate::sql;
use crate::window::TimeWindow;

/// `get_worker_performance`: one worker's executions over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerPerformance {
    /// The worker.
    pub worker: String,
    /// Executions that ended in the window.
    pub total_executions: u64,
    /// Of those, completed.
    pub successful_executions: u64,
    /// Of those, failed (an error or a panic).
    pub failed_executions: u64,
    /// Of those, stopped by the step's timeout.
    pub timeout_executions: u64,
    /// Of those, cancelled with their workflow.
    pub cancelled_executions: u64,
    /// completed / total × 100.
    pub success_rate: f64,
    /// (failed + timeout) / total × 100.
    pub error_rate: f64,
    /// Mean worker time, milliseconds.
    pub avg_duration_ms: f64,
    /// Sum of the worker's time over those executions, microseconds: the
    /// weight of this worker in an execution-weighted mean across workers.
    pub duration_sum_us: i64,
    /// Nearest-rank median worker time, milliseconds.
    pub p50_duration_ms: f64,
    /// Nearest-rank 95th percentile, milliseconds.
    pub p95_duration_ms: f64,
    /// Nearest-rank 99th percentile, milliseconds.
    pub p99_duration_ms: f64,
    /// When the worker's latest execution ended, at or before the window's
    /// end (at any earlier time); `None` if never.
    pub last_execution_at_us: Option<i64>,
}

impl WorkerPerformance {
    /// The figures of a worker without executions: all zeros.
    pub fn empty(worker: &str) -> Self {
        WorkerPerformance {
            worker: worker.to_string(),
            total_executions: 0,
            successful_executions: 0,
            failed_executions: 0,
            timeout_executions: 0,
            cancelled_executions: 0,
            success_rate: 0.0,
            error_rate: 0.0,
            avg_duration_ms: 0.0,
            duration_sum_us: 0,
            p50_duration_ms: 0.0,
            p95_duration_ms: 0.0,
            p99_duration_ms: 0.0,
            last_execution_at_us: None,
        }
    }
}

/// Runs `queries/worker_id.sql`: the worker's row id, or
/// [`MonitorError::UnknownWorker`].
pub fn worker_id(conn: &Connection, worker: &str) -> Result<i64, MonitorError> {
    conn.prepare_cached(sql::queries::WORKER_ID)?
        .query_row(named_params! { ":worker": worker }, |row| row.get(0))
        .optional()?
        .ok_or_else(|| MonitorError::UnknownWorker {
            worker: worker.to_string(),
        })
}

/// Fields of [`WorkerPerformance`] estimated from the duration histograms
/// when part of a window comes from rollups.
pub const APPROXIMATE_WORKER_FIELDS: &[&str] =
    &["p50_duration_ms", "p95_duration_ms", "p99_duration_ms"];

/// One worker's executions over `window` for the runs in `scope`. An
/// unknown worker is [`MonitorError::UnknownWorker`]; a known one without
/// executions gives zeros.
///
/// From the raw events (`queries/worker_performance.sql`), and for the part
/// of the window whose raw events retention deleted from the per-minute
/// rollups (see [`coverage`]): counts, rates and the mean add up
/// exactly; p50/p95/p99 are then estimated from the duration histograms
/// ([`APPROXIMATE_WORKER_FIELDS`]), and the last execution of a worker known
/// only from rollups is the end of its latest minute (capped at the
/// window's end).
pub fn worker_performance(
    conn: &Connection,
    worker: &str,
    window: TimeWindow,
    scope: RunScope,
) -> Result<WorkerPerformance, MonitorError> {
    worker_performance_with(conn, worker, window, scope, Precision::Auto)
}

/// [`worker_performance`], reading long windows from the sketches under
/// [`Precision::Auto`] (see [`sketch`]) or every raw row under
/// [`Precision::Exact`].
pub fn worker_performance_with(
    conn: &Connection,
    worker: &str,
    window: TimeWindow,
    scope: RunScope,
    precision: Precision,
) -> Result<WorkerPerformance, MonitorError> {
    let marks = coverage::watermarks(conn, scope)?;
    if let Some(span) = sketch::sketch_span(window, &marks, precision) {
        // An unknown name is an error, not an empty answer.
        worker_id(conn, worker)?;
        let mut found = sketch_worker_performances(conn, window, span, scope, Some(worker))?;
        return Ok(match found.pop() {
            Some(perf) => perf,
            None => WorkerPerformance {
                last_execution_at_us: raw_worker_performance(conn, worker, window, scope)?
                    .last_execution_at_us,
                ..WorkerPerformance::empty(worker)
            },
        });
    }
    let split = marks.split(window);
    let Some(rolled) = split.rollups else {
        return raw_worker_performance(conn, worker, window, scope);
    };
    // The raw part (or none), then the rollup part added in; the raw query
    // over the whole window gives the latest execution still in raw rows.
    let mut perf = match split.raw {
        Some(raw) => raw_worker_performance(conn, worker, raw, scope)?,
        None => {
            worker_id(conn, worker)?;
            WorkerPerformance::empty(worker)
        }
    };
    perf.last_execution_at_us =
        raw_worker_performance(conn, worker, window, scope)?.last_execution_at_us;
    let source_raw = split.raw.map(|raw| {
        let (first, last) = scope.id_bounds();
        (raw, Source::Events { first, last })
    });
    let rollup_source = Source::Rollups {
        run_id: scope.run_id(),
    };
    let mut histogram: Vec<(i64, u64)> = Vec::new();
    for (part, source) in [Some((rolled, rollup_source)), source_raw]
        .into_iter()
        .flatten()
    {
        for b in totals::worker_histograms(conn, part, source)? {
            if b.worker == worker {
                histogram.push((b.le_ms, b.count));
            }
        }
    }
    let summary = rollups::worker_summary_from_rollups(conn, rolled, scope)?;
    let mut max_ms = perf.p99_duration_ms;
    if let Some(r) = summary.workers.get(worker) {
        perf.total_executions += r.total_executions;
        perf.successful_executions += r.successful_executions;
        perf.failed_executions += r.failed_executions;
        perf.timeout_executions += r.timeout_executions;
        perf.cancelled_executions += r.cancelled_executions;
        perf.duration_sum_us += r.duration_sum_us;
        max_ms = max_ms.max(r.max_duration_ms);
        if perf.last_execution_at_us.is_none() {
            perf.last_execution_at_us =
                Some((r.last_minute_us + 59_999_999).min(window.end_us - 1));
        }
    }
    let total = perf.total_executions;
    perf.success_rate = percent(perf.successful_executions, total);
    perf.error_rate = percent(perf.failed_executions + perf.timeout_executions, total);
    perf.avg_duration_ms = mean_ms(perf.duration_sum_us, total);
    perf.p50_duration_ms = coverage::histogram_percentile(&histogram, 50, max_ms);
    perf.p95_duration_ms = coverage::histogram_percentile(&histogram, 95, max_ms);
    perf.p99_duration_ms = coverage::histogram_percentile(&histogram, 99, max_ms);
    Ok(perf)
}

/// Runs `queries/worker_performance_sketch.sql`: the performance of every
/// worker with executions in `window` (or of `worker` only), by name, the
/// whole minutes `span` read from the rollups and sketches (counts exact,
/// percentiles within [`sketch::RELATIVE_ERROR`]).
pub fn sketch_worker_performances(
    conn: &Connection,
    window: TimeWindow,
    span: TimeWindow,
    scope: RunScope,
    worker: Option<&str>,
) -> Result<Vec<WorkerPerformance>, MonitorError> {
    let params = WindowParams::by_id_range(window, scope.id_bounds())
        .and(":sketch_start", span.start_us)
        .and(":sketch_end", span.end_us)
        .and(":run_id", scope.run_id())
        .and(":worker", worker.unwrap_or("").to_string());
    let mut stmt = conn.prepare_cached(sql::queries::WORKER_PERFORMANCE_SKETCH)?;
    let rows = stmt.query_map(params.bind(), |row| {
        let total = get_count(row, "total_executions")?;
        let completed = get_count(row, "completed")?;
        let failed = get_count(row, "failed")?;
        let timeout = get_count(row, "timeout")?;
        let duration_sum_us: i64 = row.get("duration_sum_us")?;
        let ms = |name: &str| -> rusqlite::Result<f64> {
            Ok(row
                .get::<_, Option<f64>>(name)?
                .map_or(0.0, |us| us / 1000.0))
        };
        Ok(WorkerPerformance {
            worker: row.get("worker")?,
            total_executions: total,
            successful_executions: completed,
            failed_executions: failed,
            timeout_executions: timeout,
            cancelled_executions: get_count(row, "cancelled")?,
            success_rate: percent(completed, total),
            error_rate: percent(failed + timeout, total),
            avg_duration_ms: mean_ms(duration_sum_us, total),
            duration_sum_us,
            p50_duration_ms: ms("p50_duration_us")?,
            p95_duration_ms: ms("p95_duration_us")?,
            p99_duration_ms: ms("p99_duration_us")?,
            last_execution_at_us: row.get("last_finished_us")?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Runs `queries/worker_performance.sql`: one worker's executions over
/// `window` for the runs in `scope` from the raw events alone, whatever
/// retention deleted (exact percentiles). An unknown worker is
/// [`MonitorError::UnknownWorker`]; a known one without executions gives
/// zeros.
pub fn raw_worker_performance(
    conn: &Connection,
    worker: &str,
    window: TimeWindow,
    scope: RunScope,
) -> Result<WorkerPerformance, MonitorError> {
    let params =
        WindowParams::by_id_range(window, scope.id_bounds()).and(":worker", worker.to_string());
    let mut stmt = conn.prepare_cached(sql::queries::WORKER_PERFORMANCE)?;
    let (known, perf) = stmt.query_row(params.bind(), |row| {
        let total = get_count(row, "total_executions")?;
        let completed = get_count(row, "completed")?;
        let failed = get_count(row, "failed")?;
        let timeout = get_count(row, "timeout")?;
        let ms = |name: &str| -> rusqlite::Result<f64> {
            Ok(row.get::<_, Option<i64>>(name)?.map_or(0.0, us_to_ms))
        };
        Ok((
            row.get::<_, i64>("worker_known")? > 0,
            WorkerPerformance {
                worker: worker.to_string(),
                total_executions: total,
                successful_executions: completed,
                failed_executions: failed,
                timeout_executions: timeout,
                cancelled_executions: get_count(row, "cancelled")?,
                success_rate: percent(completed, total),
                error_rate: percent(failed + timeout, total),
                avg_duration_ms: mean_ms(row.get("duration_sum_us")?, total),
                duration_sum_us: row.get("duration_sum_us")?,
                p50_duration_ms: ms("p50_duration_us")?,
                p95_duration_ms: ms("p95_duration_us")?,
                p99_duration_ms: ms("p99_duration_us")?,
                last_execution_at_us: row.get("last_finished_us")?,
            },
        ))
    })?;
    if !known {
        return Err(MonitorError::UnknownWorker {
            worker: worker.to_string(),
        });
    }
    Ok(perf)
}
