//! The last gaps of issue 11, on real files through the built binary (and
//! the real HTTP endpoint): a run emptied by retention is still counted by
//! `query runs` (from the rollups, and it says so), the dashboard says where
//! its figures come from, `report` shows how a run ended, and `export
//! prometheus --run`, `/health` and `dashboard --run` look at a run without
//! an end (still going, or dead) at its latest record, not at "now".

mod support;

use std::io::{Read as _, Write as _};
use std::path::Path;

use rusqlite::Connection;
use serde_json::Value;
use support::cli::*;
use support::*;

const MINUTE: i64 = 60_000_000;

fn json(db: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&stdout(db, args)).expect("one JSON document")
}

/// Records `count` workflows of the seed's workers created over `spread`
/// starting at `t0` (in the past), through the real writer, and moves the
/// run's start back to `t0` (a run starts before what it records). Returns
/// the run id.
fn record_past_run(db: &Path, seed: u64, count: usize, t0: i64, spread: i64) -> i64 {
    let (_store, writer) = open(db);
    let data = support::dataset::generate(&writer, seed, count, 0, t0, spread);
    support::dataset::write(&writer, &data);
    writer.blocking_shutdown().unwrap();
    let conn = Connection::open(db).unwrap();
    conn.execute(
        "UPDATE runs SET started_at_us = ?1 WHERE id = ?2",
        rusqlite::params![t0, data.run_id],
    )
    .unwrap();
    data.run_id
}

/// The latest record of a run: workflow and event timestamps (the test's
/// own SQL; no samples, metrics or alerts were recorded).
fn last_record(conn: &Connection, run: i64) -> i64 {
    conn.query_row(
        "SELECT max((SELECT max(max(created_at_us, coalesce(ended_at_us, 0))) FROM workflows WHERE run_id = ?1),
                    (SELECT max(max(dispatched_at_us, coalesce(finished_at_us, 0))) FROM events
                      WHERE id >> 40 = ?1))",
        [run],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn a_run_emptied_by_retention_is_counted_from_the_rollups_and_says_so() {
    let db = temp_db();
    let now = multiagents::clock::now_us();
    let run = record_past_run(&db.path, 5, 60, now - 3 * 60 * MINUTE, 5 * MINUTE);
    let conn = Connection::open(&db.path).unwrap();
    let recorded = count(&conn, "SELECT count(*) FROM workflows");
    let events = count(
        &conn,
        "SELECT count(*) FROM events WHERE finished_at_us IS NOT NULL",
    );
    assert_eq!(recorded, 60);

    // Before retention: raw rows, nothing to say.
    let listed = json(&db.path, &["query", "runs", "--format", "json"]);
    assert_eq!(listed[0]["run_id"], run);
    assert_eq!(listed[0]["workflows"], 60);
    assert_eq!(listed[0]["source"], "raw");
    assert_eq!(listed[0]["workflows_from_rollups"], 0);
    assert_eq!(listed[0]["notes"], serde_json::json!([]));
    let table = stdout(&db.path, &["query", "runs"]);
    assert!(!table.contains("retention"), "{table}");
    let dash = stdout(
        &db.path,
        &["dashboard", "--once", "--run", "latest", "--window", "4h"],
    );
    assert!(dash.contains("Source: raw rows.\n"), "{dash}");

    // A real cleanup deletes every raw workflow of the run.
    ok(multiagents(&db.path)
        .args(["cleanup", "--older-than", "1h"])
        .output()
        .unwrap());
    assert_eq!(count(&conn, "SELECT count(*) FROM workflows"), 0);

    let listed = json(&db.path, &["query", "runs", "--format", "json"]);
    let r = &listed[0];
    assert_eq!(r["run_id"], run);
    assert_eq!(r["workflows"], 60, "{r}");
    assert_eq!(r["workflows_from_rollups"], 60, "{r}");
    assert_eq!(r["source"], "rollups", "{r}");
    let notes = r["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().contains("deleted by retention")),
        "{r}"
    );
    let table = stdout(&db.path, &["query", "runs"]);
    assert!(
        table.contains(&format!("Run {run}: workflows from the rollups.")),
        "{table}"
    );

    // The dashboard reads the events from the rollups and says so.
    let snap = json(
        &db.path,
        &[
            "dashboard",
            "--once",
            "--run",
            "latest",
            "--window",
            "4h",
            "--format",
            "json",
        ],
    );
    assert_eq!(snap["events"]["total"], events, "{snap}");
    assert_eq!(snap["provenance"]["source"], "raw+rollups", "{snap}");
    let dash = stdout(
        &db.path,
        &["dashboard", "--once", "--run", "latest", "--window", "4h"],
    );
    assert!(
        dash.contains("Source: raw rows and rollups. raw rows before"),
        "{dash}"
    );

    // The run completed: the report says so.
    let report = json(
        &db.path,
        &["report", "--run", &run.to_string(), "--format", "json"],
    );
    assert_eq!(report["run"]["status"], "completed");
    assert_eq!(report["run"]["end_reason"], "ended normally");
    let text = stdout(&db.path, &["report", "--run", &run.to_string()]);
    assert!(
        text.contains("\nstatus: completed (ended normally)\n"),
        "{text}"
    );
}

/// A run whose process on another host fell silent two hours ago: open in
/// the file (no end), judged dead by its stale heartbeat.
fn dead_run(db: &Path) -> (i64, i64) {
    let t0 = multiagents::clock::now_us() - 2 * 60 * MINUTE;
    let run = record_past_run(db, 9, 40, t0, 3 * MINUTE);
    let conn = Connection::open(db).unwrap();
    let last = last_record(&conn, run);
    conn.execute(
        "UPDATE runs SET status = 'running', ended_at_us = NULL, end_reason = NULL,
                         host = 'another-host', heartbeat_at_us = ?1
          WHERE id = ?2",
        rusqlite::params![last, run],
    )
    .unwrap();
    (run, last)
}

#[test]
fn a_dead_run_is_reported_crashed_and_looked_at_its_latest_record() {
    let db = temp_db();
    let (run, last) = dead_run(&db.path);
    let id = run.to_string();
    let conn = Connection::open(&db.path).unwrap();
    let finished = count(
        &conn,
        "SELECT count(*) FROM events WHERE finished_at_us IS NOT NULL",
    );
    assert!(finished > 0);

    // report: the status and why.
    let report = json(&db.path, &["report", "--run", &id, "--format", "json"]);
    assert_eq!(report["run"]["status"], "crashed", "{}", report["run"]);
    assert!(report["run"]["unfinished"].as_bool().unwrap());
    let why = report["run"]["end_reason"].as_str().unwrap();
    assert!(
        why.contains("no sign of life from host another-host"),
        "{why}"
    );
    let text = stdout(&db.path, &["report", "--run", &id]);
    assert!(
        text.contains("\nstatus: crashed (no sign of life from host another-host"),
        "{text}"
    );
    let html = stdout(&db.path, &["report", "--run", &id, "--format", "html"]);
    assert!(
        html.contains("status: crashed (no sign of life from host another-host"),
        "{html}"
    );

    // export prometheus --run: the rate window ends at the run's latest
    // record, so it holds the run's events (ending now it would be empty).
    let text = stdout(
        &db.path,
        &["export", "prometheus", "--run", &id, "--window", "10m"],
    );
    let window_events: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("multiagents_window_events "))
        .unwrap_or_else(|| panic!("no multiagents_window_events\n{text}"))
        .trim()
        .parse()
        .unwrap();
    assert_eq!(window_events, finished as f64, "{text}");

    // dashboard --run: anchored there too.
    let snap = json(
        &db.path,
        &[
            "dashboard",
            "--once",
            "--run",
            &id,
            "--window",
            "10m",
            "--format",
            "json",
        ],
    );
    assert_eq!(snap["events"]["total"], finished, "{snap}");
    assert_eq!(
        snap["generated_at"],
        multiagents::clock::format_iso(last + 1)
    );

    // GET /health of the real endpoint: health judged at the latest record.
    let health = serve_health(&db.path, run);
    let workers = health.as_object().unwrap();
    assert!(!workers.is_empty(), "{health}");
    for (name, h) in workers {
        assert_eq!(h["evaluated_at_us"], last + 1, "{name}: {h}");
    }
    assert_ne!(health["fast_processor"]["status"], "inactive", "{health}");

    // Nothing was written: the run is still open, judged dead on reading.
    let status: String = conn
        .query_row("SELECT status FROM runs WHERE id = ?1", [run], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "running");
}

/// `GET /health` of `serve --run RUN`, served by the library on loopback.
fn serve_health(db: &Path, run: i64) -> Value {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = multiagents::store::Store::open_existing(db).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let options = multiagents::export::http::ServeOptions {
            window: std::time::Duration::from_secs(600),
            run: Some(multiagents::runs::RunSelector::Id(run)),
            thresholds: multiagents::monitor::HealthThresholds::default(),
            refresh: std::time::Duration::ZERO,
            // Whatever the workers' health, a 200: this test reads the body.
            unhealthy_on: Vec::new(),
            ..multiagents::export::http::ServeOptions::new(store)
        };
        let server = tokio::spawn(multiagents::export::http::serve(
            listener,
            options,
            async move {
                let _ = stopped.await;
            },
        ));
        let body = tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            write!(
                stream,
                "GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).unwrap();
            let (head, body) = response.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            body.to_string()
        })
        .await
        .unwrap();
        let _ = stop.send(());
        server.await.unwrap().unwrap();
        let report: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        // Every worker's health is under `workers`, beside the overall status.
        report["workers"].clone()
    })
}
