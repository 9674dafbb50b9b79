//! What `get_status` reports, and the in-memory record it is read from.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{OrchestratorError, WorkflowRun};
use crate::clock;
use crate::store::{Store, WorkflowState};

/// One entry of a workflow's history: a state change or a step's progress.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HistoryEntry {
    /// When it happened (ISO-8601).
    pub timestamp: String,
    /// What happened: `pending`, `running`, `step_started`, `step_completed`,
    /// `step_failed`, `step_timeout`, `step_cancelled`, `compensating`,
    /// `compensation_completed`, `compensation_failed`, or a terminal state.
    pub event: &'static str,
    /// The step concerned, for step entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
}

/// A workflow's status, with the seed's keys.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WorkflowStatus {
    /// The transaction id.
    pub transaction_id: String,
    /// The definition's name.
    pub workflow_name: String,
    /// Current state.
    pub state: WorkflowState,
    /// The step running (several joined by `,` for a parallel group), or the
    /// last one for a finished workflow.
    pub current_step: Option<String>,
    /// Results of completed steps by step name. Empty for workflows answered
    /// from the database: only result sizes are stored.
    pub step_results: Map<String, Value>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// State changes and step progress in order.
    pub history: Vec<HistoryEntry>,
}

struct RawEntry {
    at_us: i64,
    event: &'static str,
    step: Option<Arc<str>>,
}

/// The mutable part of a [`WorkflowRun`].
pub(crate) struct RunStatus {
    pub(crate) state: WorkflowState,
    pub(crate) current_step: Option<Arc<str>>,
    pub(crate) step_results: Map<String, Value>,
    pub(crate) error: Option<String>,
    history: Vec<RawEntry>,
}

impl RunStatus {
    /// A pending run whose history will hold about `steps` steps' entries
    /// (sized up front: growing it was a visible share of a no-op workflow).
    pub(crate) fn new(created_at_us: i64, steps: usize) -> Self {
        let mut history = Vec::with_capacity(3 + 2 * steps);
        history.push(RawEntry {
            at_us: created_at_us,
            event: "pending",
            step: None,
        });
        RunStatus {
            state: WorkflowState::Pending,
            current_step: None,
            step_results: Map::new(),
            error: None,
            history,
        }
    }

    /// Appends a history entry.
    pub(crate) fn note(&mut self, at_us: i64, event: &'static str, step: Option<&Arc<str>>) {
        self.history.push(RawEntry {
            at_us,
            event,
            step: step.cloned(),
        });
    }
}

/// The status of a run in memory.
pub(crate) fn snapshot(run: &WorkflowRun) -> WorkflowStatus {
    let status = run
        .status
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    WorkflowStatus {
        transaction_id: run.transaction_id.to_string(),
        workflow_name: run.workflow.name().to_string(),
        state: status.state,
        current_step: status.current_step.as_deref().map(str::to_string),
        step_results: status.step_results.clone(),
        error: status.error.clone(),
        history: status
            .history
            .iter()
            .map(|e| HistoryEntry {
                timestamp: clock::format_iso(e.at_us),
                event: e.event,
                step: e.step.as_deref().map(str::to_string),
            })
            .collect(),
    }
}

fn parse_state(text: &str) -> WorkflowState {
    match text {
        "pending" => WorkflowState::Pending,
        "completed" => WorkflowState::Completed,
        "failed" => WorkflowState::Failed,
        "compensating" => WorkflowState::Compensating,
        "compensated" => WorkflowState::Compensated,
        "cancelled" => WorkflowState::Cancelled,
        _ => WorkflowState::Running,
    }
}

fn static_event(state: WorkflowState) -> &'static str {
    state.as_str()
}

/// The status of a workflow no longer in memory (or run by another process),
/// from its committed `workflows` row.
pub(crate) fn from_database(
    store: &Store,
    transaction_id: &str,
) -> Result<WorkflowStatus, OrchestratorError> {
    let conn = store.reader()?;
    let mut stmt = conn
        .prepare_cached(crate::sql::queries::WORKFLOW_STATUS)
        .map_err(crate::store::StoreError::from)?;
    let row = stmt.query_row(
        rusqlite::named_params! {":transaction_id": transaction_id},
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                [
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, Option<i64>>(6)?,
                    r.get::<_, Option<i64>>(7)?,
                ],
            ))
        },
    );
    let (workflow_name, state, current_step, error, times) = match row {
        Ok(row) => row,
        Err(rusqlite::Error::QueryReturnedNoRows) => {
            return Err(OrchestratorError::UnknownTransaction(
                transaction_id.to_string(),
            ));
        }
        Err(e) => return Err(crate::store::StoreError::from(e).into()),
    };
    let state = parse_state(&state);
    let mut history = Vec::new();
    for (at, event) in times
        .iter()
        .zip(["pending", "running", "compensating", static_event(state)])
    {
        if let Some(at) = at {
            history.push(HistoryEntry {
                timestamp: clock::format_iso(*at),
                event,
                step: None,
            });
        }
    }
    Ok(WorkflowStatus {
        transaction_id: transaction_id.to_string(),
        workflow_name,
        state,
        current_step,
        step_results: Map::new(),
        error,
        history,
    })
}
