//! `multiagents report` through the built binary on a real recorded run:
//! JSON counts agree with SQL, text has every section, HTML is one
//! self-contained page with every chart, and --out writes atomically; a
//! 20 s run written with controlled times has 20 one-second buckets from
//! its start in all three forms, its alert on the timeline, and a page that
//! fits a phone.

mod export_support;
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use export_support::*;
use multiagents::export::html::CHART_TITLES;
use multiagents::store::{
    AlertFired, EventDispatched, EventFinished, EventOutcome, EventType, Record, WorkflowChanged,
    WorkflowStarted, WorkflowState,
};

fn report(db: &std::path::Path, args: &[&str]) -> std::process::Output {
    binary()
        .arg("--db")
        .arg(db)
        .arg("report")
        .args(args)
        .output()
        .unwrap()
}

fn ok_stdout(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_of_a_run_in_three_formats() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    // Two runs: the report of the first must not count the second.
    let first = record_demo_run(&db, 24).await;
    let second = record_demo_run(&db, 8).await;
    assert!(second > first);

    let conn = rusqlite::Connection::open(&db).unwrap();
    let lo = first << 40;
    let hi = ((first + 1) << 40) - 1;

    // JSON: counts cross-checked with raw SQL.
    let json: serde_json::Value = serde_json::from_str(&ok_stdout(report(
        &db,
        &["--run", &first.to_string(), "--format", "json"],
    )))
    .unwrap();
    assert_eq!(json["run"]["run_id"], first);
    assert_eq!(
        json["workflows"]["total"],
        count(
            &conn,
            &format!("SELECT count(*) FROM workflows WHERE id BETWEEN {lo} AND {hi}")
        )
    );
    let mut stmt = conn
        .prepare(&format!(
            "SELECT state, count(*) FROM workflows WHERE id BETWEEN {lo} AND {hi} GROUP BY state"
        ))
        .unwrap();
    let by_state: BTreeMap<String, i64> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (state, n) in &by_state {
        assert_eq!(json["workflows"]["by_outcome"][state], *n, "{state}");
    }
    let events = count(
        &conn,
        &format!(
            "SELECT count(*) FROM events WHERE id BETWEEN {lo} AND {hi} AND finished_at_us IS NOT NULL"
        ),
    );
    assert_eq!(json["events"]["total_events"], events);
    let failed = count(
        &conn,
        &format!(
            "SELECT count(*) FROM events WHERE id BETWEEN {lo} AND {hi} AND status IN ('failed', 'timeout')"
        ),
    );
    let errors: u64 = json["error_patterns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["count"].as_u64().unwrap())
        .sum();
    assert_eq!(errors as i64, failed);
    let workers = json["workers"].as_array().unwrap();
    let executions: i64 = workers
        .iter()
        .map(|w| w["total_executions"].as_i64().unwrap())
        .sum();
    assert_eq!(executions, events);
    for w in workers {
        assert!(w["p50_duration_ms"].as_f64().unwrap() <= w["p95_duration_ms"].as_f64().unwrap());
        assert!(w["p95_duration_ms"].as_f64().unwrap() <= w["p99_duration_ms"].as_f64().unwrap());
        assert!(w["health"].is_string());
        // The histogram of each worker holds all its executions.
        let name = w["worker"].as_str().unwrap();
        let in_histogram: u64 = json["duration_histograms"][name]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["count"].as_u64().unwrap())
            .sum();
        assert_eq!(
            in_histogram,
            w["total_executions"].as_u64().unwrap(),
            "{name}"
        );
    }
    let per_minute: u64 = json["throughput"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            ["completed", "failed", "timeout", "cancelled"]
                .iter()
                .map(|k| m[k].as_u64().unwrap())
                .sum::<u64>()
        })
        .sum();
    assert_eq!(per_minute as i64, events);
    assert!(json["system"]["sample_count"].as_i64().unwrap() >= 1);
    assert!(!json["system_series"].as_array().unwrap().is_empty());

    // `latest` is the second run.
    let latest: serde_json::Value =
        serde_json::from_str(&ok_stdout(report(&db, &["--format", "json"]))).unwrap();
    assert_eq!(latest["run"]["run_id"], second);
    assert_eq!(latest["workflows"]["total"], 8);

    // Text: every section and every worker.
    let text = ok_stdout(report(&db, &["--run", &first.to_string()]));
    for needle in [
        "Workflows",
        "Workers",
        "Error patterns",
        "Alerts",
        "System",
        "Over time",
        "fast_processor",
        "slow_processor",
        "simple_monitoring",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }

    // HTML into a file: self-contained, with every chart.
    let path = dir.path().join("report.html");
    let out = report(
        &db,
        &[
            "--run",
            &first.to_string(),
            "--format",
            "html",
            "--out",
            path.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.matches("<svg").count() >= 4, "charts missing");
    for title in CHART_TITLES {
        assert!(html.contains(title), "{title} missing");
    }
    for reference in ["http://", "https://"] {
        for (i, _) in html.match_indices(reference) {
            let before = &html[i.saturating_sub(8)..i];
            assert!(
                before.contains("xmlns"),
                "external reference at {i}: {}",
                &html[i.saturating_sub(40)..(i + 60).min(html.len())]
            );
        }
    }
    assert!(!html.contains("<script"));
    assert!(!html.contains("<link"));
    assert!(!html.contains("src="));
    // No temporary files left next to it.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n == "report.html" || n.starts_with("m.db")),
        "{names:?}"
    );
    // A new report is private, like the database.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_leaves_no_file_and_an_unknown_run_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    record_demo_run(&db, 4).await;

    let missing_dir = dir.path().join("no-such-dir").join("r.html");
    let out = report(
        &db,
        &["--format", "html", "--out", missing_dir.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(!missing_dir.exists());

    // An existing file is replaced only with --force, then whole, keeping
    // its permissions.
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.path().join("r.json");
    std::fs::write(&path, "old").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = report(&db, &["--format", "json", "--out", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(&path).unwrap(), b"old");
    let out = report(
        &db,
        &[
            "--format",
            "json",
            "--out",
            path.to_str().unwrap(),
            "--force",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);

    let out = report(&db, &["--run", "999"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("999"), "{stderr}");
}

const SECOND: i64 = 1_000_000;

/// Writes one run whose 40 workflows end over its first 20 seconds (two a
/// second, at .25 s and .75 s), each with one execution of 200 ms event
/// latency (every fifth failed) and a workflow latency of 100 + 10 i ms,
/// and an alert 12 s in; its recorded end is set 20 s after its start (the
/// times lie in the future when written: a run that lasted 20 s without
/// waiting 20 s). Returns the run id and its start.
fn write_20_second_run(path: &std::path::Path) -> (i64, i64) {
    let (store, writer) = support::open(path);
    let run_id = writer.run_id();
    let start: i64 = {
        let conn = store.reader().unwrap();
        conn.query_row(
            "SELECT started_at_us FROM runs WHERE id = ?1",
            [run_id],
            |r| r.get(0),
        )
        .unwrap()
    };
    let name: Arc<str> = Arc::from("wf");
    let worker: Arc<str> = Arc::from("w");
    for i in 0..40i64 {
        let id = writer.next_id();
        let end = start + i * SECOND / 2 + SECOND / 4;
        let created = end - (100 + 10 * i) * 1000;
        let eid = writer.next_id();
        let dispatched = end - 200_000;
        let outcome = if i % 5 == 0 {
            EventOutcome::Failed
        } else {
            EventOutcome::Completed
        };
        for record in [
            Record::WorkflowStarted(WorkflowStarted {
                id,
                transaction_id: Arc::from(support::uuid_like(id)),
                workflow_name: Arc::clone(&name),
                created_at_us: created,
                started_at_us: created,
                input_size_bytes: 1,
            }),
            Record::EventDispatched(EventDispatched {
                id: eid,
                workflow_id: id,
                event_type: EventType::Command,
                step: Arc::from("only"),
                worker: Arc::clone(&worker),
                attempt: 1,
                dispatched_at_us: dispatched,
                payload_size_bytes: 1,
            }),
            Record::EventFinished(EventFinished {
                id: eid,
                outcome,
                picked_up_at_us: Some(dispatched),
                processing_at_us: Some(dispatched),
                finished_at_us: end,
                duration_us: 200_000,
                result_size_bytes: None,
                error_type: (outcome == EventOutcome::Failed).then(|| "Boom".to_string()),
                error_message: None,
                worker: Arc::clone(&worker),
                event_type: EventType::Command,
                dispatched_at_us: dispatched,
                payload_size_bytes: 1,
                host: None,
            }),
            Record::WorkflowChanged(WorkflowChanged {
                id,
                state: if outcome == EventOutcome::Failed {
                    WorkflowState::Failed
                } else {
                    WorkflowState::Completed
                },
                at_us: end,
                current_step: None,
                error: None,
                workflow_name: Arc::clone(&name),
                created_at_us: created,
            }),
        ] {
            writer.blocking_record(record).unwrap();
        }
    }
    writer
        .blocking_record(Record::AlertFired(AlertFired {
            id: writer.next_id(),
            alert_type: "high_error_rate".to_string(),
            subject: "w".to_string(),
            severity: "critical".to_string(),
            message: "error rate 20% exceeds the threshold 10%".to_string(),
            value: Some(20.0),
            threshold: Some(10.0),
            fired_at_us: start + 12 * SECOND,
            details_json: "{}".to_string(),
        }))
        .unwrap();
    writer.blocking_shutdown().unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute(
        "UPDATE runs SET ended_at_us = ?1 WHERE id = ?2",
        [start + 20 * SECOND - 1, run_id],
    )
    .unwrap();
    (run_id, start)
}

#[test]
fn a_20_second_run_is_drawn_in_20_one_second_buckets_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let (run_id, start) = write_20_second_run(&db);
    let run = run_id.to_string();

    // JSON: the series, and the workflow latency percentiles.
    let json: serde_json::Value = serde_json::from_str(&ok_stdout(report(
        &db,
        &["--run", &run, "--format", "json"],
    )))
    .unwrap();
    let series = &json["series"];
    assert_eq!(series["bucket_s"], 1.0);
    assert_eq!(series["start_us"], start);
    let buckets = series["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 20);
    for (k, b) in buckets.iter().enumerate() {
        assert_eq!(b["offset_s"].as_f64(), Some(k as f64), "bucket {k}");
        assert_eq!(b["executions"], 2, "bucket {k}");
        assert_eq!(b["workflows_ended"], 2, "bucket {k}");
        assert_eq!(b["p95_latency_ms"], 200.0, "bucket {k}");
    }
    let errors: u64 = buckets.iter().map(|b| b["errors"].as_u64().unwrap()).sum();
    assert_eq!(errors, 8);
    // Workflow latencies 100, 110, … 490 ms: nearest ranks 20, 38 and 40.
    let wf = &json["workflows"]["latency"]["wf"];
    assert_eq!(wf["ended"], 40);
    assert_eq!(wf["p50_latency_ms"], 290.0);
    assert_eq!(wf["p95_latency_ms"], 470.0);
    assert_eq!(wf["p99_latency_ms"], 490.0);
    assert_eq!(json["workflows"]["latency"]["all"]["p99_latency_ms"], 490.0);

    // Text: the same buckets, and the latency columns.
    let text = ok_stdout(report(&db, &["--run", &run]));
    assert!(
        text.contains("Over time: 20 buckets of 1 s from the run's start"),
        "{text}"
    );
    for needle in ["p99 ms", "490.0", "19 s", "200.0"] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }

    // HTML: every time chart's x axis runs from 0 to 20 seconds, the alert
    // is marked 12 s in, the page fits a phone.
    let html = ok_stdout(report(&db, &["--run", &run, "--format", "html"]));
    assert_fits_a_phone(&html);
    let time_charts: Vec<&str> = tags(&html, "svg")
        .into_iter()
        .filter(|t| attr(t, "data-x-unit").is_some())
        .collect();
    assert_eq!(time_charts.len(), 4, "throughput, errors, latency, system");
    for chart in &time_charts {
        assert_eq!(attr(chart, "data-x-min"), Some("0"), "{chart}");
        assert_eq!(attr(chart, "data-x-max"), Some("20"), "{chart}");
        assert_eq!(attr(chart, "data-x-unit"), Some("seconds"), "{chart}");
    }
    assert!(html.contains("seconds since the run started"));
    // On the three charts of events (the system chart has no samples here
    // but carries the markers too).
    assert_eq!(
        html.matches(r#"class="alert-marker" data-at-s="12""#)
            .count(),
        4
    );
    assert!(html.contains("A1: high_error_rate (critical)"));
    // p50/p95/p99 in the workflow table.
    for needle in ["<th>p99 ms</th>", "<td>490.0</td>", "<td>470.0</td>"] {
        assert!(html.contains(needle), "{needle} missing");
    }
}
