//! The worker monitor: per-worker performance over a window, the tracked
//! workers, a summary across workers, and health.
//!
//! An execution is one call of a worker that ended in the window — every
//! event of the worker, commands and compensations alike. A compensation
//! worker's calls are its executions, and its failures matter as much (a
//! refund that fails is worth an alert); counting every event also keeps the
//! queries on the covering index `events_by_worker_finish`, which holds no
//! event type. success = completed; error = failed + timeout; cancelled
//! counts in the total only.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, named_params};
use serde::Serialize;

use super::health::{self, HealthStatus, HealthThresholds, WorkerHealth};
use super::{ALL_TIME, MonitorError, RunScope, get_count, mean_ms, percent, us_to_ms};
use crate::clock;
use crate::store::Store;
use crate::window::TimeWindow;

/// `queries/worker_performance.sql`.
pub const WORKER_PERFORMANCE_SQL: &str = include_str!("../../queries/worker_performance.sql");
/// `queries/tracked_workers.sql`.
pub const TRACKED_WORKERS_SQL: &str = include_str!("../../queries/tracked_workers.sql");
/// `queries/worker_id.sql`.
pub const WORKER_ID_SQL: &str = include_str!("../../queries/worker_id.sql");

/// How many workers [`WorkerPerformanceSummary::top_performers`] lists.
pub const TOP_PERFORMERS: usize = 3;

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

/// Figures across the workers of a summary.
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

/// A worker in the top performers list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankedWorker {
    /// The worker.
    pub worker: String,
    /// Its success rate, percent.
    pub success_rate: f64,
    /// Its mean duration, milliseconds.
    pub avg_duration_ms: f64,
    /// Its executions in the window.
    pub total_executions: u64,
}

/// A worker whose window breaks a health threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProblemWorker {
    /// The worker.
    pub worker: String,
    /// `degraded` or `failing`.
    pub status: HealthStatus,
    /// Sentences naming each value and its threshold.
    pub issues: Vec<String>,
    /// Its error rate, percent.
    pub error_rate: f64,
    /// Its p95 duration, milliseconds.
    pub p95_duration_ms: f64,
}

/// `get_worker_performance_summary`: every worker with executions in a
/// window, ranked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerPerformanceSummary {
    /// Figures across workers.
    pub aggregated_metrics: AggregatedMetrics,
    /// Up to [`TOP_PERFORMERS`] workers without problems, by success rate
    /// (highest first), then mean duration (lowest first), then name.
    pub top_performers: Vec<RankedWorker>,
    /// Workers whose error rate or p95 duration breaks a threshold (the
    /// health rules without inactivity: every worker here was active), in
    /// name order.
    pub problem_workers: Vec<ProblemWorker>,
    /// Each worker's performance, by name.
    pub workers: BTreeMap<String, WorkerPerformance>,
}

/// Runs `queries/worker_id.sql`: the worker's row id, or
/// [`MonitorError::UnknownWorker`].
pub fn worker_id(conn: &Connection, worker: &str) -> Result<i64, MonitorError> {
    conn.prepare_cached(WORKER_ID_SQL)?
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
/// rollups (see [`super::coverage`]): counts, rates and the mean add up
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
    let split = super::coverage::watermarks(conn, scope)?.split(window);
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
        (raw, crate::export::queries::Source::Events { first, last })
    });
    let rollup_source = crate::export::queries::Source::Rollups {
        run_id: scope.run_id(),
    };
    let mut histogram: Vec<(i64, u64)> = Vec::new();
    for (part, source) in [Some((rolled, rollup_source)), source_raw]
        .into_iter()
        .flatten()
    {
        for b in crate::export::queries::worker_histograms(conn, part, source)? {
            if b.worker == worker {
                histogram.push((b.le_ms, b.count));
            }
        }
    }
    let summary = super::rollups::worker_summary_from_rollups(conn, rolled, scope)?;
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
    perf.p50_duration_ms = super::coverage::histogram_percentile(&histogram, 50, max_ms);
    perf.p95_duration_ms = super::coverage::histogram_percentile(&histogram, 95, max_ms);
    perf.p99_duration_ms = super::coverage::histogram_percentile(&histogram, 99, max_ms);
    Ok(perf)
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
    let (run_first, run_last) = scope.id_bounds();
    let mut stmt = conn.prepare_cached(WORKER_PERFORMANCE_SQL)?;
    let (known, perf) = stmt.query_row(
        named_params! {
            ":worker": worker,
            ":window_start": window.start_us,
            ":window_end": window.end_us,
            ":run_first": run_first,
            ":run_last": run_last,
        },
        |row| {
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
        },
    )?;
    if !known {
        return Err(MonitorError::UnknownWorker {
            worker: worker.to_string(),
        });
    }
    Ok(perf)
}

/// Names of the workers with executions ending in `window` (use
/// [`ALL_TIME`] for any time), sorted: from the raw events
/// (`queries/tracked_workers.sql`), and from the rollups for the part of the
/// window whose raw events retention deleted.
pub fn tracked_workers(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
) -> Result<Vec<String>, MonitorError> {
    let mut names = raw_tracked_workers(conn, window, scope)?;
    if let Some(rolled) = super::coverage::watermarks(conn, scope)?
        .split(window)
        .rollups
    {
        let summary = super::rollups::worker_summary_from_rollups(conn, rolled, scope)?;
        names.extend(summary.workers.into_keys());
        names.sort();
        names.dedup();
    }
    Ok(names)
}

/// Runs `queries/tracked_workers.sql`: the workers with raw executions
/// ending in `window`, sorted.
fn raw_tracked_workers(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
) -> Result<Vec<String>, MonitorError> {
    let (run_first, run_last) = scope.id_bounds();
    let mut stmt = conn.prepare_cached(TRACKED_WORKERS_SQL)?;
    let names = stmt
        .query_map(
            named_params! {
                ":window_start": window.start_us,
                ":window_end": window.end_us,
                ":run_first": run_first,
                ":run_last": run_last,
            },
            |row| row.get(0),
        )?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(names)
}

/// The performance of every worker with executions in `window`, aggregated
/// and ranked; problems judged by `thresholds`.
///
/// One [`worker_performance`] query per tracked worker: each is an index
/// range, and the exact percentiles need the per-worker sort anyway.
pub fn worker_performance_summary(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
    thresholds: &HealthThresholds,
) -> Result<WorkerPerformanceSummary, MonitorError> {
    let mut workers = BTreeMap::new();
    for name in tracked_workers(conn, window, scope)? {
        let perf = worker_performance(conn, &name, window, scope)?;
        workers.insert(name, perf);
    }
    let active: Vec<&WorkerPerformance> = workers
        .values()
        .filter(|p| p.total_executions > 0)
        .collect();
    let n = active.len();
    let mean = |f: fn(&WorkerPerformance) -> f64| {
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
        average_duration_ms: mean_ms(
            active.iter().map(|p| p.duration_sum_us).sum(),
            total_commands,
        ),
        active_workers: n as u64,
    };
    let mut problem_workers = Vec::new();
    let mut good = Vec::new();
    for perf in &active {
        let (status, issues) = health::judge_performance(perf, thresholds);
        if status == HealthStatus::Healthy {
            good.push(*perf);
        } else {
            problem_workers.push(ProblemWorker {
                worker: perf.worker.clone(),
                status,
                issues,
                error_rate: perf.error_rate,
                p95_duration_ms: perf.p95_duration_ms,
            });
        }
    }
    good.sort_by(|a, b| {
        b.success_rate
            .total_cmp(&a.success_rate)
            .then(a.avg_duration_ms.total_cmp(&b.avg_duration_ms))
            .then(a.worker.cmp(&b.worker))
    });
    let top_performers = good
        .into_iter()
        .take(TOP_PERFORMERS)
        .map(|p| RankedWorker {
            worker: p.worker.clone(),
            success_rate: p.success_rate,
            avg_duration_ms: p.avg_duration_ms,
            total_executions: p.total_executions,
        })
        .collect();
    Ok(WorkerPerformanceSummary {
        aggregated_metrics,
        top_performers,
        problem_workers,
        workers,
    })
}

/// The worker monitor of the seed: performance, tracked workers, summary and
/// health from a store's pooled readers, within one [`RunScope`] and judged by
/// one set of [`HealthThresholds`].
///
/// Synchronous: each call takes milliseconds; see the module docs of
/// [`crate::monitor`] for async callers.
///
/// Asked of the file alone once a run has ended (a
/// [`Session`](crate::session::Session) hands one out scoped to its run and
/// judging by its configuration's thresholds):
///
/// ```
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use multiagents::{config::MonitoringConfig, session::Session, store::RunInfo};
/// # use multiagents::{worker::{Context, WorkerRegistry}, workflow::WorkflowBuilder};
/// # let dir = tempfile::tempdir()?;
/// # let db = dir.path().join("run.db");
/// # let mut workers = WorkerRegistry::new();
/// # workers.register("echo", |ctx: Context| async move {
/// #     Ok(serde_json::json!({ "echo": ctx.get_str("x") }))
/// # });
/// # let config = MonitoringConfig::default();
/// # let run = RunInfo::from_env("{}".into());
/// # let session = Session::start(&db, config, workers, run).await?;
/// # let wf = WorkflowBuilder::new("w").step("echo", "echo").build()?;
/// # session.orchestrator().register_workflow(wf)?;
/// # let input = serde_json::json!({ "x": "1" });
/// # let id = session.orchestrator().execute_workflow("w", input).await?;
/// # session.orchestrator().wait(&id).await?;
/// # let run_id = session.run_id();
/// # session.shutdown().await?;
/// use multiagents::monitor::{HealthStatus, RunScope, WorkerMonitor};
/// use multiagents::store::Store;
/// use multiagents::window::TimeWindow;
///
/// let monitor = WorkerMonitor::new(Store::open_existing(&db)?).with_scope(RunScope::Run(run_id));
/// let window = TimeWindow::last_minutes(5.0);
/// let echo = monitor.get_worker_performance("echo", window)?;
/// assert_eq!((echo.total_executions, echo.success_rate), (1, 100.0));
/// let health = monitor.check_worker_health("echo")?;
/// assert_ne!(health.status, HealthStatus::Failing);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct WorkerMonitor {
    store: Store,
    scope: RunScope,
    thresholds: HealthThresholds,
}

impl WorkerMonitor {
    /// A monitor over every run in the store with the default (seed)
    /// thresholds.
    pub fn new(store: Store) -> Self {
        WorkerMonitor {
            store,
            scope: RunScope::AllRuns,
            thresholds: HealthThresholds::default(),
        }
    }

    /// The same monitor restricted to `scope`.
    pub fn with_scope(mut self, scope: RunScope) -> Self {
        self.scope = scope;
        self
    }

    /// The same monitor judging health by `thresholds` (from configuration).
    pub fn with_thresholds(mut self, thresholds: HealthThresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    /// The thresholds health is judged by.
    pub fn thresholds(&self) -> &HealthThresholds {
        &self.thresholds
    }

    /// One worker's performance over `window` (see [`worker_performance`]).
    pub fn get_worker_performance(
        &self,
        worker: &str,
        window: TimeWindow,
    ) -> Result<WorkerPerformance, MonitorError> {
        worker_performance(&*self.store.reader()?, worker, window, self.scope)
    }

    /// Workers with executions ending in `window`, or at any time when
    /// `None` (see [`tracked_workers`]).
    pub fn get_tracked_workers(
        &self,
        window: Option<TimeWindow>,
    ) -> Result<Vec<String>, MonitorError> {
        tracked_workers(
            &*self.store.reader()?,
            window.unwrap_or(ALL_TIME),
            self.scope,
        )
    }

    /// Every active worker's performance over `window`, aggregated and ranked
    /// (see [`worker_performance_summary`]).
    pub fn get_worker_performance_summary(
        &self,
        window: TimeWindow,
    ) -> Result<WorkerPerformanceSummary, MonitorError> {
        worker_performance_summary(&*self.store.reader()?, window, self.scope, &self.thresholds)
    }

    /// One worker's health now (see [`health`] for the rules).
    pub fn check_worker_health(&self, worker: &str) -> Result<WorkerHealth, MonitorError> {
        self.check_worker_health_at(worker, clock::now_us())
    }

    /// One worker's health as of `at_us`: for offline analysis (the end of a
    /// run) and for tests with a fixed clock.
    pub fn check_worker_health_at(
        &self,
        worker: &str,
        at_us: i64,
    ) -> Result<WorkerHealth, MonitorError> {
        health::evaluate_health(
            &*self.store.reader()?,
            worker,
            at_us,
            &self.thresholds,
            self.scope,
        )
    }

    /// Every tracked worker's health now, by name.
    pub fn get_all_workers_health(&self) -> Result<BTreeMap<String, WorkerHealth>, MonitorError> {
        self.get_all_workers_health_at(clock::now_us())
    }

    /// Every worker's health as of `at_us`, by name: all workers recorded in
    /// the scope (at any time), so a worker that fell silent shows as
    /// inactive instead of disappearing.
    pub fn get_all_workers_health_at(
        &self,
        at_us: i64,
    ) -> Result<BTreeMap<String, WorkerHealth>, MonitorError> {
        let conn = self.store.reader()?;
        let mut out = BTreeMap::new();
        for name in tracked_workers(&conn, ALL_TIME, self.scope)? {
            let h = health::evaluate_health(&conn, &name, at_us, &self.thresholds, self.scope)?;
            out.insert(name, h);
        }
        Ok(out)
    }
}
