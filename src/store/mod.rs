//! The SQLite store: opening and checking the file, migrations, the reader
//! pool, and the single writer.
//!
//! Opening is careful not to change a file it should refuse: the header is
//! checked before SQLite sees the file, and the schema version is read before
//! anything is written. See `docs/storage.md` for the design.

mod check;
pub mod checkpoint;
mod error;
mod file;
pub mod histogram;
pub mod lifecycle;
pub mod maintenance;
pub mod merge;
pub mod migrate;
pub mod records;
pub mod retention;
pub mod sketch;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::OpenFlags;

pub use check::{IntegrityReport, SnapshotReport, check_integrity, snapshot};
pub use error::StoreError;
pub use file::QUICK_CHECK_ALWAYS_BELOW_BYTES;
pub use lifecycle::{RunEnd, RunStatus};
pub use records::*;
pub use retention::{RetentionCutoffs, RetentionReport};
pub use writer::{
    COMMIT_BOUNDS_US, COMMIT_BUCKETS, MAX_PAGE_COUNT_ENV, Writer, WriterOptions,
    WriterStatsSnapshot,
};

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
            command: crate::transport::redact_command_line(&std::env::args().collect::<Vec<_>>()),
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

/// This machine's name, as runs record it (`unknown` when it has none).
pub(crate) fn host_name() -> String {
    sysinfo::System::host_name().unwrap_or_else(|_| "unknown".to_string())
}

impl Store {
    /// Opens (creating and migrating as needed) the database for a run that
    /// records: refuses a damaged file, inserts the `runs` row and starts
    /// the writer.
    pub fn open(
        path: &Path,
        run: &RunInfo,
        options: WriterOptions,
    ) -> Result<(Store, Writer), StoreError> {
        // Refuse a full file before anything in it changes.
        lifecycle::check_run_capacity_untouched(path)?;
        let mut conn = file::open_for_writing(path)?;
        lifecycle::close_dead_runs(&mut conn)?;
        let run_id = lifecycle::register_run(&mut conn, path, run)?;
        let writer = Writer::start(conn, path, run_id, options)?;
        let store = Store::with_pool(path, true)?;
        Ok((store, writer))
    }

    /// Opens an existing database for reading only (queries, dashboard,
    /// reports). Nothing is created, migrated or written: a missing, empty,
    /// foreign or older file is refused with a message saying what would
    /// make it readable.
    pub fn open_existing(path: &Path) -> Result<Store, StoreError> {
        file::open_for_reading(path, false)?;
        Store::with_pool(path, false)
    }

    /// Migrates an existing database to this binary's schema without
    /// recording a run (`multiagents upgrade`); also rolls back a transaction
    /// a crash left in a hot journal. Returns the versions before and after.
    pub fn upgrade(path: &Path) -> Result<(i64, i64), StoreError> {
        let before = {
            // Read-only first: a file that needs nothing is not touched.
            match file::open_for_reading(path, true) {
                Ok(f) => Some(f.version),
                Err(StoreError::HotJournal { .. }) => None,
                Err(e) => return Err(e),
            }
        };
        if before == Some(migrate::SCHEMA_VERSION) {
            return Ok((migrate::SCHEMA_VERSION, migrate::SCHEMA_VERSION));
        }
        let conn = file::open_existing_for_writing(path)?;
        let after = migrate::schema_version(&conn)?;
        conn.close().map_err(|(_, e)| StoreError::Sqlite(e))?;
        Ok((before.unwrap_or(after), after))
    }

    fn with_pool(path: &Path, writer_open: bool) -> Result<Store, StoreError> {
        let manager = SqliteConnectionManager::file(file::not_a_uri(path))
            .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_init(|c| {
                file::configure(c)?;
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
