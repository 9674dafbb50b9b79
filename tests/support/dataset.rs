//! A generated monitoring dataset with known contents: workflows of the
//! seed's shape (fast, slow and flaky steps), failures with the seed's error
//! messages, timeouts, retries, compensations, cancellations and in-flight
//! events, spread over several minutes. The same values are written through
//! the real writer and kept here, so tests can compute every figure
//! independently in Rust.

use std::sync::Arc;

use multiagents::store::{
    EventDispatched, EventFinished, EventOutcome, EventType, Record, WorkflowChanged,
    WorkflowStarted, WorkflowState, Writer,
};

/// The seed's flaky-worker messages; the error type is the text before ':'.
pub const ERROR_MESSAGES: [&str; 4] = [
    "NetworkError: Connection timeout",
    "ValidationError: Invalid input format",
    "ServiceUnavailable: External service down",
    "RateLimitError: Too many requests",
];

/// How long a timed-out flaky step ran before it was stopped.
pub const TIMEOUT_US: i64 = 800_000;

/// splitmix64: small, deterministic, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo) as u64) as i64
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

/// How a generated event ended.
#[derive(Debug, Clone)]
pub struct GenEnd {
    pub outcome: EventOutcome,
    pub finished_at_us: i64,
    pub duration_us: i64,
    pub error_type: Option<String>,
    pub error_message: Option<String>,
}

/// One generated event (a row of `events`).
#[derive(Debug, Clone)]
pub struct GenEvent {
    pub id: i64,
    pub workflow_id: i64,
    pub transaction_id: String,
    pub event_type: EventType,
    pub step: String,
    pub worker: String,
    pub attempt: u32,
    pub dispatched_at_us: i64,
    pub picked_up_at_us: i64,
    pub processing_at_us: i64,
    pub end: Option<GenEnd>,
    /// The worker host that ran it (`None`: in process); see
    /// [`assign_hosts`].
    pub host: Option<String>,
}

/// One generated workflow (a row of `workflows`).
#[derive(Debug, Clone)]
pub struct GenWorkflow {
    pub id: i64,
    pub transaction_id: String,
    pub created_at_us: i64,
    pub started_at_us: i64,
    pub compensating_at_us: Option<i64>,
    pub end: Option<(WorkflowState, i64)>,
}

/// Everything one run wrote.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub run_id: i64,
    pub workflows: Vec<GenWorkflow>,
    pub events: Vec<GenEvent>,
}

const STEPS: [(&str, &str); 3] = [
    ("fast_step", "fast_processor"),
    ("slow_step", "slow_processor"),
    ("flaky_step", "flaky_processor"),
];

/// Generates `count` workflows created uniformly over
/// `[t0, t0 + spread_us)`; the last `in_flight` of them are left with an
/// unfinished event and no end.
pub fn generate(
    writer: &Writer,
    seed: u64,
    count: usize,
    in_flight: usize,
    t0: i64,
    spread_us: i64,
) -> Dataset {
    let mut rng = Rng::new(seed);
    let mut data = Dataset {
        run_id: writer.run_id(),
        ..Dataset::default()
    };
    // Creation times are sorted so that ids stay in time order, as they are
    // in a real run.
    let mut created: Vec<i64> = (0..count).map(|_| t0 + rng.range(0, spread_us)).collect();
    created.sort_unstable();
    for (i, created_at) in created.into_iter().enumerate() {
        let id = writer.next_id();
        let transaction_id = format!("tx-{seed}-{i:05}");
        let started_at = created_at + rng.range(10, 200);
        let leave_unfinished = i + in_flight >= count;
        let cancel_at_slow = !leave_unfinished && rng.chance(5);
        let mut wf = GenWorkflow {
            id,
            transaction_id: transaction_id.clone(),
            created_at_us: created_at,
            started_at_us: started_at,
            compensating_at_us: None,
            end: None,
        };
        let mut t = started_at + rng.range(10, 100);
        let mut completed_steps: Vec<usize> = Vec::new();
        let mut failed = false;
        'steps: for (s, (step, worker)) in STEPS.iter().enumerate() {
            for attempt in 1..=2u32 {
                let mut ev = GenEvent {
                    id: writer.next_id(),
                    workflow_id: id,
                    transaction_id: transaction_id.clone(),
                    event_type: EventType::Command,
                    step: step.to_string(),
                    worker: worker.to_string(),
                    attempt,
                    dispatched_at_us: t,
                    picked_up_at_us: t + rng.range(50, 500),
                    processing_at_us: 0,
                    end: None,
                    host: None,
                };
                ev.processing_at_us = ev.picked_up_at_us + rng.range(10, 100);
                let p = ev.processing_at_us;
                if leave_unfinished && s == 1 {
                    data.events.push(ev);
                    break 'steps;
                }
                let end = match s {
                    0 => ok(p, rng.range(10_000, 50_000)),
                    1 if cancel_at_slow => GenEnd {
                        outcome: EventOutcome::Cancelled,
                        finished_at_us: p + 200_000,
                        duration_us: 200_000,
                        error_type: None,
                        error_message: None,
                    },
                    1 => ok(p, rng.range(500_000, 2_000_000)),
                    _ => {
                        let roll = rng.next_u64() % 100;
                        if roll < 25 {
                            let message = ERROR_MESSAGES[(rng.next_u64() % 4) as usize];
                            let d = rng.range(1_000, 20_000);
                            GenEnd {
                                outcome: EventOutcome::Failed,
                                finished_at_us: p + d,
                                duration_us: d,
                                error_type: message.split(':').next().map(str::to_string),
                                error_message: Some(message.to_string()),
                            }
                        } else if roll < 33 {
                            // Half the timeouts carry a type, half none, so
                            // both groupings are exercised.
                            let typed = rng.chance(50);
                            GenEnd {
                                outcome: EventOutcome::Timeout,
                                finished_at_us: p + TIMEOUT_US,
                                duration_us: TIMEOUT_US,
                                error_type: typed.then(|| "TimeoutError".to_string()),
                                error_message: Some(
                                    "TimeoutError: step ran past 800 ms".to_string(),
                                ),
                            }
                        } else {
                            ok(p, rng.range(100_000, 800_000))
                        }
                    }
                };
                let outcome = end.outcome;
                t = end.finished_at_us + rng.range(10, 200);
                ev.end = Some(end);
                data.events.push(ev);
                match outcome {
                    EventOutcome::Completed => {
                        completed_steps.push(s);
                        continue 'steps;
                    }
                    EventOutcome::Cancelled => {
                        wf.end = Some((WorkflowState::Cancelled, t));
                        break 'steps;
                    }
                    // A failed flaky step is retried once half the time.
                    _ if attempt == 1 && rng.chance(50) => continue,
                    _ => {
                        failed = true;
                        break 'steps;
                    }
                }
            }
        }
        if leave_unfinished {
            data.workflows.push(wf);
            continue;
        }
        if failed {
            wf.compensating_at_us = Some(t);
            for &s in completed_steps.iter().rev() {
                let dispatched = t;
                let picked = dispatched + rng.range(50, 500);
                let processing = picked + rng.range(10, 100);
                let d = rng.range(1_000, 5_000);
                data.events.push(GenEvent {
                    id: writer.next_id(),
                    workflow_id: id,
                    transaction_id: transaction_id.clone(),
                    event_type: EventType::Compensation,
                    step: STEPS[s].0.to_string(),
                    worker: "compensator".to_string(),
                    attempt: 1,
                    dispatched_at_us: dispatched,
                    picked_up_at_us: picked,
                    processing_at_us: processing,
                    end: Some(ok(processing, d)),
                    host: None,
                });
                t = processing + d + rng.range(10, 200);
            }
            wf.end = Some((WorkflowState::Compensated, t));
        } else if wf.end.is_none() {
            wf.end = Some((WorkflowState::Completed, t));
        }
        data.workflows.push(wf);
    }
    data
}

fn ok(processing_at_us: i64, duration_us: i64) -> GenEnd {
    GenEnd {
        outcome: EventOutcome::Completed,
        finished_at_us: processing_at_us + duration_us,
        duration_us,
        error_type: None,
        error_message: None,
    }
}

/// Runs the events of the dataset on worker hosts, as `--redis` does:
/// each workflow's events on `hosts[i]` drawn per event (steps of one
/// workflow may run on different hosts), except every `in_process_every`-th
/// workflow, whose events stay in process (as a step whose worker the
/// transport does not serve).
pub fn assign_hosts(data: &mut Dataset, hosts: &[&str], in_process_every: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let local: std::collections::HashSet<i64> = data
        .workflows
        .iter()
        .enumerate()
        .filter(|(i, _)| in_process_every > 0 && i % in_process_every == 0)
        .map(|(_, w)| w.id)
        .collect();
    for ev in &mut data.events {
        ev.host = (!local.contains(&ev.workflow_id))
            .then(|| hosts[(rng.next_u64() % hosts.len() as u64) as usize].to_string());
    }
}

/// Writes a dataset through the writer (blocking) and waits until it is
/// committed.
pub fn write(writer: &Writer, data: &Dataset) {
    let name: Arc<str> = Arc::from("monitoring_test");
    for wf in &data.workflows {
        writer
            .blocking_record(Record::WorkflowStarted(WorkflowStarted {
                id: wf.id,
                transaction_id: Arc::from(wf.transaction_id.as_str()),
                workflow_name: Arc::clone(&name),
                created_at_us: wf.created_at_us,
                started_at_us: wf.started_at_us,
                input_size_bytes: 20,
            }))
            .expect("record");
        for ev in data.events.iter().filter(|e| e.workflow_id == wf.id) {
            let worker: Arc<str> = Arc::from(ev.worker.as_str());
            writer
                .blocking_record(Record::EventDispatched(EventDispatched {
                    id: ev.id,
                    workflow_id: ev.workflow_id,
                    event_type: ev.event_type,
                    step: Arc::from(ev.step.as_str()),
                    worker: Arc::clone(&worker),
                    attempt: ev.attempt,
                    dispatched_at_us: ev.dispatched_at_us,
                    payload_size_bytes: 30,
                }))
                .expect("record");
            if let Some(end) = &ev.end {
                writer
                    .blocking_record(Record::EventFinished(EventFinished {
                        id: ev.id,
                        outcome: end.outcome,
                        picked_up_at_us: Some(ev.picked_up_at_us),
                        processing_at_us: Some(ev.processing_at_us),
                        finished_at_us: end.finished_at_us,
                        duration_us: end.duration_us,
                        result_size_bytes: Some(10),
                        error_type: end.error_type.clone(),
                        error_message: end.error_message.clone(),
                        worker,
                        event_type: ev.event_type,
                        dispatched_at_us: ev.dispatched_at_us,
                        payload_size_bytes: 30,
                        host: ev.host.as_deref().map(Arc::from),
                    }))
                    .expect("record");
            }
        }
        let change = |state, at_us| {
            Record::WorkflowChanged(WorkflowChanged {
                id: wf.id,
                state,
                at_us,
                current_step: None,
                error: None,
                workflow_name: Arc::clone(&name),
                created_at_us: wf.created_at_us,
            })
        };
        if let Some(at) = wf.compensating_at_us {
            writer
                .blocking_record(change(WorkflowState::Compensating, at))
                .expect("record");
        }
        if let Some((state, at)) = wf.end {
            writer.blocking_record(change(state, at)).expect("record");
        }
    }
    writer.blocking_flush().expect("flush");
}
