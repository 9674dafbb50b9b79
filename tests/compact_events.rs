//! Version 6 stores events compactly (`event_rows` behind the `events`
//! view) and finds a workflow's events by their id range instead of an
//! index. Checked here:
//! - a version 5 file upgrades with every event row, view row and trace
//!   stage unchanged, and ranges for its ended workflows;
//! - the writer bounds each workflow's range however its records are split
//!   across batches and interleaved with other workflows', and the trace
//!   of each workflow equals its events found by a full scan;
//! - the `events` view reads back exactly what was recorded.

mod support;

use std::sync::Arc;

use multiagents::monitor::event::transaction_trace;
use multiagents::store::{
    EventDispatched, EventFinished, EventOutcome, EventType, Record, Store, WorkflowChanged,
    WorkflowStarted, WorkflowState,
};
use rusqlite::Connection;
use support::*;

use support::all_rows as rows;

/// Version 5's columns (later versions add the host).
const EVENTS: &str = "SELECT id, workflow_id, event_type, step, worker_id, attempt, status,
    dispatched_at_us, picked_up_at_us, processing_at_us, finished_at_us, duration_us,
    payload_size_bytes, result_size_bytes, error_type, error_message FROM events ORDER BY id";
const STAGES: &str = "SELECT * FROM event_stages ORDER BY transaction_id, at_us, event_id, stage";
const EXECUTIONS: &str = "SELECT execution_id, transaction_id, worker, step, attempt, event_type,
    started_at, ended_at, duration_ms, status, error_type, error_message, started_at_us,
    ended_at_us FROM executions ORDER BY execution_id";

#[test]
fn a_version_5_file_upgrades_with_the_same_events_and_traces() {
    let db = temp_db();
    let (before_events, before_stages, before_executions) = {
        let conn = Connection::open(&db.path).unwrap();
        for sql in [
            multiagents::sql::migrations::M0001_INITIAL,
            multiagents::sql::migrations::M0002_RUN_INDEXES_AND_STAGE_VIEW,
            multiagents::sql::migrations::M0003_RUN_LIFECYCLE,
            multiagents::sql::migrations::M0004_ROLLUPS_PER_RUN,
            multiagents::sql::migrations::M0005_SKETCHES,
        ] {
            conn.execute_batch(sql).unwrap();
        }
        // Run 1 (ended): a workflow whose three events were interleaved with
        // a second one's, one failed and one compensation among them; a
        // workflow without events. Run 2 (crashed, never closed): a
        // workflow still in flight with an event dispatched.
        let r1 = 1i64 << 40;
        let r2 = 2i64 << 40;
        conn.execute_batch(&format!(
            "PRAGMA user_version = 5;
             INSERT INTO runs (id, started_at_us, ended_at_us, command, config_json, version, host, status)
               VALUES (1, 1000, 9000, 'a', '{{}}', '0.1.0', 'h', 'completed'),
                      (2, 10000, NULL, 'b', '{{}}', '0.1.0', 'h', 'running');
             INSERT INTO workers (id, name) VALUES (1, 'alpha'), (2, 'beta');
             INSERT INTO workflows (id, transaction_id, run_id, workflow_name, state, created_at_us,
                                    started_at_us, compensating_at_us, ended_at_us, input_size_bytes, error)
               VALUES ({r1} + 1, 'tx-a', 1, 'wf', 'compensated', 1000, 1001, 1300, 1500, 3, 'boom'),
                      ({r1} + 2, 'tx-b', 1, 'wf', 'completed', 1002, 1003, NULL, 1400, 3, NULL),
                      ({r1} + 7, 'tx-c', 1, 'empty', 'completed', 1600, 1601, NULL, 1602, 0, NULL),
                      ({r2} + 1, 'tx-d', 2, 'wf', 'running', 10000, 10001, NULL, NULL, 3, NULL);
             INSERT INTO events (id, workflow_id, event_type, step, worker_id, attempt, status,
                                 dispatched_at_us, picked_up_at_us, processing_at_us, finished_at_us,
                                 duration_us, payload_size_bytes, result_size_bytes, error_type, error_message)
               VALUES ({r1} + 3, {r1} + 1, 'command', 's1', 1, 1, 'completed', 1100, 1101, 1103, 1150, 47, 5, 2, NULL, NULL),
                      ({r1} + 4, {r1} + 2, 'command', 's1', 2, 1, 'completed', 1110, NULL, NULL, 1390, 0, 5, NULL, NULL, NULL),
                      ({r1} + 5, {r1} + 1, 'command', 's2', 2, 2, 'failed', 1200, 1210, 1220, 1290, 70, 5, NULL, 'ValueError', 'ValueError: bad'),
                      ({r1} + 6, {r1} + 1, 'compensation', 's1', 1, 1, 'timeout', 1310, 1311, 1312, 1450, 138, 5, NULL, NULL, 'timed out'),
                      ({r2} + 2, {r2} + 1, 'command', 's1', 1, 1, 'dispatched', 10100, NULL, NULL, NULL, NULL, 5, NULL, NULL, NULL);"
        ))
        .unwrap();
        (
            rows(&conn, EVENTS),
            rows(&conn, STAGES),
            rows(&conn, EXECUTIONS),
        )
    };
    let (from, to) = Store::upgrade(&db.path).unwrap();
    assert_eq!((from, to), (5, multiagents::store::migrate::SCHEMA_VERSION));
    let conn = Connection::open(&db.path).unwrap();
    assert_eq!(rows(&conn, EVENTS), before_events);
    assert_eq!(rows(&conn, STAGES), before_stages);
    assert_eq!(rows(&conn, EXECUTIONS), before_executions);
    let last: Vec<(String, Option<i64>)> = conn
        .prepare("SELECT transaction_id, last_event_id FROM workflows ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let r1 = 1i64 << 40;
    assert_eq!(
        last,
        vec![
            ("tx-a".to_string(), Some(r1 + 6)),
            ("tx-b".to_string(), Some(r1 + 4)),
            ("tx-c".to_string(), Some(r1 + 7)),
            ("tx-d".to_string(), None),
        ]
    );
    assert_event_ranges(&conn);
    // The index is gone, the compact table and its status names are there.
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE tbl_name IN ('events', 'event_rows') ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        names,
        [
            "event_rows",
            "events",
            "events_by_host_finish", // version 8
            "events_by_worker_finish"
        ]
    );
    assert_eq!(
        count(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
    // The library's trace of each transaction is the view's stages.
    for tx in ["tx-a", "tx-b", "tx-c", "tx-d"] {
        let trace = transaction_trace(&conn, tx).unwrap();
        let stages: Vec<(String, i64)> = conn
            .prepare("SELECT stage, at_us FROM event_stages WHERE transaction_id = ?1")
            .unwrap()
            .query_map([tx], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut from_view = stages.clone();
        from_view.sort_by_key(|s| s.1);
        let mut from_trace: Vec<(String, i64)> =
            trace.iter().map(|s| (s.stage.clone(), s.at_us)).collect();
        from_trace.sort_by_key(|s| s.1);
        assert_eq!(from_trace.len(), from_view.len(), "{tx}");
        let mut a = from_trace.clone();
        let mut b = from_view.clone();
        a.sort();
        b.sort();
        assert_eq!(a, b, "{tx}");
    }
}

/// Records of `n` workflows, their steps interleaved round-robin (so each
/// workflow's events are spread among the others' ids), every third one
/// left running, the rest ended; each record of workflow `i` flushed on its
/// own now and then, so starts, events and ends land in different batches.
#[test]
fn interleaved_workflows_split_across_batches_keep_their_event_ranges() {
    let db = temp_db();
    let (_store, writer) = open(&db.path);
    let n = 60usize;
    let t0 = 1_700_000_000_000_000i64;
    let worker: Arc<str> = Arc::from("w");
    let name: Arc<str> = Arc::from("wf");
    let ids: Vec<i64> = (0..n).map(|_| writer.next_id()).collect();
    for (i, &id) in ids.iter().enumerate() {
        writer
            .blocking_record(Record::WorkflowStarted(WorkflowStarted {
                id,
                transaction_id: Arc::from(uuid_like(id)),
                workflow_name: Arc::clone(&name),
                created_at_us: t0 + i as i64,
                started_at_us: t0 + i as i64,
                input_size_bytes: 1,
            }))
            .unwrap();
    }
    let mut flushes = 0;
    for step in 0..4i64 {
        for (i, &id) in ids.iter().enumerate() {
            // Workflow i has i % 5 steps: some none at all.
            if step >= (i % 5) as i64 {
                continue;
            }
            let eid = writer.next_id();
            let at = t0 + 1_000 * (step + 1) + i as i64;
            let kind = if step == 3 {
                EventType::Compensation
            } else {
                EventType::Command
            };
            writer
                .blocking_record(Record::EventDispatched(EventDispatched {
                    id: eid,
                    workflow_id: id,
                    event_type: kind,
                    step: Arc::from(format!("s{step}")),
                    worker: Arc::clone(&worker),
                    attempt: 1,
                    dispatched_at_us: at,
                    payload_size_bytes: 3,
                }))
                .unwrap();
            if (i + step as usize).is_multiple_of(7) {
                writer.blocking_flush().unwrap();
                flushes += 1;
            }
            // Every fourth event stays in flight; the others end, with
            // every status.
            if !(i + step as usize).is_multiple_of(4) {
                let outcome = [
                    EventOutcome::Completed,
                    EventOutcome::Failed,
                    EventOutcome::Timeout,
                    EventOutcome::Cancelled,
                ][(i + 2 * step as usize) % 4];
                writer
                    .blocking_record(Record::EventFinished(EventFinished {
                        id: eid,
                        outcome,
                        picked_up_at_us: Some(at + 2),
                        processing_at_us: (i % 2 == 0).then_some(at + 9),
                        finished_at_us: at + 500,
                        duration_us: 491,
                        result_size_bytes: None,
                        error_type: (outcome == EventOutcome::Failed).then(|| "E".to_string()),
                        error_message: (outcome == EventOutcome::Failed)
                            .then(|| "E: no".to_string()),
                        worker: Arc::clone(&worker),
                        event_type: kind,
                        dispatched_at_us: at,
                        payload_size_bytes: 3,
                        host: None,
                    }))
                    .unwrap();
            }
        }
    }
    for (i, &id) in ids.iter().enumerate() {
        if i % 3 == 0 {
            continue;
        }
        writer
            .blocking_record(Record::WorkflowChanged(WorkflowChanged {
                id,
                state: WorkflowState::Completed,
                at_us: t0 + 10_000 + i as i64,
                current_step: None,
                error: None,
                workflow_name: Arc::clone(&name),
                created_at_us: t0 + i as i64,
            }))
            .unwrap();
        if i % 11 == 0 {
            writer.blocking_flush().unwrap();
            flushes += 1;
        }
    }
    writer.blocking_flush().unwrap();
    assert!(flushes > 10);
    let conn = Connection::open(&db.path).unwrap();
    assert_event_ranges(&conn);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM workflows WHERE last_event_id IS NULL"
        ),
        (n as i64 + 2) / 3
    );
    // What was recorded reads back through the view: text status and
    // type, absolute stage times, NULL where a stage was not recorded.
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM events
             WHERE picked_up_at_us IS NOT dispatched_at_us + 2 AND status <> 'dispatched'"
        ),
        0
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM events WHERE status = 'dispatched'
               AND (picked_up_at_us IS NOT NULL OR processing_at_us IS NOT NULL OR finished_at_us IS NOT NULL)"
        ),
        0
    );
    // The processing stage was recorded for even workflows only.
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM events
             WHERE processing_at_us IS NOT NULL AND processing_at_us <> dispatched_at_us + 9"
        ),
        0
    );
    assert!(
        count(
            &conn,
            "SELECT count(*) FROM events WHERE processing_at_us IS NOT NULL"
        ) > 0
    );
    assert!(
        count(
            &conn,
            "SELECT count(*) FROM events WHERE processing_at_us IS NULL AND status <> 'dispatched'"
        ) > 0
    );
    assert_eq!(count(&conn, "SELECT count(DISTINCT status) FROM events"), 5);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM events WHERE event_type = 'compensation'"
        ),
        count(&conn, "SELECT count(*) FROM events WHERE step = 's3'")
    );
    // Each transaction's trace holds exactly its events' stages.
    for &id in &ids {
        let tx = uuid_like(id);
        let trace = transaction_trace(&conn, &tx).unwrap();
        let mut traced: Vec<i64> = trace.iter().filter_map(|s| s.event_id).collect();
        traced.sort();
        traced.dedup();
        let scanned: Vec<i64> = conn
            .prepare("SELECT id FROM event_rows NOT INDEXED WHERE workflow_id = ?1 ORDER BY id")
            .unwrap()
            .query_map([id], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(traced, scanned, "{tx}");
    }
}
