//! Monitoring questions answered in SQL: event metrics, transaction traces,
//! error patterns ([`event`]); one worker's performance ([`performance`]),
//! its health ([`health`]) and the worker monitor across workers
//! ([`worker`]); workflow outcomes ([`outcomes`]); per-worker totals,
//! histograms and throughput per minute ([`totals`]); summaries from the
//! per-minute rollups ([`rollups`]) and where they take over from raw rows
//! ([`coverage`]); throughput, error rate and latency over time
//! ([`series`]); machine and process samples ([`system`]); custom
//! counters, gauges, histograms and business rollups ([`custom`]); alert
//! rules, their fire-once/resolve state machine and notification hooks
//! ([`alerts`]); what each worker host did ([`hosts`]); one worker's
//! latest executions ([`executions`]). One error type,
//! [`MonitorError`], for all of them.
//!
//! Every question is one file in `queries/` (runnable as-is in the sqlite3
//! shell with named parameters, embedded by [`crate::sql`]) and one typed
//! function beside it that takes a `&rusqlite::Connection` — a pooled
//! reader, or a connection inside a transaction — binds the parameters
//! ([`scope`]) and maps the rows to a struct. The monitors
//! ([`EventMonitor`], [`WorkerMonitor`]) wrap those functions with a
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
//! - run scoping is an id range `[:run_first, :run_last]` for raw events and
//!   workflows (row ids are `(run_id << 40) | sequence`, see
//!   [`IdAllocator::run_range`](crate::store::IdAllocator::run_range)); all
//!   runs is the whole `i64` range ([`RunScope::id_bounds`]); tables that
//!   carry a `run_id` column take `:run_id`, NULL for all runs;
//! - rates are percentages 0–100, durations milliseconds, averages over
//!   executions, percentiles nearest-rank, and an empty window gives zeros
//!   (every definition, and the Prometheus exception, in `docs/figures.md`).

pub mod alerts;
pub mod coverage;
pub mod custom;
pub mod error;
pub mod event;
pub mod executions;
pub mod figures;
pub mod health;
pub mod hosts;
pub mod outcomes;
pub mod performance;
pub mod rollups;
pub mod scope;
pub mod series;
pub mod sketch;
pub mod system;
pub mod totals;
pub mod worker;

pub use error::MonitorError;
pub use event::{ErrorPattern, EventMetrics, EventMonitor, EventSummary, TraceStage};
pub use health::{
    HealthStatus, HealthThresholds, HealthTracker, Transition, WorkerHealth, evaluate_health,
    evaluate_health_all,
};
pub use performance::WorkerPerformance;
pub use rollups::AggregatedMetrics;
pub use scope::{ALL_TIME, RunScope};
pub use sketch::Precision;
pub use worker::{ProblemWorker, RankedWorker, WorkerMonitor, WorkerPerformanceSummary};
