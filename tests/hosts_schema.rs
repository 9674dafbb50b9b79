//! Schema version 8 (migrations/0008_hosts_and_merge.sql): the host of each
//! event, the hosts a run heard from, and the sources of merged runs.
//!
//! - A version 7 file, as the previous binary's writer left it, upgrades with
//!   every event, execution and trace unchanged and no host (in process).
//! - An empty version 7 schema upgrades to exactly the schema a new file gets.

mod support;

use multiagents::store::Store;
use multiagents::store::migrate::SCHEMA_VERSION;
use rusqlite::Connection;

use support::{Row, all_rows as rows};

/// The columns version 7 had, so the rows compare across the upgrade.
const EVENTS: &str = "SELECT id, workflow_id, event_type, step, worker_id, attempt, status,
    dispatched_at_us, picked_up_at_us, processing_at_us, finished_at_us, duration_us,
    payload_size_bytes, result_size_bytes, error_type, error_message FROM events ORDER BY id";
const EXECUTIONS: &str = "SELECT execution_id, transaction_id, worker, step, attempt, event_type,
    started_at, ended_at, duration_ms, status, error_type, error_message, started_at_us,
    ended_at_us FROM executions ORDER BY execution_id";
const STAGES: &str = "SELECT * FROM event_stages ORDER BY transaction_id, at_us, event_id, stage";
const RUNS: &str = "SELECT * FROM runs ORDER BY id";

#[test]
fn a_version_7_file_upgrades_with_every_event_unchanged_and_no_host() {
    let db = support::temp_db();
    {
        let (_, writer) = support::open(&db.path);
        for i in 0..20 {
            for record in support::workflow_records(&writer, 3, 1_000_000 + i * 100) {
                writer.blocking_record(record).unwrap();
            }
        }
        writer.blocking_shutdown().unwrap();
    }
    let (events, executions, stages, runs) = {
        let conn = Connection::open(&db.path).unwrap();
        support::downgrade_to_7(&conn);
        assert_eq!(
            multiagents::store::migrate::schema_version(&conn).unwrap(),
            7
        );
        (
            rows(&conn, EVENTS),
            rows(&conn, EXECUTIONS),
            rows(&conn, STAGES),
            rows(&conn, RUNS),
        )
    };
    assert_eq!(events.len(), 60);
    let (from, to) = Store::upgrade(&db.path).unwrap();
    assert_eq!((from, to), (7, SCHEMA_VERSION));
    let conn = Connection::open(&db.path).unwrap();
    assert_eq!(rows(&conn, EVENTS), events);
    assert_eq!(rows(&conn, EXECUTIONS), executions);
    assert_eq!(rows(&conn, STAGES), stages);
    // The runs keep every column; the new ones say "recorded here".
    let after: Vec<Row> = rows(&conn, "SELECT * FROM runs ORDER BY id")
        .into_iter()
        .map(|mut r| {
            let tail = r.split_off(r.len() - 2);
            assert_eq!(tail, vec![rusqlite::types::Value::Null; 2]);
            r
        })
        .collect();
    assert_eq!(after, runs);
    assert_eq!(
        support::count(
            &conn,
            "SELECT count(*) FROM events WHERE host_id IS NOT NULL"
        ),
        0
    );
    assert_eq!(
        support::count(
            &conn,
            "SELECT count(*) FROM executions WHERE host IS NOT NULL"
        ),
        0
    );
    for table in ["hosts", "run_hosts", "merge_sources"] {
        assert_eq!(
            support::count(&conn, &format!("SELECT count(*) FROM {table}")),
            0
        );
    }
    assert_eq!(
        support::count(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

fn schema(conn: &Connection) -> Vec<Row> {
    rows(
        conn,
        "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name",
    )
}

#[test]
fn an_upgraded_version_7_schema_is_the_schema_of_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.db");
    {
        let conn = Connection::open(&old).unwrap();
        for sql in [
            multiagents::sql::migrations::M0001_INITIAL,
            multiagents::sql::migrations::M0002_RUN_INDEXES_AND_STAGE_VIEW,
            multiagents::sql::migrations::M0003_RUN_LIFECYCLE,
            multiagents::sql::migrations::M0004_ROLLUPS_PER_RUN,
            multiagents::sql::migrations::M0005_SKETCHES,
            multiagents::sql::migrations::M0006_COMPACT_EVENTS,
            multiagents::sql::migrations::M0007_HOUR_ROLLUPS,
        ] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch("PRAGMA user_version = 7;").unwrap();
    }
    assert_eq!(Store::upgrade(&old).unwrap(), (7, SCHEMA_VERSION));
    let fresh = dir.path().join("new.db");
    {
        let (_, writer) = support::open(&fresh);
        writer.blocking_shutdown().unwrap();
    }
    let a = schema(&Connection::open(&old).unwrap());
    let b = schema(&Connection::open(&fresh).unwrap());
    assert_eq!(a, b);
}
