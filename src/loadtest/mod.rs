//! Load testing: start workflows at a steady rate for a while (or until a
//! count is reached, or following k6-style stages), with a cap on how many
//! are in flight, then report what was achieved and whether the thresholds
//! held. The run is recorded like any other and can later be compared with
//! `compare`; the outcome counts come from the database, the latencies
//! (created → ended, the instants recorded) from what the test saw of each
//! workflow, so that the progress line, the summary, the histogram and the
//! per-second series share one definition.
//!
//! The demo's workflows are loaded with [`run_load_test`]; a program's own
//! workflows with [`run_load_test_on`] and a [`LoadTarget`], with the same
//! scheduler, report and thresholds.
//!
//! The rate is held by a schedule, not by sleeping after each start: start
//! `k` is due at `t0 + k / rps` (see [`profile`] for stages). A start that is late (the machine was busy,
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
pub mod profile;
pub mod series;
pub mod tally;
pub mod target;
pub mod threshold;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

pub use mix::{
    Mix, MixEntry, NOOP_WORKER, NOOP_WORKFLOW, due_offset, load_test_workers, parse_concurrency,
    parse_mix, parse_rps, parse_time_scale, register_load_test_workflows,
};
pub use profile::{RatePlan, Stage, parse_stage};
pub use series::SeriesFormat;
pub use tally::{ErrorCount, HistogramBucket, LatencyPercentiles, SeriesPoint};
pub use target::LoadTarget;
pub use threshold::{Threshold, ThresholdVerdict, parse_threshold};

use crate::clock;
use crate::interrupt::Interrupt;
use crate::monitor::outcomes::{WorkflowOutcome, workflow_outcomes};
use crate::monitor::{EventMetrics, MonitorError, RunScope};
use crate::orchestrator::{Orchestrator, OrchestratorError};
use crate::session::{INTERRUPTED, Session};
use crate::store::{StoreError, WorkflowState};
use crate::window::TimeWindow;
use crate::workload::DemoSettings;
use tally::{Ended, Tally};

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
    /// How long workflows are started (unused with `stages` or
    /// `workflows`).
    pub duration: Duration,
    /// Most workflows in flight at once.
    pub concurrency: usize,
    /// Workflows started per second (the target; unused with `stages`).
    pub rps: f64,
    /// k6-style stages: the rate moves linearly to each stage's target over
    /// its duration, from 0; the test lasts as long as they do. Empty: a
    /// steady `rps`.
    pub stages: Vec<Stage>,
    /// Start exactly this many workflows at `rps`, however long it takes,
    /// instead of starting for `duration`.
    pub workflows: Option<u64>,
    /// Criteria checked against the report ([`LoadTestReport::thresholds`]).
    pub thresholds: Vec<Threshold>,
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
            stages: Vec::new(),
            workflows: None,
            thresholds: Vec::new(),
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
        if !self.stages.is_empty() {
            if self.workflows.is_some() {
                return bad("stages and a workflow count exclude each other");
            }
            if self.stages.len() > profile::MAX_STAGES {
                return bad("at most 1000 stages");
            }
            let length: Duration = self.stages.iter().map(|s| s.duration).sum();
            if length.is_zero() || length > crate::window::RUN_RANGE.max {
                return bad("the stages must last from 1ms to 30 days in total");
            }
            if !self
                .stages
                .iter()
                .all(|s| s.target == 0.0 || (mix::MIN_RPS..=mix::MAX_RPS).contains(&s.target))
            {
                return bad(
                    "a stage's rate must be 0 or from 0.001 to 1000000 workflows per second",
                );
            }
            if self.stages.iter().all(|s| s.target == 0.0) {
                return bad("every stage's rate is 0: nothing would start");
            }
        }
        if let Some(n) = self.workflows
            && !(1..=MAX_WORKFLOWS).contains(&n)
        {
            return bad("the workflow count must be from 1 to 100000000");
        }
        Ok(())
    }

    /// The rate over time these options ask for.
    pub fn plan(&self) -> RatePlan {
        if !self.stages.is_empty() {
            RatePlan::Stages(self.stages.clone())
        } else if self.workflows.is_some() {
            RatePlan::Steady {
                rps: self.rps,
                until: None,
            }
        } else {
            RatePlan::Steady {
                rps: self.rps,
                until: Some(self.duration),
            }
        }
    }

    /// The thresholds that name a workflow `target` does not start, as an
    /// error naming the first.
    pub fn check_thresholds(&self, target: &LoadTarget) -> Result<(), LoadTestError> {
        let names = target.workflow_names();
        for t in &self.thresholds {
            if let Some(w) = &t.workflow
                && !names.contains(&w.as_str())
            {
                return Err(LoadTestError::Invalid(format!(
                    "threshold {:?} names workflow {w:?}, which this load test does not start (it starts {})",
                    t.expression,
                    names.join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// Most workflows `-n/--workflows` starts.
pub const MAX_WORKFLOWS: u64 = 100_000_000;

/// Parses `-n/--workflows`: a whole number from 1 to [`MAX_WORKFLOWS`].
pub fn parse_workflow_count(text: &str) -> Result<u64, String> {
    let n: u64 = text.trim().parse().map_err(|_| {
        format!("invalid workflow count {text:?}: expected a positive whole number")
    })?;
    if !(1..=MAX_WORKFLOWS).contains(&n) {
        return Err(format!(
            "invalid workflow count {text:?}: must be from 1 to {MAX_WORKFLOWS}"
        ));
    }
    Ok(n)
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
    /// The load phase's length as planned (`duration`, or the stages'
    /// sum); with a workflow count, that count at the target rate.
    pub duration: Duration,
    /// With a workflow count: how many will be started.
    pub workflows: Option<u64>,
    /// The rate the plan asks for now, workflows per second.
    pub target_rate: f64,
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
    /// Nearest-rank 95th percentile of the latency (created → ended) of
    /// the workflows ended so far, milliseconds: the summary's definition,
    /// recomputed about once a second (`None` before any ended).
    pub p95_ms: Option<f64>,
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

/// What a load test achieved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadTestReport {
    /// The run it was recorded as (`compare --base/--head`).
    pub run_id: i64,
    /// The workflows drawn from (repetitions are weights).
    pub mix: Vec<String>,
    /// Starts per second asked for (with stages, their mean: the starts
    /// they promise over their length).
    pub target_rps: f64,
    /// The stages asked for (empty: a steady rate).
    pub stages: Vec<Stage>,
    /// The workflow count asked for (`-n`), if any.
    pub workflows_requested: Option<u64>,
    /// The in-flight cap.
    pub concurrency: usize,
    /// The load phase asked for, seconds (with a workflow count: the count
    /// at the target rate).
    pub duration_s: f64,
    /// The load phase as measured (first due start to the end of the
    /// schedule), seconds.
    pub load_phase_s: f64,
    /// Time spent waiting for in-flight workflows afterwards, seconds.
    pub drain_s: f64,
    /// Workflows started.
    pub started: u64,
    /// started / load_phase_s.
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
    /// Workflow latency (created → ended, as recorded) over every finished
    /// workflow.
    pub latency: LatencyPercentiles,
    /// The same per workflow name.
    pub latency_by_workflow: std::collections::BTreeMap<String, LatencyPercentiles>,
    /// The distribution of the workflow latencies: equal-width buckets
    /// from the shortest to the longest (oha's histogram).
    pub latency_histogram: Vec<HistogramBucket>,
    /// Workflows that did not complete, by how they ended and error class,
    /// most frequent first.
    pub errors: Vec<ErrorCount>,
    /// Each threshold, what was measured and whether it held.
    pub thresholds: Vec<ThresholdVerdict>,
    /// Whether every threshold held (true without thresholds).
    pub thresholds_passed: bool,
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
    /// (the events' p95 is then estimated).
    pub provenance: Option<crate::monitor::coverage::Provenance>,
    /// Per second from the first start to the end of the drain: started,
    /// ended, latency, in flight (`--series`; not in the JSON summary).
    #[serde(skip)]
    pub series: Vec<SeriesPoint>,
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

/// What the scheduler and the waiters share.
struct Shared {
    counters: Counters,
    tally: Mutex<Tally>,
    draining: AtomicBool,
    /// The first start's due time: offsets in the tally are from it.
    t0: Instant,
}

fn lock(tally: &Mutex<Tally>) -> std::sync::MutexGuard<'_, Tally> {
    tally.lock().unwrap_or_else(|p| p.into_inner())
}

/// created → ended as recorded: the first and last entries of the history
/// are the instants the database holds.
fn recorded_latency_us(status: &crate::orchestrator::WorkflowStatus) -> Option<i64> {
    let at = |e: &crate::orchestrator::HistoryEntry| {
        chrono::DateTime::parse_from_rfc3339(&e.timestamp)
            .ok()
            .map(|t| t.timestamp_micros())
    };
    let created = at(status.history.first()?)?;
    let ended = at(status.history.last()?)?;
    Some(ended - created)
}

/// Starts workflows as `plan` says (and at most `count` of them), then
/// waits for those in flight (up to `options.drain_timeout`).
///
/// An interrupt stops the starts at once; the workflows in flight then get
/// `grace` to finish, and those still running are stopped (recorded
/// `cancelled`, "interrupted").
async fn schedule(
    orchestrator: Orchestrator,
    options: LoadTestOptions,
    target: LoadTarget,
    shared: Arc<Shared>,
    interrupt: Interrupt,
    grace: Duration,
) -> Result<ScheduleOutcome, LoadTestError> {
    let plan = options.plan();
    let count = options.workflows;
    let mut rng = ChaCha8Rng::seed_from_u64(options.settings.seed);
    let slots = Arc::new(Semaphore::new(options.concurrency));
    let mut waiters = JoinSet::new();
    let mut outcome = ScheduleOutcome::default();
    let t0 = shared.t0;
    let end = plan.length().and_then(|l| t0.checked_add(l));
    // With a count and no end, a start waiting for a slot waits for it.
    let far = t0 + Duration::from_secs(86_400 * 365);
    let mut k: u64 = 0;
    loop {
        if count.is_some_and(|n| k >= n) || interrupt.is_triggered() {
            break;
        }
        let due = match plan.due(k).and_then(|d| t0.checked_add(d)) {
            Some(due) if end.is_none_or(|end| due < end) => due,
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
                    () = tokio::time::sleep_until(end.unwrap_or(far)) => {
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
        if end.is_some_and(|end| now >= end) {
            break;
        }
        let lag = now - due;
        outcome.max_lag = outcome.max_lag.max(lag);
        outcome.lag_total += lag;
        let Some(entry) = target.draw(&mut rng) else {
            break;
        };
        let name = {
            let mut tally = lock(&shared.tally);
            tally.note_start(now - t0);
            tally.name_index(&entry.workflow)
        };
        let transaction_id = orchestrator
            .execute_workflow(&entry.workflow, (entry.input)(k))
            .await?;
        let started = shared.counters.started.fetch_add(1, Ordering::Relaxed) + 1;
        let in_flight = started.saturating_sub(shared.counters.finished.load(Ordering::Relaxed));
        shared
            .counters
            .max_in_flight
            .fetch_max(in_flight, Ordering::Relaxed);
        let waiter_orchestrator = orchestrator.clone();
        let waiter_shared = Arc::clone(&shared);
        let created = Instant::now();
        waiters.spawn(async move {
            let status = waiter_orchestrator.wait(&transaction_id).await;
            let counters = &waiter_shared.counters;
            if let Ok(s) = &status {
                let completed = s.state == WorkflowState::Completed;
                if completed {
                    counters.completed.fetch_add(1, Ordering::Relaxed);
                }
                if s.state == WorkflowState::Cancelled && s.error.as_deref() == Some(INTERRUPTED) {
                    counters.interrupted.fetch_add(1, Ordering::Relaxed);
                }
                // Measured here only if the history cannot be read.
                let latency_us = recorded_latency_us(s).unwrap_or_else(|| {
                    i64::try_from(created.elapsed().as_micros()).unwrap_or(i64::MAX)
                });
                let ended = Ended {
                    name,
                    at: waiter_shared.t0.elapsed(),
                    latency_us,
                    completed,
                };
                lock(&waiter_shared.tally).note_end(ended, s.state, s.error.as_deref());
            }
            counters.finished.fetch_add(1, Ordering::Relaxed);
            drop(permit);
        });
        // Forget finished waiters as we go, so memory stays flat.
        while waiters.try_join_next().is_some() {}
        k += 1;
    }
    if let Some(end) = end {
        tokio::select! {
            () = tokio::time::sleep_until(end) => {}
            () = interrupt.triggered() => {}
        }
    }
    outcome.load_phase = t0.elapsed();
    shared.draining.store(true, Ordering::Relaxed);
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
    outcome.stopped_in_flight = shared.counters.interrupted.load(Ordering::Relaxed);
    if !waiters.is_empty() {
        outcome.unfinished = waiters.len() as u64;
        waiters.abort_all();
    }
    Ok(outcome)
}

/// How long workflows stopped after the grace period get to record their
/// end before the report counts them as unfinished.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// Runs a load test of the demo's workflows (`options.mix`) in `session`,
/// calling `progress` about every [`PROGRESS_INTERVAL`], and reports what
/// was achieved.
///
/// The workers must come from [`load_test_workers`] (the session was started
/// with them); the workflows are registered here.
pub async fn run_load_test(
    session: &Session,
    options: &LoadTestOptions,
    progress: impl FnMut(&LoadProgress),
) -> Result<LoadTestReport, LoadTestError> {
    options.validate()?;
    register_load_test_workflows(session.orchestrator())?;
    run_load_test_on(
        session,
        &LoadTarget::from_mix(&options.mix),
        options,
        progress,
    )
    .await
}

/// Runs a load test of a program's own workflows: those of `target`, which
/// must be registered with the session's orchestrator (whose workers the
/// session was started with). Everything else is [`run_load_test`]'s:
/// the scheduler (`options`' rate, stages or count, concurrency, drain),
/// the report and the thresholds; `options.mix` is not used, and
/// `options.settings.seed` seeds the draws among `target`'s workflows.
pub async fn run_load_test_on(
    session: &Session,
    target: &LoadTarget,
    options: &LoadTestOptions,
    mut progress: impl FnMut(&LoadProgress),
) -> Result<LoadTestReport, LoadTestError> {
    options.validate()?;
    if target.is_empty() {
        return Err(LoadTestError::Invalid(
            "the target names no workflow".into(),
        ));
    }
    options.check_thresholds(target)?;
    let registered = session.orchestrator().workflow_names();
    for name in target.workflow_names() {
        if !registered.iter().any(|r| r == name) {
            return Err(LoadTestError::Invalid(format!(
                "workflow {name:?} is not registered with the orchestrator"
            )));
        }
    }
    let plan = options.plan();
    let planned_length = plan.length().unwrap_or_else(|| {
        // A count at a steady rate: its last start's due time.
        let n = options.workflows.unwrap_or(1);
        plan.due(n.saturating_sub(1)).unwrap_or(Duration::ZERO)
    });
    let shared = Arc::new(Shared {
        counters: Counters::default(),
        tally: Mutex::new(Tally::default()),
        draining: AtomicBool::new(false),
        t0: Instant::now(),
    });
    let recorder_waits_before = session.writer().stats().producer_waits;
    let start_us = clock::now_us();
    let interrupt = session.interrupter().clone();
    let mut scheduler = tokio::spawn(schedule(
        session.orchestrator().clone(),
        options.clone(),
        target.clone(),
        Arc::clone(&shared),
        interrupt.clone(),
        session.grace(),
    ));
    let monitor = session.event_monitor();
    // The latest live metrics, written by one blocking query at a time.
    let recent_events: Arc<std::sync::Mutex<Option<EventMetrics>>> = Arc::default();
    let mut live_query: Option<tokio::task::JoinHandle<()>> = None;
    let mut last_query = Instant::now();
    let mut last_p95: Option<(Instant, usize, Option<f64>)> = None;
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
        // The p95 so far, about once a second (a copy and a selection over
        // every ended workflow).
        let ended_now = lock(&shared.tally).ended.len();
        let stale = last_p95
            .as_ref()
            .is_none_or(|(at, n, _)| *n != ended_now && at.elapsed() >= LIVE_METRICS_INTERVAL);
        if stale {
            let mut latencies = lock(&shared.tally).latencies();
            let p95 = (!latencies.is_empty())
                .then(|| tally::select_rank(&mut latencies, 95.0) as f64 / 1000.0);
            last_p95 = Some((Instant::now(), latencies.len(), p95));
        }
        let recent = recent_events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let counters = &shared.counters;
        let started = counters.started.load(Ordering::Relaxed);
        let finished = counters.finished.load(Ordering::Relaxed);
        let completed = counters.completed.load(Ordering::Relaxed);
        let elapsed = shared.t0.elapsed();
        progress(&LoadProgress {
            phase: if shared.draining.load(Ordering::Relaxed) {
                Phase::Drain
            } else {
                Phase::Load
            },
            elapsed,
            duration: planned_length,
            workflows: options.workflows,
            target_rate: if shared.draining.load(Ordering::Relaxed) {
                0.0
            } else {
                plan.rate_at(elapsed)
            },
            started,
            finished,
            completed,
            in_flight: counters.in_flight(),
            success_rate: crate::monitor::figures::percent(completed, finished),
            p95_ms: last_p95.as_ref().and_then(|(_, _, p)| *p),
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
    let started = shared.counters.started.load(Ordering::Relaxed);
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
        // The events' p95 is then estimated from the latency histogram;
        // the workflow latencies are the test's own and exact.
        let approximate = ["events.p95_latency_ms"];
        let provenance =
            crate::monitor::coverage::watermarks(&conn, scope)?.provenance(window, &approximate);
        Ok::<_, MonitorError>((outcomes, events, provenance))
    })
    .await
    .map_err(|e| LoadTestError::Task(e.to_string()))??;
    let scheduling = SchedulingStats {
        starts_waited_for_slot: outcome.starts_waited,
        slot_wait_ms_total: outcome.slot_wait.as_secs_f64() * 1000.0,
        max_start_lag_ms: outcome.max_lag.as_secs_f64() * 1000.0,
        mean_start_lag_ms: if started == 0 {
            0.0
        } else {
            outcome.lag_total.as_secs_f64() * 1000.0 / started as f64
        },
        max_in_flight: shared.counters.max_in_flight.load(Ordering::Relaxed),
        recorder_waits: session
            .writer()
            .stats()
            .producer_waits
            .saturating_sub(recorder_waits_before),
    };
    let tally = std::mem::take(&mut *lock(&shared.tally));
    let mut report = build_report(
        session.run_id(),
        options,
        target,
        &plan,
        planned_length,
        started,
        &outcome,
        outcomes,
        events,
        scheduling,
        &tally,
    );
    report.interrupted = interrupt.reason();
    report.stopped_in_flight = outcome.stopped_in_flight;
    report.provenance = Some(provenance);
    Ok(report)
}

#[allow(
    clippy::too_many_arguments,
    reason = "one call site, all parts of one report"
)]
fn build_report(
    run_id: i64,
    options: &LoadTestOptions,
    target: &LoadTarget,
    plan: &RatePlan,
    planned_length: Duration,
    started: u64,
    outcome: &ScheduleOutcome,
    outcomes: Vec<WorkflowOutcome>,
    events: EventMetrics,
    scheduling: SchedulingStats,
    tally: &Tally,
) -> LoadTestReport {
    let load_phase_s = outcome.load_phase.as_secs_f64();
    let achieved_rps = if load_phase_s > 0.0 {
        started as f64 / load_phase_s
    } else {
        0.0
    };
    let target_rps = match (plan, plan.planned_starts()) {
        (RatePlan::Stages(_), Some(n)) if !planned_length.is_zero() => {
            n / planned_length.as_secs_f64()
        }
        _ => options.rps,
    };
    let overall = outcomes.iter().find(|o| o.workflow_name.is_none());
    let mut all = tally.latencies();
    all.sort_unstable();
    let latency = LatencyPercentiles::of_sorted(&all);
    let latency_histogram = tally::histogram(&all);
    let mut latency_by_workflow = std::collections::BTreeMap::new();
    for (i, name) in tally.names.iter().enumerate() {
        let mut mine: Vec<i64> = tally
            .ended
            .iter()
            .filter(|e| usize::from(e.name) == i)
            .map(|e| e.latency_us)
            .collect();
        mine.sort_unstable();
        latency_by_workflow.insert(name.clone(), LatencyPercentiles::of_sorted(&mine));
    }
    let mut errors: Vec<ErrorCount> = tally
        .errors
        .iter()
        .map(|((state, error), count)| ErrorCount {
            state: state.clone(),
            error: error.clone(),
            count: *count,
        })
        .collect();
    errors.sort_by_key(|e| std::cmp::Reverse(e.count));
    let series_length = outcome.load_phase + outcome.drain;
    let series = tally.series(series_length, |t| plan.rate_at(t));
    let target_missed = shortfalls(achieved_rps, target_rps, options.concurrency, &scheduling);
    let mut report = LoadTestReport {
        run_id,
        mix: target
            .entries()
            .iter()
            .map(|e| e.workflow.clone())
            .collect(),
        target_rps,
        stages: options.stages.clone(),
        workflows_requested: options.workflows,
        concurrency: options.concurrency,
        duration_s: planned_length.as_secs_f64(),
        load_phase_s,
        drain_s: outcome.drain.as_secs_f64(),
        started,
        achieved_rps,
        finished: overall.map_or(0, |o| o.total),
        completed: overall.map_or(0, |o| o.completed),
        failed: overall.map_or(0, |o| o.failed),
        compensated: overall.map_or(0, |o| o.compensated),
        cancelled: overall.map_or(0, |o| o.cancelled),
        unfinished: outcome.unfinished,
        success_rate: overall.map_or(0.0, |o| o.success_rate),
        latency,
        latency_by_workflow,
        latency_histogram,
        errors,
        thresholds: Vec::new(),
        thresholds_passed: true,
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
        series,
    };
    report.thresholds = evaluate_thresholds(&options.thresholds, &report);
    report.thresholds_passed = report.thresholds.iter().all(|v| v.passed);
    report
}

/// Checks each threshold against the report's figures: latencies from
/// [`LoadTestReport::latency`] (or the workflow's), success and error rate
/// from the recorded outcomes, rate from the achieved rate.
pub fn evaluate_thresholds(
    thresholds: &[Threshold],
    report: &LoadTestReport,
) -> Vec<ThresholdVerdict> {
    use threshold::Metric;
    thresholds
        .iter()
        .map(|t| {
            let (latency, ended, completed) = match &t.workflow {
                None => (Some(&report.latency), report.finished, report.completed),
                Some(name) => {
                    let outcome = report
                        .workflows
                        .iter()
                        .find(|o| o.workflow_name.as_deref() == Some(name.as_str()));
                    (
                        report.latency_by_workflow.get(name),
                        outcome.map_or(0, |o| o.total),
                        outcome.map_or(0, |o| o.completed),
                    )
                }
            };
            let latency = latency.filter(|l| l.count > 0);
            let success = (ended > 0).then(|| completed as f64 / ended as f64);
            let measured = match t.metric {
                Metric::P50 => latency.map(|l| l.p50_ms),
                Metric::P90 => latency.map(|l| l.p90_ms),
                Metric::P95 => latency.map(|l| l.p95_ms),
                Metric::P99 => latency.map(|l| l.p99_ms),
                Metric::P999 => latency.map(|l| l.p99_9_ms),
                Metric::Avg => latency.map(|l| l.avg_ms),
                Metric::Max => latency.map(|l| l.max_ms),
                Metric::Success => success,
                Metric::ErrorRate => success.map(|s| 1.0 - s),
                Metric::Rate => Some(report.achieved_rps),
            };
            ThresholdVerdict::check(t, measured)
        })
        .collect()
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
            ..LoadTestOptions::default()
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
        assert!(report.started > 0);
        assert_eq!(report.finished + report.unfinished, report.started);
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
