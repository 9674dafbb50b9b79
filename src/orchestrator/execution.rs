//! Running one workflow: stages in order, parallel groups concurrently, each
//! attempt in its own task (so a panic, a timeout or a cancel stops only that
//! attempt), compensations in reverse order of completion, and every stage of
//! every event sent to the writer.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::{Inner, WorkflowRun};
use crate::clock;
use crate::store::{
    EventDispatched, EventFinished, EventOutcome, EventType, Record, WorkflowChanged,
    WorkflowStarted, WorkflowState,
};
use crate::transport::{
    Call, CallEvent, RemoteResult, RemoteWorkers, Reply, TransportError, placed_stages,
};
use crate::worker::{Context, WorkerFn, WorkerResult, error_type, panic_message};
use crate::workflow::{Stage, Step};

/// Why an attempt did not complete.
struct Failure {
    outcome: EventOutcome,
    message: String,
    retryable: bool,
}

impl Failure {
    fn new(outcome: EventOutcome, message: String) -> Self {
        Failure {
            outcome,
            message,
            retryable: outcome != EventOutcome::Cancelled,
        }
    }

    fn fatal(outcome: EventOutcome, message: String) -> Self {
        Failure {
            outcome,
            message,
            retryable: false,
        }
    }
}

/// How one step (all its attempts) ended.
struct StepOutcome {
    step: Step,
    finished_at_us: i64,
    result: Result<Value, Failure>,
}

/// Counts bytes instead of storing them: the size of a JSON encoding without
/// allocating it.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn json_size<T: serde::Serialize + ?Sized>(value: &T) -> i64 {
    let mut counter = ByteCounter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => i64::try_from(counter.0).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Inner {
    /// Hands a record to the writer. If the writer has stopped, the record
    /// is lost and so the workflow can never be reported as durably done:
    /// the failure surfaces at the terminal flush.
    async fn record(&self, record: Record) {
        if let Some(writer) = &self.writer
            && let Err(e) = writer.record(record).await
        {
            match e {
                // Said once by whoever watches the writer (`Writer::failed`),
                // not once per record of every workflow still running.
                crate::store::StoreError::WriterStopped(_) => {
                    tracing::debug!(error = %e, "could not record")
                }
                _ => tracing::error!(error = %e, "could not record"),
            }
        }
    }

    /// The transport that runs `worker`'s steps, if they are remote.
    fn remote_for(&self, worker: &str) -> Option<&Arc<dyn RemoteWorkers>> {
        self.options.remote.as_ref().filter(|r| r.serves(worker))
    }

    fn next_id(&self) -> i64 {
        match &self.writer {
            Some(writer) => writer.next_id(),
            None => self.local_ids.fetch_add(1, Ordering::Relaxed),
        }
    }
}

fn set_state(run: &WorkflowRun, state: WorkflowState, at_us: i64) {
    {
        let mut status = lock(&run.status);
        status.state = state;
        status.note(at_us, state.as_str(), None);
    }
}

/// Runs the workflow to its end and records it; returns once the terminal
/// state is committed (or recording failed) and published.
pub(super) async fn drive(inner: &Inner, run: &Arc<WorkflowRun>, mut context: Context) {
    let started_at_us = clock::now_us();
    set_state(run, WorkflowState::Running, started_at_us);
    inner
        .record(Record::WorkflowStarted(WorkflowStarted {
            id: run.row_id,
            transaction_id: Arc::clone(&run.transaction_id),
            workflow_name: Arc::clone(&run.workflow.name),
            created_at_us: run.created_at_us,
            started_at_us,
            input_size_bytes: if inner.options.track_payload_size {
                json_size(context.as_map())
            } else {
                0
            },
        }))
        .await;
    tracing::debug!(
        transaction_id = %run.transaction_id,
        workflow = %run.workflow.name,
        "workflow started"
    );

    let mut completed: Vec<(Step, i64, Value)> = Vec::new();
    let mut failure: Option<String> = None;
    let mut last_step: Option<Arc<str>> = None;
    for stage in run.workflow.stages() {
        if run.is_cancelled() {
            break;
        }
        let current: Arc<str> = match stage {
            Stage::Single(step) => Arc::clone(&step.name),
            Stage::Parallel(steps) => Arc::from(
                steps
                    .iter()
                    .map(|s| s.name.as_ref())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        };
        lock(&run.status).current_step = Some(Arc::clone(&current));
        last_step = Some(current);
        let outcomes = match stage {
            Stage::Single(step) => {
                vec![
                    run_step(
                        inner,
                        run,
                        step,
                        EventType::Command,
                        &step.worker,
                        context.clone(),
                        false,
                    )
                    .await,
                ]
            }
            Stage::Parallel(steps) => run_parallel(inner, run, steps, &context).await,
        };
        for outcome in outcomes {
            match outcome.result {
                Ok(result) => {
                    if let Value::Object(fields) = &result {
                        context.merge(fields);
                    }
                    context.insert_step_result(&outcome.step.name, result.clone());
                    lock(&run.status)
                        .step_results
                        .insert(outcome.step.name.to_string(), result.clone());
                    completed.push((outcome.step, outcome.finished_at_us, result));
                }
                Err(f) => {
                    if failure.is_none() && f.outcome != EventOutcome::Cancelled {
                        failure = Some(format!(
                            "step {:?} {}: {}",
                            outcome.step.name.as_ref(),
                            f.outcome.as_str(),
                            f.message
                        ));
                    }
                }
            }
        }
        if failure.is_some() {
            break;
        }
    }

    let cancelled = run.is_cancelled();
    let stop_reason = run.stop_reason.get().cloned();
    let terminal = if failure.is_none() && !cancelled {
        WorkflowState::Completed
    } else if stop_reason.is_some() {
        // The process is stopping: no compensation, the end is recorded now.
        WorkflowState::Cancelled
    } else {
        let compensated = compensate(inner, run, &mut completed, &context).await;
        match (cancelled, compensated) {
            (true, _) => WorkflowState::Cancelled,
            (false, Ok(0)) => WorkflowState::Failed,
            (false, Ok(_)) => WorkflowState::Compensated,
            (false, Err(e)) => {
                failure = Some(format!("{}; {e}", failure.unwrap_or_default()));
                WorkflowState::Failed
            }
        }
    };
    let error = if let Some(reason) = stop_reason {
        Some(reason.to_string())
    } else if cancelled {
        Some("cancelled".to_string())
    } else {
        failure
    };
    finish(inner, run, terminal, last_step, error).await;
}

/// Records the terminal state, waits for the commit, then publishes it.
async fn finish(
    inner: &Inner,
    run: &WorkflowRun,
    terminal: WorkflowState,
    last_step: Option<Arc<str>>,
    error: Option<String>,
) {
    let ended_at_us = clock::now_us();
    if let Some(writer) = &inner.writer {
        // The terminal record carries its own flush: once acknowledged, it
        // and every record before it are committed.
        let terminal_record = Record::WorkflowChanged(WorkflowChanged {
            id: run.row_id,
            state: terminal,
            at_us: ended_at_us,
            current_step: last_step,
            error: error.clone(),
            workflow_name: Arc::clone(&run.workflow.name),
            created_at_us: run.created_at_us,
        });
        if let Err(e) = writer.record_and_flush(terminal_record).await {
            // The terminal state is not on disk: status and wait report the
            // failure instead of the state (the durability invariant).
            let _ = run.recording_error.set(e.to_string());
        }
    }
    let duration_ms = (ended_at_us - run.created_at_us) as f64 / 1000.0;
    let failed = matches!(terminal, WorkflowState::Failed | WorkflowState::Compensated);
    let warned = failed
        && tracing::enabled!(tracing::Level::WARN)
        && match inner.failure_log.admit() {
            Some(held_back) => {
                tracing::warn!(
                    transaction_id = %run.transaction_id,
                    workflow = %run.workflow.name,
                    state = terminal.as_str(),
                    error = error.as_deref().unwrap_or(""),
                    duration_ms,
                    failures_not_logged = held_back,
                    "workflow failed"
                );
                true
            }
            None => false,
        };
    if !warned {
        tracing::debug!(
            transaction_id = %run.transaction_id,
            workflow = %run.workflow.name,
            state = terminal.as_str(),
            error = error.as_deref().unwrap_or(""),
            duration_ms,
            "workflow finished"
        );
    }
    {
        let mut status = lock(&run.status);
        status.state = terminal;
        status.error = error;
        status.note(ended_at_us, terminal.as_str(), None);
    }
    // No longer active by the time anyone learns it ended.
    inner.active.fetch_sub(1, Ordering::Relaxed);
    run.terminal.store(true, Ordering::Release);
    run.done.notify_waiters();
}

/// Runs a parallel group: each step in its own task, so they really run at
/// the same time (on several threads when the runtime has them).
async fn run_parallel(
    inner: &Inner,
    run: &Arc<WorkflowRun>,
    steps: &[Step],
    context: &Context,
) -> Vec<StepOutcome> {
    // The steps borrow `inner`, which outlives the workflow; join them all on
    // this task but drive each attempt in a spawned task (see run_attempt),
    // which is where the work happens.
    let futures = steps.iter().map(|step| {
        run_step(
            inner,
            run,
            step,
            EventType::Command,
            &step.worker,
            context.clone(),
            true,
        )
    });
    join_all(futures).await
}

/// Polls futures concurrently and returns their outputs in order.
async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// Compensates completed steps that have a compensation worker, most
/// recently completed first. Returns how many ran, or the first failure.
async fn compensate(
    inner: &Inner,
    run: &Arc<WorkflowRun>,
    completed: &mut [(Step, i64, Value)],
    context: &Context,
) -> Result<usize, String> {
    completed.sort_by_key(|(_, finished_at, _)| std::cmp::Reverse(*finished_at));
    let to_run: Vec<&(Step, i64, Value)> = completed
        .iter()
        .filter(|(step, _, _)| step.compensation.is_some())
        .collect();
    if to_run.is_empty() {
        return Ok(0);
    }
    let at_us = clock::now_us();
    set_state(run, WorkflowState::Compensating, at_us);
    inner
        .record(Record::WorkflowChanged(WorkflowChanged {
            id: run.row_id,
            state: WorkflowState::Compensating,
            at_us,
            current_step: None,
            error: None,
            workflow_name: Arc::clone(&run.workflow.name),
            created_at_us: run.created_at_us,
        }))
        .await;
    let mut first_error = None;
    for (step, _, result) in &to_run {
        let Some(worker) = &step.compensation else {
            continue;
        };
        let mut comp_context = context.clone();
        comp_context.insert(
            "compensating_step".into(),
            Value::String(step.name.to_string()),
        );
        comp_context.insert("step_result".into(), result.clone());
        // A compensation runs once, even after a cancel: undoing is the point.
        let plain = Step {
            retry: crate::workflow::RetryPolicy::none(),
            ..(*step).clone()
        };
        let outcome = run_step(
            inner,
            run,
            &plain,
            EventType::Compensation,
            worker,
            comp_context,
            false,
        )
        .await;
        let ok = outcome.result.is_ok();
        lock(&run.status).note(
            clock::now_us(),
            if ok {
                "compensation_completed"
            } else {
                "compensation_failed"
            },
            Some(&step.name),
        );
        if let Err(f) = outcome.result
            && first_error.is_none()
        {
            first_error = Some(format!(
                "compensation of step {:?} failed: {}",
                step.name.as_ref(),
                f.message
            ));
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(to_run.len()),
    }
}

/// Runs a step with its retries. `worker` is the step's worker, or its
/// compensation worker for compensation events.
async fn run_step(
    inner: &Inner,
    run: &Arc<WorkflowRun>,
    step: &Step,
    event_type: EventType,
    worker: &Arc<str>,
    context: Context,
    own_task: bool,
) -> StepOutcome {
    let mut attempt = 1u32;
    loop {
        lock(&run.status).note(clock::now_us(), "step_started", Some(&step.name));
        let (outcome, finished_at_us, result) = match inner.remote_for(worker) {
            Some(remote) => {
                run_remote_attempt(
                    inner,
                    remote,
                    run,
                    step,
                    event_type,
                    worker,
                    &mut attempt,
                    &context,
                )
                .await
            }
            None => {
                run_attempt(
                    inner, run, step, event_type, worker, attempt, &context, own_task,
                )
                .await
            }
        };
        let event = match outcome {
            EventOutcome::Completed => "step_completed",
            EventOutcome::Failed => "step_failed",
            EventOutcome::Timeout => "step_timeout",
            EventOutcome::Cancelled => "step_cancelled",
        };
        lock(&run.status).note(finished_at_us, event, Some(&step.name));
        let failure = match result {
            Ok(value) => {
                return StepOutcome {
                    step: step.clone(),
                    finished_at_us,
                    result: Ok(value),
                };
            }
            Err(failure) => failure,
        };
        let pause = if failure.retryable && event_type == EventType::Command && !run.is_cancelled()
        {
            step.retry.backoff_after(attempt)
        } else {
            None
        };
        let resumed = match pause {
            Some(pause) => sleep_unless_cancelled(run, pause).await,
            None => false,
        };
        if !resumed {
            return StepOutcome {
                step: step.clone(),
                finished_at_us,
                result: Err(failure),
            };
        }
        attempt += 1;
    }
}

/// Sleeps, waking early on cancel. Returns false if cancelled.
async fn sleep_unless_cancelled(run: &WorkflowRun, pause: Duration) -> bool {
    let notified = run.cancel_notify.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    if run.is_cancelled() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(pause) => !run.is_cancelled(),
        _ = notified => false,
    }
}

/// How a worker call ended.
enum Ended {
    Returned(WorkerResult),
    Panicked(Box<dyn std::any::Any + Send>),
    TimedOut,
    Cancelled,
}

/// Runs the worker in its own task (parallel groups: so that they use
/// every thread of the runtime). A panic, a timeout or a cancel (which
/// aborts the task through `run.attempts`) stops only this attempt.
async fn in_own_task(
    run: &Arc<WorkflowRun>,
    step: &Step,
    event_type: EventType,
    f: &WorkerFn,
    stamps: &Arc<[AtomicI64; 2]>,
    context: &Context,
) -> Ended {
    let f = Arc::clone(f);
    let task_stamps = Arc::clone(stamps);
    let task_context = context.clone();
    let mut handle = tokio::spawn(async move {
        task_stamps[0].store(clock::now_us(), Ordering::Relaxed);
        let future = f(task_context);
        task_stamps[1].store(clock::now_us(), Ordering::Relaxed);
        future.await
    });
    {
        let mut attempts = lock(&run.attempts);
        attempts.push(handle.abort_handle());
    }
    // A cancel between the check in drive() and registering the
    // handle would otherwise be missed.
    if run.is_cancelled() && event_type == EventType::Command {
        handle.abort();
    }
    let joined = match step.timeout {
        Some(limit) => match tokio::time::timeout(limit, &mut handle).await {
            Ok(joined) => Some(joined),
            Err(_) => {
                handle.abort();
                None
            }
        },
        None => Some((&mut handle).await),
    };
    {
        let id = handle.id();
        lock(&run.attempts).retain(|h| h.id() != id);
    }
    match joined {
        None => Ended::TimedOut,
        Some(Ok(result)) => Ended::Returned(result),
        Some(Err(join)) if join.is_panic() => Ended::Panicked(join.into_panic()),
        Some(Err(_)) => Ended::Cancelled,
    }
}

/// Runs the worker on the workflow's own task: no task to spawn, schedule
/// and join, which was most of a no-op step's cost. Isolation is the same:
/// a panic is caught (at the call and at every poll), a timeout drops the
/// worker's future, and a cancel (`cancel_notify`) drops it as aborting
/// its task would.
async fn inline(
    run: &Arc<WorkflowRun>,
    step: &Step,
    event_type: EventType,
    f: &WorkerFn,
    stamps: &Arc<[AtomicI64; 2]>,
    context: &Context,
) -> Ended {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    let notified = run.cancel_notify.notified();
    tokio::pin!(notified);
    // Registered before the flag is read, so a cancel cannot slip between.
    notified.as_mut().enable();
    if run.is_cancelled() && event_type == EventType::Command {
        return Ended::Cancelled;
    }
    let work = async {
        stamps[0].store(clock::now_us(), Ordering::Relaxed);
        let mut future = match catch_unwind(AssertUnwindSafe(|| f(context.clone()))) {
            Ok(future) => future,
            Err(payload) => return Ended::Panicked(payload),
        };
        stamps[1].store(clock::now_us(), Ordering::Relaxed);
        std::future::poll_fn(|cx| {
            match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
                Ok(std::task::Poll::Ready(result)) => {
                    std::task::Poll::Ready(Ended::Returned(result))
                }
                Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
                Err(payload) => std::task::Poll::Ready(Ended::Panicked(payload)),
            }
        })
        .await
    };
    let limited = async {
        match step.timeout {
            Some(limit) => tokio::time::timeout(limit, work)
                .await
                .unwrap_or(Ended::TimedOut),
            None => work.await,
        }
    };
    tokio::select! {
        biased;
        ended = limited => ended,
        _ = notified => Ended::Cancelled,
    }
}

/// One attempt: dispatch, run the worker (inline, or in its own task for a
/// parallel group), record the end.
#[allow(
    clippy::too_many_arguments,
    reason = "the attempt's coordinates; a struct would only rename them"
)]
async fn run_attempt(
    inner: &Inner,
    run: &Arc<WorkflowRun>,
    step: &Step,
    event_type: EventType,
    worker: &Arc<str>,
    attempt: u32,
    context: &Context,
    own_task: bool,
) -> (EventOutcome, i64, Result<Value, Failure>) {
    let payload_size_bytes = if inner.options.track_payload_size && inner.options.record_events {
        json_size(context.as_map())
    } else {
        0
    };
    let dispatched = record_dispatch(
        inner,
        run,
        step,
        event_type,
        worker,
        attempt,
        payload_size_bytes,
    )
    .await;

    // Stage timestamps the attempt writes: picked up, processing.
    let stamps = Arc::new([AtomicI64::new(0), AtomicI64::new(0)]);
    let result = match inner.workers.get(worker) {
        None => Err(Failure::fatal(
            EventOutcome::Failed,
            format!("UnknownWorker: no worker named {worker:?}"),
        )),
        Some(f) => {
            let ended = if own_task {
                in_own_task(run, step, event_type, f, &stamps, context).await
            } else {
                inline(run, step, event_type, f, &stamps, context).await
            };
            match ended {
                Ended::TimedOut => Err(timed_out(step)),
                Ended::Returned(Ok(Value::Object(fields))) => Ok(Value::Object(fields)),
                Ended::Returned(Ok(other)) => Err(Failure::fatal(
                    EventOutcome::Failed,
                    format!(
                        "InvalidResult: worker {worker:?} returned {}, expected a JSON object",
                        super::json_kind(&other)
                    ),
                )),
                Ended::Returned(Err(e)) => Err(Failure {
                    outcome: EventOutcome::Failed,
                    retryable: e.is_retryable(),
                    message: e.message().to_string(),
                }),
                Ended::Panicked(payload) => {
                    Err(Failure::new(EventOutcome::Failed, panic_message(payload)))
                }
                Ended::Cancelled => Err(cancelled(run)),
            }
        }
    };
    let finished_at_us = clock::now_us();
    let stamp = |i: usize| Some(stamps[i].load(Ordering::Relaxed)).filter(|&t| t > 0);
    let processing_at_us = stamp(1);
    let stages = Stages {
        picked_up_at_us: stamp(0),
        processing_at_us,
        finished_at_us,
        duration_us: processing_at_us.map_or(0, |p| finished_at_us - p),
        host: None,
    };
    record_end(inner, run, &dispatched, &result, stages).await;
    (outcome_of(&result), finished_at_us, result)
}

/// The coordinates of one recorded attempt.
struct Attempt<'a> {
    id: i64,
    step: &'a Step,
    worker: &'a Arc<str>,
    event_type: EventType,
    number: u32,
    dispatched_at_us: i64,
    payload_size_bytes: i64,
}

/// When an attempt's stages happened (on this process's clock) and where.
struct Stages {
    picked_up_at_us: Option<i64>,
    processing_at_us: Option<i64>,
    finished_at_us: i64,
    duration_us: i64,
    host: Option<Arc<str>>,
}

impl Stages {
    /// An attempt that ended at `at_us` without its worker running (as far
    /// as this process knows).
    fn not_run(at_us: i64, host: Option<Arc<str>>) -> Self {
        Stages {
            picked_up_at_us: None,
            processing_at_us: None,
            finished_at_us: at_us,
            duration_us: 0,
            host,
        }
    }
}

/// Logs an attempt's end and records it (its event's end).
async fn record_end(
    inner: &Inner,
    run: &WorkflowRun,
    attempt: &Attempt<'_>,
    result: &Result<Value, Failure>,
    stages: Stages,
) {
    log_attempt(
        inner,
        run,
        attempt.step,
        attempt.worker,
        attempt.number,
        result,
        stages.finished_at_us - attempt.dispatched_at_us,
    );
    if !inner.options.record_events {
        return;
    }
    // Without detailed timing the intermediate stages are not recorded; the
    // duration (the worker's own time) still is.
    let (picked_up_at_us, processing_at_us) = if inner.options.detailed_timing {
        (stages.picked_up_at_us, stages.processing_at_us)
    } else {
        (None, None)
    };
    let (outcome, result_size_bytes, error) = match result {
        Ok(value) => (
            EventOutcome::Completed,
            inner.options.track_payload_size.then(|| json_size(value)),
            None,
        ),
        Err(f) => (f.outcome, None, Some(f.message.as_str())),
    };
    inner
        .record(Record::EventFinished(EventFinished {
            id: attempt.id,
            outcome,
            picked_up_at_us,
            processing_at_us,
            finished_at_us: stages.finished_at_us,
            duration_us: stages.duration_us,
            result_size_bytes,
            error_type: error.map(|m| error_type(m).to_string()),
            error_message: error.map(str::to_string),
            worker: Arc::clone(attempt.worker),
            event_type: attempt.event_type,
            dispatched_at_us: attempt.dispatched_at_us,
            payload_size_bytes: attempt.payload_size_bytes,
            host: stages.host,
        }))
        .await;
}

/// Records an attempt's dispatch; returns the attempt as recorded.
async fn record_dispatch<'a>(
    inner: &Inner,
    run: &WorkflowRun,
    step: &'a Step,
    event_type: EventType,
    worker: &'a Arc<str>,
    attempt: u32,
    payload_size_bytes: i64,
) -> Attempt<'a> {
    let event_id = inner.next_id();
    let dispatched_at_us = clock::now_us();
    if inner.options.record_events {
        inner
            .record(Record::EventDispatched(EventDispatched {
                id: event_id,
                workflow_id: run.row_id,
                event_type,
                step: Arc::clone(&step.name),
                worker: Arc::clone(worker),
                attempt,
                dispatched_at_us,
                payload_size_bytes,
            }))
            .await;
    }
    tracing::debug!(
        transaction_id = %run.transaction_id,
        step = %step.name,
        worker = %worker,
        attempt,
        event_id,
        "step dispatched"
    );
    Attempt {
        id: event_id,
        step,
        worker,
        event_type,
        number: attempt,
        dispatched_at_us,
        payload_size_bytes,
    }
}

/// The failure of an attempt the workflow's cancel (or the process's stop)
/// ended.
fn cancelled(run: &WorkflowRun) -> Failure {
    Failure::new(
        EventOutcome::Cancelled,
        if run.stop_reason.get().is_some() {
            crate::store::lifecycle::INTERRUPTED_EVENT_ERROR.to_string()
        } else {
            "Cancelled: workflow was cancelled".to_string()
        },
    )
}

/// The failure of an attempt that ran past its step's timeout.
fn timed_out(step: &Step) -> Failure {
    Failure::new(
        EventOutcome::Timeout,
        format!(
            "TimeoutError: step {:?} exceeded its timeout of {} ms",
            step.name.as_ref(),
            step.timeout.map_or(0, |t| t.as_millis())
        ),
    )
}

/// One attempt on a worker host (see [`crate::transport`]): the dispatch
/// is recorded here, and the end with the host's stages (placed on this
/// clock by [`placed_stages`]) when its reply comes. The step's timeout and
/// a cancel are enforced here: waiting stops, and a reply that comes later
/// is counted by the transport as a duplicate. A delivery that another host
/// reclaimed from a lost one ends this attempt `failed` ("HostLost") and
/// records the next attempt, which the reclaiming host runs.
#[allow(
    clippy::too_many_arguments,
    reason = "the attempt's coordinates, as run_attempt"
)]
async fn run_remote_attempt(
    inner: &Inner,
    remote: &Arc<dyn RemoteWorkers>,
    run: &Arc<WorkflowRun>,
    step: &Step,
    event_type: EventType,
    worker: &Arc<str>,
    attempt: &mut u32,
    context: &Context,
) -> (EventOutcome, i64, Result<Value, Failure>) {
    let notified = run.cancel_notify.notified();
    tokio::pin!(notified);
    // Registered before the flag is read, so a cancel cannot slip between.
    notified.as_mut().enable();
    let payload_size_bytes = if inner.options.track_payload_size && inner.options.record_events {
        json_size(context.as_map())
    } else {
        0
    };
    let mut current = record_dispatch(
        inner,
        run,
        step,
        event_type,
        worker,
        *attempt,
        payload_size_bytes,
    )
    .await;
    let call = Call {
        id: current.id,
        worker: Arc::clone(worker),
        step: Arc::clone(&step.name),
        event_type,
        attempt: *attempt,
        transaction_id: Arc::clone(&run.transaction_id),
        context: context.clone(),
    };
    let transport_failure = |e: TransportError| Failure {
        outcome: EventOutcome::Failed,
        retryable: e.is_retryable(),
        message: e.to_string(),
    };
    let mut deadline = step.timeout.map(|t| tokio::time::Instant::now() + t);
    let ended: Result<(Reply, i64), Failure> = async {
        if run.is_cancelled() && event_type == EventType::Command {
            return Err(cancelled(run));
        }
        let mut pending = remote.send(call).await.map_err(transport_failure)?;
        loop {
            let expiry = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let event = tokio::select! {
                biased;
                _ = &mut notified => return Err(cancelled(run)),
                _ = expiry => return Err(timed_out(step)),
                event = pending.next() => event,
            };
            match event.map_err(transport_failure)? {
                CallEvent::Replied(reply) => return Ok((reply, clock::now_us())),
                CallEvent::Reclaimed {
                    from_host,
                    by_host,
                    idle_ms,
                } => {
                    // The lost host's attempt ends here; the reclaiming
                    // host's run of the same command is the next attempt.
                    let lost = Err(Failure::new(
                        EventOutcome::Failed,
                        format!(
                            "HostLost: worker host {from_host} stopped answering for {idle_ms} ms; \
                             host {by_host} took the step over as attempt {}",
                            *attempt + 1
                        ),
                    ));
                    let now = clock::now_us();
                    let stages = Stages::not_run(now, Some(from_host));
                    record_end(inner, run, &current, &lost, stages).await;
                    lock(&run.status).note(now, "step_reclaimed", Some(&step.name));
                    *attempt += 1;
                    current = record_dispatch(
                        inner,
                        run,
                        step,
                        event_type,
                        worker,
                        *attempt,
                        payload_size_bytes,
                    )
                    .await;
                    deadline = step.timeout.map(|t| tokio::time::Instant::now() + t);
                }
            }
        }
    }
    .await;
    let (result, stages) = match ended {
        Ok((reply, received_at_us)) => {
            let placed = placed_stages(&reply, current.dispatched_at_us, received_at_us);
            let result = match reply.result {
                RemoteResult::Completed(Value::Object(fields)) => Ok(Value::Object(fields)),
                RemoteResult::Completed(other) => Err(Failure::fatal(
                    EventOutcome::Failed,
                    format!(
                        "InvalidResult: worker {worker:?} returned {}, expected a JSON object",
                        super::json_kind(&other)
                    ),
                )),
                RemoteResult::Failed { message, retryable } => Err(Failure {
                    outcome: EventOutcome::Failed,
                    message,
                    retryable,
                }),
            };
            let stages = Stages {
                picked_up_at_us: Some(placed.picked_up_at_us),
                processing_at_us: Some(placed.processing_at_us),
                finished_at_us: placed.finished_at_us,
                duration_us: placed.duration_us,
                host: Some(reply.host),
            };
            (result, stages)
        }
        Err(failure) => (Err(failure), Stages::not_run(clock::now_us(), None)),
    };
    let finished_at_us = stages.finished_at_us;
    record_end(inner, run, &current, &result, stages).await;
    (outcome_of(&result), finished_at_us, result)
}

/// The event outcome of an attempt's result.
fn outcome_of(result: &Result<Value, Failure>) -> EventOutcome {
    match result {
        Ok(_) => EventOutcome::Completed,
        Err(f) => f.outcome,
    }
}

/// The log line of an attempt's end: `debug` when it completed or was
/// cancelled, `warn` (throttled) when it failed or timed out.
fn log_attempt(
    inner: &Inner,
    run: &WorkflowRun,
    step: &Step,
    worker: &Arc<str>,
    attempt: u32,
    result: &Result<Value, Failure>,
    elapsed_us: i64,
) {
    let duration_ms = elapsed_us as f64 / 1000.0;
    match result {
        Err(f)
            if f.outcome != EventOutcome::Cancelled && tracing::enabled!(tracing::Level::WARN) =>
        {
            if let Some(held_back) = inner.failure_log.admit() {
                tracing::warn!(
                    transaction_id = %run.transaction_id,
                    step = %step.name,
                    worker = %worker,
                    attempt,
                    outcome = f.outcome.as_str(),
                    error = %f.message,
                    duration_ms,
                    failures_not_logged = held_back,
                    "step failed"
                );
            } else {
                tracing::debug!(
                    transaction_id = %run.transaction_id,
                    step = %step.name,
                    worker = %worker,
                    attempt,
                    outcome = f.outcome.as_str(),
                    error = %f.message,
                    duration_ms,
                    "step failed"
                );
            }
        }
        Err(f) => tracing::debug!(
            transaction_id = %run.transaction_id,
            step = %step.name,
            worker = %worker,
            attempt,
            outcome = f.outcome.as_str(),
            duration_ms,
            "step ended"
        ),
        Ok(_) => tracing::debug!(
            transaction_id = %run.transaction_id,
            step = %step.name,
            worker = %worker,
            attempt,
            duration_ms,
            "step completed"
        ),
    }
}
