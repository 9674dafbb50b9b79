//! The writer against a real file: nothing acknowledged is missing, batches
//! merge starts and ends, bad files are refused untouched.

mod support;

use std::sync::Arc;

use multiagents::store::{Record, Store, StoreError, SystemSample, WriterOptions};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_million_records_from_many_tasks_are_all_committed() {
    let db = temp_db();
    let (_store, writer) = open(&db.path);
    const TASKS: usize = 8;
    const SAMPLES_PER_TASK: usize = 125_000;
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let writer = writer.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..SAMPLES_PER_TASK {
                let sample = SystemSample {
                    sampled_at_us: (t * SAMPLES_PER_TASK + i) as i64,
                    ..Default::default()
                };
                writer.record(Record::SystemSample(sample)).await.unwrap();
            }
            writer.flush().await.unwrap();
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    assert_eq!(
        count(&conn, "SELECT count(*) FROM system_samples"),
        (TASKS * SAMPLES_PER_TASK) as i64
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(DISTINCT sampled_at_us) FROM system_samples"
        ),
        (TASKS * SAMPLES_PER_TASK) as i64
    );
    let stats = writer.stats();
    assert_eq!(stats.records_committed, (TASKS * SAMPLES_PER_TASK) as u64);
    writer.shutdown().await.unwrap();
}

#[tokio::test]
async fn workflows_and_events_land_with_rollups_and_the_run_ends() {
    let db = temp_db();
    let (_store, writer) = open(&db.path);
    for i in 0..100 {
        for r in workflow_records(&writer, 3, 1_000_000 + i) {
            writer.record(r).await.unwrap();
        }
    }
    writer.flush().await.unwrap();
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM workflows WHERE state = 'completed'"
        ),
        100
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM events WHERE status = 'completed'"
        ),
        300
    );
    assert_eq!(count(&conn, "SELECT count(*) FROM executions"), 300);
    // The writer checks no foreign key (it makes them hold by construction):
    // every reference of the file holds.
    assert_eq!(
        count(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
    assert_eq!(
        count(&conn, "SELECT sum(completed) FROM worker_minute_rollups"),
        300
    );
    assert_eq!(
        count(&conn, "SELECT sum(count) FROM worker_minute_histogram"),
        300
    );
    assert_eq!(
        count(&conn, "SELECT sum(completed) FROM workflow_minute_rollups"),
        100
    );
    // pending, running, 3 x 4 stages, completed
    let tx: String = conn
        .query_row("SELECT transaction_id FROM workflows LIMIT 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    let stages: i64 = conn
        .query_row(
            "SELECT count(*) FROM event_stages WHERE transaction_id = ?1",
            [&tx],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stages, 15);
    assert_eq!(
        count(&conn, "SELECT count(*) FROM runs WHERE ended_at_us IS NULL"),
        1
    );
    writer.shutdown().await.unwrap();
    assert_eq!(
        count(&conn, "SELECT count(*) FROM runs WHERE ended_at_us IS NULL"),
        0
    );
    assert!(matches!(
        writer
            .record(Record::SystemSample(SystemSample::default()))
            .await,
        Err(StoreError::WriterStopped(_))
    ));
}

#[tokio::test]
async fn a_start_and_its_end_in_different_batches_still_make_one_row() {
    let db = temp_db();
    let (_store, writer) = open(&db.path);
    let records = workflow_records(&writer, 2, 5_000_000);
    for r in records {
        // Flushing after each record puts every record in its own batch:
        // inserts first, then updates.
        writer.record(r).await.unwrap();
        writer.flush().await.unwrap();
    }
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM events WHERE status = 'completed' AND duration_us = 3"
        ),
        2
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM workflows WHERE ended_at_us IS NOT NULL"
        ),
        1
    );
}

#[tokio::test]
async fn a_slow_writer_makes_producers_wait_and_loses_nothing() {
    let db = temp_db();
    let options = WriterOptions {
        queue_capacity: 16,
        max_batch: 8,
        commit_delay: std::time::Duration::from_millis(2),
        ..Default::default()
    };
    let (_store, writer) = Store::open(&db.path, &run_info(), options).unwrap();
    let sent = 2_000;
    for i in 0..sent {
        let sample = SystemSample {
            sampled_at_us: i,
            ..Default::default()
        };
        writer.record(Record::SystemSample(sample)).await.unwrap();
    }
    writer.flush().await.unwrap();
    let stats = writer.stats();
    assert!(stats.producer_waits > 0, "{stats:?}");
    assert!(stats.producer_wait_us_total > 0, "{stats:?}");
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    assert_eq!(count(&conn, "SELECT count(*) FROM system_samples"), sent);
}

fn assert_refused_untouched(path: &std::path::Path, expect: impl Fn(&StoreError) -> bool) {
    let before = std::fs::read(path).unwrap();
    let err = Store::open(path, &run_info(), WriterOptions::default()).unwrap_err();
    assert!(expect(&err), "unexpected error: {err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    let err = Store::open_existing(path).unwrap_err();
    assert!(expect(&err), "unexpected error: {err}");
    assert_eq!(std::fs::read(path).unwrap(), before, "file changed");
}

#[test]
fn random_bytes_are_refused_and_left_unchanged() {
    let db = temp_db();
    let junk: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&db.path, junk).unwrap();
    assert_refused_untouched(&db.path, |e| matches!(e, StoreError::NotADatabase { .. }));
}

#[test]
fn a_newer_schema_is_refused_and_left_unchanged() {
    let db = temp_db();
    {
        let conn = rusqlite::Connection::open(&db.path).unwrap();
        conn.execute_batch("CREATE TABLE t (x); PRAGMA user_version = 99;")
            .unwrap();
    }
    assert_refused_untouched(&db.path, |e| {
        matches!(e, StoreError::NewerSchema { found: 99, .. })
    });
}

#[test]
fn a_truncated_database_is_refused_and_left_unchanged() {
    let db = temp_db();
    {
        let (_store, writer) = open(&db.path);
        writer.blocking_shutdown().unwrap();
        let conn = rusqlite::Connection::open(&db.path).unwrap();
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;")
            .unwrap();
    }
    let bytes = std::fs::read(&db.path).unwrap();
    std::fs::write(&db.path, &bytes[..bytes.len() / 2]).unwrap();
    assert_refused_untouched(&db.path, |e| matches!(e, StoreError::Truncated { .. }));
}

#[test]
fn missing_files_and_orphan_wal_files_are_errors_for_readers() {
    let db = temp_db();
    assert!(matches!(
        Store::open_existing(&db.path),
        Err(StoreError::NotFound { .. })
    ));
    let wal = db.dir.path().join("test.db-wal");
    std::fs::write(&wal, b"whatever").unwrap();
    assert!(matches!(
        Store::open(&db.path, &run_info(), WriterOptions::default()),
        Err(StoreError::OrphanWal { .. })
    ));
    assert!(!db.path.exists());
}

#[cfg(unix)]
#[test]
fn a_new_database_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let db = temp_db();
    let (_store, writer) = open(&db.path);
    writer.blocking_shutdown().unwrap();
    let mode = std::fs::metadata(&db.path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn two_processes_worth_of_runs_get_distinct_id_ranges() {
    let db = temp_db();
    let (_s1, w1) = open(&db.path);
    let (_s2, w2) = open(&db.path);
    assert_ne!(w1.run_id(), w2.run_id());
    let a = w1.next_id();
    let b = w2.next_id();
    assert_ne!(a, b);
    let _ = Arc::new(());
    w1.blocking_shutdown().unwrap();
    w2.blocking_shutdown().unwrap();
}

/// Regression: `query runs --db other_program.db` used to add our tables to
/// another program's SQLite database and switch it to WAL.
#[test]
fn a_foreign_sqlite_database_is_refused_and_left_unchanged() {
    let db = temp_db();
    {
        let conn = rusqlite::Connection::open(&db.path).unwrap();
        conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');")
            .unwrap();
    }
    assert_refused_untouched(&db.path, |e| {
        matches!(e, StoreError::ForeignDatabase { .. })
    });
}
