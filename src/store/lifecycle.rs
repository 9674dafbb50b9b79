//! The life of a run: who records it, whether that process is still alive,
//! and closing it — normally, on a signal, or for a process that died.
//!
//! A run is alive while the process that registered it exists. On the same
//! machine (same host name, boot and pid namespace) that is decided by the
//! process itself: `/proc/<pid>` exists and its start time (field 22 of
//! `/proc/<pid>/stat`) is the one recorded, so a recycled pid is not taken
//! for the run's process. Anywhere else (another host sharing the file, a
//! container with its own pid namespace, a system without `/proc`) the
//! writer's heartbeat decides: older than [`HEARTBEAT_STALE`], the run is
//! dead. See docs/storage.md, "Run lifecycle", for why not a lock file.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, named_params};

use super::{IdAllocator, RunInfo, SEQUENCE_BITS, StoreError};
use crate::clock;

/// How often the writer updates its run's `heartbeat_at_us`.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

/// A run judged by its heartbeat (another host, another pid namespace) is
/// dead once its last sign of life is older than this: six missed beats.
pub const HEARTBEAT_STALE: Duration = Duration::from_secs(30);

/// The largest run id: row ids are `(run_id << 40) | sequence` in a signed
/// 64-bit integer, so larger run ids would make negative ids, then reuse run
/// 1's range. A new run past it is refused (`StoreError::RunIdsExhausted`).
pub const MAX_RUN_ID: i64 = (1 << (63 - SEQUENCE_BITS)) - 1;

/// The error of an event stopped because its run was interrupted; its
/// `error_type` is "Interrupted", like "Cancelled" for a cancel.
pub const INTERRUPTED_EVENT_ERROR: &str =
    "Interrupted: the process was stopped before the step finished";

/// Where a run is in its life (`runs.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Its process is recording.
    Running,
    /// It ended normally.
    Completed,
    /// It stopped on a signal (or `Session::interrupt`) and closed itself.
    Interrupted,
    /// Its process died without closing it.
    Crashed,
}

impl RunStatus {
    /// The name stored in `runs.status` and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Crashed => "crashed",
        }
    }

    /// Reads a stored status.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => RunStatus::Running,
            "completed" => RunStatus::Completed,
            "interrupted" => RunStatus::Interrupted,
            "crashed" => RunStatus::Crashed,
            _ => return None,
        })
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a run ends: its final status and why, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEnd {
    /// Completed, interrupted or crashed.
    pub status: RunStatus,
    /// Stored as `runs.end_reason` ("interrupted by SIGINT").
    pub reason: String,
}

impl RunEnd {
    /// A normal end.
    pub fn completed() -> Self {
        RunEnd {
            status: RunStatus::Completed,
            reason: "ended normally".to_string(),
        }
    }

    /// A stop asked for (a signal): `reason` says by what.
    pub fn interrupted(reason: impl Into<String>) -> Self {
        RunEnd {
            status: RunStatus::Interrupted,
            reason: reason.into(),
        }
    }

    /// The error recorded on the run's workflows and events that were still
    /// in flight: "interrupted", or `"crashed: <why>"`. Its text before the
    /// first ':' is the events' `error_type`.
    pub fn workflow_error(&self) -> String {
        match self.status {
            RunStatus::Interrupted => "interrupted".to_string(),
            RunStatus::Crashed => format!("crashed: {}", self.reason),
            RunStatus::Completed | RunStatus::Running => "run ended".to_string(),
        }
    }

    /// The error of an event still in flight when the run was closed,
    /// and its type (the text before the first ':').
    fn event_error(&self) -> (&'static str, String) {
        match self.status {
            RunStatus::Interrupted => ("Interrupted", INTERRUPTED_EVENT_ERROR.to_string()),
            RunStatus::Crashed => (
                "Crashed",
                format!("Crashed: the recording process died ({})", self.reason),
            ),
            RunStatus::Completed | RunStatus::Running => {
                ("RunEnded", "RunEnded: the run ended first".to_string())
            }
        }
    }

    fn alert_reason(&self) -> String {
        format!("run {}: {}", self.status, self.reason)
    }

    /// Whether workflows and events still in flight are closed too. A normal
    /// end leaves them as they are: the caller decided to stop waiting, and
    /// the run's end already tells readers they are not in flight.
    fn closes_unfinished(&self) -> bool {
        matches!(self.status, RunStatus::Interrupted | RunStatus::Crashed)
    }
}

/// The process that records a run, as far as a later process can check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessIdentity {
    /// Its pid.
    pub pid: i64,
    /// Field 22 of `/proc/<pid>/stat`: when it started, in clock ticks
    /// after boot. `None` without `/proc`.
    pub start_ticks: Option<i64>,
    /// `/proc/sys/kernel/random/boot_id`: which boot of the machine.
    pub boot_id: Option<String>,
    /// `readlink /proc/self/ns/pid`: pids mean something only within one.
    pub pid_namespace: Option<String>,
    /// The host name.
    pub host: String,
}

impl ProcessIdentity {
    /// This process.
    pub fn current() -> Self {
        let pid = i64::from(std::process::id());
        ProcessIdentity {
            pid,
            start_ticks: process_start_ticks(pid),
            boot_id: std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            pid_namespace: std::fs::read_link("/proc/self/ns/pid")
                .ok()
                .map(|p| p.to_string_lossy().into_owned()),
            host: super::host_name(),
        }
    }
}

/// Field 22 (`starttime`) of `/proc/<pid>/stat`, or `None` if there is no
/// such process (or no `/proc`), or it has exited and waits to be reaped
/// (a zombie: state `Z` or `X`). The command name (field 2) may hold spaces
/// and parentheses, so fields are counted after its last ')'.
pub fn process_start_ticks(pid: i64) -> Option<i64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // Field 3, the state: a dead process is not alive, even unreaped.
    if matches!(fields.next(), Some("Z" | "X" | "x")) {
        return None;
    }
    // Field 22 is the 19th after the state.
    fields.nth(18)?.parse().ok()
}

/// Whether a run's process is alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// It is (or, judged by its heartbeat, may still be) recording.
    Alive,
    /// It is gone; why we know.
    Gone(String),
}

/// A `runs` row that is not closed.
#[derive(Debug, Clone)]
struct OpenRun {
    id: i64,
    started_at_us: i64,
    host: String,
    pid: Option<i64>,
    start_ticks: Option<i64>,
    boot_id: Option<String>,
    pid_namespace: Option<String>,
    heartbeat_at_us: Option<i64>,
}

fn open_runs(conn: &Connection) -> Result<Vec<OpenRun>, rusqlite::Error> {
    let mut stmt = conn.prepare_cached(crate::sql::lifecycle::RUNNING_RUNS)?;
    let rows = stmt.query_map([], |r| {
        Ok(OpenRun {
            id: r.get(0)?,
            started_at_us: r.get(1)?,
            host: r.get(2)?,
            pid: r.get(3)?,
            start_ticks: r.get(4)?,
            boot_id: r.get(5)?,
            pid_namespace: r.get(6)?,
            heartbeat_at_us: r.get(7)?,
        })
    })?;
    rows.collect()
}

/// The last thing run `run_id` recorded, of any kind, never before its
/// start (µs): the end of a crashed run.
pub fn last_record_us(conn: &Connection, run_id: i64) -> Result<i64, rusqlite::Error> {
    let (first, last) = IdAllocator::run_range(run_id);
    conn.prepare_cached(crate::sql::lifecycle::LAST_RECORD)?
        .query_row(
            named_params! {":run_id": run_id, ":first": first, ":last": last},
            |r| r.get(0),
        )
}

fn judge(
    conn: &Connection,
    run: &OpenRun,
    me: &ProcessIdentity,
    now_us: i64,
) -> Result<Liveness, rusqlite::Error> {
    let same_machine = run.host == me.host && run.boot_id.is_some() && run.boot_id == me.boot_id;
    if same_machine
        && run.pid_namespace.is_some()
        && run.pid_namespace == me.pid_namespace
        && let Some(pid) = run.pid
    {
        return Ok(match process_start_ticks(pid) {
            None => Liveness::Gone(format!("process {pid} is gone")),
            Some(ticks) if run.start_ticks.is_some_and(|t| t != ticks) => Liveness::Gone(format!(
                "process {pid} is gone (its pid belongs to a newer process)"
            )),
            Some(_) => Liveness::Alive,
        });
    }
    if run.host == me.host
        && run.boot_id.is_some()
        && me.boot_id.is_some()
        && run.boot_id != me.boot_id
    {
        return Ok(Liveness::Gone(format!(
            "process {} is gone (the machine restarted since)",
            run.pid.unwrap_or(0)
        )));
    }
    // Another host or pid namespace, or a run recorded before processes were
    // identified: its heartbeat (or, for those, its last record) decides.
    let last_seen = match run.heartbeat_at_us {
        Some(at) => at,
        None => last_record_us(conn, run.id)?.max(run.started_at_us),
    };
    let stale_us = i64::try_from(HEARTBEAT_STALE.as_micros()).unwrap_or(i64::MAX);
    Ok(if now_us.saturating_sub(last_seen) > stale_us {
        Liveness::Gone(format!(
            "no sign of life from host {} for {} s",
            run.host,
            now_us.saturating_sub(last_seen) / 1_000_000
        ))
    } else {
        Liveness::Alive
    })
}

/// Every run that is not closed, with whether its process is alive.
pub fn open_runs_liveness(conn: &Connection) -> Result<Vec<(i64, Liveness)>, StoreError> {
    let me = ProcessIdentity::current();
    let now = clock::now_us();
    let mut judged = Vec::new();
    for run in open_runs(conn)? {
        judged.push((run.id, judge(conn, &run, &me, now)?));
    }
    Ok(judged)
}

/// Runs that are not closed but whose process is gone, with why: what a
/// read-only command shows as `crashed` without writing anything.
pub fn dead_open_runs(conn: &Connection) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(open_runs_liveness(conn)?
        .into_iter()
        .filter_map(|(id, liveness)| match liveness {
            Liveness::Gone(why) => Some((id, why)),
            Liveness::Alive => None,
        })
        .collect())
}

/// The ids of [`dead_open_runs`] as a JSON array, the form queries take
/// (`:crashed_runs`, read with `json_each`).
pub fn dead_open_runs_json(conn: &Connection) -> Result<String, StoreError> {
    let ids: Vec<i64> = dead_open_runs(conn)?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    Ok(serde_json::Value::from(ids).to_string())
}

/// What closing a run changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClosedRun {
    /// The run.
    pub run_id: i64,
    /// Its status now.
    pub status: Option<RunStatus>,
    /// Why it ended.
    pub reason: String,
    /// Its end (µs).
    pub ended_at_us: i64,
    /// Workflows that were in flight and are now `cancelled`.
    pub workflows_cancelled: u64,
    /// Events that were in flight and are now `cancelled`.
    pub events_cancelled: u64,
    /// Alerts that were firing and are now resolved.
    pub alerts_resolved: u64,
}

/// Closes run `run_id` as `end` says, at `end_us`, on `conn` (inside the
/// caller's transaction): its firing alerts resolve with the reason, and for
/// an interrupted or crashed run its workflows and events still in flight
/// end `cancelled` (counted in the rollups like any cancelled one). Returns
/// `None` if the run was already closed.
pub(crate) fn close_run(
    conn: &Connection,
    run_id: i64,
    end: &RunEnd,
    end_us: i64,
) -> Result<Option<ClosedRun>, rusqlite::Error> {
    // Where its sketches stop being complete in the file, read before
    // CLOSE_RUN marks them complete (NULL then).
    let sketched_until = sketched_until(conn, run_id)?;
    let closed = conn
        .prepare_cached(crate::sql::lifecycle::CLOSE_RUN)?
        .execute(named_params! {
            ":run_id": run_id,
            ":status": end.status.as_str(),
            ":end_us": end_us,
            ":reason": end.reason,
        })?;
    if closed == 0 {
        return Ok(None);
    }
    let (first, last) = IdAllocator::run_range(run_id);
    let mut report = ClosedRun {
        run_id,
        status: Some(end.status),
        reason: end.reason.clone(),
        ended_at_us: end_us,
        ..ClosedRun::default()
    };
    if end.closes_unfinished() {
        let minute = clock::minute_start_us(end_us);
        let le_ms = super::histogram::histogram_bucket(0);
        let range = named_params! {":run_id": run_id, ":first": first, ":last": last, ":end_us": end_us, ":minute_us": minute};
        conn.prepare_cached(crate::sql::lifecycle::CLOSE_WORKFLOW_ROLLUPS)?
            .execute(range)?;
        conn.prepare_cached(crate::sql::lifecycle::CLOSE_WORKER_ROLLUPS)?
            .execute(range)?;
        // The hour rows stay the sums of their minutes.
        let hour = minute - minute.rem_euclid(crate::store::sketch::HOUR_US);
        conn.prepare_cached(crate::sql::lifecycle::CLOSE_WORKER_HOUR_ROLLUPS)?
            .execute(named_params! {
                ":run_id": run_id, ":first": first, ":last": last, ":end_us": end_us, ":hour_us": hour,
            })?;
        conn.prepare_cached(crate::sql::lifecycle::CLOSE_WORKER_HISTOGRAM)?
        .execute(named_params! {
            ":run_id": run_id, ":first": first, ":last": last, ":minute_us": minute, ":le_ms": le_ms,
        })?;
        conn.prepare_cached(crate::sql::lifecycle::CLOSE_WORKER_HOUR_HISTOGRAM)?
        .execute(named_params! {
            ":run_id": run_id, ":first": first, ":last": last, ":hour_us": hour, ":le_ms": le_ms,
        })?;
        conn.prepare_cached(crate::sql::lifecycle::CLOSE_EVENT_LATENCY_HISTOGRAM)?
            .execute(named_params! {
                ":run_id": run_id, ":first": first, ":last": last, ":end_us": end_us, ":minute_us": minute,
            })?;
        let until_us = sketched_until.unwrap_or(i64::MAX);
        let zero_key = conn
            .prepare_cached(crate::sql::store::SKETCH_KEY)?
            .query_row(named_params! {":value_us": 0}, |row| row.get::<_, i64>(0))?;
        for sql in [
            crate::sql::lifecycle::CLOSE_MINUTE_SKETCH,
            crate::sql::lifecycle::CLOSE_HOUR_SKETCH,
        ] {
            conn.prepare_cached(sql)?.execute(named_params! {
                ":run_id": run_id, ":first": first, ":last": last, ":end_us": end_us,
                ":until_us": until_us, ":zero_key": zero_key,
            })?;
        }
        let (error_type, event_error) = end.event_error();
        report.events_cancelled = conn
            .prepare_cached(crate::sql::lifecycle::CLOSE_EVENTS)?
            .execute(named_params! {
                ":first": first, ":last": last, ":end_us": end_us,
                ":error_type": error_type, ":reason": event_error,
            })? as u64;
        let error = end.workflow_error();
        report.workflows_cancelled = conn
            .prepare_cached(crate::sql::lifecycle::CLOSE_WORKFLOWS)?
            .execute(named_params! {
                ":first": first, ":last": last, ":end_us": end_us, ":reason": error,
            })? as u64;
    }
    // The minutes its writer held in memory, from the raw rows (every event
    // of the run has ended by now, in-flight ones as cancelled).
    if let Some(until_us) = sketched_until {
        conn.prepare_cached(crate::sql::lifecycle::COMPLETE_MINUTE_SKETCH)?
            .execute(named_params! {
                ":run_id": run_id, ":first": first, ":last": last, ":until_us": until_us,
            })?;
        conn.prepare_cached(crate::sql::lifecycle::COMPLETE_HOUR_SKETCH)?
            .execute(named_params! {":run_id": run_id, ":until_us": until_us})?;
    }
    report.alerts_resolved = conn
        .prepare_cached(crate::sql::lifecycle::CLOSE_ALERTS)?
        .execute(named_params! {
            ":first": first, ":last": last, ":end_us": end_us, ":reason": end.alert_reason(),
        })? as u64;
    Ok(Some(report))
}

/// Where run `run_id`'s sketches stop being complete in the file
/// (`runs.sketched_until_us`); `None` when complete (or no such run).
pub(crate) fn sketched_until(
    conn: &Connection,
    run_id: i64,
) -> Result<Option<i64>, rusqlite::Error> {
    Ok(conn
        .prepare_cached(crate::sql::lifecycle::SKETCHED_UNTIL)?
        .query_row(named_params! {":run_id": run_id}, |row| row.get(0))
        .optional()?
        .flatten())
}

/// Closes every run whose process is gone as `crashed`, each in its own
/// transaction that checks again that it is still open (two processes
/// closing the same run close it once). Its end is its last record.
pub fn close_dead_runs(conn: &mut Connection) -> Result<Vec<ClosedRun>, StoreError> {
    let me = ProcessIdentity::current();
    let mut closed = Vec::new();
    for run in open_runs(conn)? {
        let Liveness::Gone(why) = judge(conn, &run, &me, clock::now_us())? else {
            continue;
        };
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let end_us = last_record_us(&tx, run.id)?;
        let end = RunEnd {
            status: RunStatus::Crashed,
            reason: why,
        };
        if let Some(report) = close_run(&tx, run.id, &end, end_us)? {
            tracing::warn!(
                run_id = run.id,
                reason = %end.reason,
                workflows_cancelled = report.workflows_cancelled,
                alerts_resolved = report.alerts_resolved,
                "closed a crashed run"
            );
            closed.push(report);
        }
        tx.commit()?;
    }
    Ok(closed)
}

/// Refuses a file whose next run id would not fit the row-id layout
/// ([`MAX_RUN_ID`]), before anything is written.
pub fn check_run_capacity(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let next: i64 = conn
        .prepare_cached(crate::sql::lifecycle::NEXT_RUN_ID)?
        .query_row([], |r| r.get(0))?;
    if next > MAX_RUN_ID {
        return Err(StoreError::RunIdsExhausted {
            path: path.to_path_buf(),
            next,
            max: MAX_RUN_ID,
        });
    }
    Ok(())
}

/// [`check_run_capacity`] on a read-only connection, before the file is
/// opened for writing (which may switch it to WAL): a full file is refused
/// with every byte as it was. A file that is empty, not yet migrated or not
/// readable here passes: opening it for writing reports its problems.
pub(crate) fn check_run_capacity_untouched(path: &Path) -> Result<(), StoreError> {
    // Only a database at rest: never open a FIFO or a device to look.
    if !matches!(
        super::file::inspect(path),
        Ok(super::file::FileState::Database)
    ) {
        return Ok(());
    }
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let Ok(conn) = Connection::open_with_flags(super::file::not_a_uri(path), flags) else {
        return Ok(());
    };
    let _ = conn.busy_timeout(super::BUSY_TIMEOUT);
    match super::migrate::schema_version(&conn) {
        Ok(version) if (1..=super::migrate::SCHEMA_VERSION).contains(&version) => {
            match check_run_capacity(&conn, path) {
                Err(full @ StoreError::RunIdsExhausted { .. }) => Err(full),
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// Inserts the `runs` row of a new run recorded by this process, checking
/// the id limit in the same transaction.
pub(crate) fn register_run(
    conn: &mut Connection,
    path: &Path,
    run: &RunInfo,
) -> Result<i64, StoreError> {
    let me = ProcessIdentity::current();
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    check_run_capacity(&tx, path)?;
    tx.prepare_cached(crate::sql::write::INSERT_RUN)?
        .execute(named_params! {
            ":started_at_us": clock::now_us(),
            ":command": run.command,
            ":config_json": run.config_json,
            ":version": env!("CARGO_PKG_VERSION"),
            ":host": me.host,
            ":pid": me.pid,
            ":process_start_ticks": me.start_ticks,
            ":boot_id": me.boot_id,
            ":pid_namespace": me.pid_namespace,
        })?;
    let run_id = tx.last_insert_rowid();
    tx.commit()?;
    Ok(run_id)
}

/// Updates the run's heartbeat; false if the run is no longer open (another
/// process judged it dead and closed it).
pub(crate) fn heartbeat(conn: &Connection, run_id: i64, now_us: i64) -> rusqlite::Result<bool> {
    Ok(conn
        .prepare_cached(crate::sql::lifecycle::HEARTBEAT)?
        .execute(named_params! {":run_id": run_id, ":now_us": now_us})?
        > 0)
}

/// Records a maintenance command (not a run) and what it did.
pub fn log_maintenance(
    conn: &Connection,
    command: &str,
    started_at_us: i64,
    details: &serde_json::Value,
) -> Result<(), StoreError> {
    conn.prepare_cached(crate::sql::lifecycle::INSERT_MAINTENANCE)?
        .execute(named_params! {
            ":command": command,
            ":started_at_us": started_at_us,
            ":ended_at_us": clock::now_us(),
            ":version": env!("CARGO_PKG_VERSION"),
            ":host": super::host_name(),
            ":details_json": details.to_string(),
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_start_time() {
        let me = ProcessIdentity::current();
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(me.start_ticks.is_some());
            assert_eq!(process_start_ticks(me.pid), me.start_ticks);
        }
    }

    #[test]
    fn max_run_id_keeps_row_ids_positive() {
        let (_, last) = IdAllocator::run_range(MAX_RUN_ID);
        assert!(last > 0);
        assert_eq!(last, i64::MAX);
    }
}
