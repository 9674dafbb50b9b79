//! `multiagents merge OUT IN...`: the recordings of several files (one per
//! host's orchestrator) copied into one, for offline analysis.
//!
//! What a merge guarantees:
//!
//! - **Every run whole, renumbered.** Each run of an input becomes a new run
//!   of OUT (the next run ids of OUT). Row ids are `(run_id << 40) |
//!   sequence` (migrations/0001_initial.sql), so every workflow, event and
//!   alert id, and every reference to one (an event's workflow, a workflow's
//!   last event, an error rollup's example), keeps its sequence under the
//!   new run. Workers and hosts are matched by name. Every table kept per
//!   run is copied: the raw rows, the minute and hour rollups, histograms,
//!   sketches and error rollups, system samples, custom metrics, alerts, the
//!   hosts a run heard from, and the retention watermarks, so that an answer
//!   that was partial in the input (retention deleted raw rows) is partial,
//!   and says so, in OUT. [`TABLES`] lists what happens to each table.
//! - **Never twice.** A run is identified by its origin: where it was
//!   recorded (`host|boot_id|pid_namespace|pid|process_start_ticks|started_at_us`),
//!   or the origin it carries from an earlier merge. A run whose origin is
//!   already in OUT (merged before, or recorded in OUT itself) is skipped
//!   and reported: merging the same input again adds nothing.
//! - **Each source named.** A `merge_sources` row per input (the path as
//!   given, when, runs added and skipped); each copied run has its
//!   `source_id` and `origin`. The merge itself is not a run: it logs in
//!   `maintenance_log`, as `cleanup` does.
//! - **Inputs untouched.** Each input is attached read-only (a `file:` URI
//!   with `mode=ro`): nothing in it is written, checkpointed or rolled back.
//!   An input at an older schema is refused (`multiagents upgrade` it, or a
//!   copy, first).
//! - **All or nothing.** Every change to OUT is one transaction: a failure
//!   (a bad input, a full disk, Ctrl-C) leaves OUT as it was. A new OUT is
//!   built aside and linked into place only when complete, so it is either
//!   whole or absent.
//! - **Only finished recordings.** A run still recording in an input (open,
//!   and its process alive, as `store::lifecycle` decides) is refused: a
//!   partial copy would be skipped as "already merged" once the run has
//!   ended, and the rest never merged. A run whose process died without
//!   closing it is copied and closed in OUT as crashed, as the next process
//!   recording into its own file would close it. OUT must not be recording
//!   either: the merge holds its write lock from start to end.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, TransactionBehavior, named_params};

use super::StoreError;
use super::file::{self, FileState};
use super::lifecycle::{self, Liveness, RunEnd, RunStatus};
use crate::clock;
use crate::interrupt::Interrupt;
use crate::sql::merge as sql;

/// The most inputs one merge reads: SQLite attaches at most 10 files to a
/// connection (`SQLITE_MAX_ATTACHED`), and all inputs are read in OUT's one
/// transaction.
pub const MAX_INPUTS: usize = 10;

/// What a merge does with each table of the schema. Every table is listed
/// (a unit test checks it against the schema), so that a table added by a
/// later migration is not silently left out of merged files.
pub const TABLES: &[(&str, &str)] = &[
    (
        "runs",
        "copied: a new run id, the merge source and the origin",
    ),
    (
        "workflows",
        "copied: ids renumbered under the new run, transaction ids kept",
    ),
    (
        "event_rows",
        "copied: ids renumbered, workers and hosts by name",
    ),
    ("alerts", "copied: ids renumbered under the new run"),
    ("system_samples", "copied: numbered by OUT"),
    ("custom_metrics", "copied: numbered by OUT"),
    ("run_hosts", "copied: hosts by name"),
    (
        "retention_watermarks",
        "copied: a run partial in its input stays partial",
    ),
    ("worker_minute_rollups", "copied (added up for run 0)"),
    ("worker_minute_histogram", "copied (added up for run 0)"),
    ("workflow_minute_rollups", "copied (added up for run 0)"),
    (
        "event_minute_latency_histogram",
        "copied (added up for run 0)",
    ),
    ("worker_minute_sketch", "copied (added up for run 0)"),
    ("worker_hour_sketch", "copied (added up for run 0)"),
    (
        "error_minute_rollups",
        "copied, example events renumbered (added up for run 0)",
    ),
    ("worker_hour_rollups", "copied (added up for run 0)"),
    ("worker_hour_histogram", "copied (added up for run 0)"),
    (
        "error_hour_rollups",
        "copied, example events renumbered (added up for run 0)",
    ),
    ("workers", "matched by name; names OUT lacks are added"),
    ("hosts", "matched by name; names OUT lacks are added"),
    ("merge_sources", "one new row per input"),
    (
        "maintenance_log",
        "OUT's own history: the merge adds its entry; the inputs' are theirs",
    ),
    (
        "event_statuses",
        "the same constant rows in every file (migration 6)",
    ),
    (
        "sketch_buckets",
        "the same constant rows in every file (migration 5)",
    ),
    ("sqlite_sequence", "SQLite's: raised by the runs inserted"),
];

/// The copies made per input after its runs, workers and hosts, in this
/// order (children after their parents), each with the table it fills.
const COPIES: &[(&str, &str)] = &[
    ("workflows", sql::COPY_WORKFLOWS),
    ("event_rows", sql::COPY_EVENTS),
    ("alerts", sql::COPY_ALERTS),
    ("system_samples", sql::COPY_SYSTEM_SAMPLES),
    ("custom_metrics", sql::COPY_CUSTOM_METRICS),
    ("run_hosts", sql::COPY_RUN_HOSTS),
    ("retention_watermarks", sql::COPY_RETENTION_WATERMARKS),
    ("worker_minute_rollups", sql::COPY_WORKER_MINUTE_ROLLUPS),
    ("worker_minute_histogram", sql::COPY_WORKER_MINUTE_HISTOGRAM),
    ("workflow_minute_rollups", sql::COPY_WORKFLOW_MINUTE_ROLLUPS),
    (
        "event_minute_latency_histogram",
        sql::COPY_EVENT_MINUTE_LATENCY_HISTOGRAM,
    ),
    ("worker_minute_sketch", sql::COPY_WORKER_MINUTE_SKETCH),
    ("worker_hour_sketch", sql::COPY_WORKER_HOUR_SKETCH),
    ("error_minute_rollups", sql::COPY_ERROR_MINUTE_ROLLUPS),
    ("worker_hour_rollups", sql::COPY_WORKER_HOUR_ROLLUPS),
    ("worker_hour_histogram", sql::COPY_WORKER_HOUR_HISTOGRAM),
    ("error_hour_rollups", sql::COPY_ERROR_HOUR_ROLLUPS),
];

/// Why a merge was refused or failed. OUT is as it was in every case (or
/// absent, when the merge was to create it). Every message is one line.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// No input was named.
    #[error("nothing to merge: name at least one input file")]
    NoInputs,
    /// More inputs than one merge can attach.
    #[error(
        "{given} input files: one merge reads at most {max} (SQLite attaches at most {max} files); merge the others with another `multiagents merge` into the same OUT (runs already there are skipped)"
    )]
    TooManyInputs {
        /// Inputs named.
        given: usize,
        /// [`MAX_INPUTS`].
        max: usize,
    },
    /// An input or OUT at an older schema version: a merge does not migrate.
    #[error(
        "{path}: schema version {found} is older than this multiagents uses ({supported}); run `multiagents --db {path} upgrade` on it (or on a copy of it) first"
    )]
    OlderSchema {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// This binary's.
        supported: i64,
    },
    /// OUT is one of the inputs (the same file, by any path or hard link).
    #[error("{out}: is the input {input} itself; merge into another file")]
    OutIsInput {
        /// OUT as given.
        out: PathBuf,
        /// The input as given.
        input: PathBuf,
    },
    /// OUT names one of SQLite's files beside an input (its `-wal`, ...).
    #[error("{out}: is one of SQLite's files beside the input {input}; merge into another file")]
    OutBesideInput {
        /// OUT as given.
        out: PathBuf,
        /// The input as given.
        input: PathBuf,
    },
    /// A run of an input is still recording.
    #[error(
        "{path}: run {run_id} is still recording ({why}); merge this file once the run has ended"
    )]
    Recording {
        /// The input.
        path: PathBuf,
        /// The run, as numbered in the input.
        run_id: i64,
        /// Why it is judged alive.
        why: String,
    },
    /// A run is recording into OUT: the merge would hold up its writer.
    #[error(
        "{path}: run {run_id} is recording into it right now; merge into another file, or once the run has ended"
    )]
    OutRecording {
        /// OUT.
        path: PathBuf,
        /// The recording run.
        run_id: i64,
    },
    /// A workflow of an input has a transaction id OUT already holds, in a
    /// run of another origin: the files share workflows they should not.
    #[error(
        "{path}: a workflow of its runs has a transaction id already in {out} (in a run recorded elsewhere); these files cannot be merged"
    )]
    DuplicateTransaction {
        /// The input.
        path: PathBuf,
        /// OUT.
        out: PathBuf,
    },
    /// Ctrl-C (or the caller's [`Interrupt`]) stopped the merge.
    #[error("merge stopped ({reason}); {out} {unchanged}")]
    Interrupted {
        /// OUT.
        out: PathBuf,
        /// Why it stopped.
        reason: String,
        /// "is as it was" or "was not created".
        unchanged: &'static str,
    },
    /// Opening or checking a file failed (missing, not a database, another
    /// program's, damaged, newer...): the store's message names the file.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// SQLite failed while merging (a full disk, a damaged input).
    #[error("{out}: merging {input} failed: {error}; {out} {unchanged}")]
    Sqlite {
        /// OUT.
        out: PathBuf,
        /// The input being merged (or OUT, before any input).
        input: PathBuf,
        /// What SQLite said (in the message, not as a source: its own
        /// source would repeat it on the command line).
        error: Box<rusqlite::Error>,
        /// "is as it was" or "was not created".
        unchanged: &'static str,
    },
}

impl From<rusqlite::Error> for MergeError {
    fn from(e: rusqlite::Error) -> Self {
        MergeError::Store(StoreError::Sqlite(e))
    }
}

/// How a merge runs.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// The command line, for OUT's `maintenance_log`.
    pub command: String,
    /// Stops the merge when triggered (a signal): OUT stays as it was.
    pub interrupt: Option<Interrupt>,
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MergeReport {
    /// OUT.
    pub out: PathBuf,
    /// Whether the merge created OUT.
    pub created: bool,
    /// One per input, in the order given.
    pub sources: Vec<SourceReport>,
}

impl MergeReport {
    /// Runs added from every input.
    pub fn runs_added(&self) -> usize {
        self.sources.iter().map(|s| s.runs_added.len()).sum()
    }

    /// Runs skipped (already in OUT) over every input.
    pub fn runs_skipped(&self) -> usize {
        self.sources.iter().map(|s| s.runs_skipped.len()).sum()
    }
}

/// What a merge took from one input.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SourceReport {
    /// The input, as given.
    pub path: PathBuf,
    /// Its `merge_sources` row in OUT (the `source_id` of its runs there).
    pub source_id: i64,
    /// Its runs copied into OUT.
    pub runs_added: Vec<AddedRun>,
    /// Its runs OUT already held.
    pub runs_skipped: Vec<SkippedRun>,
    /// Rows copied, per table.
    pub rows: BTreeMap<&'static str, u64>,
    /// Rows of run 0 (rollups of no run, from before schema version 4) not
    /// copied because some of the input's runs were already in OUT, which
    /// may hold them too. 0 almost always.
    pub unattributed_rows_left: u64,
}

/// A run copied into OUT.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AddedRun {
    /// Its id in the input.
    pub source_run_id: i64,
    /// Its id in OUT.
    pub run_id: i64,
    /// Its origin (see the module documentation).
    pub origin: String,
    /// When its process had died without closing it: why; it was closed as
    /// crashed in OUT.
    pub closed_as_crashed: Option<String>,
}

/// A run of an input that OUT already held.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SkippedRun {
    /// Its id in the input.
    pub source_run_id: i64,
    /// The run of OUT with its origin.
    pub out_run_id: i64,
    /// Its origin.
    pub origin: String,
}

/// Merges the runs of `inputs` into `out` (created when missing). Blocking:
/// call it off the async threads. See the module documentation for what it
/// guarantees.
pub fn merge(
    out: &Path,
    inputs: &[PathBuf],
    options: &MergeOptions,
) -> Result<MergeReport, MergeError> {
    if inputs.is_empty() {
        return Err(MergeError::NoInputs);
    }
    if inputs.len() > MAX_INPUTS {
        return Err(MergeError::TooManyInputs {
            given: inputs.len(),
            max: MAX_INPUTS,
        });
    }
    let started_at_us = clock::now_us();
    // Everything that can be refused is refused before OUT is opened for
    // writing, so that a refusal changes no byte of it.
    let create = match file::inspect(out)? {
        FileState::Missing => true,
        FileState::Empty => {
            return Err(StoreError::EmptyFile {
                path: out.to_path_buf(),
            }
            .into());
        }
        FileState::Database => {
            readable(out)?;
            refuse_recording_out(out)?;
            false
        }
    };
    let mut checked = Vec::with_capacity(inputs.len());
    for input in inputs {
        refuse_out_as_input(out, input, create)?;
        readable(input)?;
        checked.push(Input {
            path: input.clone(),
            dead_runs: dead_runs(input)?,
        });
    }
    if create {
        let (new, mut conn) = file::NewFile::create(out)?;
        match merge_into(&mut conn, out, &checked, options, started_at_us, true) {
            Ok(sources) => {
                new.link_into_place(conn)?;
                Ok(MergeReport {
                    out: out.to_path_buf(),
                    created: true,
                    sources,
                })
            }
            Err(e) => {
                // Closed before the hidden file is removed (`new`'s drop).
                drop(conn);
                Err(e)
            }
        }
    } else {
        let mut conn = file::open_existing_for_attaching(out)?;
        let sources = merge_into(&mut conn, out, &checked, options, started_at_us, false)?;
        Ok(MergeReport {
            out: out.to_path_buf(),
            created: false,
            sources,
        })
    }
}

/// An input that passed the checks.
struct Input {
    path: PathBuf,
    /// Its runs not closed whose process is gone, with why.
    dead_runs: HashMap<i64, String>,
}

/// Refuses a file a read command could not read as it is, and one at an
/// older schema with the merge's own advice.
fn readable(path: &Path) -> Result<(), MergeError> {
    match file::open_for_reading(path, false) {
        Ok(_) => Ok(()),
        Err(StoreError::OlderSchema {
            path,
            found,
            supported,
        }) => Err(MergeError::OlderSchema {
            path,
            found,
            supported,
        }),
        Err(e) => Err(e.into()),
    }
}

/// Refuses OUT when it is `input` (by identity: any path or hard link to
/// the same file) or one of SQLite's files beside it.
fn refuse_out_as_input(out: &Path, input: &Path, out_missing: bool) -> Result<(), MergeError> {
    if !out_missing && same_file(out, input) {
        return Err(MergeError::OutIsInput {
            out: out.to_path_buf(),
            input: input.to_path_buf(),
        });
    }
    let canonical_dir = |p: &Path| {
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::canonicalize(dir).ok()
    };
    let (Some(out_dir), Some(input_dir)) = (canonical_dir(out), canonical_dir(input)) else {
        return Ok(());
    };
    let (Some(out_name), Some(input_name)) = (out.file_name(), input.file_name()) else {
        return Ok(());
    };
    if out_dir != input_dir {
        return Ok(());
    }
    if out_name == input_name {
        return Err(MergeError::OutIsInput {
            out: out.to_path_buf(),
            input: input.to_path_buf(),
        });
    }
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut sidecar = input_name.to_os_string();
        sidecar.push(suffix);
        if sidecar == out_name {
            return Err(MergeError::OutBesideInput {
                out: out.to_path_buf(),
                input: input.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// Whether two paths name the same file (device and inode).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

/// The input's open runs whose process is gone; refuses an input with a
/// run still recording.
fn dead_runs(path: &Path) -> Result<HashMap<i64, String>, MergeError> {
    let conn = file::open_read_only(path)?;
    let mut dead = HashMap::new();
    for (run_id, liveness) in lifecycle::open_runs_liveness(&conn)? {
        match liveness {
            Liveness::Alive => {
                return Err(MergeError::Recording {
                    path: path.to_path_buf(),
                    run_id,
                    why: "its process is alive, or its heartbeat is recent".to_string(),
                });
            }
            Liveness::Gone(why) => {
                dead.insert(run_id, why);
            }
        }
    }
    Ok(dead)
}

/// Refuses an OUT that a run is recording into, before it is opened for
/// writing (checked again under the write lock).
fn refuse_recording_out(out: &Path) -> Result<(), MergeError> {
    let conn = file::open_read_only(out)?;
    match lifecycle::open_runs_liveness(&conn)?
        .into_iter()
        .find(|(_, liveness)| *liveness == Liveness::Alive)
    {
        Some((run_id, _)) => Err(MergeError::OutRecording {
            path: out.to_path_buf(),
            run_id,
        }),
        None => Ok(()),
    }
}

/// A run of an input as `source_runs.sql` lists it.
struct SourceRun {
    id: i64,
    status: String,
    origin: String,
    out_run_id: Option<i64>,
}

/// The merge proper, on OUT's connection: one transaction for every input.
fn merge_into(
    conn: &mut Connection,
    out: &Path,
    inputs: &[Input],
    options: &MergeOptions,
    started_at_us: i64,
    created: bool,
) -> Result<Vec<SourceReport>, MergeError> {
    let unchanged = if created {
        "was not created"
    } else {
        "is as it was"
    };
    let interrupted = |options: &MergeOptions| MergeError::Interrupted {
        out: out.to_path_buf(),
        reason: options
            .interrupt
            .as_ref()
            .and_then(Interrupt::reason)
            .unwrap_or_else(|| "interrupted".to_string()),
        unchanged,
    };
    let failed = |input: &Path, e: rusqlite::Error| {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted) {
            interrupted(options)
        } else {
            MergeError::Sqlite {
                out: out.to_path_buf(),
                input: input.to_path_buf(),
                error: Box::new(e),
                unchanged,
            }
        }
    };
    if let Some(interrupt) = options.interrupt.clone() {
        // SQLite calls this every few thousand steps of a statement: a
        // signal stops even the copy of a large table within moments.
        conn.progress_handler(10_000, Some(move || interrupt.is_triggered()))
            .map_err(|e| failed(out, e))?;
    }
    apply_page_limit(conn).map_err(|e| failed(out, e))?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| failed(out, e))?;
    // Under the write lock: a run that started recording into OUT since the
    // checks would be held up for the whole merge.
    for (run_id, liveness) in lifecycle::open_runs_liveness(&tx)? {
        if liveness == Liveness::Alive {
            return Err(MergeError::OutRecording {
                path: out.to_path_buf(),
                run_id,
            });
        }
    }
    tx.execute_batch(sql::MAPS).map_err(|e| failed(out, e))?;
    let mut added_origins = HashSet::new();
    let mut sources = Vec::with_capacity(inputs.len());
    for (n, input) in inputs.iter().enumerate() {
        let schema = if n == 0 {
            "src".to_string()
        } else {
            format!("src{}", n + 1)
        };
        let report = merge_input(&tx, out, input, &schema, started_at_us, &mut added_origins)
            .map_err(|e| match e {
                MergeError::Store(StoreError::Sqlite(e)) => failed(&input.path, e),
                other => other,
            })?;
        if options
            .interrupt
            .as_ref()
            .is_some_and(Interrupt::is_triggered)
        {
            return Err(interrupted(options));
        }
        sources.push(report);
    }
    let details = serde_json::json!({
        "merged": sources.iter().map(|s| serde_json::json!({
            "path": s.path,
            "source_id": s.source_id,
            "runs_added": s.runs_added.iter().map(|r| [r.source_run_id, r.run_id]).collect::<Vec<_>>(),
            "runs_skipped": s.runs_skipped.len(),
        })).collect::<Vec<_>>(),
    });
    lifecycle::log_maintenance(&tx, &options.command, started_at_us, &details).map_err(
        |e| match e {
            StoreError::Sqlite(e) => failed(out, e),
            other => other.into(),
        },
    )?;
    // A stop asked for while the last statements ran short of the progress
    // handler's period: still nothing committed.
    if options
        .interrupt
        .as_ref()
        .is_some_and(Interrupt::is_triggered)
    {
        return Err(interrupted(options));
    }
    tx.commit().map_err(|e| failed(out, e))?;
    Ok(sources)
}

/// `PRAGMA max_page_count` from [`super::MAX_PAGE_COUNT_ENV`] when set, as
/// the writer does: a full disk for tests, without filling one.
fn apply_page_limit(conn: &Connection) -> Result<(), rusqlite::Error> {
    if let Some(pages) = std::env::var(super::MAX_PAGE_COUNT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|&n| n > 0)
    {
        conn.pragma_update(None, "max_page_count", pages)?;
    }
    Ok(())
}

/// The statement `text` of `queries/merge/` for the input attached as
/// `schema`: the files name it `src`, the first input's name; a further
/// input of the same merge is `src2`, `src3`, ... (an attached file cannot
/// be detached inside the transaction that read it). The names are ours,
/// never input; a unit test checks that `src.` occurs in these files only
/// as the schema.
fn for_schema(text: &'static str, schema: &str) -> Cow<'static, str> {
    if schema == "src" {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.replace("src.", &[schema, "."].concat()))
    }
}

/// Copies one input (attached as `schema`) into OUT inside `tx`.
fn merge_input(
    tx: &Connection,
    out: &Path,
    input: &Input,
    schema: &str,
    started_at_us: i64,
    added_origins: &mut HashSet<String>,
) -> Result<SourceReport, MergeError> {
    let path = &input.path;
    tx.execute(
        sql::ATTACH_SOURCE,
        named_params! {":uri": read_only_uri(path)?, ":schema": schema},
    )?;
    let q = |text: &'static str| for_schema(text, schema);

    let runs = {
        let mut stmt = tx.prepare(&q(sql::SOURCE_RUNS))?;
        let rows = stmt.query_map([], |r| {
            Ok(SourceRun {
                id: r.get(0)?,
                status: r.get(1)?,
                origin: r.get(2)?,
                out_run_id: r.get(3)?,
            })
        })?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    let mut to_add = Vec::new();
    let mut skipped = Vec::new();
    for run in runs {
        // Read in this transaction's snapshot of the input: a run that
        // started after the checks is open and was not judged dead.
        if run.status == RunStatus::Running.as_str() && !input.dead_runs.contains_key(&run.id) {
            return Err(MergeError::Recording {
                path: path.clone(),
                run_id: run.id,
                why: "it started while the merge began".to_string(),
            });
        }
        match run.out_run_id {
            Some(out_run_id) => skipped.push(SkippedRun {
                source_run_id: run.id,
                out_run_id,
                origin: run.origin,
            }),
            // The same input named twice, or two inputs sharing a run:
            // added once.
            None if added_origins.contains(&run.origin) => skipped.push(SkippedRun {
                source_run_id: run.id,
                out_run_id: 0,
                origin: run.origin,
            }),
            None => to_add.push(run),
        }
    }
    let unattributed_rows_left = if skipped.is_empty() {
        0
    } else {
        tx.query_row(&q(sql::UNATTRIBUTED_ROWS), [], |r| r.get::<_, i64>(0))?
            .max(0) as u64
    };

    tx.execute(
        sql::INSERT_SOURCE,
        named_params! {
            ":path": path.to_string_lossy(),
            ":merged_at_us": started_at_us,
            ":runs_added": to_add.len() as i64,
            ":runs_skipped": skipped.len() as i64,
        },
    )?;
    let source_id = tx.last_insert_rowid();
    tx.execute_batch(sql::CLEAR_MAPS)?;
    for text in [
        sql::ADD_WORKERS,
        sql::MAP_WORKERS,
        sql::ADD_HOSTS,
        sql::MAP_HOSTS,
    ] {
        tx.execute(&q(text), [])?;
    }

    let mut added = Vec::with_capacity(to_add.len());
    for run in to_add {
        let crashed = if run.status == RunStatus::Running.as_str() {
            input.dead_runs.get(&run.id).cloned()
        } else {
            None
        };
        let run_id: i64 = tx.query_row(crate::sql::lifecycle::NEXT_RUN_ID, [], |r| r.get(0))?;
        if run_id > lifecycle::MAX_RUN_ID {
            return Err(StoreError::RunIdsExhausted {
                path: path.clone(),
                next: run_id,
                max: lifecycle::MAX_RUN_ID,
            }
            .into());
        }
        tx.execute(
            &q(sql::COPY_RUN),
            named_params! {
                ":new_run": run_id, ":old_run": run.id, ":source_id": source_id, ":origin": run.origin,
            },
        )?;
        tx.execute(
            sql::MAP_RUN,
            named_params! {":old_run": run.id, ":new_run": run_id},
        )?;
        added_origins.insert(run.origin.clone());
        added.push(AddedRun {
            source_run_id: run.id,
            run_id,
            origin: run.origin,
            closed_as_crashed: crashed,
        });
    }
    // Run 0 holds rollups of no run (minutes several runs shared, from
    // before schema version 4). They are the input's as a whole: copied
    // (added to OUT's own) only when none of its runs was in OUT already,
    // which may then hold them too.
    if skipped.is_empty() {
        tx.execute(sql::MAP_RUN, named_params! {":old_run": 0, ":new_run": 0})?;
    }

    let mut rows = BTreeMap::new();
    rows.insert("runs", added.len() as u64);
    for (table, text) in COPIES {
        let copied = tx.execute(&q(text), []).map_err(|e| {
            if is_duplicate_transaction(&e) {
                MergeError::DuplicateTransaction {
                    path: path.clone(),
                    out: out.to_path_buf(),
                }
            } else {
                e.into()
            }
        })?;
        rows.insert(*table, copied as u64);
    }

    // A run whose process died without closing it is closed here as the
    // next process recording into its own file would: crashed, at its last
    // record, its workflows and events in flight cancelled.
    for run in &added {
        if let Some(why) = &run.closed_as_crashed {
            let end_us = lifecycle::last_record_us(tx, run.run_id)?;
            let end = RunEnd {
                status: RunStatus::Crashed,
                reason: why.clone(),
            };
            lifecycle::close_run(tx, run.run_id, &end, end_us)?;
        }
    }
    tx.execute_batch(sql::CLEAR_MAPS)?;
    Ok(SourceReport {
        path: path.clone(),
        source_id,
        runs_added: added,
        runs_skipped: skipped,
        rows,
        unattributed_rows_left,
    })
}

fn is_duplicate_transaction(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation)
        && e.to_string().contains("workflows.transaction_id")
}

/// A `file:` URI that opens `path` read-only: absolute, every byte but
/// unreserved characters and `/` percent-encoded (so `?`, `#` and `%` in a
/// name stay part of it).
fn read_only_uri(path: &Path) -> Result<String, StoreError> {
    let absolute = std::path::absolute(path).map_err(|e| StoreError::io(path, e))?;
    let mut uri = String::from("file://");
    for byte in absolute.as_os_str().as_encoded_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                uri.push(char::from(*byte));
            }
            _ => {
                uri.push('%');
                uri.push_str(&format!("{byte:02X}"));
            }
        }
    }
    uri.push_str("?mode=ro");
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::migrate;

    #[test]
    fn every_table_of_the_schema_has_a_rule() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate::migrate(&mut conn, Path::new(":memory:")).unwrap();
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        let mut tables: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        tables.push("sqlite_sequence".to_string());
        tables.sort();
        tables.dedup();
        let mut ruled: Vec<String> = TABLES.iter().map(|(t, _)| t.to_string()).collect();
        ruled.sort();
        assert_eq!(ruled, tables, "a table without a merge rule (TABLES)");
        for (table, _) in COPIES {
            assert!(TABLES.iter().any(|(t, _)| t == table), "{table}");
        }
    }

    #[test]
    fn every_per_run_table_is_copied() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate::migrate(&mut conn, Path::new(":memory:")).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) c
                 WHERE m.type = 'table' AND c.name = 'run_id' ORDER BY m.name",
            )
            .unwrap();
        let per_run: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(per_run.len() >= 15, "{per_run:?}");
        for table in per_run {
            assert!(
                COPIES.iter().any(|(t, _)| *t == table),
                "{table} has a run_id but no copy"
            );
        }
    }

    /// `for_schema` renames `src.` wherever it occurs: it must only ever
    /// be the schema.
    #[test]
    fn src_is_only_ever_the_schema_in_merge_statements() {
        for (name, text) in crate::sql::merge::FILES {
            for (at, _) in text.match_indices("src.") {
                let before = text[..at].chars().last();
                assert!(
                    !before.is_some_and(|c| c.is_alphanumeric() || c == '_'),
                    "{name}: `src.` inside an identifier at {at}"
                );
            }
        }
        assert_eq!(
            for_schema("SELECT x FROM src.t JOIN src.u", "src3"),
            "SELECT x FROM src3.t JOIN src3.u"
        );
    }

    #[test]
    fn uris_keep_odd_names_whole() {
        let uri = read_only_uri(Path::new("/tmp/a b?c#d%e.db")).unwrap();
        assert_eq!(uri, "file:///tmp/a%20b%3Fc%23d%25e.db?mode=ro");
    }
}
