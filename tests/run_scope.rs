//! One run, one truth: every answer asked with `--run` uses that run's rows
//! only — system samples, custom metrics and alerts as well as events — even
//! when two processes record into one file at the same time; a run killed
//! with SIGKILL spans to its latest record of any kind; the documented
//! `event_stages` lookup uses indexes; a version-1 file upgrades.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, named_params};
use serde_json::Value;
use support::cli::*;
use support::*;

/// `[start_us, end_us)` of an answer's window.
fn window_of(answer: &Value) -> (i64, i64) {
    (
        answer["window"]["start_us"].as_i64().unwrap(),
        answer["window"]["end_us"].as_i64().unwrap(),
    )
}

fn count(conn: &Connection, sql: &str, run: Option<i64>, (start, end): (i64, i64)) -> i64 {
    conn.query_row(
        sql,
        named_params! {":run": run, ":start": start, ":end": end},
        |r| r.get(0),
    )
    .unwrap()
}

/// The run ids of every run, plus `None` for all runs.
fn scopes(conn: &Connection) -> Vec<Option<i64>> {
    let mut stmt = conn.prepare("SELECT id FROM runs ORDER BY id").unwrap();
    let ids: Vec<i64> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    ids.into_iter().map(Some).chain([None]).collect()
}

/// `query system|metrics|alerts` for one run (or all) against the raw rows,
/// recomputed here with the test's own SQL.
fn check_scoped_answers(db: &Path, conn: &Connection, run: Option<i64>) {
    let run_arg = run.map(|r| r.to_string());
    let mut args: Vec<&str> = Vec::new();
    if let Some(r) = &run_arg {
        args.extend(["--run", r.as_str()]);
    } else {
        // Every run: a window that holds them all.
        args.extend(["--window", "1h"]);
    }
    let ctx = format!("run {run:?}");

    let mut q = vec!["query", "system"];
    q.extend(&args);
    let system = json_answer(db, &q);
    assert_eq!(system["run_id"].as_i64(), run, "{ctx}");
    let w = window_of(&system);
    let samples = count(
        conn,
        "SELECT count(*) FROM system_samples WHERE (:run IS NULL OR run_id = :run)
           AND sampled_at_us >= :start AND sampled_at_us < :end",
        run,
        w,
    );
    assert_eq!(system["sample_count"].as_i64().unwrap(), samples, "{ctx}");
    assert!(samples > 0, "{ctx}: no samples recorded");
    let peak_rss = count(
        conn,
        "SELECT coalesce(max(process_rss_bytes), 0) FROM system_samples
          WHERE (:run IS NULL OR run_id = :run) AND sampled_at_us >= :start AND sampled_at_us < :end",
        run,
        w,
    );
    assert_eq!(
        system["peak_process_rss_bytes"].as_i64().unwrap(),
        peak_rss,
        "{ctx}"
    );

    let mut q = vec!["query", "alerts"];
    q.extend(&args);
    let alerts = json_answer(db, &q);
    assert_eq!(alerts["run_id"].as_i64(), run, "{ctx}");
    let w = window_of(&alerts);
    let mut got: Vec<i64> = alerts["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    got.sort_unstable();
    let mut stmt = conn
        .prepare(
            "SELECT id FROM alerts WHERE (:run IS NULL OR run_id = :run)
               AND fired_at_us >= :start AND fired_at_us < :end ORDER BY id",
        )
        .unwrap();
    let want: Vec<i64> = stmt
        .query_map(
            named_params! {":run": run, ":start": w.0, ":end": w.1},
            |r| r.get(0),
        )
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(got, want, "{ctx}: alert history");
    // A run whose process died is shown `crashed` by read commands (without
    // writing): its unresolved alerts are no longer firing, nobody watches
    // their conditions.
    let crashed: Vec<String> = json_answer(db, &["query", "runs"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "crashed")
        .map(|r| r["run_id"].as_i64().unwrap().to_string())
        .collect();
    let firing = count(
        conn,
        &format!(
            "SELECT count(*) FROM alerts WHERE (:run IS NULL OR run_id = :run) AND resolved_at_us IS NULL
               AND run_id NOT IN ({}) AND :start <= :end",
            if crashed.is_empty() { "-1".to_string() } else { crashed.join(",") }
        ),
        run,
        w,
    );
    assert_eq!(
        alerts["firing"].as_array().unwrap().len() as i64,
        firing,
        "{ctx}"
    );

    let mut q = vec!["query", "metrics"];
    q.extend(&args);
    let metrics = json_answer(db, &q);
    assert_eq!(metrics["run_id"].as_i64(), run, "{ctx}");
    let w = window_of(&metrics);
    let observations: i64 = ["counters", "gauges", "histograms"]
        .iter()
        .map(|k| metrics[k].as_array().unwrap().len() as i64)
        .sum();
    let series = count(
        conn,
        "SELECT count(*) FROM (SELECT DISTINCT name, labels_json, metric_type FROM custom_metrics
          WHERE (:run IS NULL OR run_id = :run) AND recorded_at_us >= :start AND recorded_at_us < :end)",
        run,
        w,
    );
    assert_eq!(observations, series, "{ctx}: custom metric series");
    for h in metrics["histograms"].as_array().unwrap() {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM custom_metrics WHERE (:run IS NULL OR run_id = :run)
                   AND name = :name AND labels_json = :labels AND metric_type = 'histogram'
                   AND recorded_at_us >= :start AND recorded_at_us < :end",
                named_params! {
                    ":run": run,
                    ":name": h["name"].as_str().unwrap(),
                    ":labels": serde_json::to_string(&h["labels"]).unwrap(),
                    ":start": w.0,
                    ":end": w.1,
                },
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(h["count"].as_i64().unwrap(), n, "{ctx}: {h}");
    }
}

/// The latest record of any kind a run wrote, µs.
fn latest_record(conn: &Connection, run: i64) -> i64 {
    conn.query_row(
        "SELECT max(t) FROM (
            SELECT max(created_at_us) AS t FROM workflows WHERE run_id = :run
            UNION ALL SELECT max(ended_at_us) FROM workflows WHERE run_id = :run
            UNION ALL SELECT max(e.dispatched_at_us) FROM events e JOIN workflows w ON w.id = e.workflow_id WHERE w.run_id = :run
            UNION ALL SELECT max(e.finished_at_us) FROM events e JOIN workflows w ON w.id = e.workflow_id WHERE w.run_id = :run
            UNION ALL SELECT max(sampled_at_us) FROM system_samples WHERE run_id = :run
            UNION ALL SELECT max(recorded_at_us) FROM custom_metrics WHERE run_id = :run
            UNION ALL SELECT max(fired_at_us) FROM alerts WHERE run_id = :run
            UNION ALL SELECT max(resolved_at_us) FROM alerts WHERE run_id = :run)",
        named_params! {":run": run},
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn two_processes_at_once_and_a_killed_run_keep_their_own_rows() {
    let db = temp_db();
    let config = fast_config(db.dir.path());
    // Two real processes recording into one file at the same time: the
    // demo (custom metrics, alerts, samples) and a load test (samples,
    // alerts).
    let demo = multiagents(&db.path)
        .args(["--config", config.to_str().unwrap(), "demo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let load = load_test(&db.path, &config, "3s")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ok(load.wait_with_output().unwrap());
    ok(demo.wait_with_output().unwrap());

    // A third run, killed with SIGKILL while it records.
    let mut killed = load_test(&db.path, &config, "60s")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let conn = Connection::open(&db.path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let killed_run = loop {
        assert!(Instant::now() < deadline, "the third run recorded nothing");
        std::thread::sleep(Duration::from_millis(200));
        let run: Option<i64> = conn
            .query_row(
                "SELECT max(id) FROM runs WHERE id > 2 AND EXISTS
                   (SELECT 1 FROM system_samples WHERE run_id = runs.id)
                 AND (SELECT count(*) FROM workflows WHERE run_id = runs.id AND ended_at_us IS NOT NULL) > 20",
                [],
                |r| r.get(0),
            )
            .optional()
            .unwrap()
            .flatten();
        if let Some(run) = run {
            break run;
        }
    };
    // Let it idle into a few more samples, then kill it.
    std::thread::sleep(Duration::from_millis(700));
    killed.kill().unwrap();
    killed.wait().unwrap();

    // Both concurrent runs wrote while the other did.
    let overlap: i64 = conn
        .query_row(
            "SELECT count(*) FROM system_samples s1 JOIN runs r2 ON r2.id <> s1.run_id AND r2.id <= 2
              WHERE s1.run_id <= 2 AND s1.sampled_at_us BETWEEN r2.started_at_us AND r2.ended_at_us",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(overlap > 0, "the two runs did not record at the same time");

    for run in scopes(&conn) {
        check_scoped_answers(&db.path, &conn, run);
    }

    // The killed run spans to its latest record of any kind, and
    // `query events --run` counts every event it finished.
    let last = latest_record(&conn, killed_run);
    let run_arg = killed_run.to_string();
    let events = json_answer(&db.path, &["query", "events", "--run", &run_arg]);
    assert_eq!(window_of(&events).1, last + 1, "killed run's span");
    let finished: i64 = conn
        .query_row(
            "SELECT count(*) FROM events e JOIN workflows w ON w.id = e.workflow_id
              WHERE w.run_id = ?1 AND e.finished_at_us IS NOT NULL",
            [killed_run],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(events["total_events"].as_i64().unwrap(), finished);
    // Its samples after its last workflow are inside its span too.
    let system = json_answer(&db.path, &["query", "system", "--run", &run_arg]);
    let samples: i64 = conn
        .query_row(
            "SELECT count(*) FROM system_samples WHERE run_id = ?1",
            [killed_run],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(system["sample_count"].as_i64().unwrap(), samples);
}

#[test]
fn the_documented_stage_lookup_uses_indexes_and_matches_the_trace() {
    let db = temp_db();
    let (store, writer) = open(&db.path);
    for i in 0..50 {
        for r in workflow_records(&writer, 3, 1_700_000_000_000_000 + i * 1_000) {
            writer.blocking_record(r).unwrap();
        }
    }
    writer.blocking_flush().unwrap();
    let conn = Connection::open(&db.path).unwrap();
    let tx: String = conn
        .query_row(
            "SELECT transaction_id FROM workflows ORDER BY id LIMIT 1 OFFSET 17",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let lookup = "SELECT * FROM event_stages WHERE transaction_id = :tx ORDER BY at_us";
    let plan: Vec<String> = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {lookup}"))
        .unwrap()
        .query_map(named_params! {":tx": tx}, |r| r.get(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // Every table is reached through an index; the only scan is of the view's
    // own (already filtered) rows.
    let scans: Vec<&String> = plan
        .iter()
        .filter(|l| l.starts_with("SCAN") && !l.contains("event_stages"))
        .collect();
    assert!(scans.is_empty(), "full scans: {scans:?}\n{plan:#?}");
    assert!(
        plan.iter().any(|l| l.contains("workflows_by_transaction")),
        "{plan:#?}"
    );
    // The events of the workflow: a range of event_rows' primary key.
    assert!(
        plan.iter()
            .any(|l| l.contains("event_rows")
                && l.contains("INTEGER PRIMARY KEY (rowid>? AND rowid<?)")),
        "{plan:#?}"
    );
    // Same stages as `query trace`.
    let rows: Vec<(String, i64)> = conn
        .prepare(lookup)
        .unwrap()
        .query_map(named_params! {":tx": tx}, |r| {
            Ok((r.get("stage")?, r.get("at_us")?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let trace =
        multiagents::monitor::event::transaction_trace(&store.reader().unwrap(), &tx).unwrap();
    let mut want: Vec<(String, i64)> = trace.into_iter().map(|s| (s.stage, s.at_us)).collect();
    let mut got = rows;
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(got.len(), 3 + 3 * 4);
    writer.blocking_shutdown().unwrap();
}

#[test]
fn a_version_1_file_upgrades_with_the_same_stages_and_run_indexes() {
    let db = temp_db();
    {
        let conn = Connection::open(&db.path).unwrap();
        conn.execute_batch(multiagents::sql::migrations::M0001_INITIAL)
            .unwrap();
        conn.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO runs (id, started_at_us, ended_at_us, command, config_json, version, host)
               VALUES (1, 1000, 9000, 'old', '{}', '0.1.0', 'h');
             INSERT INTO workers (id, name) VALUES (1, 'w');
             INSERT INTO workflows (id, transaction_id, run_id, workflow_name, state, created_at_us,
                                    started_at_us, ended_at_us, input_size_bytes)
               VALUES (1099511627776, 'tx-1', 1, 'wf', 'completed', 1000, 1001, 1500, 3);
             INSERT INTO events (id, workflow_id, event_type, step, worker_id, attempt, status,
                                 dispatched_at_us, picked_up_at_us, processing_at_us, finished_at_us,
                                 duration_us, payload_size_bytes)
               VALUES (1099511627777, 1099511627776, 'command', 's', 1, 1, 'completed',
                       1100, 1101, 1102, 1400, 298, 5);
             INSERT INTO system_samples (run_id, sampled_at_us, cpu_usage_percent, memory_usage_percent,
                 memory_used_bytes, memory_total_bytes, load_avg_1m, load_avg_5m, load_avg_15m,
                 process_cpu_percent, process_rss_bytes, active_connections, active_workflows)
               VALUES (1, 2000, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);",
        )
        .unwrap();
    }
    let stages = |conn: &Connection| -> Vec<(String, Option<i64>, String, String, i64)> {
        conn.prepare(
            "SELECT transaction_id, event_id, event_type, stage, at_us FROM event_stages
              WHERE transaction_id = 'tx-1' ORDER BY at_us, stage",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    let before = stages(&Connection::open(&db.path).unwrap());
    assert_eq!(before.len(), 7);
    // A read command refuses it untouched (read commands never migrate);
    // `multiagents upgrade` (or any recording command) migrates it.
    let bytes = std::fs::read(&db.path).unwrap();
    let refused = multiagents::store::Store::open_existing(&db.path).unwrap_err();
    assert!(
        matches!(
            refused,
            multiagents::store::StoreError::OlderSchema { found: 1, .. }
        ),
        "{refused}"
    );
    assert_eq!(std::fs::read(&db.path).unwrap(), bytes);
    let (from, to) = multiagents::store::Store::upgrade(&db.path).unwrap();
    assert_eq!(from, 1);
    assert!(to >= 2);
    let conn = Connection::open(&db.path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert!(version >= 2);
    assert_eq!(stages(&conn), before);
    for index in [
        "system_samples_by_run",
        "custom_metrics_by_run",
        "alerts_by_run",
    ] {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?1",
                [index],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "{index}");
    }
    let system = json_answer(&db.path, &["query", "system", "--run", "1"]);
    assert_eq!(system["sample_count"], 1);
}

#[test]
fn a_version_3_file_upgrades_to_rollups_per_run_with_watermarks() {
    let db = temp_db();
    let minute = 1_700_000_040_000_000_i64; // a minute start
    {
        let conn = Connection::open(&db.path).unwrap();
        conn.execute_batch(multiagents::sql::migrations::M0001_INITIAL)
            .unwrap();
        conn.execute_batch(multiagents::sql::migrations::M0002_RUN_INDEXES_AND_STAGE_VIEW)
            .unwrap();
        conn.execute_batch(multiagents::sql::migrations::M0003_RUN_LIFECYCLE)
            .unwrap();
        // Run 1 alone in its minutes, with one raw event left of the three
        // its rollups counted (retention deleted two before this version
        // kept watermarks); runs 2 and 3 overlapping in a later minute.
        conn.execute_batch(&format!(
            "PRAGMA user_version = 3;
             INSERT INTO runs (id, started_at_us, ended_at_us, command, config_json, version, host)
               VALUES (1, {m}, {m} + 100000000, 'a', '{{}}', '0.1.0', 'h'),
                      (2, {m} + 600000000, {m} + 700000000, 'b', '{{}}', '0.1.0', 'h'),
                      (3, {m} + 610000000, {m} + 690000000, 'c', '{{}}', '0.1.0', 'h');
             INSERT INTO workers (id, name) VALUES (1, 'w');
             INSERT INTO workflows (id, transaction_id, run_id, workflow_name, state, created_at_us,
                                    started_at_us, ended_at_us, input_size_bytes)
               VALUES (1099511627776, 'tx-1', 1, 'wf', 'completed', {m} + 70000000,
                       {m} + 70000001, {m} + 70500000, 3);
             INSERT INTO events (id, workflow_id, event_type, step, worker_id, attempt, status,
                                 dispatched_at_us, picked_up_at_us, processing_at_us, finished_at_us,
                                 duration_us, payload_size_bytes)
               VALUES (1099511627777, 1099511627776, 'command', 's', 1, 1, 'completed',
                       {m} + 70000010, {m} + 70000011, {m} + 70000012, {m} + 70400000, 399988, 5);
             INSERT INTO worker_minute_rollups (worker_id, event_type, minute_us, completed,
                                                duration_sum_us, latency_sum_us)
               VALUES (1, 'command', {m}, 2, 20, 30),
                      (1, 'command', {m} + 60000000, 1, 399988, 399990),
                      (1, 'command', {m} + 600000000, 5, 50, 60);
             INSERT INTO worker_minute_histogram (worker_id, minute_us, le_ms, count)
               VALUES (1, {m}, 1, 2), (1, {m} + 60000000, 500, 1), (1, {m} + 600000000, 1, 5);
             INSERT INTO workflow_minute_rollups (workflow_name, minute_us, completed)
               VALUES ('wf', {m}, 2), ('wf', {m} + 60000000, 1);",
            m = minute
        ))
        .unwrap();
    }
    let (from, to) = multiagents::store::Store::upgrade(&db.path).unwrap();
    assert_eq!(from, 3);
    assert!(to >= 4);
    let conn = Connection::open(&db.path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert!(version >= 3);
    let owners: Vec<(i64, i64, i64)> = conn
        .prepare(
            "SELECT minute_us, run_id, completed FROM worker_minute_rollups ORDER BY minute_us",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        owners,
        [
            (minute, 1, 2),
            (minute + 60_000_000, 1, 1),
            // Two runs overlapped this minute: unattributed.
            (minute + 600_000_000, 0, 5)
        ]
    );
    // The raw event's latency was backfilled into the latency histogram.
    let latency: Vec<(i64, i64, i64)> = conn
        .prepare("SELECT run_id, le_ms, count FROM event_minute_latency_histogram")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(latency, [(1, 500, 1)]);
    // Run 1's rollups count 3 events, its raw rows 1: a watermark at its
    // earliest remaining event, and answers from rollups before it.
    let mark: i64 = conn
        .query_row(
            "SELECT deleted_before_us FROM retention_watermarks WHERE run_id = 1 AND kind = 'traces'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(mark, minute + 70_400_000);
    let events = json_answer(&db.path, &["query", "events", "--run", "1"]);
    assert_eq!(events["total_events"], 3);
    assert_eq!(events["source"], "rollups");
    // Every run: the unattributed minute counts too.
    let all = json_answer(
        &db.path,
        &[
            "query",
            "events",
            "--window",
            "1h",
            "--until",
            "2023-11-14T23:00:00Z",
        ],
    );
    assert_eq!(all["total_events"], 8);
}
