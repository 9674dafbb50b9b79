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

use super::coverage;
use super::error::MonitorError;
use super::figures::{get_count, mean_ms, percent, us_to_ms};
use super::scope::{RunScope, WindowParams};
use crate::sql;
use crate::window::TimeWindow;

/// Fields of [`WorkflowOutcome`] that only the raw rows can give: when part
/// of a window comes from rollups they cover the raw part only (0 when there
/// is none) and answers say so.
pub const RAW_ONLY_OUTCOME_FIELDS: &[&str] =
    &["p50_latency_ms", "p95_latency_ms", "p99_latency_ms"];

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

/// Outcomes per workflow name, sorted by name, then the row for all
/// workflows (`workflow_name: None`); an empty window gives an empty list.
///
/// From the raw workflows (`queries/workflow_outcomes.sql`), and for the
/// part of the window whose raw rows retention deleted from the per-minute
/// rollups (`queries/workflow_outcomes_rollups.sql`): counts, success rate,
/// mean and longest latency add up over both parts; the percentiles cover
/// the raw part only ([`RAW_ONLY_OUTCOME_FIELDS`]), and first/last times
/// of the rollup part are whole minutes.
pub fn workflow_outcomes(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
) -> Result<Vec<WorkflowOutcome>, MonitorError> {
    let split = coverage::watermarks(conn, scope)?.split(window);
    let Some(rolled) = split.rollups else {
        return raw_workflow_outcomes(conn, window, scope);
    };
    // Per name: the rollup part, then the raw part added in.
    let mut by_name: std::collections::BTreeMap<String, (WorkflowOutcome, i64)> =
        std::collections::BTreeMap::new();
    let mut stmt = conn.prepare_cached(sql::queries::WORKFLOW_OUTCOMES_ROLLUPS)?;
    let rows = stmt
        .query_map(
            WindowParams::by_run_id(rolled, scope.run_id()).bind(),
            |row| {
                let completed = get_count(row, "completed")?;
                let failed = get_count(row, "failed")?;
                let compensated = get_count(row, "compensated")?;
                let cancelled = get_count(row, "cancelled")?;
                let name: String = row.get("workflow_name")?;
                let last_minute: i64 = row.get("last_minute_us")?;
                Ok((
                    WorkflowOutcome {
                        workflow_name: Some(name),
                        total: completed + failed + compensated + cancelled,
                        completed,
                        failed,
                        compensated,
                        cancelled,
                        success_rate: 0.0,
                        avg_latency_ms: 0.0,
                        p50_latency_ms: 0.0,
                        p95_latency_ms: 0.0,
                        p99_latency_ms: 0.0,
                        max_latency_ms: row
                            .get::<_, Option<i64>>("max_latency_us")?
                            .map_or(0.0, us_to_ms),
                        first_created_us: row.get("first_minute_us")?,
                        last_ended_us: last_minute + 59_999_999,
                    },
                    row.get::<_, i64>("latency_sum_us")?,
                ))
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    for (outcome, sum) in rows {
        if let Some(name) = outcome.workflow_name.clone() {
            by_name.insert(name, (outcome, sum));
        }
    }
    let mut raw_overall = None;
    if let Some(raw) = split.raw {
        for (o, raw_sum) in raw_rows(conn, raw, scope)? {
            let Some(name) = o.workflow_name.clone() else {
                raw_overall = Some(o);
                continue;
            };
            match by_name.get_mut(&name) {
                Some((acc, sum)) => {
                    acc.total += o.total;
                    acc.completed += o.completed;
                    acc.failed += o.failed;
                    acc.compensated += o.compensated;
                    acc.cancelled += o.cancelled;
                    acc.max_latency_ms = acc.max_latency_ms.max(o.max_latency_ms);
                    acc.first_created_us = acc.first_created_us.min(o.first_created_us);
                    acc.last_ended_us = acc.last_ended_us.max(o.last_ended_us);
                    acc.p50_latency_ms = o.p50_latency_ms;
                    acc.p95_latency_ms = o.p95_latency_ms;
                    acc.p99_latency_ms = o.p99_latency_ms;
                    *sum += raw_sum;
                }
                None => {
                    by_name.insert(name, (o, raw_sum));
                }
            }
        }
    }
    let mut out: Vec<WorkflowOutcome> = Vec::new();
    let mut all: Option<(WorkflowOutcome, i64)> = None;
    for (_, (mut o, sum)) in by_name {
        o.success_rate = percent(o.completed, o.total);
        o.avg_latency_ms = mean_ms(sum, o.total);
        match &mut all {
            None => {
                let mut first = o.clone();
                first.workflow_name = None;
                all = Some((first, sum));
            }
            Some((a, s)) => {
                a.total += o.total;
                a.completed += o.completed;
                a.failed += o.failed;
                a.compensated += o.compensated;
                a.cancelled += o.cancelled;
                a.max_latency_ms = a.max_latency_ms.max(o.max_latency_ms);
                a.first_created_us = a.first_created_us.min(o.first_created_us);
                a.last_ended_us = a.last_ended_us.max(o.last_ended_us);
                *s += sum;
            }
        }
        out.push(o);
    }
    if let Some((mut a, sum)) = all {
        a.success_rate = percent(a.completed, a.total);
        a.avg_latency_ms = mean_ms(sum, a.total);
        let raw = raw_overall.as_ref();
        a.p50_latency_ms = raw.map_or(0.0, |r| r.p50_latency_ms);
        a.p95_latency_ms = raw.map_or(0.0, |r| r.p95_latency_ms);
        a.p99_latency_ms = raw.map_or(0.0, |r| r.p99_latency_ms);
        out.push(a);
    }
    Ok(out)
}

/// Runs `queries/workflow_outcomes_rollups.sql` for the counts alone: the
/// workflows that ended in the minutes whose start lies in `window`, by
/// name and terminal state, from the per-minute rollups.
pub fn outcome_counts_from_rollups(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
) -> Result<Vec<super::totals::WorkflowOutcome>, MonitorError> {
    let mut stmt = conn.prepare_cached(sql::queries::WORKFLOW_OUTCOMES_ROLLUPS)?;
    let rows = stmt
        .query_map(
            WindowParams::by_run_id(window, scope.run_id()).bind(),
            |row| {
                let name: String = row.get("workflow_name")?;
                let mut out = Vec::new();
                for outcome in ["cancelled", "compensated", "completed", "failed"] {
                    let count = get_count(row, outcome)?;
                    if count > 0 {
                        out.push(super::totals::WorkflowOutcome {
                            workflow_name: name.clone(),
                            outcome: outcome.to_string(),
                            count,
                        });
                    }
                }
                Ok(out)
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows.into_iter().flatten().collect())
}

/// Runs `queries/workflow_outcomes.sql`: exact outcomes from the raw
/// workflows alone, whatever retention deleted.
pub fn raw_workflow_outcomes(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
) -> Result<Vec<WorkflowOutcome>, MonitorError> {
    Ok(raw_rows(conn, window, scope)?
        .into_iter()
        .map(|(o, _)| o)
        .collect())
}

/// The rows of `queries/workflow_outcomes.sql` with each group's latency
/// sum (µs), so that parts of a window add up exactly.
fn raw_rows(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
) -> Result<Vec<(WorkflowOutcome, i64)>, MonitorError> {
    let mut stmt = conn.prepare_cached(sql::queries::WORKFLOW_OUTCOMES)?;
    let rows = stmt
        .query_map(
            WindowParams::by_id_range(window, scope.id_bounds()).bind(),
            |row| {
                let total = get_count(row, "total")?;
                let completed = get_count(row, "completed")?;
                let ms = |name: &str| -> rusqlite::Result<f64> {
                    Ok(row.get::<_, Option<i64>>(name)?.map_or(0.0, us_to_ms))
                };
                let sum: i64 = row.get("latency_sum_us")?;
                Ok((
                    WorkflowOutcome {
                        workflow_name: row.get("workflow_name")?,
                        total,
                        completed,
                        failed: get_count(row, "failed")?,
                        compensated: get_count(row, "compensated")?,
                        cancelled: get_count(row, "cancelled")?,
                        success_rate: percent(completed, total),
                        avg_latency_ms: mean_ms(sum, total),
                        p50_latency_ms: ms("p50_latency_us")?,
                        p95_latency_ms: ms("p95_latency_us")?,
                        p99_latency_ms: ms("p99_latency_us")?,
                        max_latency_ms: ms("max_latency_us")?,
                        first_created_us: row.get("first_created_us")?,
                        last_ended_us: row.get("last_ended_us")?,
                    },
                    sum,
                ))
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
        .prepare_cached(sql::queries::ACTIVE_WORKFLOW_COUNT)?
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
