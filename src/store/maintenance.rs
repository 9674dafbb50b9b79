//! Maintenance of a database file by a process that does not record a run
//! (`multiagents cleanup`): closing runs whose process died, and retention.
//!
//! Maintenance is not a run: it adds no `runs` row (so `--run latest` stays
//! the latest run that recorded something) and logs itself in
//! `maintenance_log`. It writes on its own connection in short
//! transactions, pausing between them, so that a run recording into the
//! same file at full speed keeps its writer going.

use std::path::Path;
use std::time::Duration;

use super::lifecycle::{self, ClosedRun};
use super::retention::{RetentionCutoffs, RetentionReport, RetentionRun};
use super::{StoreError, WriterOptions};
use crate::clock;

/// What `cleanup` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CleanupReport {
    /// Rows deleted per table.
    #[serde(flatten)]
    pub retention: RetentionReport,
    /// Runs whose process had died, closed as `crashed`.
    pub closed_runs: Vec<ClosedRun>,
}

/// Closes the runs whose process is gone, then deletes what `cutoffs` let
/// go — never a workflow still in flight of a run that is still recording —
/// and logs the command (`command`) in `maintenance_log`. Blocking: call it
/// off the async threads.
pub fn cleanup(
    path: &Path,
    cutoffs: RetentionCutoffs,
    command: &str,
) -> Result<CleanupReport, StoreError> {
    let started_at_us = clock::now_us();
    // Refuses a missing, damaged or foreign file; migrates an older one.
    let mut conn = super::file::open_existing_for_writing(path)?;
    let closed_runs = lifecycle::close_dead_runs(&mut conn)?;
    let options = WriterOptions::default();
    let mut run = RetentionRun::new(cutoffs);
    // Each slice is one short transaction; the pause after it lets another
    // process's writer take the lock, as the writer's own queue would.
    while !run.step(
        &mut conn,
        options.retention_slice,
        options.retention_slice_time,
    )? {
        std::thread::sleep(options.retention_slice_time.max(Duration::from_millis(1)));
    }
    let retention = run.into_report();
    let report = CleanupReport {
        retention,
        closed_runs,
    };
    let details = serde_json::to_value(&report).unwrap_or_default();
    lifecycle::log_maintenance(&conn, command, started_at_us, &details)?;
    Ok(report)
}
