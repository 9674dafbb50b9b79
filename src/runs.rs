//! Recorded process runs: listing them and resolving `--run latest|ID` to a
//! run's id range and time bounds, so that offline questions can be scoped to
//! one run and anchored at its end.

use rusqlite::{Connection, named_params};

use crate::store::{IdAllocator, RunStatus, StoreError, lifecycle};

/// One row of `multiagents query runs`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunSummary {
    /// The run's id (`--run ID`).
    pub run_id: i64,
    /// When it started (ISO-8601).
    pub started_at: String,
    /// When it ended cleanly, if it did.
    pub ended_at: Option<String>,
    /// Its command line.
    pub command: String,
    /// multiagents version that recorded it.
    pub version: String,
    /// Host it ran on.
    pub host: String,
    /// Workflows it recorded.
    pub workflows: i64,
    /// Of those, how many never reached a terminal state (still running, or
    /// the process died).
    pub unfinished: i64,
    /// running, completed, interrupted or crashed. A run whose process died
    /// and that no later process has closed yet shows as crashed (derived
    /// here, without writing).
    pub status: RunStatus,
    /// How it ended, in words; for a crashed run not yet closed, why it is
    /// judged dead.
    pub end_reason: Option<String>,
}

/// The most recent runs, newest first.
pub fn list_runs(conn: &Connection, limit: i64) -> Result<Vec<RunSummary>, StoreError> {
    let mut stmt = conn.prepare_cached(include_str!("../queries/runs.sql"))?;
    let rows = stmt.query_map(named_params! {":limit": limit}, |r| {
        Ok(RunSummary {
            run_id: r.get(0)?,
            started_at: crate::clock::format_iso(r.get(1)?),
            ended_at: r.get::<_, Option<i64>>(2)?.map(crate::clock::format_iso),
            command: r.get(3)?,
            version: r.get(4)?,
            host: r.get(5)?,
            workflows: r.get(6)?,
            unfinished: r.get(7)?,
            status: RunStatus::parse(&r.get::<_, String>(8)?).unwrap_or(RunStatus::Running),
            end_reason: r.get(9)?,
        })
    })?;
    let mut runs: Vec<RunSummary> = rows.collect::<Result<_, _>>()?;
    if runs.iter().any(|r| r.status == RunStatus::Running) {
        for (run_id, why) in lifecycle::dead_open_runs(conn)? {
            if let Some(run) = runs.iter_mut().find(|r| r.run_id == run_id) {
                run.status = RunStatus::Crashed;
                run.end_reason = Some(format!(
                    "{why} (not closed yet: the next process recording into this file, or cleanup, closes it)"
                ));
            }
        }
    }
    Ok(runs)
}

/// Which run a question is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunSelector {
    /// The newest run in the file.
    Latest,
    /// A run by id.
    Id(i64),
}

impl std::str::FromStr for RunSelector {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("latest") {
            return Ok(RunSelector::Latest);
        }
        s.parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(RunSelector::Id)
            .ok_or_else(|| {
                format!("invalid run {s:?}: expected 'latest' or a run id (a positive number)")
            })
    }
}

/// A resolved run: its id range and time bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ResolvedRun {
    /// The run.
    pub run_id: i64,
    /// First row id of the run.
    pub first_id: i64,
    /// Last possible row id of the run.
    pub last_id: i64,
    /// When it started (µs).
    pub started_at_us: i64,
    /// When it ended, or its last recorded activity if it did not end cleanly (µs).
    pub ended_at_us: i64,
    /// Whether it never recorded a clean end.
    pub unfinished: bool,
}

impl ResolvedRun {
    /// The scope of every run: all ids.
    pub const ALL_IDS: (i64, i64) = (i64::MIN, i64::MAX);
}

/// Resolves `--run`; an unknown id (or an empty file for `latest`) is a
/// [`StoreError::Missing`] naming it.
pub fn resolve_run(conn: &Connection, selector: RunSelector) -> Result<ResolvedRun, StoreError> {
    let run_id = match selector {
        RunSelector::Latest => None,
        RunSelector::Id(id) => Some(id),
    };
    let mut stmt = conn.prepare_cached(include_str!("../queries/run_bounds.sql"))?;
    let found = stmt.query_row(named_params! {":run_id": run_id}, |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, bool>(3)?,
        ))
    });
    match found {
        Ok((run_id, started_at_us, ended_at_us, unfinished)) => {
            let (first_id, last_id) = IdAllocator::run_range(run_id);
            Ok(ResolvedRun {
                run_id,
                first_id,
                last_id,
                started_at_us,
                ended_at_us,
                unfinished,
            })
        }
        Err(rusqlite::Error::QueryReturnedNoRows) => Err(StoreError::Missing(match selector {
            RunSelector::Latest => "no runs recorded in this database".to_string(),
            RunSelector::Id(id) => format!("unknown run id {id}"),
        })),
        Err(e) => Err(e.into()),
    }
}
