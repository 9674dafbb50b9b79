//! `multiagents check` and `multiagents snapshot`: reading a whole database
//! file without recording a run — an integrity verdict, or a consistent copy
//! taken while another process writes.

use std::path::{Path, PathBuf};

use super::file::{self, FileState};
use super::{StoreError, migrate};

/// The verdict of an integrity check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IntegrityReport {
    /// The file checked.
    pub path: PathBuf,
    /// `PRAGMA user_version`, when it could be read.
    pub schema_version: Option<i64>,
    /// The file's size in bytes (its `-wal` not included).
    pub size_bytes: u64,
    /// Runs recorded in it, when it could be read.
    pub runs: Option<i64>,
    /// What SQLite (or the size check) found wrong; empty when sound.
    pub problems: Vec<String>,
}

impl IntegrityReport {
    /// True when nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Runs `PRAGMA integrity_check` on a multiagents database, read-only.
///
/// Damage is a verdict, not an error: a truncated file, a page SQLite cannot
/// parse, a broken index all come back as problems. What is not ours at all
/// (missing, empty, another program's database, not SQLite) is an error, as
/// for every read command.
pub fn check_integrity(path: &Path) -> Result<IntegrityReport, StoreError> {
    let size_bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    let mut report = IntegrityReport {
        path: path.to_path_buf(),
        schema_version: None,
        size_bytes,
        runs: None,
        problems: Vec::new(),
    };
    match file::inspect(path) {
        Ok(FileState::Database) => {}
        Ok(FileState::Missing) => {
            return Err(StoreError::NotFound {
                path: path.to_path_buf(),
            });
        }
        Ok(FileState::Empty) => {
            return Err(StoreError::EmptyFile {
                path: path.to_path_buf(),
            });
        }
        Err(StoreError::Truncated { size, expected, .. }) => {
            report.problems.push(format!(
                "the file is truncated: {size} bytes, its header says {expected}"
            ));
            return Ok(report);
        }
        Err(e) => return Err(e),
    }
    let conn = file::open_read_only(path)?;
    let damaged = |report: &mut IntegrityReport, e: rusqlite::Error| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseCorrupt) | Some(rusqlite::ErrorCode::NotADatabase) => {
            report.problems.push(e.to_string());
            Ok(())
        }
        Some(rusqlite::ErrorCode::ReadOnly) => Err(StoreError::HotJournal {
            path: path.to_path_buf(),
            journal: file::sidecar(path, "-journal"),
        }),
        _ => Err(StoreError::Sqlite(e)),
    };
    // Whose file it is, before judging it: an older or newer schema of ours
    // is checked as well (the check does not depend on it).
    match file::open_for_reading(path, true) {
        Ok(f) => report.schema_version = Some(f.version),
        Err(StoreError::NewerSchema { found, .. }) => report.schema_version = Some(found),
        // Damage found reading the schema: the check below says what.
        Err(StoreError::NotADatabase { .. }) | Err(StoreError::Damaged { .. }) => {}
        Err(e) => return Err(e),
    }
    match file::integrity_problems(&conn) {
        Ok(problems) => report.problems.extend(problems),
        Err(e) => damaged(&mut report, e)?,
    }
    if report.schema_version.is_none() {
        if let Err(e) = migrate::schema_version(&conn) {
            damaged(&mut report, e)?;
        }
        if report.problems.is_empty() {
            report
                .problems
                .push("the schema could not be read".to_string());
        }
    }
    if report.is_ok() {
        match conn.query_row(crate::sql::store::RUN_COUNT, [], |r| r.get(0)) {
            Ok(n) => report.runs = Some(n),
            Err(e) => damaged(&mut report, e)?,
        }
    }
    Ok(report)
}

/// What `snapshot` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SnapshotReport {
    /// The new file.
    pub path: PathBuf,
    /// Its size.
    pub size_bytes: u64,
    /// Runs in it.
    pub runs: i64,
}

/// Writes a consistent copy of a (possibly live) database to `target` with
/// `VACUUM INTO`: one read transaction, so the copy holds exactly what was
/// committed when it began, and writers go on meanwhile. Nothing is recorded
/// in the source (no run), and `target` must not exist: it is created 0600
/// (the copy holds error messages and payload sizes like the original) and
/// removed again if the copy fails.
pub fn snapshot(source: &Path, target: &Path) -> Result<SnapshotReport, StoreError> {
    file::open_for_reading(source, true)?;
    refuse_sibling(source, target)?;
    let refuse = |reason: &str| StoreError::SnapshotTarget {
        path: target.to_path_buf(),
        reason: reason.to_string(),
    };
    let Some(target_text) = target.to_str() else {
        return Err(refuse("the path is not valid UTF-8, which SQLite needs"));
    };
    match file::create_private_new(target) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(refuse("already exists; refusing to overwrite it"));
        }
        Err(e) => return Err(StoreError::io(target, e)),
    }
    let copied = (|| {
        // Not query_only: VACUUM INTO writes, though only to the target.
        let conn = rusqlite::Connection::open_with_flags(
            file::not_a_uri(source),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(super::BUSY_TIMEOUT)?;
        conn.execute(
            crate::sql::store::SNAPSHOT,
            rusqlite::named_params! { ":target": target_text },
        )?;
        let copy = file::open_read_only(target)?;
        let runs: i64 = copy.query_row(crate::sql::store::RUN_COUNT, [], |r| r.get(0))?;
        Ok::<_, StoreError>(runs)
    })();
    match copied {
        Ok(runs) => Ok(SnapshotReport {
            path: target.to_path_buf(),
            size_bytes: std::fs::metadata(target).map_or(0, |m| m.len()),
            runs,
        }),
        Err(e) => {
            for leftover in [
                target.to_path_buf(),
                file::sidecar(target, "-journal"),
                file::sidecar(target, "-wal"),
                file::sidecar(target, "-shm"),
            ] {
                let _ = std::fs::remove_file(leftover);
            }
            Err(e)
        }
    }
}

/// Refuses a target that is one of SQLite's files beside the source (its
/// `-wal`, `-shm` or `-journal`, even when absent right now): SQLite would
/// take a file of that name for part of the database.
fn refuse_sibling(source: &Path, target: &Path) -> Result<(), StoreError> {
    let canonical_dir = |p: &Path| {
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::canonicalize(dir).ok()
    };
    let (Some(source_dir), Some(target_dir)) = (canonical_dir(source), canonical_dir(target))
    else {
        return Ok(());
    };
    if source_dir != target_dir {
        return Ok(());
    }
    let (Some(source_name), Some(target_name)) = (source.file_name(), target.file_name()) else {
        return Ok(());
    };
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = source_name.to_os_string();
        name.push(suffix);
        if name == target_name {
            return Err(StoreError::SnapshotTarget {
                path: target.to_path_buf(),
                reason: "is the database itself or one of its SQLite files; refusing to write it"
                    .to_string(),
            });
        }
    }
    Ok(())
}
