//! Helpers shared by the integration tests: temp databases and record
//! builders.

#![allow(dead_code, reason = "each test binary uses a different subset")]

#[cfg(feature = "cli")]
pub mod cli;
pub mod dataset;
pub mod redis;
pub mod stats;

use std::path::PathBuf;
use std::sync::Arc;

use multiagents::store::{
    EventDispatched, EventFinished, EventOutcome, EventType, Record, RunInfo, Store,
    WorkflowChanged, WorkflowStarted, WorkflowState, Writer, WriterOptions,
};

/// A temp dir holding `test.db`; the dir lives as long as the value.
pub struct TempDb {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn temp_db() -> TempDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("test.db");
    TempDb { dir, path }
}

pub fn run_info() -> RunInfo {
    RunInfo {
        command: "test".into(),
        config_json: "{}".into(),
    }
}

pub fn open(path: &std::path::Path) -> (Store, Writer) {
    Store::open(path, &run_info(), WriterOptions::default()).expect("open store")
}

/// The records of one workflow with `steps` steps that all complete.
pub fn workflow_records(writer: &Writer, steps: usize, t0: i64) -> Vec<Record> {
    let id = writer.next_id();
    let name: Arc<str> = Arc::from("wf");
    let worker: Arc<str> = Arc::from("w");
    let mut records = vec![Record::WorkflowStarted(WorkflowStarted {
        id,
        transaction_id: Arc::from(uuid_like(id)),
        workflow_name: Arc::clone(&name),
        created_at_us: t0,
        started_at_us: t0,
        input_size_bytes: 10,
    })];
    for s in 0..steps {
        let eid = writer.next_id();
        let at = t0 + s as i64 * 10;
        records.push(Record::EventDispatched(EventDispatched {
            id: eid,
            workflow_id: id,
            event_type: EventType::Command,
            step: Arc::from(format!("step{s}")),
            worker: Arc::clone(&worker),
            attempt: 1,
            dispatched_at_us: at,
            payload_size_bytes: 5,
        }));
        records.push(Record::EventFinished(EventFinished {
            id: eid,
            outcome: EventOutcome::Completed,
            picked_up_at_us: Some(at + 1),
            processing_at_us: Some(at + 2),
            finished_at_us: at + 5,
            duration_us: 3,
            result_size_bytes: Some(2),
            error_type: None,
            error_message: None,
            worker: Arc::clone(&worker),
            event_type: EventType::Command,
            dispatched_at_us: at,
            payload_size_bytes: 5,
            host: None,
        }));
    }
    records.push(Record::WorkflowChanged(WorkflowChanged {
        id,
        state: WorkflowState::Completed,
        at_us: t0 + steps as i64 * 10,
        current_step: None,
        error: None,
        workflow_name: name,
        created_at_us: t0,
    }));
    records
}

pub fn uuid_like(id: i64) -> String {
    format!("tx-{id:016x}")
}

pub fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

/// The rows of the hour rollup tables (migrations/0007_hour_rollups.sql)
/// that differ from the sum of their hour's minute rows, both ways, as
/// text: empty when every hour row is the sum of its minutes and every
/// minute has its hour row.
pub fn hour_rollup_differences(conn: &rusqlite::Connection) -> Vec<String> {
    let hour = "(minute_us / 3600000000) * 3600000000";
    let pairs = [
        (
            "worker_hour_rollups".to_string(),
            "SELECT hour_us, run_id, worker_id, event_type, completed, failed, timeout, cancelled,
                    duration_sum_us, duration_min_us, duration_max_us, latency_sum_us,
                    latency_max_us, payload_sum_bytes
             FROM worker_hour_rollups"
                .to_string(),
            format!(
                "SELECT {hour}, run_id, worker_id, event_type, sum(completed), sum(failed), sum(timeout),
                        sum(cancelled), sum(duration_sum_us), min(duration_min_us), max(duration_max_us),
                        sum(latency_sum_us), max(latency_max_us), sum(payload_sum_bytes)
                 FROM worker_minute_rollups GROUP BY 1, 2, 3, 4"
            ),
        ),
        (
            "worker_hour_histogram".to_string(),
            "SELECT hour_us, run_id, worker_id, le_ms, count FROM worker_hour_histogram".to_string(),
            format!(
                "SELECT {hour}, run_id, worker_id, le_ms, sum(count)
                 FROM worker_minute_histogram GROUP BY 1, 2, 3, 4"
            ),
        ),
        (
            "error_hour_rollups".to_string(),
            "SELECT hour_us, run_id, worker_id, error_type, count, first_seen_us, last_seen_us, example_id
             FROM error_hour_rollups"
                .to_string(),
            // The example: the minute row of the latest error.
            format!(
                "SELECT h, run_id, worker_id, error_type, sum(count), min(first_seen_us), max(last_seen_us),
                        max(CASE WHEN rn = 1 THEN example_id END)
                 FROM (SELECT {hour} AS h, run_id, worker_id, error_type, count, first_seen_us,
                              last_seen_us, example_id,
                              row_number() OVER (PARTITION BY {hour}, run_id, worker_id, error_type
                                                 ORDER BY last_seen_us DESC, example_id DESC) AS rn
                       FROM error_minute_rollups)
                 GROUP BY 1, 2, 3, 4"
            ),
        ),
    ];
    let mut out = Vec::new();
    for (table, stored, from_minutes) in pairs {
        for (a, b, what) in [
            (&stored, &from_minutes, "not the sum of its minutes"),
            (&from_minutes, &stored, "minutes without their hour row"),
        ] {
            let sql = format!("{a} EXCEPT {b} LIMIT 5");
            let mut stmt = conn.prepare(&sql).expect(&sql);
            let width = stmt.column_count();
            let rows = stmt
                .query_map([], |r| {
                    let shown: Vec<String> = (0..width)
                        .map(|i| {
                            r.get::<_, rusqlite::types::Value>(i)
                                .map_or_else(|e| e.to_string(), |v| format!("{v:?}"))
                        })
                        .collect();
                    Ok(format!("{table} {what}: {}", shown.join(", ")))
                })
                .expect(&sql);
            out.extend(rows.map(|r| r.expect("row")));
        }
    }
    out
}

/// Every event lies in its workflow's id range (id, last_event_id]
/// (migrations/0006_compact_events.sql), to the end of its run's ids while
/// the workflow runs; an ended workflow's last_event_id is its latest
/// event, or its own id when it dispatched none. The trace, the
/// `event_stages` view and retention find a workflow's events by this range.
pub fn assert_event_ranges(conn: &rusqlite::Connection) {
    let outside = count(
        conn,
        "SELECT count(*) FROM events e JOIN workflows w ON w.id = e.workflow_id
         WHERE NOT (e.id > w.id AND e.id <= coalesce(w.last_event_id, w.id | 1099511627775))",
    );
    assert_eq!(outside, 0, "events outside their workflow's id range");
    let wrong = count(
        conn,
        "WITH latest AS MATERIALIZED (SELECT workflow_id, max(id) AS id FROM event_rows GROUP BY workflow_id)
         SELECT count(*) FROM workflows w LEFT JOIN latest ON latest.workflow_id = w.id
         WHERE w.ended_at_us IS NOT NULL AND w.last_event_id IS NOT coalesce(latest.id, w.id)",
    );
    assert_eq!(
        wrong, 0,
        "ended workflows whose last_event_id is not their latest event"
    );
}

/// The sketches of every closed run (`sketched_until_us` NULL) count, per
/// worker, the executions its rollups count — minute and hour sketches,
/// durations and latencies alike — and no sketch counts a worker the
/// rollups don't. Both outlive the raw rows, so this holds after cleanup
/// deleted them; it catches a sketch minute lost or added twice by a close,
/// an interruption or a cleanup running while the run records.
pub fn assert_sketches_match_rollups(conn: &rusqlite::Connection) {
    let mismatched = count(
        conn,
        "WITH r AS (SELECT run_id, worker_id, sum(completed + failed + timeout + cancelled) AS n
                    FROM worker_minute_rollups GROUP BY run_id, worker_id),
              m AS (SELECT run_id, worker_id, sum(durations) AS d, sum(latencies) AS l
                    FROM worker_minute_sketch GROUP BY run_id, worker_id),
              h AS (SELECT run_id, worker_id, sum(durations) AS d, sum(latencies) AS l
                    FROM worker_hour_sketch GROUP BY run_id, worker_id),
              closed AS (SELECT id FROM runs WHERE sketched_until_us IS NULL),
              keys AS (SELECT run_id, worker_id FROM r UNION SELECT run_id, worker_id FROM m
                       UNION SELECT run_id, worker_id FROM h)
         SELECT count(*) FROM keys
         LEFT JOIN r USING (run_id, worker_id) LEFT JOIN m USING (run_id, worker_id)
         LEFT JOIN h USING (run_id, worker_id)
         WHERE keys.run_id IN (SELECT id FROM closed)
           AND (m.d IS NOT r.n OR m.l IS NOT r.n OR h.d IS NOT r.n OR h.l IS NOT r.n)",
    );
    assert_eq!(mismatched, 0, "sketches and rollups count differently");
}

/// The text of `migration` from `start` to the end of the first `end` after it.
fn statement_of(migration: &str, start: &str, end: &str) -> String {
    let from = migration.find(start).expect("statement start");
    let len = migration[from..].find(end).expect("statement end") + end.len();
    migration[from..from + len].to_string()
}

/// Undoes migration 8 (hosts and merge) in place, so that a file the
/// current writer recorded becomes the version 7 file an older binary left:
/// the version 6 views of `events` and `executions`, no host or merge
/// columns, tables or indexes.
pub fn downgrade_to_7(conn: &rusqlite::Connection) {
    let m6 = multiagents::sql::migrations::M0006_COMPACT_EVENTS;
    let events = statement_of(m6, "CREATE VIEW events AS", "FROM event_rows;");
    let executions = statement_of(
        m6,
        "CREATE VIEW executions AS",
        "JOIN workers k ON k.id = e.worker_id;",
    );
    conn.execute_batch(&format!(
        "DROP VIEW executions;
         DROP VIEW events;
         {events}
         {executions}
         DROP INDEX events_by_host_finish;
         DROP INDEX runs_by_origin;
         ALTER TABLE event_rows DROP COLUMN host_id;
         ALTER TABLE runs DROP COLUMN origin;
         ALTER TABLE runs DROP COLUMN source_id;
         DROP TABLE run_hosts;
         DROP TABLE hosts;
         DROP TABLE merge_sources;
         PRAGMA user_version = 7;"
    ))
    .expect("downgrade to version 7");
}

/// One row of any query, as SQLite values.
pub type Row = Vec<rusqlite::types::Value>;

/// Every row `sql` returns, every column: for comparing a file's contents
/// before and after a change to it.
pub fn all_rows(conn: &rusqlite::Connection, sql: &str) -> Vec<Row> {
    let mut stmt = conn.prepare(sql).expect("prepare");
    let n = stmt.column_count();
    stmt.query_map([], |r| (0..n).map(|i| r.get(i)).collect())
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}
