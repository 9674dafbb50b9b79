//! A generated monitoring database for the query-speed figures: one hour
//! (or, for the day-scale figures, [`DatasetSpec::hours`] hours) of a
//! 10-worker system, written through the real [`Writer`] (so the per-minute
//! rollups are the writer's own, not a re-implementation of its rules).
//!
//! - Workflows of 3–4 steps (four shapes, one of them a saga with
//!   compensations), started evenly over the span until the requested
//!   number of executions (event rows: one per attempt) is reached.
//!   Records are streamed into the writer as they are drawn (its queue is
//!   bounded), so memory stays flat whatever the size: nothing holds more
//!   than one workflow and a counter per 10 s tick.
//! - Per-worker log-normal durations, from ~2 ms (a validator) to ~1.5 s (the
//!   seed's slow processor); a duration past the step's timeout is a timeout.
//! - About 10 % failed attempts with the seed's error messages
//!   (`"NetworkError: Connection timeout"`, ...), a few timeouts, retries
//!   (3 attempts, exponential backoff), a few cancellations, and the last
//!   workflows left in flight.
//! - System samples every 10 s, custom counters, gauges and histograms
//!   (`order_value` per completed order), and alerts that fire and resolve
//!   (the last ones still firing), so that every query in `queries/` has
//!   rows to read.
//! - Half the workflows run their steps on three worker hosts (`--redis`,
//!   `multiagents worker`): their events carry the host, and the run keeps
//!   the hosts' heartbeats (`run_hosts`), so `query hosts` has both kinds of
//!   rows to read; the other half run in process.
//! - The run row is the generated span (its start and last microsecond),
//!   so `report` and `query --run` of the file ask about exactly the span.
//!
//! Deterministic for a seed. The file is cached under a name that carries
//! the size, the seed, the generator version and a hash of the schema, so a
//! re-run reuses it and a schema change regenerates it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use rand::{RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;

use super::BenchResult;
use crate::monitor::custom::{Labels, labels_json};
use crate::store::{
    AlertFired, EventDispatched, EventFinished, EventOutcome, EventType, HostSeen,
    MetricObservation, MetricType, Record, RunInfo, Store, SystemSample, WorkflowChanged,
    WorkflowStarted, WorkflowState, Writer, WriterOptions,
};

/// 2024-01-01T00:00:00Z: the start of the generated span (whole minute and
/// hour, so minute-aligned windows are easy to pick).
pub const HOUR_START_US: i64 = 1_704_067_200_000_000;
/// One hour in microseconds.
pub const HOUR_US: i64 = 3_600_000_000;
/// One minute in microseconds.
pub const MINUTE_US: i64 = 60_000_000;

/// Bumped whenever the generated contents change, so that cached files of
/// an older generator are not reused.
// 4: the span is `hours` long; the run row is set to the span.
// 5: half the workflows run on worker hosts (schema version 8).
const GENERATOR_VERSION: u32 = 5;

/// The seed's flaky-worker messages; the error type is the text before ':'.
pub const ERROR_MESSAGES: [&str; 4] = [
    "NetworkError: Connection timeout",
    "ValidationError: Invalid input format",
    "ServiceUnavailable: External service down",
    "RateLimitError: Too many requests",
];

/// Workflows left in flight at the end of the span.
const IN_FLIGHT: usize = 10;
/// Attempts per step (the first plus two retries).
const MAX_ATTEMPTS: u32 = 3;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DatasetSpec {
    /// Event rows (worker executions, one per attempt) to write.
    pub executions: usize,
    /// Seed of the generator.
    pub seed: u64,
    /// Hours the workflows are spread over, from [`HOUR_START_US`] (1 for
    /// the query figures, 24 for the day-scale ones).
    pub hours: u32,
}

impl DatasetSpec {
    /// `executions` over one hour.
    pub fn hour(executions: usize, seed: u64) -> Self {
        DatasetSpec {
            executions,
            seed,
            hours: 1,
        }
    }

    /// The generated span in microseconds.
    pub fn span_us(&self) -> i64 {
        i64::from(self.hours.max(1)) * HOUR_US
    }
}

/// How many ingest marks generation takes (evenly spaced by executions).
pub const INGEST_MARKS: u64 = 48;

/// One point of generation's progress: executions handed to the writer so
/// far and seconds since generation started. The writer's queue is
/// bounded, so past the first queue-full the generator runs at the
/// writer's pace and the slope between two marks is its ingest rate.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IngestMark {
    /// Executions emitted.
    pub executions: u64,
    /// Seconds since generation started.
    pub at_s: f64,
    /// Records (of every kind) the writer had committed by then.
    #[serde(default)]
    pub records_committed: u64,
}

/// What was generated.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct DatasetSummary {
    /// Event rows (executions).
    pub executions: u64,
    /// Workflow rows.
    pub workflows: u64,
    /// Executions that ended failed.
    pub failed: u64,
    /// Executions that ended by timeout.
    pub timeouts: u64,
    /// Executions cancelled with their workflow.
    pub cancelled: u64,
    /// Compensation executions.
    pub compensations: u64,
    /// System samples.
    pub system_samples: u64,
    /// Custom metric observations.
    pub custom_metrics: u64,
    /// Alerts fired.
    pub alerts: u64,
    /// Executions run on worker hosts (the rest ran in process).
    #[serde(default)]
    pub on_hosts: u64,
    /// Generation's progress every 1/[`INGEST_MARKS`] of the executions
    /// (empty when the summary was read back from a file).
    #[serde(default)]
    pub ingest_marks: Vec<IngestMark>,
}

impl DatasetSummary {
    /// Executions per second between the marks nearest to executions `from`
    /// and `to`; `None` without marks there.
    pub fn ingest_rate(&self, from: u64, to: u64) -> Option<f64> {
        let at = |n: u64| -> Option<IngestMark> {
            if n == 0 {
                return Some(IngestMark {
                    executions: 0,
                    at_s: 0.0,
                    records_committed: 0,
                });
            }
            self.ingest_marks
                .iter()
                .min_by_key(|m| m.executions.abs_diff(n))
                .copied()
        };
        let (a, b) = (at(from)?, at(to)?);
        (b.executions > a.executions && b.at_s > a.at_s)
            .then(|| (b.executions - a.executions) as f64 / (b.at_s - a.at_s))
    }
}

/// A worker's behaviour.
struct WorkerModel {
    name: &'static str,
    /// Median duration, ms (the log-normal's e^mu).
    median_ms: f64,
    /// Spread of ln(duration).
    sigma: f64,
    /// Failed attempts per thousand.
    fail_per_mille: u32,
    /// Hung attempts per thousand (always a timeout).
    hang_per_mille: u32,
    /// The step timeout, ms: a longer duration is a timeout.
    timeout_ms: i64,
}

/// The ten workers: durations from a few ms to seconds.
const WORKERS: [WorkerModel; 10] = [
    worker("validator", 2.0, 0.6, 90, 0, 1_000),
    worker("fast_processor", 30.0, 0.35, 90, 2, 1_000),
    worker("enricher", 60.0, 0.6, 100, 3, 2_000),
    worker("slow_processor", 1_500.0, 0.3, 90, 10, 5_000),
    worker("flaky_processor", 200.0, 0.9, 280, 10, 3_000),
    worker("cpu_intensive", 400.0, 0.5, 70, 5, 4_000),
    worker("payment_gateway", 150.0, 0.7, 115, 5, 3_000),
    worker("inventory", 15.0, 0.5, 80, 0, 1_000),
    worker("notifier", 8.0, 0.5, 70, 0, 1_000),
    worker("compensator", 5.0, 0.3, 20, 0, 1_000),
];

const fn worker(
    name: &'static str,
    median_ms: f64,
    sigma: f64,
    fail_per_mille: u32,
    hang_per_mille: u32,
    timeout_ms: i64,
) -> WorkerModel {
    WorkerModel {
        name,
        median_ms,
        sigma,
        fail_per_mille,
        hang_per_mille,
        timeout_ms,
    }
}

const COMPENSATOR: usize = 9;

/// A workflow shape: name, steps as (step name, worker index), whether a
/// failure compensates the completed steps (saga), and its share of starts
/// in percent.
struct Shape {
    name: &'static str,
    steps: &'static [(&'static str, usize)],
    saga: bool,
    share: u64,
}

const SHAPES: [Shape; 4] = [
    Shape {
        name: "order_processing",
        steps: &[
            ("validate", 0),
            ("reserve", 7),
            ("charge", 6),
            ("notify", 8),
        ],
        saga: true,
        share: 35,
    },
    Shape {
        name: "data_pipeline",
        steps: &[("ingest", 1), ("enrich", 2), ("crunch", 5)],
        saga: false,
        share: 30,
    },
    Shape {
        name: "report_generation",
        steps: &[("collect", 1), ("render", 3), ("deliver", 8)],
        saga: false,
        share: 15,
    },
    Shape {
        name: "partner_sync",
        steps: &[
            ("validate", 0),
            ("call_partner", 4),
            ("enrich", 2),
            ("notify", 8),
        ],
        saga: false,
        share: 20,
    },
];

/// Standard normal by Box–Muller: the one distribution the generator needs,
/// not worth another crate (`rand_distr`) for three lines.
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1 = rng.random::<f64>().max(1e-12);
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Names as shared `Arc<str>`, as the orchestrator shares them.
struct Names {
    workers: Vec<Arc<str>>,
    workflows: Vec<Arc<str>>,
    steps: Vec<Vec<Arc<str>>>,
}

impl Names {
    fn new() -> Self {
        Names {
            workers: WORKERS.iter().map(|w| Arc::from(w.name)).collect(),
            workflows: SHAPES.iter().map(|s| Arc::from(s.name)).collect(),
            steps: SHAPES
                .iter()
                .map(|s| s.steps.iter().map(|(n, _)| Arc::from(*n)).collect())
                .collect(),
        }
    }
}

/// The worker hosts that run half the workflows (see the module's
/// documentation), each with a heartbeat over the whole span.
pub const HOSTS: [&str; 3] = ["host-a:1001", "host-b:1002", "host-c:1003"];

/// The name of one of the generated workers that has executions in every
/// minute (used for the per-worker queries).
pub const BUSY_WORKER: &str = "flaky_processor";

/// Writes the dataset through `writer` (blocking; call from a plain thread
/// or `spawn_blocking`) and waits until it is committed.
pub fn generate_into(writer: &Writer, spec: &DatasetSpec) -> BenchResult<DatasetSummary> {
    let clock = Instant::now();
    let span_us = spec.span_us();
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed ^ 0x005E_ED0F_DA7A);
    let names = Names::new();
    let hosts: Vec<Arc<str>> = HOSTS.iter().map(|h| Arc::from(*h)).collect();
    let mut summary = DatasetSummary::default();
    let target = spec.executions.max(1) as u64;
    let emit = |r: Record| writer.blocking_record(r).context("the writer stopped");
    let order_value: Arc<str> = Arc::from("order_value");
    // Completed workflows per shape, for the counters of each 10 s tick.
    let ticks = (span_us / 10_000_000) as usize;
    let mut completed_per_tick: Vec<[u64; 4]> = vec![[0; 4]; ticks];
    let mut workflows_started = 0usize;
    let mark_every = (target / INGEST_MARKS).max(1);
    let mut next_mark = mark_every;
    while summary.executions < target {
        if summary.executions >= next_mark {
            summary.ingest_marks.push(IngestMark {
                executions: summary.executions,
                at_s: clock.elapsed().as_secs_f64(),
                records_committed: writer.stats().records_committed,
            });
            next_mark += mark_every;
        }
        // Starts spread evenly over the span by the share of executions
        // written so far (ids stay in time order, as in a real run).
        let slot = span_us as f64 * summary.executions as f64 / target as f64;
        let created = HOUR_START_US + slot as i64 + rng.random_range(0..1_000);
        let shape_roll = rng.random_range(0..100);
        let mut acc = 0;
        let shape_i = SHAPES
            .iter()
            .position(|s| {
                acc += s.share;
                shape_roll < acc
            })
            .unwrap_or(0);
        let shape = &SHAPES[shape_i];
        let remaining = target - summary.executions;
        // The last few workflows stay in flight: their current event has
        // no end and the workflow no terminal state.
        let in_flight = remaining <= (IN_FLIGHT as u64) * 2;
        let cancel = !in_flight && rng.random_ratio(2, 1000);
        let id = writer.next_id();
        let mut tx_bytes = [0u8; 10];
        tx_bytes[..8].copy_from_slice(&rng.random::<u64>().to_le_bytes());
        tx_bytes[8..].copy_from_slice(&(workflows_started as u16).to_le_bytes());
        let transaction_id: Arc<str> = Arc::from(
            uuid::Builder::from_unix_timestamp_millis((created / 1000) as u64, &tx_bytes)
                .into_uuid()
                .to_string(),
        );
        let started = created + rng.random_range(50..500);
        // Every other workflow in process, the others on the hosts in turn
        // (by count, so the random draws stay those of version 4).
        let host = (workflows_started % 2 == 1)
            .then(|| Arc::clone(&hosts[(workflows_started / 2) % hosts.len()]));
        emit(Record::WorkflowStarted(WorkflowStarted {
            id,
            transaction_id,
            workflow_name: Arc::clone(&names.workflows[shape_i]),
            created_at_us: created,
            started_at_us: started,
            input_size_bytes: rng.random_range(50..2_000),
        }))?;
        workflows_started += 1;
        summary.workflows += 1;
        let mut t = started + rng.random_range(20..200);
        let mut completed_steps: Vec<usize> = Vec::new();
        let mut outcome: Option<(WorkflowState, Option<String>)> = None;
        let mut last_step = 0;
        'steps: for (s, &(_, w)) in shape.steps.iter().enumerate() {
            last_step = s;
            for attempt in 1..=MAX_ATTEMPTS {
                let step = Arc::clone(&names.steps[shape_i][s]);
                let ev = event(
                    &mut rng,
                    writer,
                    &names,
                    id,
                    EventType::Command,
                    step,
                    w,
                    attempt,
                    t,
                );
                summary.executions += 1;
                emit(Record::EventDispatched(ev.0))?;
                if in_flight && s == 1 {
                    break 'steps;
                }
                let cancel_here = cancel && s == 1;
                let mut end = finish(&mut rng, &ev.1, w, cancel_here);
                end.host = host.clone();
                summary.on_hosts += u64::from(host.is_some());
                t = end.finished_at_us + rng.random_range(20..200);
                let o = end.outcome;
                let message = end.error_message.clone();
                match o {
                    EventOutcome::Failed => summary.failed += 1,
                    EventOutcome::Timeout => summary.timeouts += 1,
                    EventOutcome::Cancelled => summary.cancelled += 1,
                    EventOutcome::Completed => {}
                }
                emit(Record::EventFinished(end))?;
                match o {
                    EventOutcome::Completed => {
                        completed_steps.push(s);
                        continue 'steps;
                    }
                    EventOutcome::Cancelled => {
                        outcome = Some((WorkflowState::Cancelled, None));
                        break 'steps;
                    }
                    EventOutcome::Failed | EventOutcome::Timeout => {
                        if attempt == MAX_ATTEMPTS {
                            outcome = Some((WorkflowState::Failed, message));
                            break 'steps;
                        }
                        t += 100_000 << (attempt - 1);
                    }
                }
            }
        }
        if in_flight {
            continue;
        }
        let (mut state, error) = outcome.unwrap_or((WorkflowState::Completed, None));
        let current_step = Some(Arc::clone(&names.steps[shape_i][last_step]));
        if state == WorkflowState::Failed && shape.saga && !completed_steps.is_empty() {
            emit(Record::WorkflowChanged(WorkflowChanged {
                id,
                state: WorkflowState::Compensating,
                at_us: t,
                current_step: current_step.clone(),
                error: error.clone(),
                workflow_name: Arc::clone(&names.workflows[shape_i]),
                created_at_us: created,
            }))?;
            for &s in completed_steps.iter().rev() {
                let step = Arc::clone(&names.steps[shape_i][s]);
                let ev = event(
                    &mut rng,
                    writer,
                    &names,
                    id,
                    EventType::Compensation,
                    step,
                    COMPENSATOR,
                    1,
                    t,
                );
                emit(Record::EventDispatched(ev.0))?;
                let mut end = finish(&mut rng, &ev.1, COMPENSATOR, false);
                end.host = host.clone();
                summary.on_hosts += u64::from(host.is_some());
                // Compensations are retried until they succeed in a real
                // saga; here the recorded one simply completes.
                end.outcome = EventOutcome::Completed;
                end.error_type = None;
                end.error_message = None;
                t = end.finished_at_us + rng.random_range(20..200);
                emit(Record::EventFinished(end))?;
                summary.executions += 1;
                summary.compensations += 1;
            }
            state = WorkflowState::Compensated;
        }
        emit(Record::WorkflowChanged(WorkflowChanged {
            id,
            state,
            at_us: t,
            current_step,
            error,
            workflow_name: Arc::clone(&names.workflows[shape_i]),
            created_at_us: created,
        }))?;
        if state == WorkflowState::Completed {
            let tick = ((t - HOUR_START_US) / 10_000_000).clamp(0, ticks as i64 - 1) as usize;
            completed_per_tick[tick][shape_i] += 1;
            if shape_i == 0 {
                // The seed's business metric: one order value per order.
                let value = (rng.random_range(500..50_000) as f64) / 100.0;
                emit(metric(&order_value, MetricType::Histogram, "{}", value, t))?;
                summary.custom_metrics += 1;
            }
        }
    }
    summary.system_samples += write_samples(&emit, &mut rng, span_us)?;
    summary.custom_metrics += write_metrics(&emit, &mut rng, &names, &completed_per_tick)?;
    summary.alerts += write_alerts(&emit, writer, span_us)?;
    let served: Vec<&str> = WORKERS.iter().map(|w| w.name).collect();
    for host in &hosts {
        emit(Record::HostSeen(HostSeen {
            name: Arc::clone(host),
            workers: served.join(","),
            concurrency: 64,
            first_seen_us: HOUR_START_US,
            last_heartbeat_us: HOUR_START_US + span_us - 1,
            reclaimed: 0,
            duplicates: 0,
        }))?;
    }
    writer.blocking_flush().context("flushing the writer")?;
    summary.ingest_marks.push(IngestMark {
        executions: summary.executions,
        at_s: clock.elapsed().as_secs_f64(),
        records_committed: writer.stats().records_committed,
    });
    Ok(summary)
}

/// A dispatched event and what [`finish`] needs of it.
struct Dispatched {
    id: i64,
    worker: Arc<str>,
    event_type: EventType,
    dispatched_at_us: i64,
    payload_size_bytes: i64,
    picked_up_at_us: i64,
    processing_at_us: i64,
}

#[allow(
    clippy::too_many_arguments,
    reason = "one column of the event row each"
)]
fn event(
    rng: &mut ChaCha8Rng,
    writer: &Writer,
    names: &Names,
    workflow_id: i64,
    event_type: EventType,
    step: Arc<str>,
    w: usize,
    attempt: u32,
    at: i64,
) -> (EventDispatched, Dispatched) {
    let id = writer.next_id();
    let payload = rng.random_range(50..2_000);
    let picked = at + rng.random_range(20..500);
    let processing = picked + rng.random_range(10..200);
    (
        EventDispatched {
            id,
            workflow_id,
            event_type,
            step,
            worker: Arc::clone(&names.workers[w]),
            attempt,
            dispatched_at_us: at,
            payload_size_bytes: payload,
        },
        Dispatched {
            id,
            worker: Arc::clone(&names.workers[w]),
            event_type,
            dispatched_at_us: at,
            payload_size_bytes: payload,
            picked_up_at_us: picked,
            processing_at_us: processing,
        },
    )
}

fn finish(rng: &mut ChaCha8Rng, d: &Dispatched, w: usize, cancel: bool) -> EventFinished {
    let model = &WORKERS[w];
    let timeout_us = model.timeout_ms * 1000;
    let sampled = (model.median_ms * 1000.0 * (model.sigma * normal(rng)).exp()) as i64;
    let mut duration = sampled.max(200);
    let (outcome, message) = if cancel {
        duration = duration.min(timeout_us) / 2;
        (EventOutcome::Cancelled, None)
    } else if rng.random_ratio(model.hang_per_mille, 1000) || duration > timeout_us {
        duration = timeout_us;
        (
            EventOutcome::Timeout,
            Some(format!(
                "TimeoutError: step exceeded its timeout of {} ms",
                model.timeout_ms
            )),
        )
    } else if rng.random_ratio(model.fail_per_mille, 1000) {
        // Failures tend to be quick.
        duration = (duration / 4).max(200);
        let m = ERROR_MESSAGES[rng.random_range(0..ERROR_MESSAGES.len())];
        (EventOutcome::Failed, Some(m.to_string()))
    } else {
        (EventOutcome::Completed, None)
    };
    let error_type = message
        .as_deref()
        .map(|m| crate::worker::error_type(m).to_string());
    EventFinished {
        id: d.id,
        outcome,
        picked_up_at_us: Some(d.picked_up_at_us),
        processing_at_us: Some(d.processing_at_us),
        finished_at_us: d.processing_at_us + duration,
        duration_us: duration,
        result_size_bytes: (outcome == EventOutcome::Completed).then(|| rng.random_range(20..500)),
        error_type,
        error_message: message,
        worker: Arc::clone(&d.worker),
        event_type: d.event_type,
        dispatched_at_us: d.dispatched_at_us,
        payload_size_bytes: d.payload_size_bytes,
        host: None,
    }
}

fn metric(name: &str, ty: MetricType, labels: &str, value: f64, at: i64) -> Record {
    Record::Metric(MetricObservation {
        name: name.to_string(),
        metric_type: ty,
        labels_json: labels.to_string(),
        value,
        recorded_at_us: at,
    })
}

/// A system sample every 10 s of the span.
fn write_samples(
    emit: &impl Fn(Record) -> BenchResult<()>,
    rng: &mut ChaCha8Rng,
    span_us: i64,
) -> BenchResult<u64> {
    let mut n = 0;
    let total_memory = 16_i64 << 30;
    for tick in 0..span_us / 10_000_000 {
        let at = HOUR_START_US + tick * 10_000_000 + rng.random_range(0..1_000);
        let cpu = 35.0 + 30.0 * rng.random::<f64>();
        let mem = 40.0 + 10.0 * rng.random::<f64>();
        emit(Record::SystemSample(SystemSample {
            sampled_at_us: at,
            cpu_usage_percent: cpu,
            memory_usage_percent: mem,
            memory_used_bytes: (total_memory as f64 * mem / 100.0) as i64,
            memory_total_bytes: total_memory,
            load_avg_1m: 1.0 + rng.random::<f64>(),
            load_avg_5m: 1.2 + 0.5 * rng.random::<f64>(),
            load_avg_15m: 1.3 + 0.2 * rng.random::<f64>(),
            process_cpu_percent: cpu * 0.8,
            process_rss_bytes: 40 << 20,
            active_connections: rng.random_range(1..8),
            active_workflows: rng.random_range(100..400),
        }))?;
        n += 1;
    }
    Ok(n)
}

/// Every 10 s: completed-workflow counters per workflow name, the
/// `workflow_completion_rate` gauge, and an `average_step_duration`
/// histogram observation per worker.
fn write_metrics(
    emit: &impl Fn(Record) -> BenchResult<()>,
    rng: &mut ChaCha8Rng,
    names: &Names,
    completed: &[[u64; 4]],
) -> BenchResult<u64> {
    let mut n = 0;
    let label = |key: &str, value: &str, metric: &str| -> BenchResult<String> {
        let mut labels = Labels::new();
        labels.insert(key.to_string(), value.to_string());
        Ok(labels_json(metric, &labels)?)
    };
    for (tick, counts) in completed.iter().enumerate() {
        let at = HOUR_START_US + tick as i64 * 10_000_000 + 5_000_000;
        for (s, name) in names.workflows.iter().enumerate() {
            let labels = label("workflow", name, "workflows_completed_total")?;
            emit(metric(
                "workflows_completed_total",
                MetricType::Counter,
                &labels,
                counts[s] as f64,
                at,
            ))?;
            n += 1;
        }
        emit(metric(
            "workflow_completion_rate",
            MetricType::Gauge,
            "{}",
            0.85 + 0.1 * rng.random::<f64>(),
            at,
        ))?;
        n += 1;
        for (w, model) in WORKERS.iter().enumerate() {
            let labels = label("worker", &names.workers[w], "average_step_duration")?;
            let value = model.median_ms * (0.3 * normal(rng)).exp();
            emit(metric(
                "average_step_duration",
                MetricType::Histogram,
                &labels,
                value,
                at,
            ))?;
            n += 1;
        }
    }
    Ok(n)
}

/// Alerts that fire and resolve through the span; the last of each kind
/// is still firing at its end.
fn write_alerts(
    emit: &impl Fn(Record) -> BenchResult<()>,
    writer: &Writer,
    span_us: i64,
) -> BenchResult<u64> {
    let kinds = [
        ("high_error_rate", "flaky_processor", "critical", 25.0, 20.0),
        ("slow_worker", "slow_processor", "warning", 2_400.0, 2_000.0),
        ("high_latency", "", "warning", 1_200.0, 1_000.0),
    ];
    let mut n = 0;
    for (k, (kind, subject, severity, value, threshold)) in kinds.iter().enumerate() {
        let mut at = HOUR_START_US + (k as i64 + 1) * 2 * MINUTE_US;
        while at < HOUR_START_US + span_us {
            let id = writer.next_id();
            emit(Record::AlertFired(AlertFired {
                id,
                alert_type: kind.to_string(),
                subject: subject.to_string(),
                severity: severity.to_string(),
                message: format!("{kind} {subject}: {value} exceeds the threshold {threshold}"),
                value: Some(*value),
                threshold: Some(*threshold),
                fired_at_us: at,
                details_json: "{}".to_string(),
            }))?;
            n += 1;
            let resolved = at + 3 * MINUTE_US;
            if resolved < HOUR_START_US + span_us {
                emit(Record::AlertResolved {
                    id,
                    resolved_at_us: resolved,
                })?;
            }
            at += 7 * MINUTE_US;
        }
    }
    Ok(n)
}

/// FNV-1a, for the cache key.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The cache file for `spec` in `dir`: size, seed, generator version and a
/// hash of the schema in its name.
pub fn cache_path(dir: &Path, spec: &DatasetSpec) -> PathBuf {
    // The schema version too: a later migration changes what the file holds.
    let schema = fnv1a(crate::sql::migrations::M0001_INITIAL.as_bytes())
        ^ crate::store::migrate::SCHEMA_VERSION as u64;
    dir.join(format!(
        "queries-{}x-{}h-seed{}-g{}-s{:08x}.db",
        spec.executions,
        spec.hours,
        spec.seed,
        GENERATOR_VERSION,
        schema & 0xffff_ffff
    ))
}

/// The dataset file and how it was obtained.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Prepared {
    /// The database file.
    pub path: PathBuf,
    /// Whether it came from the cache.
    pub cached: bool,
    /// Seconds generating it took (when cached: as recorded by the run
    /// that generated it, 0 if unknown).
    pub generation_s: f64,
    /// What was generated (read back from the file when cached).
    pub summary: DatasetSummary,
}

/// Returns the cached dataset for `spec` in `cache_dir`, generating it
/// first when it is missing. Generation writes to a temporary name and
/// renames it when complete, so an interrupted run leaves no half file.
pub async fn prepare(cache_dir: &Path, spec: DatasetSpec) -> BenchResult<Prepared> {
    std::fs::create_dir_all(cache_dir)
        .with_context(|| format!("cannot create {}", cache_dir.display()))?;
    let path = cache_path(cache_dir, &spec);
    let sidecar = path.with_extension("json");
    if path.exists() {
        // The sidecar keeps what generation measured; without it, count.
        let recorded: Option<(DatasetSummary, f64)> = std::fs::read_to_string(&sidecar)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| {
                Some((
                    serde_json::from_value(v.get("summary")?.clone()).ok()?,
                    v.get("generation_s")?.as_f64()?,
                ))
            });
        let (summary, generation_s) = match recorded {
            Some(r) => r,
            None => {
                let p = path.clone();
                (
                    tokio::task::spawn_blocking(move || summarize(&p)).await??,
                    0.0,
                )
            }
        };
        return Ok(Prepared {
            path,
            cached: true,
            generation_s,
            summary,
        });
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    super::remove_db(&tmp);
    let started = Instant::now();
    let t = tmp.clone();
    let summary = tokio::task::spawn_blocking(move || generate_file(&t, &spec)).await??;
    let generation = started.elapsed();
    std::fs::rename(&tmp, &path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
    super::remove_db(&tmp);
    let _ = std::fs::write(
        &sidecar,
        serde_json::json!({"summary": summary, "generation_s": generation.as_secs_f64()})
            .to_string(),
    );
    Ok(Prepared {
        path,
        cached: false,
        generation_s: generation.as_secs_f64(),
        summary,
    })
}

/// Generates `spec` into a new database at `path` and checkpoints it into
/// one self-contained file.
pub fn generate_file(path: &Path, spec: &DatasetSpec) -> BenchResult<DatasetSummary> {
    let run = RunInfo {
        command: format!(
            "multiagents bench (query dataset: {} executions over {} h, seed {})",
            spec.executions, spec.hours, spec.seed
        ),
        config_json: "{}".into(),
    };
    let (store, writer) = Store::open(path, &run, WriterOptions::default())
        .with_context(|| format!("cannot open {}", path.display()))?;
    let summary = generate_into(&writer, spec);
    writer.blocking_shutdown()?;
    drop(store);
    let summary = summary?;
    let conn = rusqlite::Connection::open(path)?;
    // The writer stamped its run with the wall clock of generation; the
    // rows lie in the generated span, so the run is moved onto it for
    // `report` and `--run` to ask about exactly the span (the same window
    // as the whole-span figures; the last workflows, ending just after it,
    // stay outside as they would for any window). Bench fixture SQL: no
    // query of the library does this.
    conn.execute(
        "UPDATE runs SET started_at_us = ?1, ended_at_us = ?2",
        [HOUR_START_US, HOUR_START_US + spec.span_us() - 1],
    )?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    Ok(summary)
}

/// Reads a dataset's summary back from its file.
pub fn summarize(path: &Path) -> BenchResult<DatasetSummary> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let one = |sql: &str| -> BenchResult<u64> {
        Ok(conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
    };
    Ok(DatasetSummary {
        executions: one("SELECT count(*) FROM events")?,
        workflows: one("SELECT count(*) FROM workflows")?,
        failed: one("SELECT count(*) FROM events WHERE status = 'failed'")?,
        timeouts: one("SELECT count(*) FROM events WHERE status = 'timeout'")?,
        cancelled: one("SELECT count(*) FROM events WHERE status = 'cancelled'")?,
        compensations: one("SELECT count(*) FROM events WHERE event_type = 'compensation'")?,
        system_samples: one("SELECT count(*) FROM system_samples")?,
        custom_metrics: one("SELECT count(*) FROM custom_metrics")?,
        alerts: one("SELECT count(*) FROM alerts")?,
        on_hosts: one("SELECT count(*) FROM events WHERE host_id IS NOT NULL")?,
        ingest_marks: Vec::new(),
    })
}
