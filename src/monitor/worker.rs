//! The worker monitor: the tracked workers, a summary across workers, and
//! their health; one worker's figures are [`super::performance`]'s.
//!
//! An execution is one call of a worker that ended in the window — every
//! event of the worker, commands and compensations alike. A compensation
//! worker's calls are its executions, and its failures matter as much (a
//! refund that fails is worth an alert); counting every event also keeps the
//! queries on the covering index `events_by_worker_finish`, which holds no
//! event type. success = completed; error = failed + timeout; cancelled
//! counts in the total only.

use std::collections::BTreeMap;

use rusqlite::Connection;
use serde::Serialize;

use super::coverage;
use super::error::MonitorError;
use super::figures::mean_ms;
use super::health::{self, HealthStatus, HealthThresholds, WorkerHealth};
use super::performance::{WorkerPerformance, sketch_worker_performances, worker_performance_with};
use super::rollups::{self, AggregatedMetrics};
use super::scope::{ALL_TIME, RunScope, WindowParams};
use super::sketch::{self, Precision};
use crate::clock;
use crate::sql;
use crate::store::Store;
use crate::window::TimeWindow;

/// How many workers [`WorkerPerformanceSummary::top_performers`] lists.
pub const TOP_PERFORMERS: usize = 3;

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
    if let Some(rolled) = coverage::watermarks(conn, scope)?.split(window).rollups {
        let summary = rollups::worker_summary_from_rollups(conn, rolled, scope)?;
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
    let params = WindowParams::by_id_range(window, scope.id_bounds());
    let mut stmt = conn.prepare_cached(sql::queries::TRACKED_WORKERS)?;
    let names = stmt
        .query_map(params.bind(), |row| row.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(names)
}

/// The performance of every worker with executions in `window`, aggregated
/// and ranked; problems judged by `thresholds`.
///
/// A short window (or [`Precision::Exact`]) is one
/// [`worker_performance_with`] query per tracked worker: each is an index
/// range, and the exact percentiles need the per-worker sort anyway. A long
/// one is one sketch query for every worker (see [`sketch`]).
pub fn worker_performance_summary(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
    thresholds: &HealthThresholds,
) -> Result<WorkerPerformanceSummary, MonitorError> {
    worker_performance_summary_with(conn, window, scope, thresholds, Precision::Auto)
}

/// [`worker_performance_summary`] with long windows read from the sketches
/// ([`Precision::Auto`]: one query for every worker, see [`sketch`]) or
/// every raw row ([`Precision::Exact`]).
pub fn worker_performance_summary_with(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
    thresholds: &HealthThresholds,
    precision: Precision,
) -> Result<WorkerPerformanceSummary, MonitorError> {
    let mut workers = BTreeMap::new();
    let marks = coverage::watermarks(conn, scope)?;
    if let Some(span) = sketch::sketch_span(window, &marks, precision) {
        for perf in sketch_worker_performances(conn, window, span, scope, None)? {
            workers.insert(perf.worker.clone(), perf);
        }
    } else {
        for name in tracked_workers(conn, window, scope)? {
            let perf = worker_performance_with(conn, &name, window, scope, precision)?;
            workers.insert(name, perf);
        }
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
    precision: Precision,
}

impl WorkerMonitor {
    /// A monitor over every run in the store with the default (seed)
    /// thresholds.
    pub fn new(store: Store) -> Self {
        WorkerMonitor {
            store,
            scope: RunScope::AllRuns,
            thresholds: HealthThresholds::default(),
            precision: Precision::Auto,
        }
    }

    /// The same monitor reading long windows with `precision` (see
    /// [`sketch`]).
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
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

    /// One worker's performance over `window` (see [`worker_performance_with`]).
    pub fn get_worker_performance(
        &self,
        worker: &str,
        window: TimeWindow,
    ) -> Result<WorkerPerformance, MonitorError> {
        worker_performance_with(
            &*self.store.reader()?,
            worker,
            window,
            self.scope,
            self.precision,
        )
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
        worker_performance_summary_with(
            &*self.store.reader()?,
            window,
            self.scope,
            &self.thresholds,
            self.precision,
        )
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
        let names = tracked_workers(&conn, ALL_TIME, self.scope)?;
        let healths =
            health::evaluate_health_all(&conn, &names, at_us, &self.thresholds, self.scope)?;
        Ok(names.into_iter().zip(healths).collect())
    }
}
