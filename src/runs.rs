//! Recorded process runs: listing them and resolving `--run latest|ID` to a
//! run's id range and time bounds, so that offline questions can be scoped to
//! one run and anchored at its end.

use rusqlite::{Connection, OptionalExtension, named_params};

use crate::clock;
use crate::monitor::coverage::Source;
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
    /// Workflows it recorded — after retention deleted some of its raw
    /// rows, the ones that ended before the raw rows resume counted from
    /// the per-minute rollups (see `source`).
    pub workflows: i64,
    /// Of `workflows`, how many were counted from the rollups (0 when
    /// `source` is `raw`).
    pub workflows_from_rollups: i64,
    /// Where `workflows` comes from: `raw`, or `rollups` / `raw+rollups`
    /// when retention deleted raw workflows of this run.
    pub source: Source,
    /// What retention removed from this run, in sentences (empty when
    /// nothing was).
    pub notes: Vec<String>,
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
    /// For a run copied by `multiagents merge`: the file it came from (the
    /// path as given to merge); `None` for a run recorded in this file.
    pub merged_from: Option<String>,
    /// For a copied run: where it was recorded
    /// (`host|boot_id|pid_namespace|pid|process_start_ticks|started_at_us`).
    pub origin: Option<String>,
}

/// The most recent runs, newest first.
pub fn list_runs(conn: &Connection, limit: i64) -> Result<Vec<RunSummary>, StoreError> {
    let mut stmt = conn.prepare_cached(crate::sql::queries::RUNS)?;
    let rows = stmt.query_map(named_params! {":limit": limit}, |r| {
        let raw: i64 = r.get("raw_workflows")?;
        let rolled: i64 = r.get("rolled_up_workflows")?;
        let traces_mark: Option<i64> = r.get("traces_deleted_before_us")?;
        let rollups_mark: Option<i64> = r.get("rollups_deleted_before_us")?;
        Ok(RunSummary {
            run_id: r.get("run_id")?,
            started_at: clock::format_iso(r.get("started_at_us")?),
            ended_at: r
                .get::<_, Option<i64>>("ended_at_us")?
                .map(clock::format_iso),
            command: r.get("command")?,
            version: r.get("version")?,
            host: r.get("host")?,
            workflows: raw + rolled,
            workflows_from_rollups: rolled,
            source: match (traces_mark, raw) {
                (None, _) => Source::Raw,
                (Some(_), 0) => Source::Rollups,
                (Some(_), _) => Source::Mixed,
            },
            notes: retention_notes(traces_mark, rollups_mark, rolled),
            unfinished: r.get("unfinished")?,
            status: RunStatus::parse(&r.get::<_, String>("status")?).unwrap_or(RunStatus::Running),
            end_reason: r.get("end_reason")?,
            merged_from: r.get("merged_from")?,
            origin: r.get("origin")?,
        })
    })?;
    let mut runs: Vec<RunSummary> = rows.collect::<Result<_, _>>()?;
    if runs.iter().any(|r| r.status == RunStatus::Running) {
        for (run_id, why) in lifecycle::dead_open_runs(conn)? {
            if let Some(run) = runs.iter_mut().find(|r| r.run_id == run_id) {
                run.status = RunStatus::Crashed;
                run.end_reason = Some(not_closed_yet(&why));
            }
        }
    }
    Ok(runs)
}

/// One run's descriptive fields ([`RunSummary`] without its workflow
/// counts, which read every workflow of the run).
#[derive(Debug, Clone, PartialEq)]
pub struct RunDetails {
    /// Its command line.
    pub command: String,
    /// multiagents version that recorded it.
    pub version: String,
    /// Host it ran on.
    pub host: String,
    /// As in [`RunSummary::status`]: a run whose process died and that no
    /// later process has closed yet is crashed.
    pub status: RunStatus,
    /// How it ended, in words.
    pub end_reason: Option<String>,
}

/// Runs `queries/run_details.sql`: run `run_id`'s descriptive fields, or
/// `None` for an unknown run.
pub fn run_details(conn: &Connection, run_id: i64) -> Result<Option<RunDetails>, StoreError> {
    let mut stmt = conn.prepare_cached(crate::sql::queries::RUN_DETAILS)?;
    let found = stmt
        .query_row(named_params! {":run_id": run_id}, |r| {
            Ok(RunDetails {
                command: r.get("command")?,
                version: r.get("version")?,
                host: r.get("host")?,
                status: RunStatus::parse(&r.get::<_, String>("status")?)
                    .unwrap_or(RunStatus::Running),
                end_reason: r.get("end_reason")?,
            })
        })
        .optional()?;
    let Some(mut details) = found else {
        return Ok(None);
    };
    if details.status == RunStatus::Running
        && let Some((_, why)) = lifecycle::dead_open_runs(conn)?
            .into_iter()
            .find(|(id, _)| *id == run_id)
    {
        details.status = RunStatus::Crashed;
        details.end_reason = Some(not_closed_yet(&why));
    }
    Ok(Some(details))
}

/// Why a run still marked running is listed as crashed.
fn not_closed_yet(why: &str) -> String {
    format!(
        "{why} (not closed yet: the next process recording into this file, or cleanup, closes it)"
    )
}

const MINUTE_US: i64 = 60_000_000;

/// What retention removed from a run's workflows, for `notes`: never a
/// silent zero.
fn retention_notes(
    traces_mark: Option<i64>,
    rollups_mark: Option<i64>,
    rolled: i64,
) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(mark) = traces_mark {
        // The first whole minute at or after the watermark, as runs.sql
        // (and monitor::coverage) split.
        let resume = mark.saturating_add(MINUTE_US - 1).div_euclid(MINUTE_US) * MINUTE_US;
        notes.push(format!(
            "raw workflows before {} were deleted by retention: the {rolled} that ended before {} are counted from the per-minute rollups",
            clock::format_iso(mark),
            clock::format_iso(resume)
        ));
    }
    if let Some(mark) = rollups_mark {
        notes.push(format!(
            "rollups before {} were deleted too: workflows that ended before then are not counted",
            clock::format_iso(mark)
        ));
    }
    notes
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
    let mut stmt = conn.prepare_cached(crate::sql::queries::RUN_BOUNDS)?;
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
