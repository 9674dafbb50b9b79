//! `multiagents compare` through the built binary, on runs written through
//! the real writer: a worker whose p95 doubled is flagged (exit 1, named);
//! identical runs are not (exit 0); an unknown run is an error (exit 2);
//! `--format html` draws both runs' series on shared charts and highlights
//! the regressed rows, on a page that fits a phone.

mod export_support;
mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use multiagents::clock;
use multiagents::monitor::RunScope;
use multiagents::monitor::outcomes::workflow_outcomes;
use multiagents::store::{
    EventDispatched, EventFinished, EventOutcome, EventType, Record, WorkflowChanged,
    WorkflowStarted, WorkflowState,
};
use multiagents::window::TimeWindow;
use serde_json::Value;
use support::*;

const WORKFLOWS: i64 = 40;

/// Writes one run: `WORKFLOWS` workflows of two steps, `steady` taking
/// 5–9 ms and `slowing` taking 1.0–1.9 × `slow_base_ms`; returns its id.
///
/// The slower steps lengthen the run's active span only a little (as in a
/// load test, where the start rate sets the span), so throughput holds.
/// Times are real (from now), so they lie within the run's bounds; the
/// pattern relative to the first workflow is the same in every run, so runs
/// with the same `slow_base_ms` have identical figures.
fn write_run(path: &std::path::Path, slow_base_ms: i64) -> i64 {
    let (_store, writer) = open(path);
    let t0 = clock::now_us();
    let name: Arc<str> = Arc::from("pipeline");
    let mut last_us = t0;
    for i in 0..WORKFLOWS {
        let id = writer.next_id();
        // Started at a steady 100 a second, as a load test would.
        let created = t0 + i * 10_000;
        let mut records = vec![Record::WorkflowStarted(WorkflowStarted {
            id,
            transaction_id: Arc::from(uuid_like(id)),
            workflow_name: Arc::clone(&name),
            created_at_us: created,
            started_at_us: created,
            input_size_bytes: 10,
        })];
        let mut at = created;
        for (step, worker, ms) in [
            ("first", "steady", 5 + i % 5),
            (
                "second",
                "slowing",
                slow_base_ms + slow_base_ms * (i % 10) / 10,
            ),
        ] {
            let eid = writer.next_id();
            let worker: Arc<str> = Arc::from(worker);
            let duration_us = ms * 1_000;
            records.push(Record::EventDispatched(EventDispatched {
                id: eid,
                workflow_id: id,
                event_type: EventType::Command,
                step: Arc::from(step),
                worker: Arc::clone(&worker),
                attempt: 1,
                dispatched_at_us: at,
                payload_size_bytes: 5,
            }));
            records.push(Record::EventFinished(EventFinished {
                id: eid,
                outcome: EventOutcome::Completed,
                picked_up_at_us: Some(at + 10),
                processing_at_us: Some(at + 20),
                finished_at_us: at + 20 + duration_us,
                duration_us,
                result_size_bytes: Some(2),
                error_type: None,
                error_message: None,
                worker,
                event_type: EventType::Command,
                dispatched_at_us: at,
                payload_size_bytes: 5,
                host: None,
            }));
            at += 20 + duration_us;
        }
        records.push(Record::WorkflowChanged(WorkflowChanged {
            id,
            state: WorkflowState::Completed,
            at_us: at,
            current_step: None,
            error: None,
            workflow_name: Arc::clone(&name),
            created_at_us: created,
        }));
        last_us = last_us.max(at);
        for r in records {
            writer.blocking_record(r).unwrap();
        }
    }
    // Close the run only after its last recorded time, so that the run's
    // bounds hold everything it recorded.
    let wait_us = (last_us - clock::now_us()).max(0) as u64 + 5_000;
    std::thread::sleep(Duration::from_micros(wait_us));
    let run_id = writer.run_id();
    writer.blocking_shutdown().unwrap();
    run_id
}

fn compare(db: &std::path::Path, base: i64, head: &str, json: bool) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_multiagents"));
    cmd.env_remove("MULTIAGENTS_DB")
        .env_remove("MULTIAGENTS_CONFIG")
        .arg("--db")
        .arg(db)
        .args(["compare", "--base", &base.to_string(), "--head", head]);
    if json {
        cmd.args(["--format", "json"]);
    }
    cmd.output().unwrap()
}

#[test]
fn a_doubled_worker_p95_is_a_regression_and_identical_runs_are_not() {
    let db = temp_db();
    let base = write_run(&db.path, 20);
    let slower = write_run(&db.path, 40);
    let same = write_run(&db.path, 20);

    // The head's p95 of `slowing` is twice the base's.
    let out = compare(&db.path, base, &slower.to_string(), false);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let flagged: Vec<&str> = text.lines().filter(|l| l.contains("REGRESSION")).collect();
    assert!(
        flagged
            .iter()
            .any(|l| l.contains("slowing") && l.contains("p95")),
        "{text}"
    );
    assert!(!flagged.iter().any(|l| l.contains("steady")), "{text}");
    println!("{text}");

    let out = compare(&db.path, base, &slower.to_string(), true);
    assert_eq!(out.status.code(), Some(1));
    let c: Value = serde_json::from_slice(&out.stdout).unwrap();
    let regressions = c["regressions"].as_array().unwrap();
    assert!(
        regressions
            .iter()
            .any(|r| r["kind"] == "worker" && r["name"] == "slowing" && r["metric"] == "p95"),
        "{c:#}"
    );
    let worker = c["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "slowing")
        .unwrap();
    assert_eq!(worker["p95_ratio"].as_f64(), Some(2.0), "{worker:#}");

    // HTML: both runs' series on each chart, from each run's start; the
    // regressed row highlighted.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_multiagents"));
    let out = cmd
        .env_remove("MULTIAGENTS_DB")
        .env_remove("MULTIAGENTS_CONFIG")
        .arg("--db")
        .arg(&db.path)
        .args(["compare", "--base", &base.to_string(), "--head"])
        .arg(slower.to_string())
        .args(["--format", "html"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let html = String::from_utf8(out.stdout).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    export_support::assert_fits_a_phone(&html);
    for title in multiagents::export::compare_html::COMPARE_CHART_TITLES {
        assert!(html.contains(title), "{title} missing");
    }
    let charts = export_support::tags(&html, "svg");
    assert_eq!(charts.len(), 3);
    for chart in &charts {
        assert_eq!(export_support::attr(chart, "data-x-min"), Some("0"));
    }
    for run in [base, slower] {
        let which = if run == base { "base" } else { "head" };
        let group = format!(r#"<g class="series" data-name="{which} run {run}"><path d="M"#);
        assert_eq!(html.matches(&group).count(), 3, "{group} missing");
    }
    let highlighted: Vec<&str> = html
        .split("<tr")
        .filter(|row| row.starts_with(r#" class="regression""#))
        .collect();
    // The worker that slowed, and its workflow; never the steady worker.
    assert!(
        highlighted
            .iter()
            .any(|r| r.contains(">slowing</td>") && r.contains("REGRESSION: p95")),
        "{highlighted:?}"
    );
    assert!(!highlighted.iter().any(|r| r.contains("steady")));
    assert!(!html.contains("<script"));

    // Identical work at the identical pace: nothing to flag.
    let out = compare(&db.path, base, &same.to_string(), false);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("no regressions"), "{text}");

    // `latest` is the last run written.
    let out = compare(&db.path, base, "latest", true);
    assert_eq!(out.status.code(), Some(0));
    let c: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(c["head"]["run"]["run_id"].as_i64(), Some(same));
}

#[test]
fn unknown_runs_and_bad_thresholds_are_errors() {
    let db = temp_db();
    let base = write_run(&db.path, 20);
    let out = compare(&db.path, base, "99", false);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown run id 99"), "{stderr}");

    let out = Command::new(env!("CARGO_BIN_EXE_multiagents"))
        .arg("--db")
        .arg(&db.path)
        .args(["compare", "--base", "1", "--head", "1", "--threshold", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let missing = db.dir.path().join("missing.db");
    let out = compare(&missing, 1, "1", false);
    assert_eq!(out.status.code(), Some(2));
    assert!(!missing.exists(), "compare does not create a database");
}

#[test]
fn workflow_outcomes_are_nearest_rank_per_name_and_overall() {
    let db = temp_db();
    let run = write_run(&db.path, 20);
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    let all = TimeWindow {
        start_us: 0,
        end_us: i64::MAX,
    };
    let outcomes = workflow_outcomes(&conn, all, RunScope::Run(run)).unwrap();
    assert_eq!(outcomes.len(), 2, "{outcomes:#?}");
    assert_eq!(outcomes[0].workflow_name.as_deref(), Some("pipeline"));
    assert_eq!(outcomes[1].workflow_name, None);
    // Latencies in Rust: both steps plus the 20 µs before each.
    let mut latencies: Vec<i64> = (0..WORKFLOWS)
        .map(|i| 20 + (5 + i % 5) * 1_000 + 20 + (20 + 2 * (i % 10)) * 1_000)
        .collect();
    latencies.sort();
    let rank = |p: usize| latencies[(p * latencies.len()).div_ceil(100) - 1] as f64 / 1000.0;
    for o in &outcomes {
        assert_eq!(o.total, WORKFLOWS as u64);
        assert_eq!(o.completed, WORKFLOWS as u64);
        assert_eq!(o.success_rate, 100.0);
        assert_eq!(o.p50_latency_ms, rank(50));
        assert_eq!(o.p95_latency_ms, rank(95));
        assert_eq!(o.p99_latency_ms, rank(99));
        assert_eq!(o.max_latency_ms, *latencies.last().unwrap() as f64 / 1000.0);
    }
    // Another run's scope sees none of them.
    assert!(
        workflow_outcomes(&conn, all, RunScope::Run(run + 1))
            .unwrap()
            .is_empty()
    );
}
