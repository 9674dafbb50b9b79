//! The event monitor: what happened to events over a window, the stages of
//! one transaction, and the errors grouped by type.
//!
//! Definitions (the same in every function and SQL file here): an event is a
//! command (one attempt of one step) or a compensation; it counts in a window
//! when its terminal stage — completed, failed, timeout or cancelled — lies
//! inside the window. success = completed; error = failed + timeout;
//! cancelled counts in the total but in neither rate, because a cancellation
//! is the caller's decision, neither the worker's success nor its failure.

use std::collections::BTreeMap;

use rusqlite::{Connection, named_params};
use serde::Serialize;

use super::coverage;
use super::error::MonitorError;
use super::figures::{get_count, mean_ms, percent, us_to_ms};
use super::performance::worker_id;
use super::scope::{RunScope, WindowParams};
use super::sketch::{self, Precision};
use crate::sql;
use crate::store::Store;
use crate::window::TimeWindow;

/// Fields of [`EventMetrics`] estimated from histograms when a window is
/// read partly from rollups.
pub const APPROXIMATE_EVENT_FIELDS: &[&str] = &["p95_latency_ms"];

/// Event types, listed in output even when zero so that a dashboard or a
/// JSON consumer always finds every key.
const EVENT_TYPES: [&str; 2] = ["command", "compensation"];
/// Terminal statuses, listed in output even when zero.
const TERMINAL_STATUSES: [&str; 4] = ["completed", "failed", "timeout", "cancelled"];

/// `get_event_metrics`: events that reached a terminal stage in a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventMetrics {
    /// Events whose terminal stage lies in the window.
    pub total_events: u64,
    /// Those events by type (`command`, `compensation`).
    pub events_by_type: BTreeMap<String, u64>,
    /// Those events by terminal status (`completed`, `failed`, `timeout`,
    /// `cancelled`).
    pub events_by_status: BTreeMap<String, u64>,
    /// completed / total × 100.
    pub success_rate: f64,
    /// (failed + timeout) / total × 100.
    pub error_rate: f64,
    /// Mean dispatch → terminal time, milliseconds.
    pub avg_latency_ms: f64,
    /// Nearest-rank 95th percentile of dispatch → terminal time, milliseconds.
    pub p95_latency_ms: f64,
    /// total / window length in minutes.
    pub throughput_per_minute: f64,
    /// Events that ended in the busiest calendar minute overlapping the
    /// window.
    pub peak_throughput: u64,
}

/// Whole-window event figures from the per-minute rollups: the counts and
/// averages of [`EventMetrics`] without reading raw events (and without the
/// percentile, which rollups cannot give exactly).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventSummary {
    /// Events that ended in the window's minutes.
    pub total_events: u64,
    /// By type.
    pub events_by_type: BTreeMap<String, u64>,
    /// By terminal status.
    pub events_by_status: BTreeMap<String, u64>,
    /// completed / total × 100.
    pub success_rate: f64,
    /// (failed + timeout) / total × 100.
    pub error_rate: f64,
    /// Mean dispatch → terminal time, milliseconds.
    pub avg_latency_ms: f64,
    /// total / window length in minutes.
    pub throughput_per_minute: f64,
    /// Events that ended in the busiest minute.
    pub peak_throughput: u64,
}

/// One stage of a transaction trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceStage {
    /// When, as ISO-8601 UTC with microseconds (as [`crate::clock::format_iso`]).
    pub timestamp: String,
    /// `command`, `compensation`, or `workflow` for the workflow's own status
    /// changes.
    pub event_type: String,
    /// `dispatched`, `picked_up`, `processing`, a terminal status, or for the
    /// workflow `pending`, `running`, `compensating` and its terminal state.
    pub stage: String,
    /// The worker, for event stages.
    pub worker: Option<String>,
    /// The step, for event stages.
    pub step: Option<String>,
    /// The event's id, for event stages.
    pub event_id: Option<i64>,
    /// When, in microseconds since the epoch.
    pub at_us: i64,
}

/// Errors of one type over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorPattern {
    /// The error's type: the text before the first ':' of the message, or the
    /// status (`failed`, `timeout`) when none was recorded.
    pub error_type: String,
    /// How many events ended with this error type.
    pub count: u64,
    /// The workers that raised it, sorted.
    pub workers: Vec<String>,
    /// The first occurrence in the window, ISO-8601.
    pub first_seen: String,
    /// The last occurrence in the window, ISO-8601.
    pub last_seen: String,
    /// The message of the most recent occurrence.
    pub example: Option<String>,
    /// The transaction of the most recent occurrence.
    pub example_transaction: Option<String>,
    /// `first_seen` in microseconds.
    pub first_seen_us: i64,
    /// `last_seen` in microseconds.
    pub last_seen_us: i64,
}

/// The counts both event queries return, before rates are derived.
struct EventCounts {
    total: u64,
    commands: u64,
    compensations: u64,
    completed: u64,
    failed: u64,
    timeout: u64,
    cancelled: u64,
    latency_sum_us: i64,
    latency_max_us: Option<i64>,
    peak_per_minute: u64,
}

impl EventCounts {
    /// The counts of two disjoint parts of a window together (their
    /// minutes never overlap, so the busier minute is the peak).
    fn add(&mut self, other: &EventCounts) {
        self.total += other.total;
        self.commands += other.commands;
        self.compensations += other.compensations;
        self.completed += other.completed;
        self.failed += other.failed;
        self.timeout += other.timeout;
        self.cancelled += other.cancelled;
        self.latency_sum_us += other.latency_sum_us;
        self.latency_max_us = self.latency_max_us.max(other.latency_max_us);
        self.peak_per_minute = self.peak_per_minute.max(other.peak_per_minute);
    }

    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(EventCounts {
            total: get_count(row, "total_events")?,
            commands: get_count(row, "commands")?,
            compensations: get_count(row, "compensations")?,
            completed: get_count(row, "completed")?,
            failed: get_count(row, "failed")?,
            timeout: get_count(row, "timeout")?,
            cancelled: get_count(row, "cancelled")?,
            latency_sum_us: row.get("latency_sum_us")?,
            latency_max_us: row.get("latency_max_us")?,
            peak_per_minute: get_count(row, "peak_per_minute")?,
        })
    }

    fn by_type(&self) -> BTreeMap<String, u64> {
        EVENT_TYPES
            .iter()
            .zip([self.commands, self.compensations])
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    fn by_status(&self) -> BTreeMap<String, u64> {
        TERMINAL_STATUSES
            .iter()
            .zip([self.completed, self.failed, self.timeout, self.cancelled])
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    fn success_rate(&self) -> f64 {
        percent(self.completed, self.total)
    }

    fn error_rate(&self) -> f64 {
        percent(self.failed + self.timeout, self.total)
    }

    fn throughput_per_minute(&self, window: TimeWindow) -> f64 {
        // In i128: the all-time window spans the whole i64 range, whose
        // length overflows i64.
        let minutes = (i128::from(window.end_us) - i128::from(window.start_us)) as f64 / 60e6;
        if minutes > 0.0 {
            self.total as f64 / minutes
        } else {
            0.0
        }
    }

    /// The metrics of `window` from these counts and the p95 latency (ms).
    fn metrics(&self, window: TimeWindow, p95_latency_ms: f64) -> EventMetrics {
        EventMetrics {
            total_events: self.total,
            events_by_type: self.by_type(),
            events_by_status: self.by_status(),
            success_rate: self.success_rate(),
            error_rate: self.error_rate(),
            avg_latency_ms: mean_ms(self.latency_sum_us, self.total),
            p95_latency_ms,
            throughput_per_minute: self.throughput_per_minute(window),
            peak_throughput: self.peak_per_minute,
        }
    }
}

/// Event metrics over `window` for the runs in `scope`: from the raw events
/// (`queries/event_metrics.sql`), and for the part of the window whose raw
/// events retention deleted from the per-minute rollups, with the p95
/// latency then estimated from the latency histograms (see
/// [`super::coverage`]; [`APPROXIMATE_EVENT_FIELDS`]).
pub fn event_metrics(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
) -> Result<EventMetrics, MonitorError> {
    event_metrics_with(conn, window, scope, Precision::Auto)
}

/// [`event_metrics`], reading long windows from the rollups and sketches
/// under [`Precision::Auto`] (`queries/event_metrics_sketch.sql`, see
/// [`sketch`]: the p95 latency within [`sketch::RELATIVE_ERROR`]) or every
/// raw row under [`Precision::Exact`].
pub fn event_metrics_with(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
    precision: Precision,
) -> Result<EventMetrics, MonitorError> {
    let marks = coverage::watermarks(conn, scope)?;
    if let Some(span) = sketch::sketch_span(window, &marks, precision) {
        let params = WindowParams::by_id_range(window, scope.id_bounds())
            .and(":sketch_start", span.start_us)
            .and(":sketch_end", span.end_us)
            .and(":run_id", scope.run_id());
        let (counts, p95_us) = conn
            .prepare_cached(sql::queries::EVENT_METRICS_SKETCH)?
            .query_row(params.bind(), |row| {
                Ok((
                    EventCounts::from_row(row)?,
                    row.get::<_, Option<f64>>("p95_latency_us")?,
                ))
            })?;
        return Ok(counts.metrics(window, p95_us.map_or(0.0, |us| us / 1000.0)));
    }
    let split = marks.split(window);
    let Some(rolled) = split.rollups else {
        return raw_event_metrics(conn, window, scope);
    };
    let rolled_params = WindowParams::by_run_id(rolled, scope.run_id());
    let mut counts = conn
        .prepare_cached(sql::queries::EVENT_SUMMARY_ROLLUPS)?
        .query_row(rolled_params.bind(), EventCounts::from_row)?;
    let mut histogram: Vec<(i64, u64)> = conn
        .prepare_cached(sql::queries::EVENT_LATENCY_HISTOGRAM_ROLLUPS)?
        .query_map(rolled_params.bind(), |row| {
            Ok((row.get(0)?, get_count(row, "count")?))
        })?
        .collect::<Result<_, _>>()?;
    if let Some(raw) = split.raw {
        let (raw_counts, _) = raw_counts(conn, raw, scope)?;
        counts.add(&raw_counts);
        let raw_histogram = conn
            .prepare_cached(sql::queries::EVENT_LATENCY_HISTOGRAM_EVENTS)?
            .query_map(
                WindowParams::by_id_range(raw, scope.id_bounds()).bind(),
                |row| Ok((row.get::<_, i64>(0)?, get_count(row, "count")?)),
            )?
            .collect::<Result<Vec<_>, _>>()?;
        histogram.extend(raw_histogram);
    }
    let max_ms = counts.latency_max_us.map_or(0.0, us_to_ms);
    Ok(counts.metrics(
        window,
        coverage::histogram_percentile(&histogram, 95, max_ms),
    ))
}

/// Runs `queries/event_metrics.sql`: exact event metrics over `window` from
/// the raw events alone, whatever retention deleted.
pub fn raw_event_metrics(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
) -> Result<EventMetrics, MonitorError> {
    let (counts, p95_us) = raw_counts(conn, window, scope)?;
    Ok(counts.metrics(window, p95_us.map_or(0.0, us_to_ms)))
}

/// The raw counts and exact p95 (µs) of `queries/event_metrics.sql`.
fn raw_counts(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
) -> Result<(EventCounts, Option<i64>), MonitorError> {
    let mut stmt = conn.prepare_cached(sql::queries::EVENT_METRICS)?;
    let (counts, p95_us) = stmt.query_row(
        WindowParams::by_id_range(window, scope.id_bounds()).bind(),
        |row| {
            Ok((
                EventCounts::from_row(row)?,
                row.get::<_, Option<i64>>("p95_latency_us")?,
            ))
        },
    )?;
    Ok((counts, p95_us))
}

/// Runs `queries/event_summary_rollups.sql`: the counts and averages of
/// [`event_metrics`] from the per-minute rollups, for long windows.
///
/// Exact when both ends of `window` are minute-aligned (minutes are counted
/// when their start lies in the window). Rollup rows carry their run, so
/// `scope` selects one run's; they outlive raw events, so this still answers
/// after retention has deleted them.
pub fn event_summary_from_rollups(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
) -> Result<EventSummary, MonitorError> {
    let mut stmt = conn.prepare_cached(sql::queries::EVENT_SUMMARY_ROLLUPS)?;
    let counts = stmt.query_row(
        WindowParams::by_run_id(window, scope.run_id()).bind(),
        EventCounts::from_row,
    )?;
    Ok(EventSummary {
        total_events: counts.total,
        events_by_type: counts.by_type(),
        events_by_status: counts.by_status(),
        success_rate: counts.success_rate(),
        error_rate: counts.error_rate(),
        avg_latency_ms: mean_ms(counts.latency_sum_us, counts.total),
        throughput_per_minute: counts.throughput_per_minute(window),
        peak_throughput: counts.peak_per_minute,
    })
}

/// Runs `queries/transaction_trace.sql`: every stage of one transaction, in
/// order. An unknown id is [`MonitorError::UnknownTransaction`].
pub fn transaction_trace(
    conn: &Connection,
    transaction_id: &str,
) -> Result<Vec<TraceStage>, MonitorError> {
    let mut stmt = conn.prepare_cached(sql::queries::TRANSACTION_TRACE)?;
    let stages = stmt
        .query_map(named_params! { ":transaction_id": transaction_id }, |row| {
            Ok(TraceStage {
                timestamp: row.get("timestamp")?,
                event_type: row.get("event_type")?,
                stage: row.get("stage")?,
                worker: row.get("worker")?,
                step: row.get("step")?,
                event_id: row.get("event_id")?,
                at_us: row.get("at_us")?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    // A known transaction always has its pending stage.
    if stages.is_empty() {
        return Err(MonitorError::UnknownTransaction {
            transaction_id: transaction_id.to_string(),
        });
    }
    Ok(stages)
}

/// Runs `queries/error_patterns.sql`: errors over `window` grouped by type,
/// most frequent first, for every worker or for `worker` only. A worker name
/// that was never recorded is [`MonitorError::UnknownWorker`] rather than an
/// empty list, so a typo is not mistaken for a clean bill of health.
pub fn error_patterns(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
    worker: Option<&str>,
) -> Result<Vec<ErrorPattern>, MonitorError> {
    error_patterns_with(conn, window, scope, worker, Precision::Auto)
}

/// [`error_patterns`], reading the whole minutes of long windows from the
/// per-minute error rollups under [`Precision::Auto`]
/// (`queries/error_patterns_rollups.sql`: exact, and still there after
/// retention deleted the raw rows), or every raw row under
/// [`Precision::Exact`].
pub fn error_patterns_with(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
    worker: Option<&str>,
    precision: Precision,
) -> Result<Vec<ErrorPattern>, MonitorError> {
    if let Some(name) = worker {
        worker_id(conn, name)?;
    }
    // The SQL file's convention: '' selects every worker.
    let params = WindowParams::by_id_range(window, scope.id_bounds())
        .and(":worker", worker.unwrap_or("").to_string());
    let marks = coverage::watermarks(conn, scope)?;
    let (sql, params) = match sketch::sketch_span(window, &marks, precision) {
        Some(span) => (
            sql::queries::ERROR_PATTERNS_ROLLUPS,
            params
                .and(":rollup_start", span.start_us)
                .and(":rollup_end", span.end_us)
                .and(":run_id", scope.run_id()),
        ),
        None => (sql::queries::ERROR_PATTERNS, params),
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt
        .query_map(params.bind(), |row| {
            Ok((
                ErrorPattern {
                    error_type: row.get("error_type")?,
                    count: get_count(row, "count")?,
                    workers: Vec::new(),
                    first_seen: row.get("first_seen")?,
                    last_seen: row.get("last_seen")?,
                    example: row.get("example")?,
                    example_transaction: row.get("example_transaction")?,
                    first_seen_us: row.get("first_seen_us")?,
                    last_seen_us: row.get("last_seen_us")?,
                },
                row.get::<_, String>("workers")?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(mut pattern, workers_json)| {
            let mut workers: Vec<String> = serde_json::from_str(&workers_json)?;
            workers.sort();
            pattern.workers = workers;
            Ok(pattern)
        })
        .collect()
}

/// The event monitor of the seed: event metrics, traces and error patterns
/// from a store's pooled readers, within one [`RunScope`].
///
/// Synchronous: each call takes milliseconds; see the module docs of
/// [`crate::monitor`] for async callers.
///
/// Asked of the file alone once a run has ended (another process can do
/// the same while it runs; a [`Session`](crate::session::Session) hands one
/// out scoped to its own run):
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
/// use multiagents::monitor::{EventMonitor, RunScope};
/// use multiagents::store::Store;
/// use multiagents::window::TimeWindow;
///
/// let monitor = EventMonitor::new(Store::open_existing(&db)?).with_scope(RunScope::Run(run_id));
/// let metrics = monitor.get_event_metrics(TimeWindow::last_minutes(5.0))?;
/// assert_eq!((metrics.total_events, metrics.success_rate), (1, 100.0));
/// let trace = monitor.get_transaction_trace(&id)?;
/// assert!(trace.iter().any(|stage| stage.stage == "completed"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct EventMonitor {
    store: Store,
    scope: RunScope,
    precision: Precision,
}

impl EventMonitor {
    /// A monitor over every run in the store.
    pub fn new(store: Store) -> Self {
        EventMonitor {
            store,
            scope: RunScope::AllRuns,
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

    /// The runs this monitor looks at.
    pub fn scope(&self) -> RunScope {
        self.scope
    }

    /// Event metrics over `window` (see [`event_metrics`]).
    pub fn get_event_metrics(&self, window: TimeWindow) -> Result<EventMetrics, MonitorError> {
        event_metrics_with(&*self.store.reader()?, window, self.scope, self.precision)
    }

    /// Counts and averages over a long `window` from the per-minute rollups
    /// (see [`event_summary_from_rollups`]).
    pub fn get_event_summary(&self, window: TimeWindow) -> Result<EventSummary, MonitorError> {
        event_summary_from_rollups(&*self.store.reader()?, window, self.scope)
    }

    /// Every stage of one transaction, in order (see [`transaction_trace`]).
    /// Transaction ids are unique across runs, so the scope does not apply.
    pub fn get_transaction_trace(
        &self,
        transaction_id: &str,
    ) -> Result<Vec<TraceStage>, MonitorError> {
        transaction_trace(&*self.store.reader()?, transaction_id)
    }

    /// Errors over `window` grouped by type, for every worker (`None`) or
    /// one (see [`error_patterns`]).
    pub fn get_error_patterns(
        &self,
        window: TimeWindow,
        worker: Option<&str>,
    ) -> Result<Vec<ErrorPattern>, MonitorError> {
        error_patterns_with(
            &*self.store.reader()?,
            window,
            self.scope,
            worker,
            self.precision,
        )
    }
}
