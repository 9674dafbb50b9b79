//! `multiagents load-test` through the built binary: a short no-op load is
//! recorded as a run of its own with every start in the database; bad
//! options are refused before any file is created.
//!
//! No timing is asserted (the machine is shared and noisy): the achieved
//! rate is printed.

mod support;

use std::process::Command;

use serde_json::Value;
use support::*;

fn multiagents() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_multiagents"));
    cmd.env_remove("MULTIAGENTS_DB")
        .env_remove("MULTIAGENTS_CONFIG");
    cmd
}

#[test]
fn a_noop_load_test_reports_and_records_every_request() {
    let db = temp_db();
    let out = multiagents()
        .arg("--db")
        .arg(&db.path)
        .args([
            "load-test",
            "--duration",
            "3s",
            "--rps",
            "50",
            "--mix",
            "noop",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    // stderr is not a terminal here: no progress bar is drawn.
    assert!(!stderr.contains("in flight"), "stderr: {stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON report");
    let total = report["total_requests"].as_u64().unwrap();
    assert!(total > 0, "{report:#}");
    let achieved = report["achieved_rps"].as_f64().unwrap();
    assert!(achieved > 0.0);
    assert_eq!(report["target_rps"].as_f64(), Some(50.0));
    assert_eq!(report["mix"], serde_json::json!(["noop"]));
    for key in ["p50_ms", "p95_ms", "p99_ms"] {
        assert!(report["latency"][key].is_number(), "{key}: {report:#}");
    }
    assert!(report["peak_throughput_per_minute"].as_u64().unwrap() > 0);
    assert!(report["target_missed"].is_array());
    println!(
        "load-test 3s at 50/s (noop): {total} requests, achieved {achieved:.2}/s, p95 {:.2} ms, missed: {}",
        report["latency"]["p95_ms"], report["target_missed"]
    );

    let run_id = report["run_id"].as_i64().unwrap();
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    let recorded: i64 = conn
        .query_row(
            "SELECT count(*) FROM workflows WHERE run_id = ?1",
            [run_id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(recorded as u64, total);
    let finished = report["finished"].as_u64().unwrap() + report["unfinished"].as_u64().unwrap();
    assert_eq!(finished, total);
    let ended: Option<i64> = conn
        .query_row(
            "SELECT ended_at_us FROM runs WHERE id = ?1",
            [run_id],
            |r| r.get(0),
        )
        .unwrap();
    assert!(ended.is_some(), "the run is closed cleanly");
}

#[test]
fn the_table_report_states_the_achieved_rate() {
    let db = temp_db();
    let out = multiagents()
        .arg("--db")
        .arg(&db.path)
        .args([
            "load-test",
            "--duration",
            "1s",
            "--rps",
            "20",
            "--mix",
            "noop,error",
            "--time-scale",
            "0.01",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "total requests",
        "achieved rate",
        "success rate",
        "p95",
        "peak throughput",
        "error_monitoring",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    assert!(
        text.contains("target rate reached")
            || text.contains("target rate not reached")
            || text.contains("starts were delayed"),
        "{text}"
    );
}

#[test]
fn bad_options_exit_2_without_creating_the_database() {
    for args in [
        &["--rps", "0"][..],
        &["--concurrency", "0"],
        &["--mix", "noop,bogus"],
        &["--mix", ""],
        &["--duration", "0s"],
        &["--duration", "soon"],
        &["--time-scale", "-1"],
    ] {
        let db = temp_db();
        let out = multiagents()
            .arg("--db")
            .arg(&db.path)
            .arg("load-test")
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.is_empty(), "{args:?}: an error message");
        assert!(!db.path.exists(), "{args:?} created the database");
    }
    // The message names what was wrong.
    let db = temp_db();
    let out = multiagents()
        .arg("--db")
        .arg(&db.path)
        .args(["load-test", "--mix", "simple,bogus"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"bogus\""));
}
