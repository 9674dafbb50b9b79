//! Files the commands write (`report --out`, `export prometheus --out`,
//! `bench --json-out`, …): checked before any work, written atomically, and
//! never at the cost of something that was already there.
//!
//! An [`OutputPath`] refuses, with one line naming the reason:
//! - the database being read, or its `-wal`, `-shm` or `-journal` (by name
//!   and by identity, so a hard link or `./a.db` for `a.db` is caught too);
//! - any existing SQLite database or write-ahead log (by its magic header),
//!   even with `--force`: a report is never worth a database;
//! - anything that is not a regular file: a symbolic link (writing would
//!   replace the link or, worse, its target), a directory, a FIFO (opening
//!   it would block), a device or a socket;
//! - a read-only file (renaming over it would bypass its permissions);
//! - any other existing file unless the user passed `--force`.
//!
//! The bytes go into a temporary file created in the target's directory at
//! check time (so an unwritable directory fails before the work, not after),
//! flushed to disk, then renamed over the target: a failure at any point
//! leaves the target byte-identical and no temporary file behind. Without
//! `--force` the final rename refuses to replace a file that appeared in the
//! meantime; with it, the target is checked again just before the rename.

use std::fs::Metadata;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// The first 16 bytes of every SQLite 3 database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// The two magic numbers (big-endian) a SQLite write-ahead log starts with.
const WAL_MAGIC: [[u8; 4]; 2] = [[0x37, 0x7f, 0x06, 0x82], [0x37, 0x7f, 0x06, 0x83]];
/// Files SQLite keeps beside a database; writing over them damages it.
const SIDECARS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Why an output path was refused or could not be written. Every message is
/// one line that starts with the path.
#[derive(Debug, thiserror::Error)]
pub enum OutputPathError {
    /// The path names no file (empty, `/`, ends in `..`).
    #[error("{path}: not a file name")]
    NoFileName {
        /// The path given.
        path: PathBuf,
    },
    /// The directory the file would go in does not exist.
    #[error("{path}: directory {dir} does not exist")]
    MissingDirectory {
        /// The path given.
        path: PathBuf,
        /// Its directory.
        dir: PathBuf,
    },
    /// The path is the database this command reads.
    #[error("{path} is the database of this command; refusing to write over it")]
    IsDatabase {
        /// The path given.
        path: PathBuf,
    },
    /// The path is one of SQLite's companion files of the database.
    #[error("{path} is the {suffix} file of the database; refusing to write over it")]
    IsDatabaseSidecar {
        /// The path given.
        path: PathBuf,
        /// `-wal`, `-shm` or `-journal`.
        suffix: &'static str,
    },
    /// The path holds a SQLite database or write-ahead log.
    #[error("{path} is a SQLite {what}; refusing to overwrite it (even with --force)")]
    IsSqlite {
        /// The path given.
        path: PathBuf,
        /// "database" or "write-ahead log".
        what: &'static str,
    },
    /// The path is not a regular file.
    #[error("{path} is a {kind}, not a regular file; refusing to write to it")]
    NotRegularFile {
        /// The path given.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// The file exists but may not be written.
    #[error("{path} is read-only; refusing to replace it")]
    ReadOnly {
        /// The path given.
        path: PathBuf,
    },
    /// The file exists and `--force` was not given.
    #[error("{path} already exists; pass --force to replace it")]
    Exists {
        /// The path given.
        path: PathBuf,
    },
    /// The file exists and the command only ever creates new files.
    #[error("{path} already exists; refusing to overwrite it (give a new file name)")]
    AlreadyExists {
        /// The path given.
        path: PathBuf,
    },
    /// Reading the existing file to check it, creating the temporary file
    /// or writing failed.
    #[error("{path}: cannot {action}: {source}")]
    Io {
        /// The path given.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The cause.
        source: std::io::Error,
    },
}

/// A checked output file: refuses what must not be overwritten, then
/// receives its bytes atomically.
#[derive(Debug)]
pub struct OutputPath {
    path: PathBuf,
    database: Option<PathBuf>,
    force: bool,
    temp: NamedTempFile,
}

impl OutputPath {
    /// Checks `path` as an output file of a command that reads `database`
    /// (if any) and creates the temporary file beside it. `force` allows
    /// replacing an existing regular file that is neither read-only nor a
    /// SQLite file.
    pub fn check(
        path: &Path,
        database: Option<&Path>,
        force: bool,
    ) -> Result<OutputPath, OutputPathError> {
        let path = path.to_path_buf();
        let (dir, name) = split(&path)?;
        check_target(&path, &dir, name, database, force)?;
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{}.", name.to_string_lossy()))
            .suffix(".partial")
            .tempfile_in(&dir)
            .map_err(|source| OutputPathError::Io {
                path: path.clone(),
                action: "create a file in its directory",
                source,
            })?;
        Ok(OutputPath {
            path,
            database: database.map(Path::to_path_buf),
            force,
            temp,
        })
    }

    /// The path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `bytes` to the temporary file, flushes it to disk and renames
    /// it over the target. The target is checked again first; on any error
    /// it is left as it was and the temporary file is removed.
    pub fn write(self, bytes: &[u8]) -> Result<(), OutputPathError> {
        let OutputPath {
            path,
            database,
            force,
            mut temp,
        } = self;
        let io = |action| {
            let path = path.clone();
            move |source| OutputPathError::Io {
                path,
                action,
                source,
            }
        };
        temp.write_all(bytes).map_err(io("write"))?;
        temp.as_file().sync_all().map_err(io("write"))?;
        let (dir, name) = split(&path)?;
        // Whatever the target became while the work ran is judged again.
        let replaced = check_target(&path, &dir, name, database.as_deref(), force)?;
        if let Some(existing) = replaced {
            // A replaced file keeps its permissions (new files are 0600,
            // like the database: reports name workers and errors).
            temp.as_file()
                .set_permissions(existing.permissions())
                .map_err(io("copy the permissions of the file it replaces"))?;
            temp.persist(&path)
                .map_err(|e| e.error)
                .map_err(io("replace it"))?;
        } else {
            // Fails, rather than replaces, if a file appeared meanwhile.
            temp.persist_noclobber(&path)
                .map_err(|e| e.error)
                .map_err(|source| {
                    if source.kind() == std::io::ErrorKind::AlreadyExists {
                        OutputPathError::Exists { path: path.clone() }
                    } else {
                        io("create it")(source)
                    }
                })?;
        }
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// Checks a file that is appended to rather than replaced (the log file):
/// never the database or its companions, never a SQLite file, never a
/// directory. A file in a directory that does not exist yet is fine (it
/// cannot be any of those); FIFOs and devices are the user's choice
/// (`/dev/stderr`).
pub fn check_append(path: &Path, database: Option<&Path>) -> Result<(), OutputPathError> {
    let (dir, name) = split(path)?;
    let Ok(real_dir) = dir.canonicalize() else {
        return Ok(());
    };
    let target = real_dir.join(name);
    if let Some(db) = database {
        check_not_database(path, &target, db)?;
    }
    match std::fs::metadata(&target) {
        Ok(meta) if meta.is_dir() => Err(OutputPathError::NotRegularFile {
            path: path.to_path_buf(),
            kind: "directory",
        }),
        Ok(meta) if meta.is_file() => check_not_sqlite(path, &target),
        _ => Ok(()),
    }
}

/// Checks a file a command creates itself and never replaces (`snapshot
/// OUT.db`): its directory exists, it is not the database or a companion
/// of it, and nothing is there yet (a SQLite file, a symlink, a FIFO… is
/// named as such).
pub fn check_new(path: &Path, database: Option<&Path>) -> Result<(), OutputPathError> {
    let (dir, name) = split(path)?;
    match check_target(path, &dir, name, database, false) {
        Ok(None) => Ok(()),
        Ok(Some(_))
        | Err(OutputPathError::Exists { .. })
        | Err(OutputPathError::ReadOnly { .. }) => Err(OutputPathError::AlreadyExists {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(e),
    }
}

/// The directory (`.` for a bare name) and file name of `path`.
fn split(path: &Path) -> Result<(PathBuf, &std::ffi::OsStr), OutputPathError> {
    let name = path
        .file_name()
        .ok_or_else(|| OutputPathError::NoFileName {
            path: path.to_path_buf(),
        })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name))
}

/// Applies every rule; returns the existing file's metadata when it will be
/// replaced (with `force`), `None` when the target does not exist.
fn check_target(
    path: &Path,
    dir: &Path,
    name: &std::ffi::OsStr,
    database: Option<&Path>,
    force: bool,
) -> Result<Option<Metadata>, OutputPathError> {
    let real_dir = dir
        .canonicalize()
        .map_err(|_| OutputPathError::MissingDirectory {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
        })?;
    if !real_dir.is_dir() {
        return Err(OutputPathError::MissingDirectory {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
        });
    }
    let target = real_dir.join(name);
    if let Some(db) = database {
        check_not_database(path, &target, db)?;
    }
    let meta = match std::fs::symlink_metadata(&target) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(OutputPathError::Io {
                path: path.to_path_buf(),
                action: "inspect it",
                source,
            });
        }
    };
    let kind = file_kind(&meta);
    if kind != "regular file" {
        return Err(OutputPathError::NotRegularFile {
            path: path.to_path_buf(),
            kind,
        });
    }
    check_not_sqlite(path, &target)?;
    if meta.permissions().readonly() || !writable(&target) {
        return Err(OutputPathError::ReadOnly {
            path: path.to_path_buf(),
        });
    }
    if !force {
        return Err(OutputPathError::Exists {
            path: path.to_path_buf(),
        });
    }
    Ok(Some(meta))
}

/// Refuses the database and its companions, by name (the directory resolved,
/// the last component as given) and by identity (device and inode).
fn check_not_database(path: &Path, target: &Path, db: &Path) -> Result<(), OutputPathError> {
    let Ok((db_dir, db_name)) = split(db) else {
        return Ok(());
    };
    if let Ok(db_real_dir) = db_dir.canonicalize() {
        let db_target = db_real_dir.join(db_name);
        if target == db_target {
            return Err(OutputPathError::IsDatabase {
                path: path.to_path_buf(),
            });
        }
        for suffix in SIDECARS {
            let mut sidecar = db_target.clone().into_os_string();
            sidecar.push(suffix);
            if target.as_os_str() == sidecar {
                return Err(OutputPathError::IsDatabaseSidecar {
                    path: path.to_path_buf(),
                    suffix,
                });
            }
        }
    }
    if let (Ok(a), Ok(b)) = (std::fs::metadata(target), std::fs::metadata(db))
        && same_file(&a, &b)
    {
        return Err(OutputPathError::IsDatabase {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

#[cfg(unix)]
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_: &Metadata, _: &Metadata) -> bool {
    false
}

/// What a file system entry is, in words.
fn file_kind(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_symlink() {
        return "symbolic link";
    }
    if t.is_dir() {
        return "directory";
    }
    if t.is_file() {
        return "regular file";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if t.is_fifo() {
            return "FIFO";
        }
        if t.is_socket() {
            return "socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "device";
        }
    }
    "special file"
}

/// Refuses a regular file that starts like a SQLite database or WAL.
fn check_not_sqlite(path: &Path, target: &Path) -> Result<(), OutputPathError> {
    let mut head = Vec::with_capacity(SQLITE_MAGIC.len());
    std::fs::File::open(target)
        .and_then(|f| f.take(SQLITE_MAGIC.len() as u64).read_to_end(&mut head))
        .map_err(|source| OutputPathError::Io {
            path: path.to_path_buf(),
            action: "read it to check what it is",
            source,
        })?;
    let what = if head.as_slice() == SQLITE_MAGIC {
        Some("database")
    } else if head.len() >= 4 && WAL_MAGIC.iter().any(|m| head[..4] == m[..]) {
        Some("write-ahead log")
    } else {
        None
    };
    match what {
        Some(what) => Err(OutputPathError::IsSqlite {
            path: path.to_path_buf(),
            what,
        }),
        None => Ok(()),
    }
}

/// Whether this process may write the file (its owner, group and mode, and
/// the caller's rights): opening for writing without truncating changes
/// nothing in it.
fn writable(target: &Path) -> bool {
    std::fs::OpenOptions::new().write(true).open(target).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_is_written_and_an_existing_one_needs_force() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.txt");
        OutputPath::check(&path, None, false)
            .expect("check")
            .write(b"one")
            .expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"one");
        let err = OutputPath::check(&path, None, false).expect_err("exists");
        assert!(matches!(err, OutputPathError::Exists { .. }), "{err}");
        OutputPath::check(&path, None, true)
            .expect("check")
            .write(b"two")
            .expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["out.txt"], "no temporary file left");
    }

    #[test]
    fn a_file_that_appears_during_the_work_is_not_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("late.txt");
        let out = OutputPath::check(&path, None, false).expect("check");
        std::fs::write(&path, b"theirs").expect("write");
        let err = out.write(b"ours").expect_err("refused");
        assert!(matches!(err, OutputPathError::Exists { .. }), "{err}");
        assert_eq!(std::fs::read(&path).expect("read"), b"theirs");
    }

    #[test]
    fn the_database_and_its_sidecars_are_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("a.db");
        std::fs::write(&db, b"").expect("write");
        let err = OutputPath::check(&db, Some(&db), true).expect_err("db");
        assert!(matches!(err, OutputPathError::IsDatabase { .. }), "{err}");
        let wal = dir.path().join("a.db-wal");
        let err = OutputPath::check(&wal, Some(&db), true).expect_err("wal");
        assert!(
            matches!(
                err,
                OutputPathError::IsDatabaseSidecar { suffix: "-wal", .. }
            ),
            "{err}"
        );
    }
}
