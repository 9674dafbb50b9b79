//! What each worker host did in a window ([`HostsSummary`], `query hosts`):
//! its executions, errors and duration percentiles from the raw events it
//! ran, and what the runs' orchestrators last heard from it (`run_hosts`):
//! the workers it serves, its concurrency, its last heartbeat, the
//! deliveries it reclaimed from lost hosts and the duplicate results it
//! sent. The executions the orchestrator ran in its own process are one
//! more line, so that the hosts and it add up to every execution of the
//! window — the total of `query workers`.
//!
//! Executions are counted as for a worker ([`super::performance`]): every
//! event that ended in the window, commands and compensations alike;
//! error = failed + timeout; cancelled counts in the total only. Durations
//! are the worker's own time, measured on the host (see
//! [`crate::transport::placed_stages`]). Raw rows only: the rollups keep no
//! host, so a window that retention emptied says so in its provenance.

use rusqlite::Connection;
use serde::Serialize;

use super::error::MonitorError;
use super::figures::{get_count, mean_ms, percent, us_to_ms};
use super::scope::{RunScope, WindowParams};
use crate::clock;
use crate::sql;
use crate::window::TimeWindow;

/// One worker host over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostActivity {
    /// The host's name (`machine:pid` unless it was named).
    pub host: String,
    /// The workers its latest heartbeat in scope announced (`None`: the
    /// run never recorded its heartbeat).
    pub workers: Option<Vec<String>>,
    /// Steps it runs at once, as announced.
    pub concurrency: Option<i64>,
    /// Its executions that ended in the window.
    pub total_executions: u64,
    /// Of those, completed.
    pub successful_executions: u64,
    /// Of those, failed (an error, a panic, a lost host).
    pub failed_executions: u64,
    /// Of those, stopped by the step's timeout (enforced by the
    /// orchestrator).
    pub timeout_executions: u64,
    /// Of those, cancelled with their workflow.
    pub cancelled_executions: u64,
    /// completed / total × 100.
    pub success_rate: f64,
    /// (failed + timeout) / total × 100.
    pub error_rate: f64,
    /// Mean worker time, milliseconds.
    pub avg_duration_ms: f64,
    /// Nearest-rank median worker time, milliseconds (`None`: no
    /// executions).
    pub p50_duration_ms: Option<f64>,
    /// Nearest-rank 95th percentile, milliseconds.
    pub p95_duration_ms: Option<f64>,
    /// When a run in scope first heard its heartbeat (ISO-8601, the
    /// orchestrator's clock).
    pub first_seen: Option<String>,
    /// When a run in scope last heard its heartbeat (ISO-8601).
    pub last_heartbeat: Option<String>,
    /// `last_heartbeat` in µs.
    pub last_heartbeat_us: Option<i64>,
    /// Seconds from the last heartbeat to the window's end (the "now" of
    /// the answer); 0 when the host was heard from after the window (a
    /// run keeps only its latest heartbeat).
    pub last_heartbeat_age_s: Option<f64>,
    /// Deliveries it took over from lost hosts, in the runs in scope.
    pub reclaimed: Option<i64>,
    /// Results it sent for attempts already ended (counted, never
    /// recorded), in the runs in scope.
    pub duplicates: Option<i64>,
}

/// The executions the orchestrator ran in its own process over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InProcessActivity {
    /// Executions that ended in the window.
    pub total_executions: u64,
    /// Of those, completed.
    pub successful_executions: u64,
    /// Of those, failed.
    pub failed_executions: u64,
    /// Of those, stopped by the step's timeout.
    pub timeout_executions: u64,
    /// Of those, cancelled with their workflow.
    pub cancelled_executions: u64,
    /// completed / total × 100.
    pub success_rate: f64,
    /// (failed + timeout) / total × 100.
    pub error_rate: f64,
    /// Mean worker time, milliseconds.
    pub avg_duration_ms: f64,
}

/// `query hosts`: every host active in the window, and the executions run
/// in process.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostsSummary {
    /// The hosts that ran an execution ending in the window, or whose
    /// heartbeat a run in scope heard during it; by name.
    pub hosts: Vec<HostActivity>,
    /// Executions run in the orchestrator's own process (`None`: none
    /// ended in the window).
    pub in_process: Option<InProcessActivity>,
    /// Every execution that ended in the window: the hosts' and the
    /// in-process ones (the total of `query workers`).
    pub total_executions: u64,
}

/// Runs `queries/hosts.sql`: the hosts and in-process executions of
/// `window` for the runs in `scope`.
pub fn host_activity(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
) -> Result<HostsSummary, MonitorError> {
    let params =
        WindowParams::by_id_range(window, scope.id_bounds()).and(":run_id", scope.run_id());
    let mut stmt = conn.prepare_cached(sql::queries::HOSTS)?;
    let mut rows = stmt.query(params.bind())?;
    let mut summary = HostsSummary {
        hosts: Vec::new(),
        in_process: None,
        total_executions: 0,
    };
    while let Some(row) = rows.next()? {
        let total = get_count(row, "executions")?;
        let completed = get_count(row, "completed")?;
        let failed = get_count(row, "failed")?;
        let timeout = get_count(row, "timeout")?;
        let cancelled = get_count(row, "cancelled")?;
        let duration_sum_us: i64 = row.get("duration_sum_us")?;
        summary.total_executions += total;
        let Some(host) = row.get::<_, Option<String>>("host")? else {
            summary.in_process = Some(InProcessActivity {
                total_executions: total,
                successful_executions: completed,
                failed_executions: failed,
                timeout_executions: timeout,
                cancelled_executions: cancelled,
                success_rate: percent(completed, total),
                error_rate: percent(failed + timeout, total),
                avg_duration_ms: mean_ms(duration_sum_us, total),
            });
            continue;
        };
        let last_heartbeat_us: Option<i64> = row.get("last_heartbeat_us")?;
        summary.hosts.push(HostActivity {
            host,
            workers: row
                .get::<_, Option<String>>("workers")?
                .map(|w| w.split(',').map(str::to_string).collect()),
            concurrency: row.get("concurrency")?,
            total_executions: total,
            successful_executions: completed,
            failed_executions: failed,
            timeout_executions: timeout,
            cancelled_executions: cancelled,
            success_rate: percent(completed, total),
            error_rate: percent(failed + timeout, total),
            avg_duration_ms: mean_ms(duration_sum_us, total),
            p50_duration_ms: row.get::<_, Option<i64>>("p50_duration_us")?.map(us_to_ms),
            p95_duration_ms: row.get::<_, Option<i64>>("p95_duration_us")?.map(us_to_ms),
            first_seen: row
                .get::<_, Option<i64>>("first_seen_us")?
                .map(clock::format_iso),
            last_heartbeat: last_heartbeat_us.map(clock::format_iso),
            last_heartbeat_us,
            last_heartbeat_age_s: last_heartbeat_us
                .map(|at| window.end_us.saturating_sub(at).max(0) as f64 / 1e6),
            reclaimed: row.get("reclaimed")?,
            duplicates: row.get("duplicates")?,
        });
    }
    Ok(summary)
}
