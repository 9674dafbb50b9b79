//! What the runtime and the monitors hand to the writer.
//!
//! Records are small and cheap to build on the hot path: names are shared
//! `Arc<str>` taken from workflow definitions, payloads are represented by
//! their size only.

use std::sync::Arc;

/// Lifecycle state of a workflow execution (a transaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowState {
    /// Accepted, not yet started.
    Pending,
    /// Steps are running.
    Running,
    /// Every step completed.
    Completed,
    /// A step failed and nothing needed compensating.
    Failed,
    /// A step failed (or the workflow was cancelled) and completed steps are
    /// being compensated.
    Compensating,
    /// Compensations ran after a failure.
    Compensated,
    /// Stopped by `cancel`.
    Cancelled,
}

impl WorkflowState {
    /// The name stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowState::Pending => "pending",
            WorkflowState::Running => "running",
            WorkflowState::Completed => "completed",
            WorkflowState::Failed => "failed",
            WorkflowState::Compensating => "compensating",
            WorkflowState::Compensated => "compensated",
            WorkflowState::Cancelled => "cancelled",
        }
    }

    /// Whether the workflow can change no more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            WorkflowState::Completed
                | WorkflowState::Failed
                | WorkflowState::Compensated
                | WorkflowState::Cancelled
        )
    }
}

impl std::fmt::Display for WorkflowState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an event asks of a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// A step attempt: the worker does the step's work.
    Command,
    /// A compensation: the worker undoes a completed step.
    Compensation,
}

impl EventType {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Command => "command",
            EventType::Compensation => "compensation",
        }
    }

    /// Its code in `event_rows.compensation`: 0 for a command, 1 for a
    /// compensation.
    pub fn code(self) -> i64 {
        match self {
            EventType::Command => 0,
            EventType::Compensation => 1,
        }
    }
}

/// `event_rows.status_code` of an event still in flight (`dispatched`);
/// the codes are the rows of the `event_statuses` table.
pub const STATUS_DISPATCHED: i64 = 0;

/// How an event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventOutcome {
    /// The worker returned a result.
    Completed,
    /// The worker returned an error or panicked.
    Failed,
    /// The worker ran past the step's timeout and was stopped.
    Timeout,
    /// The workflow was cancelled while the worker ran.
    Cancelled,
}

impl EventOutcome {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            EventOutcome::Completed => "completed",
            EventOutcome::Failed => "failed",
            EventOutcome::Timeout => "timeout",
            EventOutcome::Cancelled => "cancelled",
        }
    }

    /// Its code in `event_rows.status_code` (the `event_statuses` table):
    /// completed is 1, which SQLite stores in no byte at all.
    pub fn code(self) -> i64 {
        match self {
            EventOutcome::Completed => 1,
            EventOutcome::Failed => 2,
            EventOutcome::Timeout => 3,
            EventOutcome::Cancelled => 4,
        }
    }
}

/// A workflow execution began: inserts its `workflows` row.
#[derive(Debug, Clone)]
pub struct WorkflowStarted {
    /// Row id (see [`super::IdAllocator`]).
    pub id: i64,
    /// The public transaction id.
    pub transaction_id: Arc<str>,
    /// The workflow definition's name.
    pub workflow_name: Arc<str>,
    /// When `execute_workflow` accepted it.
    pub created_at_us: i64,
    /// When its first step was about to be dispatched.
    pub started_at_us: i64,
    /// Size of the input JSON in bytes.
    pub input_size_bytes: i64,
}

/// A workflow changed state after it started.
#[derive(Debug, Clone)]
pub struct WorkflowChanged {
    /// Row id.
    pub id: i64,
    /// The new state (compensating or a terminal state).
    pub state: WorkflowState,
    /// When it changed.
    pub at_us: i64,
    /// The step the workflow was at, for terminal states.
    pub current_step: Option<Arc<str>>,
    /// The error that failed the workflow, if any.
    pub error: Option<String>,
    /// The definition's name, for the per-minute rollups.
    pub workflow_name: Arc<str>,
    /// When the workflow was created, for the rollup's latency.
    pub created_at_us: i64,
}

/// The orchestrator dispatched an event to a worker: inserts its `events`
/// row, so in-flight work is visible.
#[derive(Debug, Clone)]
pub struct EventDispatched {
    /// Event id (row id).
    pub id: i64,
    /// The workflow's row id.
    pub workflow_id: i64,
    /// Command or compensation.
    pub event_type: EventType,
    /// The step's name.
    pub step: Arc<str>,
    /// The worker's name.
    pub worker: Arc<str>,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// The orchestrator decided to run it.
    pub dispatched_at_us: i64,
    /// Size of the context JSON handed to the worker.
    pub payload_size_bytes: i64,
}

/// An event reached its end: completes its `events` row.
#[derive(Debug, Clone)]
pub struct EventFinished {
    /// Event id.
    pub id: i64,
    /// How it ended.
    pub outcome: EventOutcome,
    /// Its task began running (`None` if it was stopped before that).
    pub picked_up_at_us: Option<i64>,
    /// The worker function was called (`None` if it never was).
    pub processing_at_us: Option<i64>,
    /// When it ended.
    pub finished_at_us: i64,
    /// The worker's own time, processing to end (0 if it never ran).
    pub duration_us: i64,
    /// Size of the result JSON, when there is one.
    pub result_size_bytes: Option<i64>,
    /// Error classification (text before the first ':').
    pub error_type: Option<String>,
    /// The full error message.
    pub error_message: Option<String>,
    /// Repeated from the start record for the rollups.
    pub worker: Arc<str>,
    /// Repeated from the start record for the rollups.
    pub event_type: EventType,
    /// Repeated from the start record for the rollups.
    pub dispatched_at_us: i64,
    /// Repeated from the start record for the rollups.
    pub payload_size_bytes: i64,
    /// The worker host that ran it (`None`: this process).
    pub host: Option<Arc<str>>,
}

/// A worker host the orchestrator heard from (its heartbeat), with what it
/// did for this run so far: upserts the run's `run_hosts` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSeen {
    /// The host's name.
    pub name: Arc<str>,
    /// The workers it serves, comma-separated.
    pub workers: String,
    /// Steps it runs at once.
    pub concurrency: i64,
    /// When this run first heard from it (the orchestrator's clock).
    pub first_seen_us: i64,
    /// When this run last saw its heartbeat (the orchestrator's clock).
    pub last_heartbeat_us: i64,
    /// Deliveries it took over from a lost host, so far.
    pub reclaimed: i64,
    /// Replies it sent for attempts already ended, so far.
    pub duplicates: i64,
}

/// One sample of the machine and this process.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct SystemSample {
    /// When it was taken.
    pub sampled_at_us: i64,
    /// Whole-machine CPU use, percent of all cores.
    pub cpu_usage_percent: f64,
    /// Memory in use, percent of total.
    pub memory_usage_percent: f64,
    /// Memory in use, bytes.
    pub memory_used_bytes: i64,
    /// Total memory, bytes.
    pub memory_total_bytes: i64,
    /// One-minute load average.
    pub load_avg_1m: f64,
    /// Five-minute load average.
    pub load_avg_5m: f64,
    /// Fifteen-minute load average.
    pub load_avg_15m: f64,
    /// This process's CPU use, percent of one core.
    pub process_cpu_percent: f64,
    /// This process's resident memory, bytes.
    pub process_rss_bytes: i64,
    /// Database connections in use (readers checked out of the pool + the writer).
    pub active_connections: i64,
    /// Workflows not yet terminal in this process.
    pub active_workflows: i64,
}

/// Kind of a custom metric: defined with the configuration that declares
/// metrics, shared here so records and config speak of one type.
pub use crate::config::MetricType;

/// One observation of a custom metric.
#[derive(Debug, Clone)]
pub struct MetricObservation {
    /// Metric name.
    pub name: String,
    /// Its kind.
    pub metric_type: MetricType,
    /// Labels as a JSON object text (`{}` for none).
    pub labels_json: String,
    /// The observed value.
    pub value: f64,
    /// When it was observed.
    pub recorded_at_us: i64,
}

/// An alert began firing.
#[derive(Debug, Clone)]
pub struct AlertFired {
    /// Row id, so that the resolution can name it.
    pub id: i64,
    /// Rule name (`high_error_rate`, `high_latency`, `slow_worker`, `worker_failed`).
    pub alert_type: String,
    /// Worker name, or empty for system-wide alerts.
    pub subject: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// Human sentence naming the value and the threshold.
    pub message: String,
    /// The measured value.
    pub value: Option<f64>,
    /// The threshold it crossed.
    pub threshold: Option<f64>,
    /// When it fired.
    pub fired_at_us: i64,
    /// Anything else, as a JSON object text.
    pub details_json: String,
}

/// Everything the writer accepts.
#[derive(Debug)]
pub enum Record {
    /// See [`WorkflowStarted`].
    WorkflowStarted(WorkflowStarted),
    /// See [`WorkflowChanged`].
    WorkflowChanged(WorkflowChanged),
    /// See [`EventDispatched`].
    EventDispatched(EventDispatched),
    /// See [`EventFinished`].
    EventFinished(EventFinished),
    /// See [`SystemSample`].
    SystemSample(SystemSample),
    /// See [`MetricObservation`].
    Metric(MetricObservation),
    /// See [`AlertFired`].
    AlertFired(AlertFired),
    /// See [`HostSeen`].
    HostSeen(HostSeen),
    /// The alert with this id stopped firing at this time.
    AlertResolved {
        /// The alert's row id.
        id: i64,
        /// When it resolved.
        resolved_at_us: i64,
    },
}
