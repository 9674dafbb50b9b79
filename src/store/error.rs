//! Errors of the storage layer.

use std::path::PathBuf;

/// What can go wrong opening, migrating, reading or writing the database.
///
/// Variants name the file so that a command-line user sees which path was at
/// fault without a backtrace.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file exists but does not start with the SQLite header.
    #[error("{path}: not a SQLite database (refusing to touch it)")]
    NotADatabase {
        /// The offending file.
        path: PathBuf,
    },
    /// A regular file of 0 bytes where a read command expected a database.
    #[error("{path}: empty file, not a multiagents database")]
    EmptyFile {
        /// The offending file.
        path: PathBuf,
    },
    /// A SQLite database with no schema at all, where a read command
    /// expected one of ours.
    #[error(
        "{path}: an empty SQLite database, not a multiagents database (a recording command would initialise it)"
    )]
    EmptyDatabase {
        /// The offending file.
        path: PathBuf,
    },
    /// A device, FIFO or socket: SQLite would treat it as an empty database
    /// and create a journal beside it.
    #[error("{path}: not a regular file (a device, pipe or socket), not a multiagents database")]
    NotRegularFile {
        /// The offending path.
        path: PathBuf,
    },
    /// The file is shorter than its own header says: it was cut.
    #[error(
        "{path}: not a SQLite database we can read: the file is truncated ({size} bytes, its header says {expected})"
    )]
    Truncated {
        /// The offending file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The size its header claims.
        expected: u64,
    },
    /// `quick_check` (or reading the schema) found damage: nothing is
    /// recorded into such a file.
    #[error(
        "{path}: the database is damaged ({detail}); refusing to use it (run `multiagents check` for details)"
    )]
    Damaged {
        /// The damaged file.
        path: PathBuf,
        /// The first problem SQLite reported.
        detail: String,
    },
    /// A transaction was interrupted in rollback-journal mode; only a
    /// read-write connection may roll it back, and read commands never write.
    #[error(
        "{path}: an interrupted transaction left a hot journal ({journal}); run `multiagents upgrade` or any recording command to roll it back"
    )]
    HotJournal {
        /// The database.
        path: PathBuf,
        /// Its journal.
        journal: PathBuf,
    },
    /// A SQLite database that another program made: it has tables but no
    /// multiagents schema version.
    #[error(
        "{path}: a SQLite database of another program (it has tables but no multiagents schema); refusing to touch it"
    )]
    ForeignDatabase {
        /// The offending file.
        path: PathBuf,
    },
    /// The database was written by a newer multiagents.
    #[error(
        "{path}: schema version {found} is newer than this multiagents supports ({supported}); use a newer multiagents"
    )]
    NewerSchema {
        /// The offending file.
        path: PathBuf,
        /// `PRAGMA user_version` of the file.
        found: i64,
        /// The newest version this binary knows.
        supported: i64,
    },
    /// The database was written by an older multiagents; read commands do
    /// not migrate.
    #[error(
        "{path}: schema version {found} is older than this multiagents uses ({supported}); run a recording command or `multiagents upgrade` to migrate it"
    )]
    OlderSchema {
        /// The offending file.
        path: PathBuf,
        /// `PRAGMA user_version` of the file.
        found: i64,
        /// The version this binary uses.
        supported: i64,
    },
    /// A snapshot target that must not be written.
    #[error("{path}: {reason}")]
    SnapshotTarget {
        /// The refused target.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A command that reads an existing database found none.
    #[error("{path}: no such database")]
    NotFound {
        /// The missing file.
        path: PathBuf,
    },
    /// A `-wal` file exists without its database: opening would create an
    /// empty database and could silently lose what the WAL holds.
    #[error(
        "{path}: database is missing but its write-ahead log {wal} exists; restore the database file first"
    )]
    OrphanWal {
        /// The missing database.
        path: PathBuf,
        /// The WAL file found beside it.
        wal: PathBuf,
    },
    /// The path is a directory.
    #[error("{path}: is a directory, expected a database file")]
    IsADirectory {
        /// The offending path.
        path: PathBuf,
    },
    /// Reading or creating the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The reader pool could not hand out a connection.
    #[error("database connection pool: {0}")]
    Pool(#[from] r2d2::Error),
    /// A migration failed; the database was left at its previous version.
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        /// The version that failed.
        version: i64,
        /// The migration file's name.
        name: &'static str,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The writer stopped (shut down, or failed to commit): records can no
    /// longer be accepted, and the caller must not believe they were saved.
    #[error("the database writer has stopped: {0}")]
    WriterStopped(String),
    /// A requested row does not exist (unknown run, transaction or worker).
    #[error("{0}")]
    Missing(String),
}

impl StoreError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
