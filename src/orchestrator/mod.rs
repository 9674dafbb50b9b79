//! The orchestrator: holds workflow definitions by name, runs many workflow
//! executions concurrently on tokio, answers status questions and records
//! every lifecycle stage through the store's writer.
//!
//! Durability invariant: a terminal state is reported (by [`Orchestrator::get_status`]
//! and [`Orchestrator::wait`]) only after the writer has committed it and
//! every event and execution before it.

mod execution;
mod status;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde_json::Value;
use tokio::sync::Notify;

pub use status::{HistoryEntry, WorkflowStatus};

use crate::clock;
use crate::store::{Store, StoreError, Writer};
use crate::transport::RemoteWorkers;
use crate::worker::{Context, WorkerRegistry, json_kind};
use crate::workflow::{Workflow, WorkflowError};

/// What the orchestrator refuses or cannot answer.
#[derive(Debug, thiserror::Error)]
pub enum OrchestratorError {
    /// `execute_workflow` named a workflow nobody registered.
    #[error("unknown workflow {0:?}")]
    UnknownWorkflow(String),
    /// A transaction id this orchestrator and its database do not know.
    #[error("unknown transaction id {0:?}")]
    UnknownTransaction(String),
    /// The workflow input is not a JSON object.
    #[error("workflow input must be a JSON object, got {0}")]
    InvalidInput(&'static str),
    /// A definition failed validation.
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    /// Recording failed; the workflow's state cannot be vouched for.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Tuning of the orchestrator.
#[derive(Debug, Clone)]
pub struct OrchestratorOptions {
    /// Record every event (`event_monitoring.enabled`). Workflows are
    /// recorded either way: status and `wait` answer from them.
    pub record_events: bool,
    /// Record the size of each context and result (costs one JSON encoding
    /// per step; `event_monitoring.track_payload_size`).
    pub track_payload_size: bool,
    /// Record each event's intermediate stages, picked up and processing
    /// (`event_monitoring.detailed_timing`).
    pub detailed_timing: bool,
    /// Finished workflows whose full status (with step results) stays in
    /// memory; older ones are answered from the database. Bounded so that
    /// memory does not grow with history.
    pub finished_in_memory: usize,
    /// Worker hosts that run the steps of the workers they serve (see
    /// [`crate::transport`]); `None`: every step runs in this process.
    pub remote: Option<Arc<dyn RemoteWorkers>>,
}

impl Default for OrchestratorOptions {
    fn default() -> Self {
        OrchestratorOptions {
            record_events: true,
            track_payload_size: true,
            detailed_timing: true,
            finished_in_memory: 10_000,
            remote: None,
        }
    }
}

/// Runs workflows. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Orchestrator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Orchestrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orchestrator")
            .field("workers", &self.inner.workers)
            .field("active", &self.active_workflows())
            .finish()
    }
}

struct Inner {
    workers: WorkerRegistry,
    workflows: RwLock<HashMap<Arc<str>, Arc<Workflow>>>,
    writer: Option<Writer>,
    store: Option<Store>,
    options: OrchestratorOptions,
    runs: Mutex<Runs>,
    active: Arc<AtomicI64>,
    local_ids: AtomicI64,
    /// Failures logged at `warn`, at most a few a second.
    failure_log: crate::logging::LogThrottle,
}

/// Failures (of steps and workflows) logged at `warn` per second at most;
/// the rest are counted and the count is logged with the next one.
const FAILURE_LOG_PER_SECOND: u32 = 10;

#[derive(Default)]
struct Runs {
    by_id: HashMap<Arc<str>, Arc<WorkflowRun>>,
    finished: VecDeque<Arc<str>>,
}

/// One workflow execution in memory.
pub(crate) struct WorkflowRun {
    pub(crate) transaction_id: Arc<str>,
    pub(crate) row_id: i64,
    pub(crate) workflow: Arc<Workflow>,
    pub(crate) created_at_us: i64,
    pub(crate) status: Mutex<status::RunStatus>,
    /// Set (after the terminal state is committed and in `status`) when the
    /// run ends; `done` wakes the waiters. Cheaper than a watch channel,
    /// which woke eight lists on every state change.
    pub(crate) terminal: AtomicBool,
    pub(crate) done: Notify,
    pub(crate) cancelled: AtomicBool,
    pub(crate) cancel_notify: Notify,
    pub(crate) attempts: Mutex<Vec<tokio::task::AbortHandle>>,
    /// Set when the terminal state could not be committed.
    pub(crate) recording_error: std::sync::OnceLock<String>,
    /// Set by [`Orchestrator::interrupt_all`]: the workflow is cancelled
    /// because the process is stopping, with this as its error, and without
    /// compensations (the process is going away within a bounded time).
    pub(crate) stop_reason: std::sync::OnceLock<Arc<str>>,
}

impl WorkflowRun {
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}

impl Orchestrator {
    /// An orchestrator that records nothing (benchmarks compare against it).
    pub fn new(workers: WorkerRegistry) -> Self {
        Self::build(workers, None, None, OrchestratorOptions::default())
    }

    /// An orchestrator that records everything through `writer` and answers
    /// status questions about older workflows from `store`.
    pub fn with_store(workers: WorkerRegistry, store: Store, writer: Writer) -> Self {
        Self::build(
            workers,
            Some(store),
            Some(writer),
            OrchestratorOptions::default(),
        )
    }

    /// Full control: recording optional, options explicit.
    pub fn build(
        workers: WorkerRegistry,
        store: Option<Store>,
        writer: Option<Writer>,
        options: OrchestratorOptions,
    ) -> Self {
        Orchestrator {
            inner: Arc::new(Inner {
                workers,
                workflows: RwLock::new(HashMap::new()),
                writer,
                store,
                options,
                runs: Mutex::new(Runs::default()),
                active: Arc::new(AtomicI64::new(0)),
                local_ids: AtomicI64::new(1),
                failure_log: crate::logging::LogThrottle::new(FAILURE_LOG_PER_SECOND),
            }),
        }
    }

    /// Adds a workflow definition, checking that its workers exist.
    pub fn register_workflow(&self, workflow: Workflow) -> Result<(), OrchestratorError> {
        let remote = self.inner.options.remote.as_ref();
        workflow.check_workers(|w| {
            self.inner.workers.contains(w) || remote.is_some_and(|r| r.serves(w))
        })?;
        let mut workflows = self
            .inner
            .workflows
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        workflows.insert(Arc::clone(&workflow.name), Arc::new(workflow));
        Ok(())
    }

    /// Names of the registered workflows, sorted.
    pub fn workflow_names(&self) -> Vec<String> {
        let workflows = self
            .inner
            .workflows
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut names: Vec<String> = workflows.keys().map(|k| k.to_string()).collect();
        names.sort();
        names
    }

    /// The writer this orchestrator records through, if it records.
    pub fn writer(&self) -> Option<&Writer> {
        self.inner.writer.as_ref()
    }

    /// The transport to worker hosts, if steps run remotely.
    pub fn remote(&self) -> Option<&Arc<dyn RemoteWorkers>> {
        self.inner.options.remote.as_ref()
    }

    /// The store it reads older statuses from, if any.
    pub fn store(&self) -> Option<&Store> {
        self.inner.store.as_ref()
    }

    /// Workflows started and not yet terminal.
    pub fn active_workflows(&self) -> i64 {
        self.inner.active.load(Ordering::Relaxed)
    }

    /// A shared counter of active workflows, for the system sampler.
    pub fn active_workflows_counter(&self) -> Arc<AtomicI64> {
        Arc::clone(&self.inner.active)
    }

    /// Starts workflow `name` with `input` (a JSON object) and returns its
    /// transaction id at once; the workflow runs in the background.
    ///
    /// Refused once the writer has failed: nothing about the workflow could
    /// be recorded, so new work stops at the first failure.
    pub async fn execute_workflow(
        &self,
        name: &str,
        input: Value,
    ) -> Result<String, OrchestratorError> {
        if let Some(reason) = self.inner.writer.as_ref().and_then(|w| w.failure()) {
            return Err(OrchestratorError::Store(StoreError::WriterStopped(reason)));
        }
        let created_at_us = clock::now_us();
        let workflow = {
            let workflows = self
                .inner
                .workflows
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            workflows
                .get(name)
                .cloned()
                .ok_or_else(|| OrchestratorError::UnknownWorkflow(name.to_string()))?
        };
        let Value::Object(fields) = input else {
            return Err(OrchestratorError::InvalidInput(json_kind(&input)));
        };
        let row_id = match &self.inner.writer {
            Some(writer) => writer.next_id(),
            None => self.inner.local_ids.fetch_add(1, Ordering::Relaxed),
        };
        let transaction_id: Arc<str> = Arc::from(uuid::Uuid::now_v7().to_string());
        let steps = workflow.step_count();
        let run = Arc::new(WorkflowRun {
            transaction_id: Arc::clone(&transaction_id),
            row_id,
            workflow,
            created_at_us,
            status: Mutex::new(status::RunStatus::new(created_at_us, steps)),
            terminal: AtomicBool::new(false),
            done: Notify::new(),
            cancelled: AtomicBool::new(false),
            cancel_notify: Notify::new(),
            attempts: Mutex::new(Vec::new()),
            recording_error: std::sync::OnceLock::new(),
            stop_reason: std::sync::OnceLock::new(),
        });
        self.inner
            .runs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .by_id
            .insert(Arc::clone(&transaction_id), Arc::clone(&run));
        self.inner.active.fetch_add(1, Ordering::Relaxed);
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            execution::drive(&inner, &run, Context::new(fields)).await;
            inner.retire(&run);
        });
        Ok(transaction_id.to_string())
    }

    fn find(&self, transaction_id: &str) -> Option<Arc<WorkflowRun>> {
        self.inner
            .runs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .by_id
            .get(transaction_id)
            .cloned()
    }

    /// The state, current step, step results, error and history of a
    /// workflow. A terminal state is reported only once it is committed.
    pub fn get_status(&self, transaction_id: &str) -> Result<WorkflowStatus, OrchestratorError> {
        if let Some(run) = self.find(transaction_id) {
            return reported(&run);
        }
        match &self.inner.store {
            Some(store) => status::from_database(store, transaction_id),
            None => Err(OrchestratorError::UnknownTransaction(
                transaction_id.to_string(),
            )),
        }
    }

    /// Waits until the workflow is terminal (and committed), then returns
    /// its status.
    pub async fn wait(&self, transaction_id: &str) -> Result<WorkflowStatus, OrchestratorError> {
        let Some(run) = self.find(transaction_id) else {
            return self.get_status(transaction_id);
        };
        let done = run.done.notified();
        tokio::pin!(done);
        // Registered before the flag is read, so the end cannot slip between.
        done.as_mut().enable();
        if !run.terminal.load(Ordering::Acquire) {
            done.await;
        }
        reported(&run)
    }

    /// Stops a running workflow: running steps are aborted (recorded as
    /// `cancelled`), no further step starts, completed steps with a
    /// compensation are compensated in reverse order, and the workflow ends
    /// `cancelled`. Returns false if it had already ended.
    pub fn cancel(&self, transaction_id: &str) -> Result<bool, OrchestratorError> {
        let Some(run) = self.find(transaction_id) else {
            // Known but not in memory means finished long ago.
            self.get_status(transaction_id)?;
            return Ok(false);
        };
        Ok(stop(&run))
    }

    /// Stops every workflow still running because the process is stopping:
    /// running steps are aborted and recorded `cancelled` with `reason` as
    /// their error, no compensation runs (the process must end within a
    /// bounded time), and each workflow ends `cancelled` with `reason` as
    /// its error. Returns how many were stopped; [`Orchestrator::active_workflows`]
    /// reaches 0 once their ends are recorded.
    pub fn interrupt_all(&self, reason: &str) -> usize {
        let reason: Arc<str> = Arc::from(reason);
        let running: Vec<Arc<WorkflowRun>> = self
            .inner
            .runs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .by_id
            .values()
            .filter(|run| !run.terminal.load(Ordering::Acquire))
            .cloned()
            .collect();
        let mut stopped = 0;
        for run in running {
            // Set before the cancel flag, which is what the workflow reads.
            let _ = run.stop_reason.set(Arc::clone(&reason));
            if stop(&run) {
                stopped += 1;
            }
        }
        stopped
    }
}

/// Cancels a run: flags it, wakes its waits and aborts its running
/// attempts. False if it had already ended or was already cancelled.
fn stop(run: &WorkflowRun) -> bool {
    if run.terminal.load(Ordering::Acquire) || run.cancelled.swap(true, Ordering::AcqRel) {
        return false;
    }
    run.cancel_notify.notify_waiters();
    let attempts = std::mem::take(
        &mut *run
            .attempts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    );
    for attempt in attempts {
        attempt.abort();
    }
    true
}

/// The status of a run in memory, unless its terminal state failed to be
/// committed: then an error, never a terminal state that is not on disk.
fn reported(run: &WorkflowRun) -> Result<WorkflowStatus, OrchestratorError> {
    match run.recording_error.get() {
        Some(reason) => Err(OrchestratorError::Store(StoreError::WriterStopped(
            reason.clone(),
        ))),
        None => Ok(status::snapshot(run)),
    }
}

impl Inner {
    /// Moves a terminal run to the bounded list of finished runs.
    /// (`active` was decremented when it ended, before waiters woke.)
    fn retire(&self, run: &Arc<WorkflowRun>) {
        let mut runs = self
            .runs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        runs.finished.push_back(Arc::clone(&run.transaction_id));
        while runs.finished.len() > self.options.finished_in_memory {
            if let Some(old) = runs.finished.pop_front() {
                runs.by_id.remove(&old);
            }
        }
    }
}
