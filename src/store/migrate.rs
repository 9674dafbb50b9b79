//! Schema migrations: ordered SQL files embedded in the binary, versioned by
//! `PRAGMA user_version`, each applied in its own transaction.

use rusqlite::Connection;

use super::StoreError;

/// One migration: the version it brings the schema to, and its SQL.
struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

/// Every migration, in order. Append only: a released migration never changes.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_initial",
        sql: crate::sql::migrations::M0001_INITIAL,
    },
    Migration {
        version: 2,
        name: "0002_run_indexes_and_stage_view",
        sql: crate::sql::migrations::M0002_RUN_INDEXES_AND_STAGE_VIEW,
    },
    Migration {
        version: 3,
        name: "0003_run_lifecycle",
        sql: crate::sql::migrations::M0003_RUN_LIFECYCLE,
    },
    Migration {
        version: 4,
        name: "0004_rollups_per_run",
        sql: crate::sql::migrations::M0004_ROLLUPS_PER_RUN,
    },
    Migration {
        version: 5,
        name: "0005_sketches",
        sql: crate::sql::migrations::M0005_SKETCHES,
    },
    Migration {
        version: 6,
        name: "0006_compact_events",
        sql: crate::sql::migrations::M0006_COMPACT_EVENTS,
    },
    Migration {
        version: 7,
        name: "0007_hour_rollups",
        sql: crate::sql::migrations::M0007_HOUR_ROLLUPS,
    },
    Migration {
        version: 8,
        name: "0008_hosts_and_merge",
        sql: crate::sql::migrations::M0008_HOSTS_AND_MERGE,
    },
];

/// The schema version this binary writes and reads.
pub const SCHEMA_VERSION: i64 = 8;

/// The schema version recorded in the file.
pub fn schema_version(conn: &Connection) -> Result<i64, rusqlite::Error> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// Applies every migration newer than `found` inside `tx`, the caller's
/// `BEGIN IMMEDIATE` transaction that read `found` under the write lock.
///
/// All of them commit together with the version bump, so a failure (or a
/// kill) leaves the file at its previous version. A file newer than this
/// binary is refused before anything is written.
pub fn apply(tx: &rusqlite::Transaction<'_>, found: i64) -> Result<(), StoreError> {
    for migration in MIGRATIONS.iter().filter(|m| m.version > found) {
        let failed = |source| StoreError::Migration {
            version: migration.version,
            name: migration.name,
            source,
        };
        tx.execute_batch(migration.sql).map_err(failed)?;
        // PRAGMA takes no bound parameters; the value is our own constant.
        tx.execute_batch(&format!("PRAGMA user_version = {}", migration.version))
            .map_err(failed)?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied migration"
        );
    }
    Ok(())
}

/// Brings `conn` to [`SCHEMA_VERSION`] in one `BEGIN IMMEDIATE` transaction
/// that reads the version under the write lock (another process may have
/// migrated while this one waited).
pub fn migrate(conn: &mut Connection, path: &std::path::Path) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let found = schema_version(&tx)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    apply(&tx, found)?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_and_end_at_schema_version() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.name);
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(SCHEMA_VERSION));
    }

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        let path = std::path::Path::new(":memory:");
        migrate(&mut conn, path).unwrap();
        migrate(&mut conn, path).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn a_newer_file_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA user_version = 99").unwrap();
        let err = migrate(&mut conn, std::path::Path::new("x.db")).unwrap_err();
        assert!(
            matches!(err, StoreError::NewerSchema { found: 99, .. }),
            "{err}"
        );
    }
}
