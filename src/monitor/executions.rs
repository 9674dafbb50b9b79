//! One worker's latest executions over a window
//! (`queries/worker_executions.sql`): what the dashboard's worker view
//! derives the worker's slowest executions and its own trend from.

use rusqlite::Connection;
use serde::Serialize;

use super::MonitorError;
use super::performance::worker_id;
use super::scope::{RunScope, WindowParams};
use crate::window::TimeWindow;

/// One execution (an attempt of a step, or a compensation) that ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Execution {
    /// When it ended, µs.
    pub finished_at_us: i64,
    /// How long the worker ran, ms.
    pub duration_ms: f64,
    /// completed, failed, timeout or cancelled.
    pub status: String,
    /// The step it ran.
    pub step: String,
    /// Which attempt of the step (1 for the first).
    pub attempt: i64,
    /// The recorded error type, for a failed one.
    pub error_type: Option<String>,
    /// The workflow it belongs to (`None` if retention deleted it).
    pub transaction_id: Option<String>,
}

impl Execution {
    /// Whether it counts as an error (failed or timed out; a cancelled
    /// execution is not one, as everywhere else).
    pub fn is_error(&self) -> bool {
        matches!(self.status.as_str(), "failed" | "timeout")
    }
}

/// The executions of `worker` that ended in `window` within `scope`, newest
/// first, at most `limit`. An unknown worker is
/// [`MonitorError::UnknownWorker`]. Raw rows only: a part of the window
/// whose rows retention deleted gives none.
pub fn worker_executions(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
    worker: &str,
    limit: i64,
) -> Result<Vec<Execution>, MonitorError> {
    worker_id(conn, worker)?;
    let params = WindowParams::by_id_range(window, scope.id_bounds())
        .and(":worker", worker.to_string())
        .and(":limit", limit);
    let rows = conn
        .prepare_cached(crate::sql::queries::WORKER_EXECUTIONS)?
        .query_map(params.bind(), |row| {
            Ok(Execution {
                finished_at_us: row.get("finished_at_us")?,
                duration_ms: row.get::<_, Option<i64>>("duration_us")?.unwrap_or(0) as f64 / 1000.0,
                status: row.get("status")?,
                step: row.get("step")?,
                attempt: row.get("attempt")?,
                error_type: row.get("error_type")?,
                transaction_id: row.get("transaction_id")?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}
