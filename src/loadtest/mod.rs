//! Load testing: start workflows at a steady rate for a while, with a cap
//! on how many are in flight, then report what was achieved — from the
//! database, where the run is recorded like any other and can later be
//! compared with `compare`.
//!
//! The rate is held by a schedule, not by sleeping after each start: start
//! `k` is due at `t0 + k / rps`. A start that is late (the machine was busy,
//! or every concurrency slot was taken) goes as soon as it can, and those
//! after it keep their own due times, so the schedule catches up when it can
//! and the shortfall is measured when it cannot. When all `concurrency`
//! slots are taken, the next start waits for one to free; the report counts
//! those waits and says whether the target rate was missed because of them
//! or because starts simply could not keep up.
//!
//! The computation never prints: progress goes to a callback, the report is
//! a serializable value.

pub mod mix;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

pub use mix::{
    Mix, MixEntry, NOOP_WORKER, NOOP_WORKFLOW, due_offset, load_test_workers, parse_concurrency,
    parse_mix, parse_rps, parse_time_scale, register_load_test_workflows,
};

use crate::clock;
use crate::interrupt::Interrupt;
use crate::monitor::outcomes::{WorkflowOutcome, workflow_outcomes};
use crate::monitor::{EventMetrics, MonitorError, RunScope};
use crate::orchestrator::{Orchestrator, OrchestratorError};
use crate::session::{INTERRUPTED, Session};
use crate::store::{StoreError, WorkflowState};
use crate::window::TimeWindow;
use crate::workload::DemoSettings;

/// Below this share of the target rate, the report says the target was
/// missed.
pub const TARGET_SHARE: f64 = 0.9;

/// How often the progress callback is called.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// How often the live event metrics are read from the database for the
/// progress callback.
pub const LIVE_METRICS_INTERVAL: Duration = Duration::from_secs(1);

/// The window of the live event metrics: the last minute, as the seed's
/// load-test monitor asks.
pub const LIVE_WINDOW: Duration = Duration::from_secs(60);

/// What a load test does.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadTestOptions {
    /// How long workflows are started.
    pub duration: Duration,
    /// Most workflows in flight at once.
    pub concurrency: usize,
    /// Workflows started per second (the target).
    pub rps: f64,
    /// The workflows to draw from.
    pub mix: Mix,
    /// Seed of the mix's choices and of the demo workers; time scale of
    /// their sleeps.
    pub settings: DemoSettings,
    /// How long to wait, after the last start, for workflows in flight.
    pub drain_timeout: Duration,
}

impl Default for LoadTestOptions {
    /// The seed's load test: one minute of simple, parallel and error
    /// workflows at 10 a second (its loop starts 5 every half second).
    fn default() -> Self {
        LoadTestOptions {
            duration: Duration::from_secs(60),
            concurrency: 100,
            rps: 10.0,
            mix: Mix::default(),
            settings: DemoSettings::default(),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Why a load test could not run or report.
#[derive(Debug, thiserror::Error)]
pub enum LoadTestError {
    /// An option is out of range.
    #[error("invalid load test: {0}")]
    Invalid(String),
    /// A workflow could not be registered or started.
    #[error(transparent)]
    Orchestrator(#[from] OrchestratorError),
    /// The report's questions failed.
    #[error(transparent)]
    Monitor(#[from] MonitorError),
    /// Recording failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A task of the load test panicked or was cancelled.
    #[error("load test task failed: {0}")]
    Task(String),
}

impl LoadTestOptions {
    /// Checks what the command line's parsers check, for library callers.
    pub fn validate(&self) -> Result<(), LoadTestError> {
        let bad = |m: &str| Err(LoadTestError::Invalid(m.to_string()));
        if self.duration.is_zero() {
            return bad("the duration must be positive");
        }
        if self.concurrency == 0 {
            return bad("the concurrency must be at least 1");
        }
        if !(mix::MIN_RPS..=mix::MAX_RPS).contains(&self.rps) {
            return bad("the rate must be from 0.001 to 1000000 workflows per second");
        }
        if !(0.0..=mix::MAX_TIME_SCALE).contains(&self.settings.time_scale) {
            return bad("the time scale must be from 0 to 1000");
        }
        if self.duration > crate::window::RUN_RANGE.max {
            return bad("the duration must be at most 30 days");
        }
        if self.drain_timeout > crate::window::RUN_RANGE.max {
            return bad("the drain timeout must be at most 30 days");
        }
        if self.mix.0.is_empty() {
            return bad("the mix names no workflow");
        }
        Ok(())
    }
}

/// Which part of the test is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Starting workflows on schedule.
    Load,
    /// Waiting for the workflows still in flight.
    Drain,
}

/// Live figures for a progress display.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadProgress {
    /// What is running.
    pub phase: Phase,
    /// Since the first start.
    pub elapsed: Duration,
    /// The load phase's length.
    pub duration: Duration,
    /// Workflows started.
    pub started: u64,
    /// Of those, ended (any terminal state).
    pub finished: u64,
    /// Of those, completed.
    pub completed: u64,
    /// Started and not yet ended.
    pub in_flight: u64,
    /// completed / finished × 100 (0 before any ended).
    pub success_rate: f64,
    /// This run's event metrics over the last minute, read from the
    /// database about once a second (`None` until the first read).
    pub recent_events: Option<EventMetrics>,
}

/// How well the schedule was kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SchedulingStats {
    /// Starts that found every concurrency slot taken and waited for one.
    pub starts_waited_for_slot: u64,
    /// Total time starts waited for a slot, milliseconds.
    pub slot_wait_ms_total: f64,
    /// Largest delay of a start behind its due time, milliseconds.
    pub max_start_lag_ms: f64,
    /// Mean delay of a start behind its due time, milliseconds.
    pub mean_start_lag_ms: f64,
    /// Most workflows in flight at once.
    pub max_in_flight: u64,
    /// Times the recorder's queue was full and a workflow waited to record
    /// (nothing is dropped; this is the back-pressure felt).
    pub recorder_waits: u64,
}

/// Why the target rate was not reached.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Shortfall {
    /// Fewer than [`TARGET_SHARE`] of the target starts per second.
    BelowTarget {
        /// Starts per second achieved.
        achieved_rps: f64,
        /// Starts per second asked for.
        target_rps: f64,
        /// Whether concurrency slot waits explain it (otherwise starts could
        /// not keep up: the machine or the recorder was too slow).
        concurrency_limited: bool,
    },
    /// Starts were delayed waiting for a concurrency slot.
    ConcurrencyLimited {
        /// How many starts waited.
        starts_delayed: u64,
        /// How long they waited in total, milliseconds.
        total_wait_ms: f64,
        /// The cap.
        concurrency: usize,
    },
}

impl Shortfall {
    /// One sentence for people.
    pub fn describe(&self) -> String {
        match self {
            Shortfall::BelowTarget {
                achieved_rps,
                target_rps,
                concurrency_limited,
            } => format!(
                "target rate not reached: {achieved_rps:.1}/s achieved of {target_rps:.1}/s ({:.0}%), {}",
                achieved_rps / target_rps * 100.0,
                if *concurrency_limited {
                    "limited by the concurrency cap"
                } else {
                    "starts could not keep up (machine or recorder too slow)"
                }
            ),
            Shortfall::ConcurrencyLimited {
                starts_delayed,
                total_wait_ms,
                concurrency,
            } => format!(
                "{starts_delayed} starts were delayed waiting for a free slot of {concurrency} (for {:.1} s in total); raise --concurrency to hold the rate",
                total_wait_ms / 1000.0
            ),
        }
    }
}

/// Workflow latency percentiles (created → ended), milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LatencyPercentiles {
    /// Mean.
    pub avg_ms: f64,
    /// Nearest-rank median.
    pub p50_ms: f64,
    /// Nearest-rank 95th percentile.
    pub p95_ms: f64,
    /// Nearest-rank 99th percentile.
    pub p99_ms: f64,
    /// Longest.
    pub max_ms: f64,
}

/// What a load test achieved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadTestReport {
    /// The run it was recorded as (`compare --base/--head`).
    pub run_id: i64,
    /// The workflows drawn from (repetitions are weights).
    pub mix: Vec<String>,
    /// Starts per second asked for.
    pub target_rps: f64,
    /// The in-flight cap.
    pub concurrency: usize,
    /// The load phase asked for, seconds.
    pub duration_s: f64,
    /// The load phase as measured (first due start to the end of the
    /// schedule), seconds.
    pub load_phase_s: f64,
    /// Time spent waiting for in-flight workflows afterwards, seconds.
    pub drain_s: f64,
    /// Workflows started.
    pub total_requests: u64,
    /// total_requests / load_phase_s.
    pub achieved_rps: f64,
    /// Ended workflows recorded for this run (from the database).
    pub finished: u64,
    /// Of those, completed.
    pub completed: u64,
    /// Of those, failed.
    pub failed: u64,
    /// Of those, compensated.
    pub compensated: u64,
    /// Of those, cancelled.
    pub cancelled: u64,
    /// Started but not ended when the drain timed out.
    pub unfinished: u64,
    /// completed / finished × 100: the success rate of workflows.
    pub success_rate: f64,
    /// Workflow latency (created → ended) over every finished workflow.
    pub latency: LatencyPercentiles,
    /// Events that ended in the busiest calendar minute of the run
    /// (`get_event_metrics`' peak throughput, events per minute).
    pub peak_throughput_per_minute: u64,
    /// This run's event metrics over the whole test.
    pub events: EventMetrics,
    /// Outcomes per workflow name.
    pub workflows: Vec<WorkflowOutcome>,
    /// How well the schedule was kept.
    pub scheduling: SchedulingStats,
    /// Why the target rate was not reached; empty when it was.
    pub target_missed: Vec<Shortfall>,
    /// Set when the test was stopped early (a signal): why. The figures
    /// are then those of what ran.
    pub interrupted: Option<String>,
    /// Workflows still running when the grace period after the stop ended,
    /// stopped and recorded `cancelled` with the error "interrupted"
    /// (counted in `cancelled`).
    pub stopped_in_flight: u64,
    /// Where the recorded figures come from: raw rows, or partly the
    /// rollups when retention deleted this run's oldest rows while it ran
    /// (the latency percentiles then cover the raw part only).
    pub provenance: Option<crate::monitor::coverage::Provenance>,
}

/// Counters shared between the scheduler, the workflows' waiters and the
/// progress loop.
#[derive(Debug, Default)]
struct Counters {
    started: AtomicU64,
    finished: AtomicU64,
    completed: AtomicU64,
    max_in_flight: AtomicU64,
    /// Ended `cancelled` by the stop after the grace period.
    interrupted: AtomicU64,
}

impl Counters {
    fn in_flight(&self) -> u64 {
        let finished = self.finished.load(Ordering::Relaxed);
        self.started
            .load(Ordering::Relaxed)
            .saturating_sub(finished)
    }
}

/// What the scheduler measured.
#[derive(Debug, Default)]
struct ScheduleOutcome {
    load_phase: Duration,
    drain: Duration,
    unfinished: u64,
    starts_waited: u64,
    slot_wait: Duration,
    max_lag: Duration,
    lag_total: Duration,
    stopped_in_flight: u64,
}

/// Starts workflows on schedule for `options.duration`, then waits for
/// those in flight (up to `options.drain_timeout`).
///
/// An interrupt stops the starts at once; the workflows in flight then get
/// `grace` to finish, and those still running are stopped (recorded
/// `cancelled`, "interrupted").
async fn schedule(
    orchestrator: Orchestrator,
    options: LoadTestOptions,
    counters: Arc<Counters>,
    draining: Arc<std::sync::atomic::AtomicBool>,
    interrupt: Interrupt,
    grace: Duration,
) -> Result<ScheduleOutcome, LoadTestError> {
    let workflows = options.mix.workflows();
    let mut rng = ChaCha8Rng::seed_from_u64(options.settings.seed);
    let slots = Arc::new(Semaphore::new(options.concurrency));
    let mut waiters = JoinSet::new();
    let mut outcome = ScheduleOutcome::default();
    let t0 = Instant::now();
    let end = t0 + options.duration;
    let mut k: u64 = 0;
    loop {
        let due = match t0.checked_add(due_offset(k, options.rps)) {
            Some(due) if due < end && !interrupt.is_triggered() => due,
            _ => break,
        };
        tokio::select! {
            () = tokio::time::sleep_until(due) => {}
            () = interrupt.triggered() => break,
        }
        let permit = match Arc::clone(&slots).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                outcome.starts_waited += 1;
                let from = Instant::now();
                let permit = tokio::select! {
                    permit = Arc::clone(&slots).acquire_owned() => permit,
                    () = tokio::time::sleep_until(end) => {
                        outcome.slot_wait += from.elapsed();
                        break;
                    }
                    () = interrupt.triggered() => {
                        outcome.slot_wait += from.elapsed();
                        break;
                    }
                };
                outcome.slot_wait += from.elapsed();
                permit.map_err(|e| LoadTestError::Task(e.to_string()))?
            }
        };
        let now = Instant::now();
        if now >= end {
            break;
        }
        let lag = now - due;
        outcome.max_lag = outcome.max_lag.max(lag);
        outcome.lag_total += lag;
        let workflow = workflows[rng.random_range(0..workflows.len())];
        let transaction_id = orchestrator
            .execute_workflow(workflow, json!({ "data": format!("load_test_{k}") }))
            .await?;
        let started = counters.started.fetch_add(1, Ordering::Relaxed) + 1;
        let in_flight = started.saturating_sub(counters.finished.load(Ordering::Relaxed));
        counters
            .max_in_flight
            .fetch_max(in_flight, Ordering::Relaxed);
        let waiter_orchestrator = orchestrator.clone();
        let waiter_counters = Arc::clone(&counters);
        waiters.spawn(async move {
            let status = waiter_orchestrator.wait(&transaction_id).await;
            if matches!(&status, Ok(s) if s.state == WorkflowState::Completed) {
                waiter_counters.completed.fetch_add(1, Ordering::Relaxed);
            }
            if matches!(&status, Ok(s) if s.state == WorkflowState::Cancelled
                && s.error.as_deref() == Some(INTERRUPTED))
            {
                waiter_counters.interrupted.fetch_add(1, Ordering::Relaxed);
            }
            waiter_counters.finished.fetch_add(1, Ordering::Relaxed);
            drop(permit);
        });
        // Forget finished waiters as we go, so memory stays flat.
        while waiters.try_join_next().is_some() {}
        k += 1;
    }
    tokio::select! {
        () = tokio::time::sleep_until(end) => {}
        () = interrupt.triggered() => {}
    }
    outcome.load_phase = t0.elapsed();
    draining.store(true, Ordering::Relaxed);
    let drain_start = Instant::now();
    // The drain ends when every workflow has ended, at the drain timeout,
    // or `grace` after an interrupt (which may come during the drain).
    let drained = tokio::select! {
        drained = tokio::time::timeout(options.drain_timeout, async {
            while waiters.join_next().await.is_some() {}
        }) => drained.is_ok(),
        () = async {
            interrupt.triggered().await;
            tokio::time::sleep(grace).await;
        } => false,
    };
    if !drained && interrupt.is_triggered() {
        orchestrator.interrupt_all(INTERRUPTED);
        // Stopped workflows end at once; their ends are recorded before
        // their waiters wake.
        let _ = tokio::time::timeout(STOP_WAIT, async {
            while waiters.join_next().await.is_some() {}
        })
        .await;
    }
    outcome.drain = drain_start.elapsed();
    // Counted by how they ended: one that completed while being stopped
    // is not a stopped one.
    outcome.stopped_in_flight = counters.interrupted.load(Ordering::Relaxed);
    if !waiters.is_empty() {
        outcome.unfinished = waiters.len() as u64;
        waiters.abort_all();
    }
    Ok(outcome)
}

/// How long workflows stopped after the grace period get to record their
/// end before the report counts them as unfinished.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// Runs a load test in `session`, calling `progress` about every
/// [`PROGRESS_INTERVAL`], and reports what was achieved.
///
/// The workers must come from [`load_test_workers`] (the session was started
/// with them); the workflows are registered here.
pub async fn run_load_test(
    session: &Session,
    options: &LoadTestOptions,
    mut progress: impl FnMut(&LoadProgress),
) -> Result<LoadTestReport, LoadTestError> {
    options.validate()?;
    register_load_test_workflows(session.orchestrator())?;
    let counters = Arc::new(Counters::default());
    let draining = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let recorder_waits_before = session.writer().stats().producer_waits;
    let start_us = clock::now_us();
    let started_at = Instant::now();
    let interrupt = session.interrupter().clone();
    let mut scheduler = tokio::spawn(schedule(
        session.orchestrator().clone(),
        options.clone(),
        Arc::clone(&counters),
        Arc::clone(&draining),
        interrupt.clone(),
        session.grace(),
    ));
    let monitor = session.event_monitor();
    // The latest live metrics, written by one blocking query at a time.
    let recent_events: Arc<std::sync::Mutex<Option<EventMetrics>>> = Arc::default();
    let mut live_query: Option<tokio::task::JoinHandle<()>> = None;
    let mut last_query = Instant::now();
    let mut ticker = tokio::time::interval(PROGRESS_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let writer = session.writer().clone();
    let outcome = loop {
        tokio::select! {
            result = &mut scheduler => {
                break result.map_err(|e| LoadTestError::Task(e.to_string()))??;
            }
            // Nothing more can be recorded: stop starting workflows at once
            // (dropping the scheduler drops its waiters) and report the one
            // reason, instead of running on for the whole duration.
            reason = writer.failed() => {
                scheduler.abort();
                return Err(LoadTestError::Store(StoreError::WriterStopped(reason)));
            }
            _ = ticker.tick() => {}
        }
        let idle = live_query.as_ref().is_none_or(|q| q.is_finished());
        if idle && last_query.elapsed() >= LIVE_METRICS_INTERVAL {
            last_query = Instant::now();
            let monitor = monitor.clone();
            let slot = Arc::clone(&recent_events);
            live_query = Some(tokio::task::spawn_blocking(move || {
                let window = TimeWindow::ending_at(clock::now_us(), LIVE_WINDOW);
                // A failed live read leaves the previous figures; the final
                // report asks again and does report errors.
                if let Ok(metrics) = monitor.get_event_metrics(window) {
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(metrics);
                }
            }));
        }
        let recent = recent_events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let started = counters.started.load(Ordering::Relaxed);
        let finished = counters.finished.load(Ordering::Relaxed);
        let completed = counters.completed.load(Ordering::Relaxed);
        progress(&LoadProgress {
            phase: if draining.load(Ordering::Relaxed) {
                Phase::Drain
            } else {
                Phase::Load
            },
            elapsed: started_at.elapsed(),
            duration: options.duration,
            started,
            finished,
            completed,
            in_flight: counters.in_flight(),
            success_rate: crate::monitor::figures::percent(completed, finished),
            recent_events: recent,
        });
    };
    if let Some(query) = live_query {
        // A blocking query cannot be aborted; let it finish.
        let _ = query.await;
    }
    // Every ended workflow is committed (wait reports a terminal state only
    // then); flushing also commits what unfinished ones recorded so far.
    session.writer().flush().await?;
    let total_requests = counters.started.load(Ordering::Relaxed);
    let window = TimeWindow {
        start_us,
        end_us: clock::now_us() + 1,
    };
    let store = session.store().clone();
    let scope = RunScope::Run(session.run_id());
    let (outcomes, events, provenance) = tokio::task::spawn_blocking(move || {
        let conn = store.reader()?;
        // Retention may have deleted this run's oldest rows while it ran
        // (trace retention shorter than the test): the figures then add the
        // rollups' part in, so finished + unfinished still equals started.
        let outcomes = workflow_outcomes(&conn, window, scope)?;
        let events = crate::monitor::event::event_metrics(&conn, window, scope)?;
        // Workflow latency percentiles cover the raw part only; the events'
        // p95 is estimated from the latency histogram.
        let approximate = [
            "latency.p50_ms",
            "latency.p95_ms",
            "latency.p99_ms",
            "events.p95_latency_ms",
        ];
        let provenance =
            crate::monitor::coverage::watermarks(&conn, scope)?.provenance(window, &approximate);
        Ok::<_, MonitorError>((outcomes, events, provenance))
    })
    .await
    .map_err(|e| LoadTestError::Task(e.to_string()))??;
    let mut report = build_report(
        session.run_id(),
        options,
        total_requests,
        &outcome,
        outcomes,
        events,
        SchedulingStats {
            starts_waited_for_slot: outcome.starts_waited,
            slot_wait_ms_total: outcome.slot_wait.as_secs_f64() * 1000.0,
            max_start_lag_ms: outcome.max_lag.as_secs_f64() * 1000.0,
            mean_start_lag_ms: if total_requests == 0 {
                0.0
            } else {
                outcome.lag_total.as_secs_f64() * 1000.0 / total_requests as f64
            },
            max_in_flight: counters.max_in_flight.load(Ordering::Relaxed),
            recorder_waits: session
                .writer()
                .stats()
                .producer_waits
                .saturating_sub(recorder_waits_before),
        },
    );
    report.interrupted = interrupt.reason();
    report.stopped_in_flight = outcome.stopped_in_flight;
    report.provenance = Some(provenance);
    Ok(report)
}

fn build_report(
    run_id: i64,
    options: &LoadTestOptions,
    total_requests: u64,
    outcome: &ScheduleOutcome,
    outcomes: Vec<WorkflowOutcome>,
    events: EventMetrics,
    scheduling: SchedulingStats,
) -> LoadTestReport {
    let load_phase_s = outcome.load_phase.as_secs_f64();
    let achieved_rps = if load_phase_s > 0.0 {
        total_requests as f64 / load_phase_s
    } else {
        0.0
    };
    let overall = outcomes.iter().find(|o| o.workflow_name.is_none());
    let latency = overall.map_or_else(LatencyPercentiles::default, |o| LatencyPercentiles {
        avg_ms: o.avg_latency_ms,
        p50_ms: o.p50_latency_ms,
        p95_ms: o.p95_latency_ms,
        p99_ms: o.p99_latency_ms,
        max_ms: o.max_latency_ms,
    });
    let target_missed = shortfalls(achieved_rps, options.rps, options.concurrency, &scheduling);
    LoadTestReport {
        run_id,
        mix: options
            .mix
            .workflows()
            .iter()
            .map(|w| w.to_string())
            .collect(),
        target_rps: options.rps,
        concurrency: options.concurrency,
        duration_s: options.duration.as_secs_f64(),
        load_phase_s,
        drain_s: outcome.drain.as_secs_f64(),
        total_requests,
        achieved_rps,
        finished: overall.map_or(0, |o| o.total),
        completed: overall.map_or(0, |o| o.completed),
        failed: overall.map_or(0, |o| o.failed),
        compensated: overall.map_or(0, |o| o.compensated),
        cancelled: overall.map_or(0, |o| o.cancelled),
        unfinished: outcome.unfinished,
        success_rate: overall.map_or(0.0, |o| o.success_rate),
        latency,
        peak_throughput_per_minute: events.peak_throughput,
        events,
        workflows: outcomes
            .into_iter()
            .filter(|o| o.workflow_name.is_some())
            .collect(),
        scheduling,
        target_missed,
        interrupted: None,
        stopped_in_flight: 0,
        provenance: None,
    }
}

/// The reasons the target rate was missed: below [`TARGET_SHARE`] of it,
/// and/or starts that waited for a concurrency slot.
pub fn shortfalls(
    achieved_rps: f64,
    target_rps: f64,
    concurrency: usize,
    scheduling: &SchedulingStats,
) -> Vec<Shortfall> {
    let mut missed = Vec::new();
    let limited = scheduling.starts_waited_for_slot > 0;
    if achieved_rps < target_rps * TARGET_SHARE {
        missed.push(Shortfall::BelowTarget {
            achieved_rps,
            target_rps,
            concurrency_limited: limited,
        });
    }
    if limited {
        missed.push(Shortfall::ConcurrencyLimited {
            starts_delayed: scheduling.starts_waited_for_slot,
            total_wait_ms: scheduling.slot_wait_ms_total,
            concurrency,
        });
    }
    missed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortfalls_say_which_limit_was_hit() {
        let calm = SchedulingStats::default();
        assert!(shortfalls(49.0, 50.0, 10, &calm).is_empty());
        let slow = shortfalls(30.0, 50.0, 10, &calm);
        assert_eq!(slow.len(), 1);
        assert!(slow[0].describe().contains("could not keep up"), "{slow:?}");
        let capped = SchedulingStats {
            starts_waited_for_slot: 7,
            slot_wait_ms_total: 1500.0,
            ..SchedulingStats::default()
        };
        let both = shortfalls(30.0, 50.0, 10, &capped);
        assert_eq!(both.len(), 2);
        assert!(both[0].describe().contains("concurrency cap"));
        assert!(both[1].describe().contains("7 starts were delayed"));
        // Delayed starts are reported even when the rate was caught up.
        assert_eq!(shortfalls(50.0, 50.0, 10, &capped).len(), 1);
    }

    #[test]
    fn options_are_validated() {
        assert!(LoadTestOptions::default().validate().is_ok());
        let mut o = LoadTestOptions {
            rps: 0.0,
            ..LoadTestOptions::default()
        };
        assert!(o.validate().is_err());
        o.rps = 1.0;
        o.concurrency = 0;
        assert!(o.validate().is_err());
        o.concurrency = 1;
        o.mix = Mix(Vec::new());
        assert!(o.validate().is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_short_load_test_records_every_start() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("load.db");
        let options = LoadTestOptions {
            duration: Duration::from_millis(500),
            concurrency: 4,
            rps: 40.0,
            mix: Mix(vec![MixEntry::Noop, MixEntry::Error]),
            settings: DemoSettings {
                time_scale: 0.01,
                ..DemoSettings::default()
            },
            drain_timeout: Duration::from_secs(30),
        };
        let session = Session::start(
            &db,
            crate::config::MonitoringConfig::default(),
            load_test_workers(options.settings),
            crate::store::RunInfo {
                command: "test".into(),
                config_json: "{}".into(),
            },
        )
        .await
        .unwrap();
        let mut calls = 0;
        let report = run_load_test(&session, &options, |_| calls += 1)
            .await
            .unwrap();
        session.shutdown().await.unwrap();
        assert!(report.total_requests > 0);
        assert_eq!(report.finished + report.unfinished, report.total_requests);
        assert_eq!(
            report.completed + report.failed + report.compensated + report.cancelled,
            report.finished
        );
        assert!(report.scheduling.max_in_flight <= 4);
        assert!(calls > 0);
        println!(
            "achieved {:.1}/s of {:.1}/s, p95 {:.1} ms",
            report.achieved_rps, report.target_rps, report.latency.p95_ms
        );
    }
}
