//! Readers in other processes while a load test writes at full speed: every
//! `query` subcommand and the dashboard snapshot in a loop for 30 s, with no
//! "database is locked"/"busy" error, and every answer consistent within
//! itself.

mod support;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

fn multiagents(db: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_multiagents"));
    cmd.env_remove("MULTIAGENTS_DB")
        .env_remove("MULTIAGENTS_CONFIG")
        .arg("--db")
        .arg(db);
    cmd
}

fn sum_of(object: &Value) -> i64 {
    object
        .as_object()
        .map_or(0, |o| o.values().filter_map(Value::as_i64).sum())
}

/// Checks one answer; returns a description of any inconsistency.
fn check(question: &str, doc: &Value) -> Option<String> {
    match question {
        "events" => {
            let total = doc["total_events"].as_i64()?;
            (sum_of(&doc["events_by_status"]) != total || sum_of(&doc["events_by_type"]) != total)
                .then(|| format!("events: by status/type do not add up to {total}: {doc}"))
        }
        "workers" => doc["workers"].as_object()?.values().find_map(|w| {
            let parts = [
                "successful_executions",
                "failed_executions",
                "timeout_executions",
                "cancelled_executions",
            ]
            .iter()
            .filter_map(|k| w[*k].as_i64())
            .sum::<i64>();
            (parts != w["total_executions"].as_i64()?)
                .then(|| format!("worker does not add up: {w}"))
        }),
        "dashboard" => {
            let workers: i64 = doc["workers"]
                .as_array()?
                .iter()
                .filter_map(|w| w["commands"].as_i64())
                .sum();
            (doc["events"]["total"].as_i64()? < 0 || workers < 0)
                .then(|| format!("negative: {doc}"))
        }
        _ => None,
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run multiagents")
}

#[test]
fn readers_never_see_busy_errors_and_always_consistent_answers() {
    let db = temp_db();
    // The load test's stderr (throttled warnings about failed steps) goes to a
    // file: a pipe nobody reads fills up and blocks the writer's logging.
    let stderr_path = db.path.with_extension("stderr");
    let stderr_file = std::fs::File::create(&stderr_path).expect("stderr file");
    let mut writer = multiagents(&db.path)
        .args([
            "load-test",
            "--duration",
            "33s",
            "--rps",
            "100000",
            "--concurrency",
            "500",
            "--mix",
            "noop,simple",
        ])
        .args(["--time-scale", "0.01", "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(stderr_file)
        .spawn()
        .expect("start the load test");
    // Wait until the writer has created the file and recorded something.
    let ready = Instant::now();
    while ready.elapsed() < Duration::from_secs(20) {
        if db.path.exists()
            && run(multiagents(&db.path).args(["query", "runs"]))
                .status
                .success()
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let questions: Vec<Vec<&str>> = vec![
        vec!["query", "events", "--window", "1m"],
        vec!["query", "workers", "--window", "1m"],
        vec!["query", "worker", "noop"],
        vec!["query", "health"],
        vec!["query", "errors"],
        vec!["query", "system"],
        vec!["query", "metrics"],
        vec!["query", "alerts"],
        vec!["query", "runs"],
        vec!["dashboard", "--once"],
    ];
    let started = Instant::now();
    let (mut answers, mut busy, mut failures) = (0, 0, Vec::new());
    let mut saw_events = false;
    while started.elapsed() < Duration::from_secs(30) {
        for q in &questions {
            let out = run(multiagents(&db.path).args(q).args(["--format", "json"]));
            let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
            if stderr.contains("locked") || stderr.contains("busy") {
                busy += 1;
            }
            // "unknown worker" is a fair answer before the first noop ends.
            if !out.status.success() && !stderr.contains("unknown worker") {
                failures.push(format!("{q:?}: {stderr}"));
                continue;
            }
            if !out.status.success() {
                continue;
            }
            answers += 1;
            let doc: Value = match serde_json::from_slice(&out.stdout) {
                Ok(doc) => doc,
                Err(e) => {
                    failures.push(format!("{q:?}: not JSON: {e}"));
                    continue;
                }
            };
            let name = if q[0] == "dashboard" {
                "dashboard"
            } else {
                q[1]
            };
            if name == "dashboard" && doc["events"]["total"].as_i64().unwrap_or(0) > 0 {
                saw_events = true;
                for panel in ["events", "workers", "system", "active", "alerts"] {
                    assert!(doc.get(panel).is_some(), "dashboard without {panel}");
                }
            }
            if let Some(problem) = check(name, &doc) {
                failures.push(problem);
            }
        }
    }
    let status = writer.wait().expect("load test ends");
    let mut report = String::new();
    if let Some(mut out) = writer.stdout.take() {
        use std::io::Read;
        let _ = out.read_to_string(&mut report);
    }
    println!(
        "concurrent readers: {answers} answers in 30 s, {busy} busy/locked errors, {} failures",
        failures.len()
    );
    assert!(
        status.success(),
        "load test failed: {report}\n{}",
        std::fs::read_to_string(&stderr_path).unwrap_or_default()
    );
    assert_eq!(busy, 0, "busy/locked errors seen");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(saw_events, "the dashboard never saw the load");
    let report: Value = serde_json::from_str(&report).expect("load test report");
    println!(
        "load test meanwhile: {} requests, {:.0}/s",
        report["started"],
        report["achieved_rps"].as_f64().unwrap_or(0.0)
    );
}
