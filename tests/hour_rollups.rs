//! The hour rollups (migrations/0007_hour_rollups.sql): written by the real
//! writer into real files, each hour row the sum of its hour's minute rows;
//! the answers that read whole hours from them equal the same answers
//! summed from the minute rows alone, and from the raw rows.
//!
//! - The writer keeps every hour row the sum of its minutes, also when an
//!   interrupted run's in-flight events are closed as cancelled.
//! - Duration histograms, totals and error patterns over windows with and
//!   without whole hours, unaligned, empty and "all time" equal the sums of
//!   the minute rows (and the error patterns the raw rows').
//! - Retention deletes an hour's rows once the hour is past the cutoff,
//!   whole, with its watermark.
//! - A version 6 file upgrades with the hours of its minute rows.

mod support;

use std::sync::Arc;

use multiagents::monitor::sketch::Precision;
use multiagents::monitor::totals::{self, HistogramBucket, Source, WorkerTotals};
use multiagents::monitor::{ALL_TIME, RunScope, event};
use multiagents::store::{
    EventDispatched, EventFinished, EventOutcome, EventType, Record, RetentionCutoffs, RunEnd,
    Store, WorkflowStarted, Writer,
};
use multiagents::window::TimeWindow;
use rusqlite::{Connection, named_params};

const MINUTE: i64 = 60_000_000;
const HOUR: i64 = 60 * MINUTE;
/// 2024-01-01T00:00:00Z.
const T: i64 = 1_704_067_200_000_000;

const WORKERS: [&str; 3] = ["alpha", "beta", "gamma"];

/// Records `n` executions ending over three hours and ten minutes from
/// `T + 25 min`, spread over the workers, both event types and every
/// outcome, with three error types; `in_flight` more are dispatched and
/// never finish. Waits for the commit.
fn record(writer: &Writer, n: i64, in_flight: i64, seed: u64) {
    let mut rng = support::dataset::Rng::new(seed);
    let wf = writer.next_id();
    writer
        .blocking_record(Record::WorkflowStarted(WorkflowStarted {
            id: wf,
            transaction_id: Arc::from(support::uuid_like(wf)),
            workflow_name: Arc::from("wf"),
            created_at_us: T,
            started_at_us: T,
            input_size_bytes: 1,
        }))
        .unwrap();
    let span = 3 * HOUR + 10 * MINUTE;
    for i in 0..n + in_flight {
        let id = writer.next_id();
        let worker: Arc<str> = Arc::from(WORKERS[rng.range(0, 3) as usize]);
        let event_type = if rng.chance(10) {
            EventType::Compensation
        } else {
            EventType::Command
        };
        let finished = T + 25 * MINUTE + i * span / (n + in_flight);
        let duration = rng.range(0, 30_000_000);
        let dispatched = finished - duration - rng.range(0, 2_000_000);
        writer
            .blocking_record(Record::EventDispatched(EventDispatched {
                id,
                workflow_id: wf,
                event_type,
                step: Arc::from("s"),
                worker: Arc::clone(&worker),
                attempt: 1,
                dispatched_at_us: dispatched,
                payload_size_bytes: rng.range(1, 100),
            }))
            .unwrap();
        if i >= n {
            continue;
        }
        let outcome = match rng.range(0, 20) {
            0 | 1 => EventOutcome::Failed,
            2 => EventOutcome::Timeout,
            3 => EventOutcome::Cancelled,
            _ => EventOutcome::Completed,
        };
        let error_type = (outcome == EventOutcome::Failed)
            .then(|| ["NetworkError", "ValueError", "Boom"][rng.range(0, 3) as usize].to_string());
        writer
            .blocking_record(Record::EventFinished(EventFinished {
                id,
                outcome,
                picked_up_at_us: Some(dispatched),
                processing_at_us: Some(finished - duration),
                finished_at_us: finished,
                duration_us: duration,
                result_size_bytes: None,
                error_message: error_type.as_ref().map(|t| format!("{t}: event {id}")),
                error_type,
                worker,
                event_type,
                dispatched_at_us: dispatched,
                payload_size_bytes: 1,
                host: None,
            }))
            .unwrap();
    }
    writer.blocking_flush().unwrap();
}

/// The duration histogram summed from the minute rows alone (the query
/// before version 7).
fn histogram_from_minutes(
    conn: &Connection,
    w: TimeWindow,
    run_id: Option<i64>,
) -> Vec<HistogramBucket> {
    conn.prepare(
        "SELECT k.name, h.le_ms, sum(h.count)
         FROM worker_minute_histogram h JOIN workers k ON k.id = h.worker_id
         WHERE h.minute_us >= :start AND h.minute_us < :end AND (:run IS NULL OR h.run_id = :run)
         GROUP BY k.name, h.le_ms ORDER BY k.name, h.le_ms",
    )
    .unwrap()
    .query_map(
        named_params! {":start": w.start_us, ":end": w.end_us, ":run": run_id},
        |r| {
            Ok(HistogramBucket {
                worker: r.get(0)?,
                le_ms: r.get(1)?,
                count: r.get::<_, i64>(2)? as u64,
            })
        },
    )
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// The totals summed from the minute rows alone.
fn totals_from_minutes(conn: &Connection, w: TimeWindow, run_id: Option<i64>) -> Vec<WorkerTotals> {
    conn.prepare(
        "SELECT k.name, r.event_type, sum(r.completed), sum(r.failed), sum(r.timeout),
                sum(r.cancelled), sum(r.duration_sum_us)
         FROM worker_minute_rollups r JOIN workers k ON k.id = r.worker_id
         WHERE r.minute_us >= :start AND r.minute_us < :end AND (:run IS NULL OR r.run_id = :run)
         GROUP BY k.name, r.event_type ORDER BY k.name, r.event_type",
    )
    .unwrap()
    .query_map(
        named_params! {":start": w.start_us, ":end": w.end_us, ":run": run_id},
        |r| {
            Ok(WorkerTotals {
                worker: r.get(0)?,
                event_type: r.get(1)?,
                completed: r.get::<_, i64>(2)? as u64,
                failed: r.get::<_, i64>(3)? as u64,
                timeout: r.get::<_, i64>(4)? as u64,
                cancelled: r.get::<_, i64>(5)? as u64,
                duration_sum_us: r.get(6)?,
            })
        },
    )
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn windows() -> Vec<TimeWindow> {
    let w = |start_us, end_us| TimeWindow { start_us, end_us };
    vec![
        // Whole hours only.
        w(T, T + 4 * HOUR),
        // Minutes on both sides of whole hours, unaligned ends.
        w(T + 7 * MINUTE + 11, T + 2 * HOUR + 5 * MINUTE + 1),
        // The end inside the last minute of an hour: the hour is whole.
        w(T + 20 * MINUTE, T + 2 * HOUR - 1),
        // No whole hour.
        w(T + HOUR + 10 * MINUTE, T + HOUR + 50 * MINUTE),
        w(T + 30 * MINUTE, T + 90 * MINUTE + 1),
        // Empty, and reversed.
        w(T + HOUR, T + HOUR),
        w(T + 2 * HOUR, T + HOUR),
        // Starting before 1970, and all time.
        w(-5, T + 2 * HOUR + 1),
        ALL_TIME,
    ]
}

/// Every answer that reads the hour rows over `windows()` equals the sums of
/// the minute rows, for `run_id` (or every run); error patterns over the
/// same windows equal the raw rows'.
fn check_answers(conn: &Connection, run_id: Option<i64>) {
    let scope = run_id.map_or(RunScope::AllRuns, RunScope::Run);
    for w in windows() {
        let source = Source::Rollups { run_id };
        assert_eq!(
            totals::worker_histograms(conn, w, source).unwrap(),
            histogram_from_minutes(conn, w, run_id),
            "histogram over {w:?}, run {run_id:?}"
        );
        assert_eq!(
            totals::worker_totals(conn, w, source).unwrap(),
            totals_from_minutes(conn, w, run_id),
            "totals over {w:?}, run {run_id:?}"
        );
        if w.start_us < w.end_us && w.start_us >= 0 {
            let rolled = event::error_patterns_with(conn, w, scope, None, Precision::Auto).unwrap();
            let exact = event::error_patterns_with(conn, w, scope, None, Precision::Exact).unwrap();
            assert_eq!(rolled, exact, "error patterns over {w:?}, run {run_id:?}");
            let rolled =
                event::error_patterns_with(conn, w, scope, Some("beta"), Precision::Auto).unwrap();
            let exact =
                event::error_patterns_with(conn, w, scope, Some("beta"), Precision::Exact).unwrap();
            assert_eq!(rolled, exact, "beta's error patterns over {w:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_writer_keeps_each_hour_the_sum_of_its_minutes() {
    let db = support::temp_db();
    // Two runs writing one file: each adds to its own rows.
    let (store, first) = support::open(&db.path);
    let first_id = first.run_id();
    {
        let first = first.clone();
        tokio::task::spawn_blocking(move || record(&first, 4_000, 0, 1))
            .await
            .unwrap();
    }
    first.shutdown().await.unwrap();
    let (_, second) = support::open(&db.path);
    let second_id = second.run_id();
    {
        let second = second.clone();
        tokio::task::spawn_blocking(move || record(&second, 3_000, 25, 2))
            .await
            .unwrap();
    }
    let conn = store.reader().unwrap();
    assert_eq!(
        support::hour_rollup_differences(&conn),
        Vec::<String>::new()
    );
    // Interrupted: its in-flight events end cancelled, counted in the
    // minute and the hour of its end.
    second.close(RunEnd::interrupted("test")).await.unwrap();
    let cancelled: i64 = support::count(
        &conn,
        &format!(
            "SELECT sum(cancelled) FROM worker_hour_rollups WHERE hour_us > {}",
            T + 4 * HOUR
        ),
    );
    assert_eq!(
        cancelled, 25,
        "the in-flight events, in the hour of the end"
    );
    assert_eq!(
        support::hour_rollup_differences(&conn),
        Vec::<String>::new()
    );
    let hours = support::count(
        &conn,
        "SELECT count(DISTINCT hour_us) FROM worker_hour_histogram",
    );
    assert!(
        hours >= 5,
        "four hours of data and the hour of the end: {hours}"
    );
    for run_id in [None, Some(first_id), Some(second_id)] {
        check_answers(&conn, run_id);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_deletes_an_hour_once_the_hour_is_past_the_cutoff() {
    let db = support::temp_db();
    let (store, writer) = support::open(&db.path);
    {
        let writer = writer.clone();
        tokio::task::spawn_blocking(move || record(&writer, 3_000, 0, 3))
            .await
            .unwrap();
    }
    // Minutes before T + 2 h 30 min go; the hour T + 2 h stays whole.
    let cutoff = T + 2 * HOUR + 30 * MINUTE;
    writer
        .run_retention(RetentionCutoffs {
            rollups_before_us: Some(cutoff),
            ..RetentionCutoffs::default()
        })
        .await
        .unwrap();
    let conn = store.reader().unwrap();
    for table in [
        "worker_hour_rollups",
        "worker_hour_histogram",
        "error_hour_rollups",
    ] {
        let hours: Vec<i64> = conn
            .prepare(&format!("SELECT DISTINCT hour_us FROM {table} ORDER BY 1"))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(hours, [T + 2 * HOUR, T + 3 * HOUR], "{table}");
    }
    // The kept hour holds all of its minutes, also those retention took.
    let kept = support::count(
        &conn,
        &format!(
            "SELECT sum(count) FROM worker_hour_histogram WHERE hour_us = {}",
            T + 2 * HOUR
        ),
    );
    let in_events = support::count(
        &conn,
        &format!(
            "SELECT count(*) FROM events WHERE finished_at_us >= {} AND finished_at_us < {}",
            T + 2 * HOUR,
            T + 3 * HOUR
        ),
    );
    assert_eq!(kept, in_events);
    let minutes = support::count(
        &conn,
        &format!("SELECT count(*) FROM worker_minute_histogram WHERE minute_us < {cutoff}"),
    );
    assert_eq!(minutes, 0);
    // The watermark: rollups before the cutoff may be gone.
    let mark = support::count(
        &conn,
        "SELECT deleted_before_us FROM retention_watermarks WHERE kind = 'rollups'",
    );
    assert_eq!(mark, cutoff);
    writer.shutdown().await.unwrap();
}

/// A version 6 file (no hour rollups, no worker_hour_sketch_by_run)
/// upgrades with the hours of its minute rows, and the answers read from
/// them are those of the minute rows.
#[test]
fn a_version_6_file_upgrades_with_the_hours_of_its_minute_rows() {
    let db = support::temp_db();
    {
        let (_, writer) = support::open(&db.path);
        record(&writer, 3_000, 0, 4);
        writer.blocking_shutdown().unwrap();
    }
    // Back to version 6 as its writer left it: minute rows, no hours.
    {
        let conn = Connection::open(&db.path).unwrap();
        support::downgrade_to_7(&conn);
        conn.execute_batch(
            "DROP TABLE worker_hour_rollups;
             DROP TABLE worker_hour_histogram;
             DROP TABLE error_hour_rollups;
             DROP INDEX worker_hour_sketch_by_run;
             PRAGMA user_version = 6;",
        )
        .unwrap();
    }
    let (from, to) = Store::upgrade(&db.path).unwrap();
    assert_eq!((from, to), (6, multiagents::store::migrate::SCHEMA_VERSION));
    let store = Store::open_existing(&db.path).unwrap();
    let conn = store.reader().unwrap();
    assert_eq!(
        support::hour_rollup_differences(&conn),
        Vec::<String>::new()
    );
    assert!(support::count(&conn, "SELECT count(*) FROM error_hour_rollups") > 0);
    check_answers(&conn, None);
    check_answers(&conn, Some(1));
}
