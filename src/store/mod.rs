//! The SQLite store: opening and checking the file, migrations, the reader
//! pool, and the single writer.
//!
//! Opening is careful not to change a file it should refuse: the header is
//! checked before SQLite sees the file, and the schema version is read before
//! anything is written. See `docs/storage.md` for the design.

mod error;
pub mod lifecycle;
pub mod maintenance;
pub mod migrate;
pub mod records;
pub mod retention;
pub mod writer;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};

pub use error::StoreError;
pub use lifecycle::{RunEnd, RunStatus};
pub use records::*;
pub use retention::{RetentionCutoffs, RetentionReport};
pub use writer::{Writer, WriterOptions, WriterStatsSnapshot};

/// How long a connection waits for another one's lock before failing.
/// Readers rarely wait at all in WAL mode; this covers checkpoints and a
/// second writing process.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Bits of a row id that hold the per-run sequence; the run id sits above.
pub(crate) const SEQUENCE_BITS: u32 = 40;

/// Hands out row ids `(run_id << 40) | sequence`.
///
/// Ids are time-ordered (indexes on them are appended to at the end, the
/// cheap case measured in DESIGN.md), unique across processes that share one
/// file without coordination (each run has its own range), and a run's rows
/// are one id range. 2^40 ids per run is a trillion: years at full speed.
#[derive(Debug)]
pub struct IdAllocator {
    base: i64,
    next: AtomicI64,
}

impl IdAllocator {
    /// An allocator for the rows of one run.
    pub fn new(run_id: i64) -> Self {
        IdAllocator {
            base: run_id << SEQUENCE_BITS,
            next: AtomicI64::new(1),
        }
    }

    /// The next id.
    pub fn next(&self) -> i64 {
        self.base | self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// The id range `[first, last]` the rows of `run_id` occupy.
    pub fn run_range(run_id: i64) -> (i64, i64) {
        let base = run_id << SEQUENCE_BITS;
        (base, base | ((1 << SEQUENCE_BITS) - 1))
    }
}

/// What the `runs` row of a new process run says about it.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The command line (or the embedding program's description).
    pub command: String,
    /// The effective configuration as JSON.
    pub config_json: String,
}

impl RunInfo {
    /// A run described by this process's command line.
    pub fn from_env(config_json: String) -> Self {
        RunInfo {
            command: std::env::args().collect::<Vec<_>>().join(" "),
            config_json,
        }
    }
}

/// Readers of one database file: a pool of read-only connections.
///
/// Cheap to clone. Writing goes through a [`Writer`], obtained with
/// [`Store::open`].
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    path: PathBuf,
    pool: Pool<SqliteConnectionManager>,
    writer_open: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
    }
}

/// The first 16 bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Checks a path before SQLite opens it, so that a file we must refuse is
/// never modified.
fn check_path(path: &Path, create: bool) -> Result<(), StoreError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(StoreError::IsADirectory {
            path: path.to_path_buf(),
        }),
        Ok(meta) => {
            if meta.len() == 0 {
                return Ok(());
            }
            let mut header = [0u8; 100];
            let mut file = std::fs::File::open(path).map_err(|e| StoreError::io(path, e))?;
            let n = read_up_to(&mut file, &mut header).map_err(|e| StoreError::io(path, e))?;
            if n < 100 || &header[..16] != SQLITE_HEADER {
                return Err(StoreError::NotADatabase {
                    path: path.to_path_buf(),
                });
            }
            // Bytes 16-17: page size (1 means 65536); 28-31: pages in the file
            // as of the last commit outside the WAL. A shorter file was
            // truncated; SQLite would only notice when it reads a missing page.
            // While a WAL holds frames, another process may be checkpointing
            // (page 1 is written before the file grows), so the comparison
            // only holds for a file at rest: no WAL, or an empty one.
            let wal_in_use = std::fs::metadata(wal_path(path)).is_ok_and(|m| m.len() > 0);
            if wal_in_use {
                return Ok(());
            }
            let page_size = match u16::from_be_bytes([header[16], header[17]]) {
                1 => 65_536u64,
                n => u64::from(n),
            };
            let pages = u64::from(u32::from_be_bytes([
                header[28], header[29], header[30], header[31],
            ]));
            if meta.len() < page_size.saturating_mul(pages) {
                return Err(StoreError::NotADatabase {
                    path: path.to_path_buf(),
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let wal = wal_path(path);
            if wal.exists() {
                return Err(StoreError::OrphanWal {
                    path: path.to_path_buf(),
                    wal,
                });
            }
            if !create {
                return Err(StoreError::NotFound {
                    path: path.to_path_buf(),
                });
            }
            create_private_file(path)
        }
        Err(e) => Err(StoreError::io(path, e)),
    }
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

fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push("-wal");
    PathBuf::from(name)
}

/// Creates the database file readable by its owner only: it holds error
/// messages and payload sizes. SQLite gives its -wal and -shm files the same
/// permissions.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::io(path, e)),
    }
}

fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Opens the write connection: checks the version before writing anything,
/// then switches to WAL and migrates.
fn open_write_connection(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn)?;
    check_version(&conn, path)?;
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
    migrate::migrate(&mut conn, path)?;
    Ok(conn)
}

/// The file's schema version, read before anything is written. Refuses a
/// file from a newer multiagents, and a SQLite database of another program
/// (version 0 but tables of its own): migrating would add our tables to it
/// and switch it to WAL.
fn check_version(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
    let found = migrate::schema_version(conn).map_err(|e| not_a_database(path, e))?;
    if found > migrate::SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported: migrate::SCHEMA_VERSION,
        });
    }
    if found == 0 {
        let objects: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .map_err(|e| not_a_database(path, e))?;
        if objects > 0 {
            return Err(StoreError::ForeignDatabase {
                path: path.to_path_buf(),
            });
        }
    }
    Ok(found)
}

fn not_a_database(path: &Path, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) | Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
            StoreError::NotADatabase {
                path: path.to_path_buf(),
            }
        }
        _ => StoreError::Sqlite(e),
    }
}

fn host_name() -> String {
    sysinfo::System::host_name().unwrap_or_else(|_| "unknown".to_string())
}

impl Store {
    /// Opens (creating and migrating as needed) the database for a run that
    /// records: inserts the `runs` row and starts the writer.
    pub fn open(
        path: &Path,
        run: &RunInfo,
        options: WriterOptions,
    ) -> Result<(Store, Writer), StoreError> {
        check_path(path, true)?;
        check_writable(path)?;
        // Refuse a full file before anything in it changes.
        lifecycle::check_run_capacity_untouched(path)?;
        let mut conn = open_write_connection(path)?;
        lifecycle::close_dead_runs(&mut conn)?;
        let run_id = lifecycle::register_run(&mut conn, path, run)?;
        let writer = Writer::start(conn, run_id, options)?;
        let store = Store::with_pool(path, true)?;
        Ok((store, writer))
    }

    /// Opens an existing database for reading only (queries, dashboard,
    /// reports). A file from an older version is migrated first; a missing
    /// file is an error, not a new empty database.
    pub fn open_existing(path: &Path) -> Result<Store, StoreError> {
        check_path(path, false)?;
        let probe = |flags: OpenFlags| -> Result<i64, StoreError> {
            let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            check_version(&conn, path)
        };
        let version = match probe(OpenFlags::SQLITE_OPEN_READ_ONLY) {
            // A process died mid-transaction and left a hot rollback journal
            // (before the file switched to WAL, e.g. during its first
            // migration): only a read-write connection may roll it back.
            // That restores the last committed state; nothing else is written.
            Err(StoreError::Sqlite(e))
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly) =>
            {
                check_writable(path)?;
                probe(OpenFlags::SQLITE_OPEN_READ_WRITE)?
            }
            other => other?,
        };
        let needs_migration = version < migrate::SCHEMA_VERSION;
        if needs_migration {
            check_writable(path)?;
            drop(open_write_connection(path)?);
        }
        Store::with_pool(path, false)
    }

    fn with_pool(path: &Path, writer_open: bool) -> Result<Store, StoreError> {
        let manager = SqliteConnectionManager::file(path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_init(|c| {
                configure(c)?;
                c.execute_batch("PRAGMA query_only = ON;")
            });
        let pool = Pool::builder()
            .max_size(8)
            .min_idle(Some(1))
            .connection_timeout(BUSY_TIMEOUT)
            .build(manager)?;
        Ok(Store {
            inner: Arc::new(StoreInner {
                path: path.to_path_buf(),
                pool,
                writer_open,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// A read-only connection from the pool.
    pub fn reader(&self) -> Result<PooledConnection<SqliteConnectionManager>, StoreError> {
        Ok(self.inner.pool.get()?)
    }

    /// Database connections in use right now: readers checked out of the
    /// pool, plus the writer's when this process records. This is the
    /// seed's `active_connections` (Redis connections there).
    pub fn active_connections(&self) -> i64 {
        let state = self.inner.pool.state();
        i64::from(state.connections - state.idle_connections) + i64::from(self.inner.writer_open)
    }
}

/// Root ignores permission bits, so a read-only file is refused explicitly:
/// its owner marked it so that nothing writes to it.
fn check_writable(path: &Path) -> Result<(), StoreError> {
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
