//! Opening a database file: refusing what we must not touch, creating a new
//! file atomically, migrating under one write lock, and the read-only opening
//! of commands that only read.
//!
//! The rules, in the order they apply:
//!
//! - Before SQLite sees a path it is checked: a directory, a device, a FIFO,
//!   a file without the SQLite header or shorter than its header says is
//!   refused, so SQLite never creates a `-journal` beside it or writes into
//!   it.
//! - A missing file is built aside (a hidden file in the same directory,
//!   migrated and switched to WAL, then closed) and hard-linked into place.
//!   A link never replaces: when many processes start on one new file
//!   together, exactly one link wins, the others find the finished file, and
//!   no process ever sees a half-made one.
//! - The schema version and the tables present are read in one transaction
//!   before anything is written; another program's database (tables but no
//!   multiagents version, or a version without our tables) is refused before
//!   it is switched to WAL.
//! - Migration happens in one `BEGIN IMMEDIATE` transaction that re-reads the
//!   version, so two processes migrating the same file cannot interleave.
//! - Read commands open read-only: they never create, migrate, switch to WAL
//!   or roll back a journal. A file they cannot read as it is gets a message
//!   naming the command that would fix it.

use std::ffi::OsString;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::{BUSY_TIMEOUT, StoreError, migrate};

/// The first 16 bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Tables every multiagents schema version has: a file claiming a version of
/// ours without them belongs to another program.
const FINGERPRINT_TABLES: i64 = 4;

/// What is at a database path, as far as we can tell without SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileState {
    /// Nothing there (and no orphaned `-wal`).
    Missing,
    /// An existing regular file of 0 bytes.
    Empty,
    /// A regular file that starts like a complete SQLite database.
    Database,
}

/// Checks a path before SQLite opens it, so that a file we must refuse is
/// never modified.
pub(crate) fn inspect(path: &Path) -> Result<FileState, StoreError> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let wal = wal_path(path);
            if wal.exists() {
                return Err(StoreError::OrphanWal {
                    path: path.to_path_buf(),
                    wal,
                });
            }
            return Ok(FileState::Missing);
        }
        Err(e) => return Err(StoreError::io(path, e)),
    };
    if meta.is_dir() {
        return Err(StoreError::IsADirectory {
            path: path.to_path_buf(),
        });
    }
    if !meta.is_file() {
        // /dev/null, a FIFO, a socket: SQLite would read it as an empty
        // database and create `<path>-journal` beside it.
        return Err(StoreError::NotRegularFile {
            path: path.to_path_buf(),
        });
    }
    if meta.len() == 0 {
        return Ok(FileState::Empty);
    }
    let mut header = [0u8; 100];
    let mut file = std::fs::File::open(path).map_err(|e| StoreError::io(path, e))?;
    let n = read_up_to(&mut file, &mut header).map_err(|e| StoreError::io(path, e))?;
    if n < 100 || &header[..16] != SQLITE_HEADER {
        return Err(StoreError::NotADatabase {
            path: path.to_path_buf(),
        });
    }
    // A shorter file than its header promises was truncated; SQLite would
    // only notice when it reads a missing page. The size and the header are
    // two reads, and another process may commit between them (a migration
    // in journal mode, a checkpoint writing page 1 before the file grows),
    // so a short reading is trusted only when it repeats with no journal or
    // WAL in use.
    for attempt in 1..=TRUNCATION_CHECKS {
        match compare_with_header(path, &header)? {
            Comparison::Whole | Comparison::InUse => return Ok(FileState::Database),
            Comparison::Short { size, expected } if attempt == TRUNCATION_CHECKS => {
                return Err(StoreError::Truncated {
                    path: path.to_path_buf(),
                    size,
                    expected,
                });
            }
            Comparison::Short { .. } => {
                std::thread::sleep(TRUNCATION_RECHECK);
                file.seek(std::io::SeekFrom::Start(0))
                    .map_err(|e| StoreError::io(path, e))?;
                let n = read_up_to(&mut file, &mut header).map_err(|e| StoreError::io(path, e))?;
                if n < 100 || &header[..16] != SQLITE_HEADER {
                    return Err(StoreError::NotADatabase {
                        path: path.to_path_buf(),
                    });
                }
            }
        }
    }
    Ok(FileState::Database)
}

/// How often a file that looks shorter than its header is measured again
/// before it is called truncated.
const TRUNCATION_CHECKS: u32 = 6;
/// The pause between two measurements: long enough for a concurrent commit
/// or checkpoint to finish growing the file.
const TRUNCATION_RECHECK: Duration = Duration::from_millis(50);

/// The file's size against the page count in its header.
enum Comparison {
    /// At least as long as the header says.
    Whole,
    /// A WAL or rollback journal holds changes: another process may be
    /// writing, so the size proves nothing.
    InUse,
    /// Shorter than the header says, with nothing in flight.
    Short { size: u64, expected: u64 },
}

fn compare_with_header(path: &Path, header: &[u8; 100]) -> Result<Comparison, StoreError> {
    let in_use = |suffix: &str| std::fs::metadata(sidecar(path, suffix)).is_ok_and(|m| m.len() > 0);
    if in_use("-wal") || in_use("-journal") {
        return Ok(Comparison::InUse);
    }
    // Bytes 16-17: page size (1 means 65536); 28-31: pages in the file as of
    // the last commit outside the WAL.
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65_536u64,
        n => u64::from(n),
    };
    let pages = u64::from(u32::from_be_bytes([
        header[28], header[29], header[30], header[31],
    ]));
    let expected = page_size.saturating_mul(pages);
    // Measured after the header was read, so a file that grew in between
    // is seen at its new size.
    let size = std::fs::metadata(path)
        .map_err(|e| StoreError::io(path, e))?
        .len();
    Ok(if size < expected {
        Comparison::Short { size, expected }
    } else {
        Comparison::Whole
    })
}

fn read_up_to(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// `<path><suffix>`: SQLite's names for the files beside a database.
pub(crate) fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

pub(crate) fn wal_path(path: &Path) -> PathBuf {
    sidecar(path, "-wal")
}

/// Creates `path` readable by its owner only (it holds error messages and
/// payload sizes; SQLite gives its -wal and -shm files the same
/// permissions). Fails if anything is already there.
pub(crate) fn create_private_new(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Per-connection settings every connection of ours uses.
pub(crate) fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// What the schema of a file says about whose it is.
#[derive(Debug, Clone, Copy)]
struct SchemaInfo {
    version: i64,
    objects: i64,
    ours: i64,
}

/// Whose file it is, from its [`SchemaInfo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// A SQLite database without any schema: ours to initialise.
    Blank,
    /// A multiagents database at this schema version.
    Ours(i64),
}

/// Reads version and tables in one read transaction, so that a migration
/// committing in between cannot make us see a version 0 file with tables.
fn read_schema(conn: &Connection) -> Result<SchemaInfo, rusqlite::Error> {
    let tx = conn.unchecked_transaction()?;
    let info = schema_in(&tx)?;
    tx.commit()?;
    Ok(info)
}

fn schema_in(conn: &Connection) -> Result<SchemaInfo, rusqlite::Error> {
    let version = migrate::schema_version(conn)?;
    let (objects, ours) = conn.query_row(crate::sql::store::SCHEMA_FINGERPRINT, [], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    Ok(SchemaInfo {
        version,
        objects,
        ours,
    })
}

fn owner(info: SchemaInfo, path: &Path) -> Result<Owner, StoreError> {
    if info.version > migrate::SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found: info.version,
            supported: migrate::SCHEMA_VERSION,
        });
    }
    let foreign = || StoreError::ForeignDatabase {
        path: path.to_path_buf(),
    };
    match info.version {
        0 if info.objects == 0 => Ok(Owner::Blank),
        v if v > 0 && info.ours == FINGERPRINT_TABLES => Ok(Owner::Ours(v)),
        _ => Err(foreign()),
    }
}

/// Maps an error reading a file that passed [`inspect`]: a non-database
/// file becomes [`StoreError::NotADatabase`], a damaged one
/// [`StoreError::Damaged`]; a hot journal a
/// read-only connection may not roll back becomes
/// [`StoreError::HotJournal`].
fn read_error(path: &Path, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => StoreError::NotADatabase {
            path: path.to_path_buf(),
        },
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => StoreError::Damaged {
            path: path.to_path_buf(),
            detail: e.to_string(),
        },
        Some(rusqlite::ErrorCode::ReadOnly) => StoreError::HotJournal {
            path: path.to_path_buf(),
            journal: sidecar(path, "-journal"),
        },
        _ => StoreError::Sqlite(e),
    }
}

/// Opens the write connection of a recording process: creates the file if
/// it is missing, refuses what is not ours, migrates, and leaves it in WAL
/// mode.
pub(crate) fn open_for_writing(path: &Path) -> Result<Connection, StoreError> {
    if inspect(path)? == FileState::Missing {
        create_aside(path)?;
        if inspect(path)? == FileState::Missing {
            // Still nothing to open: e.g. a dangling symbolic link that a
            // link cannot replace.
            return Err(StoreError::NotFound {
                path: path.to_path_buf(),
            });
        }
    }
    open_existing_for_writing(path)
}

/// [`open_for_writing`] for a file that must already exist (`upgrade`).
pub(crate) fn open_existing_for_writing(path: &Path) -> Result<Connection, StoreError> {
    open_existing_with(path, OpenFlags::empty())
}

/// [`open_existing_for_writing`] for `merge`, whose connection attaches its
/// inputs read-only by `file:` URIs (URI names are enabled).
pub(crate) fn open_existing_for_attaching(path: &Path) -> Result<Connection, StoreError> {
    open_existing_with(path, OpenFlags::SQLITE_OPEN_URI)
}

/// `path` under a name SQLite never reads as a URI: a relative path gets a
/// leading `./`. The bundled SQLite is built with `SQLITE_USE_URI`, so it
/// takes any name starting with `file:` for a URI (`--db file:x.db` would
/// open `x.db`): every connection of ours opens its file by this name.
pub(crate) fn not_a_uri(path: &Path) -> PathBuf {
    if path.is_relative() {
        Path::new(".").join(path)
    } else {
        path.to_path_buf()
    }
}

fn open_existing_with(path: &Path, extra: OpenFlags) -> Result<Connection, StoreError> {
    match inspect(path)? {
        FileState::Missing => {
            return Err(StoreError::NotFound {
                path: path.to_path_buf(),
            });
        }
        FileState::Empty | FileState::Database => {}
    }
    check_writable(path)?;
    let mut conn = Connection::open_with_flags(
        not_a_uri(path),
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | extra,
    )?;
    configure(&conn)?;
    // A damaged file is refused before anything is written to it: no
    // migration, no switch to WAL.
    let info = read_schema(&conn).map_err(|e| read_error(path, e))?;
    if let Owner::Ours(_) = owner(info, path)? {
        refuse_if_damaged(&conn, path)?;
    }
    prepare_schema(&mut conn, path)?;
    ensure_wal(&conn)?;
    Ok(conn)
}

/// Brings the schema to [`migrate::SCHEMA_VERSION`]; returns the version the
/// file had. Nothing is written to a file that is refused.
fn prepare_schema(conn: &mut Connection, path: &Path) -> Result<i64, StoreError> {
    let info = read_schema(conn).map_err(|e| read_error(path, e))?;
    let found = match owner(info, path)? {
        Owner::Ours(v) if v == migrate::SCHEMA_VERSION => return Ok(v),
        Owner::Ours(v) => v,
        Owner::Blank => 0,
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| read_error(path, e))?;
    // Another process may have created or migrated the schema while we
    // waited for the write lock: decide again under the lock.
    let info = schema_in(&tx).map_err(|e| read_error(path, e))?;
    let now = match owner(info, path)? {
        Owner::Ours(v) => v,
        Owner::Blank => 0,
    };
    migrate::apply(&tx, now)?;
    tx.commit()?;
    Ok(found)
}

/// Switches to WAL (a no-op when the file already is). The switch takes an
/// exclusive lock, and SQLite reports a busy one at once instead of waiting,
/// so it is retried here for as long as the busy timeout.
fn ensure_wal(conn: &Connection) -> Result<(), StoreError> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(_) if Instant::now() < deadline => {}
            Err(e) if is_busy(&e) && Instant::now() < deadline => {}
            Ok(mode) => {
                return Err(StoreError::WriterStopped(format!(
                    "cannot switch the database to WAL (journal mode stays {mode})"
                )));
            }
            Err(e) => return Err(e.into()),
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// True for the errors that mean "someone else holds the lock right now".
pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Builds a new database aside and links it into place.
///
/// The file is made in the same directory (a link cannot cross file
/// systems) under a hidden name unique to this process, migrated, switched
/// to WAL and closed (which checkpoints it into the file alone). The hard
/// link then either creates `path` — atomically, complete — or fails
/// because another process got there first, which is just as good. Where
/// the file system has no hard links, an empty file is created instead and
/// migrated in place under the write lock.
fn create_aside(path: &Path) -> Result<(), StoreError> {
    let temp = aside_name(path, "new")?;
    create_private_new(&temp).map_err(|e| StoreError::io(path, e))?;
    let result = build_new(&temp).and_then(|()| link_into_place(&temp, path));
    for leftover in [
        temp.clone(),
        wal_path(&temp),
        sidecar(&temp, "-shm"),
        sidecar(&temp, "-journal"),
    ] {
        let _ = std::fs::remove_file(leftover);
    }
    result
}

/// A new database file built aside, for a command that must either create
/// `path` whole or leave it absent (`merge`): a hidden file in the same
/// directory, at this schema and in WAL mode, whose connection (URI names
/// enabled, like [`open_existing_for_attaching`]) the caller fills. Then
/// [`NewFile::link_into_place`] links it to `path` (refusing a file that
/// appeared there meanwhile); dropped before that, it is removed.
pub(crate) struct NewFile {
    temp: PathBuf,
    path: PathBuf,
}

impl NewFile {
    /// Creates the hidden file beside `path` and opens it, migrated.
    pub(crate) fn create(path: &Path) -> Result<(NewFile, Connection), StoreError> {
        let temp = aside_name(path, "merge")?;
        create_private_new(&temp).map_err(|e| StoreError::io(path, e))?;
        let new = NewFile {
            temp,
            path: path.to_path_buf(),
        };
        let mut conn = Connection::open_with_flags(
            not_a_uri(&new.temp),
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        configure(&conn)?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        migrate::apply(&tx, 0)?;
        tx.commit()?;
        Ok((new, conn))
    }

    /// Closes `conn` (which checkpoints its WAL into the file: the file
    /// alone is the whole database) and links the file to its path. A file
    /// that appeared at the path meanwhile is never replaced:
    /// [`StoreError::SnapshotTarget`] says so.
    pub(crate) fn link_into_place(self, conn: Connection) -> Result<(), StoreError> {
        conn.close().map_err(|(_, e)| StoreError::Sqlite(e))?;
        match std::fs::hard_link(&self.temp, &self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(StoreError::SnapshotTarget {
                    path: self.path.clone(),
                    reason: "appeared while the merge was building it; refusing to replace it"
                        .to_string(),
                })
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::Unsupported | std::io::ErrorKind::PermissionDenied
                ) =>
            {
                // No hard links here: a rename, after checking (a file that
                // appears between the check and the rename is the one case
                // this cannot refuse).
                if inspect(&self.path)? != FileState::Missing {
                    return Err(StoreError::SnapshotTarget {
                        path: self.path.clone(),
                        reason: "appeared while the merge was building it; refusing to replace it"
                            .to_string(),
                    });
                }
                std::fs::rename(&self.temp, &self.path).map_err(|e| StoreError::io(&self.path, e))
            }
            Err(e) => Err(StoreError::io(&self.path, e)),
        }
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        for leftover in [
            self.temp.clone(),
            wal_path(&self.temp),
            sidecar(&self.temp, "-shm"),
            sidecar(&self.temp, "-journal"),
        ] {
            let _ = std::fs::remove_file(leftover);
        }
    }
}

/// A hidden name beside `path`, unique to this process and moment:
/// `.<name>.<what>-<pid>-<nanos>`.
fn aside_name(path: &Path, what: &str) -> Result<PathBuf, StoreError> {
    let Some(name) = path.file_name() else {
        return Err(StoreError::NotFound {
            path: path.to_path_buf(),
        });
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut temp_name = OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{what}-{}-{nanos}", std::process::id()));
    Ok(dir.join(temp_name))
}

fn build_new(temp: &Path) -> Result<(), StoreError> {
    let mut conn = Connection::open_with_flags(
        temp,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn)?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    migrate::apply(&tx, 0)?;
    tx.commit()?;
    // Closing the only connection checkpoints the WAL into the file and
    // deletes it: the file alone is the whole database.
    conn.close().map_err(|(_, e)| StoreError::Sqlite(e))?;
    Ok(())
}

fn link_into_place(temp: &Path, path: &Path) -> Result<(), StoreError> {
    match std::fs::hard_link(temp, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::Unsupported | std::io::ErrorKind::PermissionDenied
            ) =>
        {
            tracing::debug!(error = %e, "no hard links here; creating the database in place");
            match create_private_new(path) {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(StoreError::io(path, e)),
            }
        }
        Err(e) => Err(StoreError::io(path, e)),
    }
}

/// How a read command found the file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadableFile {
    /// `PRAGMA user_version`.
    pub version: i64,
}

/// Checks, read-only, that a read command can use the file as it is:
/// nothing is created, migrated, switched to WAL or rolled back.
/// `allow_older` accepts an older schema version (integrity checks and
/// snapshots do not depend on it).
pub(crate) fn open_for_reading(path: &Path, allow_older: bool) -> Result<ReadableFile, StoreError> {
    match inspect(path)? {
        FileState::Missing => {
            return Err(StoreError::NotFound {
                path: path.to_path_buf(),
            });
        }
        FileState::Empty => {
            return Err(StoreError::EmptyFile {
                path: path.to_path_buf(),
            });
        }
        FileState::Database => {}
    }
    let conn = open_read_only(path)?;
    let info = read_schema(&conn).map_err(|e| read_error(path, e))?;
    match owner(info, path)? {
        Owner::Blank => Err(StoreError::EmptyDatabase {
            path: path.to_path_buf(),
        }),
        Owner::Ours(v) if v < migrate::SCHEMA_VERSION && !allow_older => {
            Err(StoreError::OlderSchema {
                path: path.to_path_buf(),
                found: v,
                supported: migrate::SCHEMA_VERSION,
            })
        }
        Owner::Ours(version) => Ok(ReadableFile { version }),
    }
}

/// A read-only connection (no checks: call [`open_for_reading`] first).
pub(crate) fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        not_a_uri(path),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn)?;
    conn.execute_batch("PRAGMA query_only = ON;")?;
    Ok(conn)
}

/// Root ignores permission bits, so a read-only file is refused explicitly:
/// its owner marked it so that nothing writes to it.
pub(crate) fn check_writable(path: &Path) -> Result<(), StoreError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.permissions().readonly() => Err(StoreError::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "file is read-only; refusing to write to it",
            ),
        )),
        _ => Ok(()),
    }
}

/// Files up to this size are checked (`PRAGMA quick_check`) before every
/// recording run: that costs well under a second, and catches a file
/// damaged while nobody was using it. Larger files are checked when the
/// previous run did not end cleanly.
pub const QUICK_CHECK_ALWAYS_BELOW_BYTES: u64 = 256 << 20;

/// Refuses to record into a damaged file: runs `PRAGMA quick_check` when the
/// file is small or when a run in it did not end cleanly (a crash, a full
/// disk, a power cut are when damage happens).
fn refuse_if_damaged(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let small = std::fs::metadata(path).is_ok_and(|m| m.len() < QUICK_CHECK_ALWAYS_BELOW_BYTES);
    let unfinished: i64 = conn
        .query_row(crate::sql::store::UNFINISHED_RUN_COUNT, [], |r| r.get(0))
        .map_err(|e| damaged_or(path, e))?;
    if !small && unfinished == 0 {
        return Ok(());
    }
    let problems = quick_check(conn).map_err(|e| damaged_or(path, e))?;
    match problems.first() {
        None => Ok(()),
        Some(first) => Err(StoreError::Damaged {
            path: path.to_path_buf(),
            detail: match problems.len() - 1 {
                0 => first.trim().to_string(),
                more => format!("{}, and {more} more", first.trim()),
            },
        }),
    }
}

fn damaged_or(path: &Path, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseCorrupt) | Some(rusqlite::ErrorCode::NotADatabase) => {
            StoreError::Damaged {
                path: path.to_path_buf(),
                detail: e.to_string(),
            }
        }
        _ => StoreError::Sqlite(e),
    }
}

/// `PRAGMA quick_check`: the problems found (none when the file is sound).
fn quick_check(conn: &Connection) -> Result<Vec<String>, rusqlite::Error> {
    check_rows(conn, "PRAGMA quick_check(20)")
}

/// `PRAGMA integrity_check`: up to `limit` problems.
pub(crate) fn integrity_problems(conn: &Connection) -> Result<Vec<String>, rusqlite::Error> {
    check_rows(conn, "PRAGMA integrity_check(100)")
}

fn check_rows(conn: &Connection, sql: &str) -> Result<Vec<String>, rusqlite::Error> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query([])?;
    let mut problems = Vec::new();
    loop {
        match rows.next() {
            Ok(Some(row)) => {
                let text: String = row.get(0)?;
                // One row may hold several problems, one per line.
                problems.extend(
                    text.lines()
                        .filter(|l| !l.starts_with("*** in database"))
                        .map(str::to_string),
                );
            }
            Ok(None) => break,
            // The check itself tripped over the damage: that is one more
            // problem, after those it found before.
            Err(e) if !problems.is_empty() || is_corruption(&e) => {
                problems.push(e.to_string());
                break;
            }
            Err(e) => return Err(e),
        }
    }
    if problems.len() == 1 && problems[0] == "ok" {
        problems.clear();
    }
    Ok(problems)
}

fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt) | Some(rusqlite::ErrorCode::NotADatabase)
    )
}
