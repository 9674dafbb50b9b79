//! The life of a run, with real processes and real signals: SIGINT and
//! SIGTERM close a run gracefully, kill -9 leaves a run that the next
//! process recognises and closes as crashed, `cleanup` never touches a live
//! run (and is not a run itself), and the run id never wraps.

mod support;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use multiagents::store::lifecycle::MAX_RUN_ID;
use multiagents::store::{EventDispatched, EventType, Record, WorkflowChanged, WorkflowState};
use rusqlite::Connection;
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_multiagents");
const HOUR_US: i64 = 3_600_000_000;

fn command(db: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--db")
        .arg(db)
        .env_remove("MULTIAGENTS_DB")
        .env_remove("MULTIAGENTS_CONFIG")
        .env_remove("RUST_LOG")
        .current_dir(db.parent().unwrap());
    c
}

fn spawn(db: &Path, args: &[&str]) -> Child {
    command(db)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn run(db: &Path, args: &[&str]) -> Output {
    command(db).args(args).output().unwrap()
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name}");
}

/// A read-only look at the file, as another program would take it.
fn peek(db: &Path) -> Connection {
    Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

/// Polls `sql` (one integer) until it reaches `at_least`; panics after a
/// generous limit (this waits for work, it does not time it).
fn wait_for(db: &Path, sql: &str, at_least: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if db.exists()
            && let Ok(conn) =
                Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            && let Ok(n) = conn.query_row(sql, [], |r| r.get::<_, i64>(0))
            && n >= at_least
        {
            return;
        }
        assert!(Instant::now() < deadline, "never reached {at_least}: {sql}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Starts a load test whose workflows take about a second (the seed's
/// timing), interrupts it with `sig` once some are in flight, and checks
/// the closed run and the printed report.
fn interrupt_load_test(sig: &str, code: i32) {
    let db = temp_db();
    let child = spawn(
        &db.path,
        &[
            "load-test",
            "--duration",
            "60s",
            "--rps",
            "40",
            "--grace",
            "300ms",
            "--format",
            "json",
        ],
    );
    wait_for(
        &db.path,
        "SELECT count(*) FROM workflows WHERE ended_at_us IS NULL",
        10,
    );
    signal(&child, sig);
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(&format!("SIG{sig} received")), "{stderr}");
    // The report of what ran, and it adds up.
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = |k: &str| report[k].as_u64().unwrap();
    assert_eq!(
        report["interrupted"],
        format!("interrupted by SIG{sig}").as_str()
    );
    assert_eq!(n("finished") + n("unfinished"), n("started"));
    assert_eq!(
        n("completed") + n("failed") + n("compensated") + n("cancelled"),
        n("finished")
    );
    assert!(n("stopped_in_flight") > 0, "{report}");
    assert!(n("cancelled") >= n("stopped_in_flight"));
    // The run is closed: how, when, and nothing of it left in flight.
    let conn = peek(&db.path);
    let (status, reason, ended): (String, String, Option<i64>) = conn
        .query_row(
            "SELECT status, end_reason, ended_at_us FROM runs WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(status, "interrupted");
    assert_eq!(reason, format!("interrupted by SIG{sig}"));
    assert!(ended.is_some());
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM workflows WHERE ended_at_us IS NULL"
        ),
        0
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM events WHERE status = 'dispatched'"
        ),
        0
    );
    assert_eq!(
        count(&conn, "SELECT count(*) FROM workflows") as u64,
        n("started")
    );
    let interrupted = count(
        &conn,
        "SELECT count(*) FROM workflows WHERE state = 'cancelled' AND error = 'interrupted'",
    );
    // Stopped after the grace period, plus any that had not recorded their
    // end when the report was made (the run's close recorded those).
    assert_eq!(interrupted as u64, n("stopped_in_flight") + n("unfinished"));
    assert!(
        count(
            &conn,
            "SELECT count(*) FROM events WHERE status = 'cancelled' AND error_type = 'Interrupted'"
        ) > 0
    );
    // The rollups count them like the raw rows.
    assert_eq!(
        count(&conn, "SELECT sum(cancelled) FROM workflow_minute_rollups") as u64,
        n("cancelled")
    );
    // The sketches were completed by the close, as the rollups were.
    assert_sketches_match_rollups(&conn);
    assert_event_ranges(&conn);
    // `query runs` shows how it ended.
    let runs = run(&db.path, &["query", "runs", "--format", "json"]);
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    assert_eq!(runs[0]["status"], "interrupted");
}

#[test]
fn sigint_during_load_test_closes_the_run_and_prints_the_report() {
    interrupt_load_test("INT", 130);
}

#[test]
fn sigterm_during_load_test_closes_the_run_and_prints_the_report() {
    interrupt_load_test("TERM", 143);
}

fn interrupt_demo(sig: &str, code: i32) {
    let db = temp_db();
    let child = spawn(&db.path, &["demo", "--grace", "200ms"]);
    wait_for(&db.path, "SELECT count(*) FROM workflows", 3);
    signal(&child, sig);
    let out = child.wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(code), "{}", text(&out.stderr));
    assert!(stdout.contains("Demo stopped (interrupted by"), "{stdout}");
    assert!(stdout.contains("closed as interrupted"), "{stdout}");
    let conn = peek(&db.path);
    let status: String = conn
        .query_row("SELECT status FROM runs WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "interrupted");
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM workflows WHERE ended_at_us IS NULL"
        ),
        0
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM alerts WHERE resolved_at_us IS NULL"
        ),
        0
    );
    assert_sketches_match_rollups(&conn);
    assert_event_ranges(&conn);
}

#[test]
fn sigint_during_demo_closes_the_run() {
    interrupt_demo("INT", 130);
}

#[test]
fn sigterm_during_demo_closes_the_run() {
    interrupt_demo("TERM", 143);
}

/// A configuration under which the high error rate alert fires within a
/// fraction of a second of load with failing workflows.
fn alerting_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("alerting.yaml");
    std::fs::write(
        &path,
        "worker_monitoring:\n  health_check_interval_seconds: 0.2\nalerts:\n  error_rate_threshold: 0.01\n",
    )
    .unwrap();
    path
}

#[test]
fn a_second_signal_stops_at_once_and_the_run_is_later_closed_as_crashed() {
    let db = temp_db();
    let mut child = spawn(
        &db.path,
        &[
            "load-test",
            "--duration",
            "60s",
            "--rps",
            "40",
            "--grace",
            "10m",
        ],
    );
    wait_for(
        &db.path,
        "SELECT count(*) FROM workflows WHERE ended_at_us IS NULL",
        5,
    );
    signal(&child, "INT");
    // The grace period is ten minutes: only the second signal can end it.
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, "INT");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    // Left open, and recognised as dead without writing.
    let runs = run(&db.path, &["query", "runs", "--format", "json"]);
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    assert_eq!(runs[0]["status"], "crashed", "{runs}");
    let stored: String = peek(&db.path)
        .query_row("SELECT status FROM runs WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, "running", "a read command wrote to the file");
    // `cleanup` closes it.
    let out = run(&db.path, &["cleanup", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["closed_runs"][0]["run_id"], 1, "{report}");
    let conn = peek(&db.path);
    let stored: String = conn
        .query_row("SELECT status FROM runs WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, "crashed");
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM workflows WHERE ended_at_us IS NULL"
        ),
        0
    );
}

#[test]
fn after_kill_9_the_run_is_crashed_its_alerts_resolved_and_nothing_is_active() {
    let db = temp_db();
    let config = alerting_config(db.dir.path());
    let mut child = command(&db.path)
        .arg("--config")
        .arg(&config)
        .args([
            "load-test",
            "--duration",
            "60s",
            "--rps",
            "40",
            "--mix",
            "error",
            "--time-scale",
            "0.5",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(
        &db.path,
        "SELECT count(*) FROM alerts WHERE resolved_at_us IS NULL",
        1,
    );
    wait_for(
        &db.path,
        "SELECT count(*) FROM workflows WHERE ended_at_us IS NULL",
        3,
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let before = std::fs::read(&db.path).unwrap();

    // Read-only commands show the truth and write nothing.
    let runs = run(&db.path, &["query", "runs", "--format", "json"]);
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    assert_eq!(runs[0]["status"], "crashed", "{runs}");
    let alerts = run(
        &db.path,
        &["query", "alerts", "--run", "1", "--format", "json"],
    );
    assert!(alerts.status.success(), "{}", text(&alerts.stderr));
    let alerts: serde_json::Value = serde_json::from_slice(&alerts.stdout).unwrap();
    assert_eq!(alerts["firing"].as_array().unwrap().len(), 0, "{alerts}");
    let metrics = run(&db.path, &["export", "prometheus"]);
    let metrics = text(&metrics.stdout);
    assert!(
        metrics
            .lines()
            .any(|l| l == "multiagents_active_workflows 0.0"),
        "{metrics}"
    );
    assert!(
        !metrics
            .lines()
            .any(|l| l.starts_with("multiagents_alerts_firing") && !l.ends_with(" 0.0")),
        "{metrics}"
    );
    let dashboard = run(&db.path, &["dashboard", "--once"]);
    assert!(dashboard.status.success(), "{}", text(&dashboard.stderr));
    assert!(
        !text(&dashboard.stdout).contains("error_monitoring"),
        "a dead run's workflow shown as active:\n{}",
        text(&dashboard.stdout)
    );
    assert_eq!(std::fs::read(&db.path).unwrap(), before);
    assert_eq!(
        peek(&db.path)
            .query_row("SELECT status FROM runs WHERE id = 1", [], |r| r
                .get::<_, String>(0))
            .unwrap(),
        "running"
    );

    // The next recording process closes it.
    let out = run(
        &db.path,
        &[
            "load-test",
            "--duration",
            "200ms",
            "--rps",
            "10",
            "--mix",
            "noop",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let conn = peek(&db.path);
    let (status, reason, ended, last): (String, String, i64, i64) = conn
        .query_row(
            "SELECT status, end_reason, ended_at_us,
                    (SELECT max(max(created_at_us, coalesce(ended_at_us, 0))) FROM workflows
                      WHERE run_id = 1 AND error IS NOT 'crashed: ' || r.end_reason)
             FROM runs r WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(status, "crashed");
    assert!(reason.contains("is gone"), "{reason}");
    // Its end is its last record, not the time it was closed.
    assert!(
        ended >= last,
        "ended {ended} before its last workflow {last}"
    );
    assert!(ended < multiagents::clock::now_us() - 100_000);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM workflows WHERE ended_at_us IS NULL"
        ),
        0
    );
    assert!(
        count(
            &conn,
            "SELECT count(*) FROM workflows WHERE run_id = 1 AND error LIKE 'crashed: %'"
        ) > 0
    );
    // Closing gave the crashed workflows the end of their events' range,
    // and built the sketch minutes the writer still held in memory.
    assert_event_ranges(&conn);
    assert_sketches_match_rollups(&conn);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM events WHERE status = 'dispatched'"
        ),
        0
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM alerts WHERE run_id = 1 AND (resolved_at_us IS NULL OR resolved_reason NOT LIKE 'run crashed: %')"
        ),
        count(
            &conn,
            "SELECT count(*) FROM alerts WHERE run_id = 1 AND resolved_reason IS NULL AND resolved_at_us IS NOT NULL"
        ),
        "every alert firing at the crash resolves with the reason"
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM alerts WHERE resolved_at_us IS NULL"
        ),
        0
    );
    // Rollups count the closed workflows like the raw rows.
    assert_eq!(
        count(&conn, "SELECT sum(cancelled) FROM workflow_minute_rollups"),
        count(
            &conn,
            "SELECT count(*) FROM workflows WHERE state = 'cancelled'"
        )
    );
    // Both histograms count every event once, the crashed run's cancelled
    // ones included, each in the bucket of the latency it was closed with.
    assert_eq!(
        count(&conn, "SELECT sum(count) FROM worker_minute_histogram"),
        count(&conn, "SELECT count(*) FROM events")
    );
    assert_eq!(hour_rollup_differences(&conn), Vec::<String>::new());
    let histogram = |sql: &str, params: &[(&str, &dyn rusqlite::ToSql)]| -> Vec<(i64, i64)> {
        conn.prepare(sql)
            .unwrap()
            .query_map(params, |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(
        histogram(
            "SELECT le_ms, sum(count) FROM event_minute_latency_histogram GROUP BY le_ms ORDER BY le_ms",
            &[]
        ),
        histogram(
            multiagents::sql::queries::EVENT_LATENCY_HISTOGRAM_EVENTS,
            &[
                (":window_start", &0i64),
                (":window_end", &i64::MAX),
                (":run_first", &0i64),
                (":run_last", &i64::MAX),
            ]
        ),
        "event-latency histogram against the raw events"
    );
}

#[test]
fn cleanup_during_a_full_speed_load_test_costs_no_writer_error() {
    let db = temp_db();
    // An earlier run with old rows for cleanup to delete (younger than the
    // load test's own two-hour retention).
    {
        let (_store, writer) = open(&db.path);
        let old = multiagents::clock::now_us() - 90 * 60 * 1_000_000;
        for i in 0..2_000 {
            for r in workflow_records(&writer, 2, old + i) {
                writer.blocking_record(r).unwrap();
            }
        }
        writer.blocking_shutdown().unwrap();
    }
    let child = spawn(
        &db.path,
        &[
            "load-test",
            "--duration",
            "4s",
            "--rps",
            "100000",
            "--concurrency",
            "500",
            "--mix",
            "noop",
            "--time-scale",
            "0",
            "--format",
            "json",
        ],
    );
    wait_for(
        &db.path,
        "SELECT count(*) FROM workflows WHERE run_id = 2",
        1_000,
    );
    let mut deleted = 0;
    for _ in 0..3 {
        let out = run(
            &db.path,
            &["cleanup", "--older-than", "1h", "--format", "json"],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        deleted += report["workflows"].as_u64().unwrap();
        assert_eq!(report["closed_runs"].as_array().unwrap().len(), 0);
    }
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.trim().is_empty(), "writer complained:\n{stderr}");
    assert_eq!(deleted, 2_000);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = |k: &str| report[k].as_u64().unwrap();
    assert!(n("started") > 1_000);
    assert_eq!(n("finished") + n("unfinished"), n("started"));
    assert_eq!(n("completed"), n("finished"));
    let conn = peek(&db.path);
    assert_eq!(
        count(&conn, "SELECT count(*) FROM workflows WHERE run_id = 2") as u64,
        n("started")
    );
    assert_eq!(
        count(&conn, "SELECT count(*) FROM workflows WHERE run_id = 1"),
        0
    );
    // Cleanup deleted run 1's raw rows but none of either run's sketches,
    // and the live run's sketches count its raw rows.
    assert_sketches_match_rollups(&conn);
    assert!(
        count(
            &conn,
            "SELECT count(*) FROM worker_minute_sketch WHERE run_id = 1"
        ) > 0
    );
    assert_eq!(
        count(
            &conn,
            "SELECT sum(durations) FROM worker_minute_sketch WHERE run_id = 2"
        ),
        count(
            &conn,
            "SELECT count(*) FROM events WHERE id >> 40 = 2 AND finished_at_us IS NOT NULL"
        )
    );
    // Cleanup is not a run; it logs itself elsewhere.
    assert_eq!(count(&conn, "SELECT count(*) FROM runs"), 2);
    assert_eq!(count(&conn, "SELECT count(*) FROM maintenance_log"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_a_live_runs_old_workflow_in_flight() {
    let db = temp_db();
    let (_store, writer) = open(&db.path);
    let started = multiagents::clock::now_us() - 3 * HOUR_US;
    // A long agent workflow: started three hours ago, still running.
    let records = workflow_records(&writer, 1, started);
    let workflow_id = match &records[0] {
        Record::WorkflowStarted(s) => s.id,
        _ => unreachable!(),
    };
    writer
        .record(records.into_iter().next().unwrap())
        .await
        .unwrap();
    writer.flush().await.unwrap();
    let out = tokio::task::spawn_blocking({
        let path = db.path.clone();
        move || {
            run(
                &path,
                &["cleanup", "--older-than", "2h", "--format", "json"],
            )
        }
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["workflows"], 0, "{report}");
    // The workflow goes on: a new step and its end commit.
    writer
        .record(Record::EventDispatched(EventDispatched {
            id: writer.next_id(),
            workflow_id,
            event_type: EventType::Command,
            step: "late".into(),
            worker: "w".into(),
            attempt: 1,
            dispatched_at_us: multiagents::clock::now_us(),
            payload_size_bytes: 1,
        }))
        .await
        .unwrap();
    writer
        .record_and_flush(Record::WorkflowChanged(WorkflowChanged {
            id: workflow_id,
            state: WorkflowState::Completed,
            at_us: multiagents::clock::now_us(),
            current_step: None,
            error: None,
            workflow_name: "wf".into(),
            created_at_us: started,
        }))
        .await
        .unwrap();
    writer.shutdown().await.unwrap();
    let conn = peek(&db.path);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM workflows WHERE state = 'completed'"
        ),
        1
    );
}

#[test]
fn cleanup_is_not_a_run_and_latest_stays_the_last_recording() {
    let db = temp_db();
    let out = run(
        &db.path,
        &[
            "load-test",
            "--duration",
            "200ms",
            "--rps",
            "10",
            "--mix",
            "noop",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&db.path, &["cleanup"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = run(&db.path, &["report", "--run", "latest", "--format", "json"]);
    assert!(report.status.success(), "{}", text(&report.stderr));
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(report["run"]["run_id"], 1, "{report}");
    let conn = peek(&db.path);
    assert_eq!(count(&conn, "SELECT count(*) FROM runs"), 1);
    let command: String = conn
        .query_row("SELECT command FROM maintenance_log", [], |r| r.get(0))
        .unwrap();
    assert!(command.contains("cleanup"), "{command}");
}

#[test]
fn the_run_id_never_wraps() {
    let db = temp_db();
    let out = run(
        &db.path,
        &[
            "load-test",
            "--duration",
            "100ms",
            "--rps",
            "10",
            "--mix",
            "noop",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The last run id the row-id layout allows still records...
    {
        let conn = Connection::open(&db.path).unwrap();
        conn.execute(
            "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'runs'",
            [MAX_RUN_ID - 1],
        )
        .unwrap();
    }
    let out = run(
        &db.path,
        &[
            "load-test",
            "--duration",
            "100ms",
            "--rps",
            "10",
            "--mix",
            "noop",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    {
        let conn = peek(&db.path);
        assert_eq!(
            count(&conn, "SELECT max(run_id) FROM workflows"),
            MAX_RUN_ID
        );
        assert_eq!(
            count(&conn, "SELECT count(*) FROM workflows WHERE id <= 0"),
            0
        );
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").ok();
    }
    // ...the next is refused before any byte changes.
    let files = |p: &Path| {
        let mut wal = p.as_os_str().to_owned();
        wal.push("-wal");
        (std::fs::read(p).unwrap(), std::fs::read(wal).ok())
    };
    let before = files(&db.path);
    let out = run(
        &db.path,
        &[
            "load-test",
            "--duration",
            "100ms",
            "--rps",
            "10",
            "--mix",
            "noop",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("maximum number of runs") && stderr.lines().count() == 1,
        "{stderr}"
    );
    assert_eq!(files(&db.path), before);
}

fn schema(conn: &Connection) -> Vec<(String, String, Option<String>)> {
    let mut stmt = conn
        .prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY type, name")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_version_2_file_upgrades_to_run_statuses_without_cleanup_runs() {
    let db = temp_db();
    let now = multiagents::clock::now_us();
    {
        let conn = Connection::open(&db.path).unwrap();
        // The previous version's schema, as that version created it.
        conn.execute_batch(multiagents::sql::migrations::M0001_INITIAL)
            .unwrap();
        conn.execute_batch(multiagents::sql::migrations::M0002_RUN_INDEXES_AND_STAGE_VIEW)
            .unwrap();
        conn.execute_batch("PRAGMA user_version = 2; PRAGMA journal_mode = WAL;")
            .unwrap();
        let insert =
            "INSERT INTO runs (id, started_at_us, ended_at_us, command, config_json, version, host)
                      VALUES (?1, ?2, ?3, ?4, '{}', '0.1.0', 'elsewhere')";
        let hour_ago = now - HOUR_US;
        conn.execute(
            insert,
            rusqlite::params![1, hour_ago, Some(hour_ago + 10), "multiagents demo"],
        )
        .unwrap();
        // Died an hour ago, before runs recorded their process.
        conn.execute(
            insert,
            rusqlite::params![2, hour_ago, None::<i64>, "multiagents load-test"],
        )
        .unwrap();
        // A cleanup that registered itself as a run.
        conn.execute(
            insert,
            rusqlite::params![3, hour_ago, Some(hour_ago), "multiagents --db x.db cleanup"],
        )
        .unwrap();
    }
    let out = run(&db.path, &["upgrade"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&db.path, &["query", "runs", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let statuses: Vec<(i64, String)> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["run_id"].as_i64().unwrap(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        vec![(2, "crashed".to_string()), (1, "completed".to_string())]
    );
    let conn = peek(&db.path);
    assert_eq!(
        count(&conn, "PRAGMA user_version"),
        multiagents::store::migrate::SCHEMA_VERSION
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM maintenance_log WHERE command LIKE '%cleanup'"
        ),
        1
    );
    // The upgraded schema is the fresh one.
    let fresh = temp_db();
    let out = run(
        &fresh.path,
        &[
            "load-test",
            "--duration",
            "100ms",
            "--rps",
            "10",
            "--mix",
            "noop",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(schema(&conn), schema(&peek(&fresh.path)));
}

/// Adds an open run recorded by `pid` on another machine (another host name
/// and boot), last seen alive at `heartbeat_at_us`.
fn add_foreign_run(conn: &Connection, id: i64, pid: i64, heartbeat_at_us: i64) {
    conn.execute(
        "INSERT INTO runs (id, started_at_us, command, config_json, version, host, \
         status, pid, process_start_ticks, boot_id, pid_namespace, heartbeat_at_us) \
         VALUES (?1, ?2, 'load-test', '{}', 'test', 'another-host', 'running', ?3, 1, \
         'another-boot', 'pid:[1]', ?4)",
        rusqlite::params![id, heartbeat_at_us - HOUR_US, pid, heartbeat_at_us],
    )
    .unwrap();
}

#[test]
fn a_run_from_another_host_is_judged_by_its_heartbeat_not_by_a_local_pid() {
    use multiagents::store::lifecycle::{HEARTBEAT_STALE, close_dead_runs, dead_open_runs};

    let db = temp_db();
    let (_store, writer) = open(&db.path);
    writer.blocking_shutdown().unwrap();
    let now = multiagents::clock::now_us();
    let stale = i64::try_from(HEARTBEAT_STALE.as_micros()).unwrap();
    // A pid that exists on no process here: a reaped child's.
    let mut child = Command::new("true").spawn().unwrap();
    let gone_pid = i64::from(child.id());
    child.wait().unwrap();
    let my_pid = i64::from(std::process::id());
    let mut conn = Connection::open(&db.path).unwrap();
    // Beating a moment ago: alive, though its pid is dead here.
    add_foreign_run(&conn, 2, gone_pid, now);
    // Silent for twice the limit: dead, though its pid is alive here.
    add_foreign_run(&conn, 3, my_pid, now - 2 * stale);

    let dead = dead_open_runs(&conn).unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].0, 3);
    assert!(
        dead[0].1.contains("no sign of life from host another-host"),
        "{dead:?}"
    );
    let closed = close_dead_runs(&mut conn).unwrap();
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(closed[0].run_id, 3);
    let statuses: Vec<(i64, String)> = conn
        .prepare("SELECT id, status FROM runs ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        statuses,
        [
            (1, "completed".to_string()),
            (2, "running".to_string()),
            (3, "crashed".to_string())
        ]
    );
}
