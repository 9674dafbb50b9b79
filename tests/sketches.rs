//! Long windows from sketches (migrations/0005_sketches.sql): written by the
//! real writer into real files, compared with the exact answers from the
//! raw rows of the same file.
//!
//! - Property: on random data (heavy tails, ties, single values, empty
//!   windows, values on minute boundaries) and random windows, counts are
//!   equal and every percentile is within 1 % of the exact nearest-rank
//!   value, so the edges and the sketched minutes add up exactly once.
//! - A live run: the minutes its writer still holds in memory are read from
//!   raw rows; the file's sketches equal a rebuild from the raw rows, before
//!   and after the run closes.
//! - A run killed with SIGKILL: closing it builds its missing minutes from
//!   the raw rows.
//! - The `.sql` files run in the sqlite3 shell with bound parameters and
//!   give the library's answer.
//! - A version 4 file upgrades with sketches of its raw rows.

mod support;

use std::sync::Arc;

use multiagents::monitor::coverage;
use multiagents::monitor::sketch::{Precision, RELATIVE_ERROR, sketch_span};
use multiagents::monitor::{RunScope, event, performance};
use multiagents::store::{
    EventDispatched, EventFinished, EventOutcome, EventType, Record, Store, WorkflowStarted, Writer,
};
use multiagents::window::TimeWindow;
use proptest::prelude::*;

const MINUTE: i64 = 60_000_000;
const HOUR: i64 = 60 * MINUTE;
/// 2024-01-01T00:00:00Z.
const T: i64 = 1_704_067_200_000_000;

/// One execution to record.
#[derive(Debug, Clone)]
struct Ev {
    worker: usize,
    finished_us: i64,
    duration_us: i64,
    latency_us: i64,
    outcome: EventOutcome,
}

const WORKERS: [&str; 3] = ["alpha", "beta", "gamma"];

/// Records `events` through `writer` (one workflow holding them) and waits
/// for the commit.
fn record(writer: &Writer, events: &[Ev]) {
    let wf = writer.next_id();
    let name: Arc<str> = Arc::from("wf");
    writer
        .blocking_record(Record::WorkflowStarted(WorkflowStarted {
            id: wf,
            transaction_id: Arc::from(support::uuid_like(wf)),
            workflow_name: name,
            created_at_us: events.iter().map(|e| e.finished_us).min().unwrap_or(T) - HOUR,
            started_at_us: events.iter().map(|e| e.finished_us).min().unwrap_or(T) - HOUR,
            input_size_bytes: 1,
        }))
        .unwrap();
    for e in events {
        let id = writer.next_id();
        let worker: Arc<str> = Arc::from(WORKERS[e.worker]);
        let dispatched = e.finished_us - e.latency_us;
        writer
            .blocking_record(Record::EventDispatched(EventDispatched {
                id,
                workflow_id: wf,
                event_type: EventType::Command,
                step: Arc::from("s"),
                worker: Arc::clone(&worker),
                attempt: 1,
                dispatched_at_us: dispatched,
                payload_size_bytes: 1,
            }))
            .unwrap();
        writer
            .blocking_record(Record::EventFinished(EventFinished {
                id,
                outcome: e.outcome,
                picked_up_at_us: Some(dispatched),
                processing_at_us: Some(e.finished_us - e.duration_us),
                finished_at_us: e.finished_us,
                duration_us: e.duration_us,
                result_size_bytes: None,
                error_type: (e.outcome == EventOutcome::Failed && e.duration_us % 2 == 0)
                    .then(|| format!("E{}", e.duration_us % 3)),
                error_message: (e.outcome == EventOutcome::Failed)
                    .then(|| format!("E: {}", e.duration_us)),
                worker,
                event_type: EventType::Command,
                dispatched_at_us: dispatched,
                payload_size_bytes: 1,
                host: None,
            }))
            .unwrap();
    }
    writer.blocking_flush().unwrap();
}

fn within(sketched: f64, exact: f64) -> bool {
    if exact == 0.0 {
        sketched == 0.0
    } else {
        ((sketched - exact) / exact).abs() < RELATIVE_ERROR
    }
}

/// Compares the sketch answers over `window` with the exact ones; returns
/// the first difference, if any.
fn compare(conn: &rusqlite::Connection, window: TimeWindow, scope: RunScope) -> Result<(), String> {
    let marks = coverage::watermarks(conn, scope).unwrap();
    if sketch_span(window, &marks, Precision::Auto).is_none() {
        return Ok(());
    }
    for name in WORKERS {
        let exact =
            match performance::worker_performance_with(conn, name, window, scope, Precision::Exact)
            {
                Ok(p) => p,
                Err(_) => continue, // never recorded
            };
        let sketched = performance::worker_performance(conn, name, window, scope).unwrap();
        let counts = |p: &multiagents::monitor::WorkerPerformance| {
            (
                p.total_executions,
                p.successful_executions,
                p.failed_executions,
                p.timeout_executions,
                p.cancelled_executions,
                p.duration_sum_us,
                p.last_execution_at_us,
            )
        };
        if counts(&exact) != counts(&sketched) {
            return Err(format!(
                "{name} over {window:?}: counts {:?} vs exact {:?}",
                counts(&sketched),
                counts(&exact)
            ));
        }
        for (what, s, e) in [
            ("p50", sketched.p50_duration_ms, exact.p50_duration_ms),
            ("p95", sketched.p95_duration_ms, exact.p95_duration_ms),
            ("p99", sketched.p99_duration_ms, exact.p99_duration_ms),
        ] {
            if !within(s, e) {
                return Err(format!("{name} {what} over {window:?}: {s} vs exact {e}"));
            }
        }
    }
    let exact = event::event_metrics_with(conn, window, scope, Precision::Exact).unwrap();
    let sketched = event::event_metrics(conn, window, scope).unwrap();
    let counts = |m: &multiagents::monitor::EventMetrics| {
        (
            m.total_events,
            m.events_by_status.clone(),
            m.events_by_type.clone(),
            m.peak_throughput,
            m.avg_latency_ms.to_bits(),
        )
    };
    if counts(&exact) != counts(&sketched) {
        return Err(format!(
            "events over {window:?}: {:?} vs exact {:?}",
            counts(&sketched),
            counts(&exact)
        ));
    }
    if !within(sketched.p95_latency_ms, exact.p95_latency_ms) {
        return Err(format!(
            "p95 latency over {window:?}: {} vs exact {}",
            sketched.p95_latency_ms, exact.p95_latency_ms
        ));
    }
    // Error patterns from the error rollups are exact.
    for worker in [None, Some(WORKERS[1])] {
        let exact = event::error_patterns_with(conn, window, scope, worker, Precision::Exact);
        let rolled = event::error_patterns(conn, window, scope, worker);
        match (exact, rolled) {
            (Ok(e), Ok(r)) if e == r => {}
            (Err(_), Err(_)) => {} // a worker never recorded
            (e, r) => return Err(format!("errors over {window:?}: {r:?} vs exact {e:?}")),
        }
    }
    Ok(())
}

/// The file's sketch rows differ from a rebuild from the raw rows (minute
/// rows for every run, and hour rows as the sum of their minutes): the
/// differing rows, as text.
fn sketch_differences(conn: &rusqlite::Connection) -> Vec<String> {
    let rebuilt = "SELECT minute_us, run_id, worker_id, key, sum(d) AS durations, sum(l) AS latencies FROM (
          SELECT (finished_at_us / 60000000) * 60000000 AS minute_us, id >> 40 AS run_id, worker_id,
                 (SELECT key FROM sketch_buckets WHERE upper_us >= duration_us ORDER BY upper_us LIMIT 1) AS key, 1 AS d, 0 AS l
          FROM events WHERE finished_at_us IS NOT NULL
          UNION ALL
          SELECT (finished_at_us / 60000000) * 60000000, id >> 40, worker_id,
                 (SELECT key FROM sketch_buckets WHERE upper_us >= finished_at_us - dispatched_at_us ORDER BY upper_us LIMIT 1), 0, 1
          FROM events WHERE finished_at_us IS NOT NULL)
        GROUP BY 1, 2, 3, 4";
    let stored =
        "SELECT minute_us, run_id, worker_id, key, durations, latencies FROM worker_minute_sketch";
    let hours =
        "SELECT hour_us, run_id, worker_id, key, durations, latencies FROM worker_hour_sketch";
    let hours_from_minutes = "SELECT (minute_us / 3600000000) * 3600000000, run_id, worker_id, key, sum(durations), sum(latencies)
        FROM worker_minute_sketch GROUP BY 1, 2, 3, 4";
    let mut out = Vec::new();
    for (a, b, what) in [
        (rebuilt, stored, "missing from the file"),
        (stored, rebuilt, "not in the raw rows"),
        (
            hours,
            hours_from_minutes,
            "hour row not the sum of its minutes",
        ),
        (hours_from_minutes, hours, "minutes without their hour row"),
    ] {
        let sql = format!("{a} EXCEPT {b} LIMIT 5");
        let mut stmt = conn.prepare(&sql).unwrap();
        let rows = stmt
            .query_map([], |r| {
                Ok(format!(
                    "{what}: {:?}",
                    (0..6)
                        .map(|i| r.get::<_, i64>(i).unwrap())
                        .collect::<Vec<_>>()
                ))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

fn value_strategy() -> impl Strategy<Value = i64> {
    prop_oneof![
        // Heavy tail: 1 µs to ~13 min, log-uniform.
        (0.0f64..20.5).prop_map(|l| l.exp() as i64),
        // Ties.
        prop::sample::select(vec![0i64, 1, 999, 1_000, 1_000, 250_000]),
        // Narrow.
        1_000i64..1_100,
    ]
}

fn event_strategy() -> impl Strategy<Value = Ev> {
    (
        0usize..3,
        prop_oneof![
            // Anywhere over 150 minutes.
            0i64..150 * MINUTE,
            // On a minute boundary, or just before / after.
            (0i64..150, -1i64..=1).prop_map(|(m, d)| (m * MINUTE + d).max(0)),
        ],
        value_strategy(),
        value_strategy(),
        prop::sample::select(vec![
            EventOutcome::Completed,
            EventOutcome::Completed,
            EventOutcome::Failed,
            EventOutcome::Timeout,
            EventOutcome::Cancelled,
        ]),
    )
        .prop_map(|(worker, at, duration, extra, outcome)| Ev {
            worker,
            finished_us: T + at,
            duration_us: duration,
            latency_us: duration.max(0) + extra,
            outcome,
        })
}

fn window_strategy() -> impl Strategy<Value = TimeWindow> {
    (
        prop_oneof![
            -5 * MINUTE..155 * MINUTE,
            (-5i64..155).prop_map(|m| m * MINUTE),
            (-1i64..3).prop_map(|h| h * HOUR),
        ],
        prop_oneof![
            10 * MINUTE..170 * MINUTE,
            (10i64..170).prop_map(|m| m * MINUTE)
        ],
    )
        .prop_map(|(start, len)| TimeWindow {
            start_us: T + start,
            end_us: T + start + len,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Sketch answers equal the exact ones within the stated error, on any
    /// data and window, and the file's sketches are those of its raw rows.
    #[test]
    fn sketch_answers_match_the_raw_rows(
        events in prop::collection::vec(event_strategy(), 0..400),
        windows in prop::collection::vec(window_strategy(), 6),
    ) {
        let db = support::temp_db();
        let (store, writer) = support::open(&db.path);
        // Two batches, the second partly earlier: late events too.
        let half = events.len() / 2;
        record(&writer, &events[half..]);
        record(&writer, &events[..half]);
        let conn = store.reader().unwrap();
        for scope in [RunScope::AllRuns, RunScope::Run(writer.run_id())] {
            for w in &windows {
                prop_assert_eq!(compare(&conn, *w, scope), Ok(()));
            }
        }
        prop_assert!(sketch_differences(&conn).is_empty(), "{:?}", sketch_differences(&conn));
        drop(conn);
        writer.blocking_shutdown().unwrap();
    }
}

/// A live run: its writer holds the last minutes in memory; answers read
/// them from raw rows. After the run closes, the file holds them too.
#[test]
fn a_live_runs_latest_minutes_come_from_raw_rows_until_it_closes() {
    let db = support::temp_db();
    let (store, writer) = support::open(&db.path);
    let now = multiagents::clock::now_us();
    let mut rng = support::dataset::Rng::new(7);
    let events: Vec<Ev> = (0..3_000)
        .map(|i| Ev {
            worker: i % 3,
            // The last 20 minutes up to now, in time order.
            finished_us: now - 20 * MINUTE + i as i64 * (20 * MINUTE / 3_000),
            duration_us: rng.range(1, 2_000_000),
            latency_us: rng.range(2_000_000, 4_000_000),
            outcome: if rng.chance(10) {
                EventOutcome::Failed
            } else {
                EventOutcome::Completed
            },
        })
        .collect();
    for chunk in events.chunks(300) {
        record(&writer, chunk);
    }
    let conn = store.reader().unwrap();
    let until: Option<i64> = conn
        .query_row(
            "SELECT sketched_until_us FROM runs WHERE id = ?1",
            [writer.run_id()],
            |r| r.get(0),
        )
        .unwrap();
    let until = until.expect("a live run's sketches are not complete");
    // One minute behind its latest event, never before the run's start
    // minute (older minutes were added with their batches), and nothing at
    // or after it.
    let started: i64 = conn
        .query_row("SELECT started_at_us FROM runs", [], |r| r.get(0))
        .unwrap();
    let latest = events.iter().map(|e| e.finished_us).max().unwrap();
    assert_eq!(
        until,
        ((started / MINUTE) * MINUTE).max((latest / MINUTE) * MINUTE - MINUTE)
    );
    let after: i64 = conn
        .query_row(
            "SELECT count(*) FROM worker_minute_sketch WHERE minute_us >= ?1",
            [until],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(after, 0);
    let windows = [
        TimeWindow {
            start_us: now - 30 * MINUTE,
            end_us: now + MINUTE,
        },
        TimeWindow {
            start_us: now - 15 * MINUTE - 7,
            end_us: now - 2 * MINUTE + 3,
        },
        TimeWindow {
            start_us: now - 25 * MINUTE,
            end_us: until,
        },
    ];
    for w in windows {
        compare(&conn, w, RunScope::AllRuns).unwrap();
        compare(&conn, w, RunScope::Run(writer.run_id())).unwrap();
    }
    drop(conn);
    writer.blocking_shutdown().unwrap();
    let store = Store::open_existing(&db.path).unwrap();
    let conn = store.reader().unwrap();
    let until: Option<i64> = conn
        .query_row("SELECT sketched_until_us FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(until, None, "a closed run's sketches are complete");
    assert_eq!(sketch_differences(&conn), Vec::<String>::new());
    for w in windows {
        compare(&conn, w, RunScope::AllRuns).unwrap();
    }
}

/// A run killed with SIGKILL kept its latest minutes in memory only; the
/// process that closes it builds them from the raw rows.
#[cfg(feature = "cli")]
#[test]
fn a_killed_runs_missing_minutes_are_built_when_it_is_closed() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let db = support::temp_db();
    let mut child = Command::new(env!("CARGO_BIN_EXE_multiagents"))
        .args(["--db"])
        .arg(&db.path)
        .args(["soak", "--duration", "10m"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = multiagents::clock::now_us();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    // Some workflows reported done (a hang guard, not a timing).
    for _ in 0..2_000 {
        if lines.next().is_none() {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    {
        let conn = rusqlite::Connection::open(&db.path).unwrap();
        let rows: i64 = conn
            .query_row(
                "SELECT count(*) FROM events WHERE finished_at_us IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(rows > 0);
    }
    // A recording open closes the dead run.
    let (_, writer) = support::open(&db.path);
    writer.blocking_shutdown().unwrap();
    let store = Store::open_existing(&db.path).unwrap();
    let conn = store.reader().unwrap();
    let open: i64 = conn
        .query_row(
            "SELECT count(*) FROM runs WHERE sketched_until_us IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(open, 0);
    assert_eq!(sketch_differences(&conn), Vec::<String>::new());
    // Closing it added its cancelled events to the hour rollups too.
    assert_eq!(
        support::hour_rollup_differences(&conn),
        Vec::<String>::new()
    );
    let end = multiagents::clock::now_us();
    let w = TimeWindow {
        start_us: start - 10 * MINUTE,
        end_us: end + MINUTE,
    };
    // The soak's workers are not the test's: compare event metrics.
    let exact = event::event_metrics_with(&conn, w, RunScope::AllRuns, Precision::Exact).unwrap();
    let sketched = event::event_metrics(&conn, w, RunScope::AllRuns).unwrap();
    assert_eq!(exact.total_events, sketched.total_events);
    assert_eq!(exact.events_by_status, sketched.events_by_status);
    assert!(
        within(sketched.p95_latency_ms, exact.p95_latency_ms),
        "{sketched:?} vs {exact:?}"
    );
}

/// The sketch queries run as-is in the sqlite3 shell with bound parameters
/// and give the library's answer.
#[test]
fn the_sketch_queries_run_in_the_sqlite3_shell() {
    let Ok(version) = std::process::Command::new("sqlite3")
        .arg("--version")
        .output()
    else {
        eprintln!("sqlite3 is not installed: skipped");
        return;
    };
    assert!(version.status.success());
    let db = support::temp_db();
    let (store, writer) = support::open(&db.path);
    let mut rng = support::dataset::Rng::new(11);
    let events: Vec<Ev> = (0..2_000)
        .map(|i| Ev {
            worker: i % 3,
            finished_us: T + rng.range(0, 3 * HOUR),
            duration_us: rng.range(0, 5_000_000),
            latency_us: rng.range(0, 9_000_000),
            outcome: if rng.chance(20) {
                EventOutcome::Timeout
            } else {
                EventOutcome::Completed
            },
        })
        .collect();
    record(&writer, &events);
    writer.blocking_shutdown().unwrap();
    let conn = store.reader().unwrap();
    let window = TimeWindow {
        start_us: T + 17 * MINUTE + 5,
        end_us: T + 2 * HOUR + 31 * MINUTE + 9,
    };
    let span = sketch_span(window, &Default::default(), Precision::Auto).unwrap();
    let params = format!(
        ".parameter init\n.parameter set :window_start {}\n.parameter set :window_end {}\n\
         .parameter set :sketch_start {}\n.parameter set :sketch_end {}\n.parameter set :run_id NULL\n\
         .parameter set :run_first \"(-9223372036854775807 - 1)\"\n.parameter set :run_last 9223372036854775807\n\
         .parameter set :worker \"''\"\n.mode list\n.separator ,\n",
        window.start_us, window.end_us, span.start_us, span.end_us
    );
    let shell = |sql: &str| -> Vec<String> {
        let mut child = std::process::Command::new("sqlite3")
            .arg("-bail")
            .arg(&db.path)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{params}{sql}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let rows = shell(multiagents::sql::queries::WORKER_PERFORMANCE_SKETCH);
    let ours =
        performance::sketch_worker_performances(&conn, window, span, RunScope::AllRuns, None)
            .unwrap();
    assert_eq!(rows.len(), ours.len());
    for (line, p) in rows.iter().zip(&ours) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[0], p.worker);
        assert_eq!(f[1].parse::<u64>().unwrap(), p.total_executions);
        assert_eq!(f[5].parse::<u64>().unwrap(), p.cancelled_executions);
        // The shell prints 15 significant digits.
        let same =
            |text: &str, ms: f64| (text.parse::<f64>().unwrap() / 1000.0 - ms).abs() <= ms * 1e-12;
        assert!(same(f[7], p.p50_duration_ms), "{line} vs {p:?}");
        assert!(same(f[8], p.p95_duration_ms), "{line} vs {p:?}");
        assert!(same(f[9], p.p99_duration_ms), "{line} vs {p:?}");
    }
    let rows = shell(multiagents::sql::queries::EVENT_METRICS_SKETCH);
    let ours = event::event_metrics(&conn, window, RunScope::AllRuns).unwrap();
    let f: Vec<&str> = rows[0].split(',').collect();
    assert_eq!(f[0].parse::<u64>().unwrap(), ours.total_events);
    let p95 = f[9].parse::<f64>().unwrap() / 1000.0;
    assert!(
        (p95 - ours.p95_latency_ms).abs() <= ours.p95_latency_ms * 1e-12,
        "{p95} vs {ours:?}"
    );
    assert_eq!(f[10].parse::<u64>().unwrap(), ours.peak_throughput);
    compare(&conn, window, RunScope::AllRuns).unwrap();
}

/// A version 4 file (no sketches) upgrades with the sketches of its raw
/// rows, and long windows then answer as from the raw rows.
#[test]
fn a_version_4_file_upgrades_with_sketches_of_its_raw_rows() {
    let db = support::temp_db();
    {
        let conn = rusqlite::Connection::open(&db.path).unwrap();
        for sql in [
            multiagents::sql::migrations::M0001_INITIAL,
            multiagents::sql::migrations::M0002_RUN_INDEXES_AND_STAGE_VIEW,
            multiagents::sql::migrations::M0003_RUN_LIFECYCLE,
            multiagents::sql::migrations::M0004_ROLLUPS_PER_RUN,
        ] {
            conn.execute_batch(sql).unwrap();
        }
        // 3,000 executions of three workers over three hours, log-spread
        // durations; rollups as the version 4 writer kept them.
        conn.execute_batch(&format!(
            "PRAGMA user_version = 4;
             INSERT INTO runs (id, started_at_us, ended_at_us, command, config_json, version, host, status)
               VALUES (1, {t}, {t} + 10800000000, 'a', '{{}}', '0.1.0', 'h', 'completed');
             INSERT INTO workers (id, name) VALUES (1, 'alpha'), (2, 'beta'), (3, 'gamma');
             INSERT INTO workflows (id, transaction_id, run_id, workflow_name, state, created_at_us,
                                    started_at_us, ended_at_us, input_size_bytes)
               VALUES (1099511627776, 'tx-1', 1, 'wf', 'completed', {t}, {t}, {t} + 10800000000, 3);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
             INSERT INTO events (id, workflow_id, event_type, step, worker_id, attempt, status,
                                 dispatched_at_us, picked_up_at_us, processing_at_us, finished_at_us,
                                 duration_us, payload_size_bytes)
             SELECT 1099511627776 + i, 1099511627776, 'command', 's', 1 + i % 3, 1,
                    CASE WHEN i % 7 = 0 THEN 'failed' ELSE 'completed' END,
                    {t} + i * 3600000 - (i * i) % 5000000, NULL, NULL, {t} + i * 3600000,
                    (i * 7919) % (1 + (i % 13) * 1000000), 5
             FROM n;
             INSERT INTO worker_minute_rollups (run_id, worker_id, event_type, minute_us, completed, failed,
                                                duration_sum_us, duration_min_us, duration_max_us,
                                                latency_sum_us, latency_max_us)
             SELECT 1, worker_id, 'command', (finished_at_us / 60000000) * 60000000,
                    sum(status = 'completed'), sum(status = 'failed'), sum(duration_us),
                    min(duration_us), max(duration_us),
                    sum(finished_at_us - dispatched_at_us), max(finished_at_us - dispatched_at_us)
             FROM events GROUP BY worker_id, 4;",
            t = T
        ))
        .unwrap();
    }
    let (from, to) = Store::upgrade(&db.path).unwrap();
    assert_eq!((from, to), (4, multiagents::store::migrate::SCHEMA_VERSION));
    let store = Store::open_existing(&db.path).unwrap();
    let conn = store.reader().unwrap();
    assert_eq!(sketch_differences(&conn), Vec::<String>::new());
    for w in [
        TimeWindow {
            start_us: T,
            end_us: T + 3 * HOUR + 1,
        },
        TimeWindow {
            start_us: T + 7 * MINUTE + 11,
            end_us: T + 2 * HOUR + 5 * MINUTE + 1,
        },
        TimeWindow {
            start_us: T + HOUR,
            end_us: T + 2 * HOUR,
        },
    ] {
        compare(&conn, w, RunScope::AllRuns).unwrap();
        compare(&conn, w, RunScope::Run(1)).unwrap();
    }
}
