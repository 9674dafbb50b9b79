//! Workflow outcomes: how the workflows that ended in a window ended, and how
//! long their callers waited (created → ended), per workflow name and for
//! all of them together. `load-test` reports them; `compare` sets two runs'
//! side by side.
//!
//! success = completed; the success rate is completed / ended × 100, where
//! ended counts every terminal state (completed, failed, compensated,
//! cancelled). Unfinished workflows are not counted.

use rusqlite::{Connection, named_params};
use serde::Serialize;

use super::{MonitorError, RunScope, get_count, mean_ms, percent, us_to_ms};
use crate::window::TimeWindow;

/// `queries/workflow_outcomes.sql`.
pub const WORKFLOW_OUTCOMES_SQL: &str = include_str!("../../queries/workflow_outcomes.sql");

/// The outcomes of the workflows of one name (or of all) that ended in a
/// window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkflowOutcome {
    /// The workflow definition's name; `None` for all workflows together.
    pub workflow_name: Option<String>,
    /// Workflows that reached a terminal state in the window.
    pub total: u64,
    /// Of those, completed.
    pub completed: u64,
    /// Of those, failed.
    pub failed: u64,
    /// Of those, compensated after a failure.
    pub compensated: u64,
    /// Of those, cancelled.
    pub cancelled: u64,
    /// completed / total × 100.
    pub success_rate: f64,
    /// Mean created → ended time, milliseconds.
    pub avg_latency_ms: f64,
    /// Nearest-rank median created → ended time, milliseconds.
    pub p50_latency_ms: f64,
    /// Nearest-rank 95th percentile, milliseconds.
    pub p95_latency_ms: f64,
    /// Nearest-rank 99th percentile, milliseconds.
    pub p99_latency_ms: f64,
    /// Longest, milliseconds.
    pub max_latency_ms: f64,
    /// When the first of them was created (µs).
    pub first_created_us: i64,
    /// When the last of them ended (µs).
    pub last_ended_us: i64,
}

/// Runs `queries/workflow_outcomes.sql`: outcomes per workflow name, sorted
/// by name, then the row for all workflows (`workflow_name: None`). An empty
/// window gives an empty list.
pub fn workflow_outcomes(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
) -> Result<Vec<WorkflowOutcome>, MonitorError> {
    let (run_first, run_last) = scope.id_bounds();
    let mut stmt = conn.prepare_cached(WORKFLOW_OUTCOMES_SQL)?;
    let rows = stmt
        .query_map(
            named_params! {
                ":window_start": window.start_us,
                ":window_end": window.end_us,
                ":run_first": run_first,
                ":run_last": run_last,
            },
            |row| {
                let total = get_count(row, "total")?;
                let completed = get_count(row, "completed")?;
                let ms = |name: &str| -> rusqlite::Result<f64> {
                    Ok(row.get::<_, Option<i64>>(name)?.map_or(0.0, us_to_ms))
                };
                Ok(WorkflowOutcome {
                    workflow_name: row.get("workflow_name")?,
                    total,
                    completed,
                    failed: get_count(row, "failed")?,
                    compensated: get_count(row, "compensated")?,
                    cancelled: get_count(row, "cancelled")?,
                    success_rate: percent(completed, total),
                    avg_latency_ms: mean_ms(row.get("latency_sum_us")?, total),
                    p50_latency_ms: ms("p50_latency_us")?,
                    p95_latency_ms: ms("p95_latency_us")?,
                    p99_latency_ms: ms("p99_latency_us")?,
                    max_latency_ms: ms("max_latency_us")?,
                    first_created_us: row.get("first_created_us")?,
                    last_ended_us: row.get("last_ended_us")?,
                })
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Workflows in flight at `at_us` (created by then, not ended) in `scope`,
/// leaving out runs whose process died: they will never end, and are not in
/// flight (`queries/active_workflow_count.sql`).
pub fn active_workflow_count(
    conn: &Connection,
    scope: RunScope,
    at_us: i64,
) -> Result<i64, MonitorError> {
    let crashed = crate::store::lifecycle::dead_open_runs_json(conn)?;
    let (run_first, run_last) = scope.id_bounds();
    Ok(conn
        .prepare_cached(include_str!("../../queries/active_workflow_count.sql"))?
        .query_row(
            named_params! {
                ":window_end": at_us,
                ":run_first": run_first,
                ":run_last": run_last,
                ":crashed_runs": crashed,
            },
            |r| r.get(0),
        )?)
}
