//! `multiagents load-test` through the built binary: a short no-op load is
//! recorded as a run of its own with every start in the database; bad
//! options are refused before any file is created; thresholds set the exit
//! code; `-n` starts exactly that many workflows; a ramp's stages show in
//! its per-second series.
//!
//! No timing is asserted (the machine is shared and noisy): the achieved
//! rate is printed, and a ramp is checked by comparing its stages' mean
//! rates, not by their values.

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
fn a_noop_load_test_reports_and_records_every_workflow() {
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
    let total = report["started"].as_u64().unwrap();
    assert!(total > 0, "{report:#}");
    let achieved = report["achieved_rps"].as_f64().unwrap();
    assert!(achieved > 0.0);
    assert_eq!(report["target_rps"].as_f64(), Some(50.0));
    assert_eq!(report["mix"], serde_json::json!(["noop"]));
    for key in ["p50_ms", "p90_ms", "p95_ms", "p99_ms", "p99_9_ms", "max_ms"] {
        assert!(report["latency"][key].is_number(), "{key}: {report:#}");
    }
    assert!(report["peak_throughput_per_minute"].as_u64().unwrap() > 0);
    assert!(report["target_missed"].is_array());
    println!(
        "load-test 3s at 50/s (noop): {total} workflows, achieved {achieved:.2}/s, p95 {:.2} ms, missed: {}",
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
        "workflows started",
        "achieved rate",
        "success rate",
        "p95",
        "peak throughput",
        "error_monitoring",
        "p99.9",
        "latency histogram",
        "did not complete",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    // Workflows, not requests.
    assert!(!text.to_lowercase().contains("request"), "{text}");
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

/// `multiagents --db DB load-test ARGS…` with a quick no-op mix.
fn noop_load(db: &std::path::Path, args: &[&str]) -> std::process::Output {
    multiagents()
        .arg("--db")
        .arg(db)
        .args(["load-test", "--mix", "noop"])
        .args(args)
        .output()
        .unwrap()
}

fn json_report(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn a_broken_threshold_exits_1_with_the_verdict() {
    let db = temp_db();
    // No latency is below 0: p95<0ms breaks whatever the machine does;
    // success>=0 holds whatever it does.
    let thresholds = ["--threshold", "p95<0ms", "--threshold", "success>=0"];
    let out = noop_load(
        &db.path,
        &[
            &["-n", "20", "--rps", "50", "--format", "json"][..],
            &thresholds,
        ]
        .concat(),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_report(&out);
    assert_eq!(report["thresholds_passed"], false);
    let verdicts = report["thresholds"].as_array().unwrap();
    assert_eq!(verdicts.len(), 2);
    assert_eq!(verdicts[0]["threshold"]["expression"], "p95<0ms");
    assert_eq!(verdicts[0]["passed"], false);
    let measured = verdicts[0]["measured"].as_f64().unwrap();
    assert_eq!(measured, report["latency"]["p95_ms"].as_f64().unwrap());
    assert_eq!(verdicts[1]["passed"], true);
    assert_eq!(verdicts[1]["measured"].as_f64(), Some(1.0));

    // The table says which broke, with what was measured.
    let db = temp_db();
    let out = noop_load(
        &db.path,
        &[&["-n", "20", "--rps", "50"][..], &thresholds].concat(),
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "thresholds",
        "p95<0ms",
        "FAIL",
        "success>=0",
        "pass",
        "1 of 2 thresholds broken",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
}

#[test]
fn met_thresholds_exit_0_per_workflow_and_overall() {
    let db = temp_db();
    let out = multiagents()
        .arg("--db")
        .arg(&db.path)
        .args([
            "load-test",
            "-n",
            "30",
            "--rps",
            "60",
            "--mix",
            "noop,error",
            "--time-scale",
            "0",
            "--format",
            "json",
            "--threshold",
            "p99.9<1h",
            "--threshold",
            "noop:max<=10m",
            // By the mix's name or the registered one.
            "--threshold",
            "error_monitoring:error_rate<=100%",
            "--threshold",
            "rate>0",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_report(&out);
    assert_eq!(report["thresholds_passed"], true);
    let verdicts = report["thresholds"].as_array().unwrap();
    assert_eq!(verdicts.len(), 4);
    assert!(verdicts.iter().all(|v| v["passed"] == true), "{verdicts:?}");
    assert_eq!(verdicts[1]["threshold"]["workflow"], "noop");
    assert_eq!(verdicts[2]["threshold"]["workflow"], "error_monitoring");
    // Per workflow figures are there for every workflow that ran.
    for name in ["noop", "error_monitoring"] {
        let l = &report["latency_by_workflow"][name];
        assert!(
            l["p99_9_ms"].as_f64().unwrap() >= l["p50_ms"].as_f64().unwrap(),
            "{l}"
        );
    }
}

#[test]
fn bad_thresholds_stages_and_series_exit_2_with_one_line() {
    for (args, part) in [
        (&["--threshold", "p96<1s"][..], "\"p96\""),
        (&["--threshold", "p95<fast"], "\"fast\""),
        (&["--threshold", "p95"], "no comparison"),
        (&["--threshold", "bogus:p95<1s"], "\"bogus\""),
        (&["--threshold", "success>=2"], "\"2\""),
        (&["--stage", "10s"], "DURATION:RATE"),
        (
            &["--stage", "1s:0", "--stage", "2s:0"],
            "nothing would start",
        ),
        (&["--stage", "1s:10", "--rps", "5"], "--rps"),
        (&["-n", "0"], "\"0\""),
        (&["-n", "5", "--duration", "1s"], "--duration"),
        (&["--series", "series.txt"], ".csv or .json"),
    ] {
        let db = temp_db();
        let out = noop_load(&db.path, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(part), "{args:?}: {part} missing: {stderr}");
        if !stderr.starts_with("error:") {
            // Our own messages (clap adds a usage hint to its own).
            assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        }
        assert!(!db.path.exists(), "{args:?} created the database");
    }
}

#[test]
fn the_series_never_overwrites_a_database() {
    let db = temp_db();
    let other = db.dir.path().join("other.csv");
    {
        let conn = rusqlite::Connection::open(&other).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
    }
    let before = std::fs::read(&other).unwrap();
    // Another SQLite file, and the database itself (named so that its
    // extension would do).
    let json_db = db.dir.path().join("recording.json");
    for (database, target) in [(&db.path, &other), (&json_db, &json_db)] {
        let out = noop_load(database, &["-n", "3", "--series", target.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("refusing"), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
    assert_eq!(std::fs::read(&other).unwrap(), before);
    assert!(!db.path.exists() && !json_db.exists());
}

#[test]
fn dash_n_starts_exactly_that_many_workflows() {
    let db = temp_db();
    let series = db.dir.path().join("series.json");
    let out = noop_load(
        &db.path,
        &[
            "-n",
            "500",
            "--rps",
            "250",
            "--format",
            "json",
            "--series",
            series.to_str().unwrap(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_report(&out);
    assert_eq!(report["started"], 500);
    assert_eq!(report["workflows_requested"], 500);
    assert_eq!(
        report["finished"].as_u64().unwrap() + report["unfinished"].as_u64().unwrap(),
        500
    );
    let run_id = report["run_id"].as_i64().unwrap();
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    let rows: i64 = conn
        .query_row(
            "SELECT count(*) FROM workflows WHERE run_id = ?1",
            [run_id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 500);
    // The report's latencies are the recorded ones: the same nearest-rank
    // p95 over the database's created → ended.
    let mut latencies: Vec<i64> = conn
        .prepare("SELECT ended_at_us - created_at_us FROM workflows WHERE run_id = ?1 AND ended_at_us IS NOT NULL ORDER BY 1")
        .unwrap()
        .query_map([run_id], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    latencies.sort_unstable();
    let rank = (95 * latencies.len()).div_ceil(100);
    assert_eq!(
        report["latency"]["p95_ms"].as_f64().unwrap(),
        latencies[rank - 1] as f64 / 1000.0
    );
    // The series counts every start once.
    let points: Vec<Value> = serde_json::from_slice(&std::fs::read(&series).unwrap()).unwrap();
    let started: u64 = points.iter().map(|p| p["started"].as_u64().unwrap()).sum();
    assert_eq!(started, 500);
    for key in [
        "second",
        "completed",
        "failed",
        "p50_ms",
        "p95_ms",
        "in_flight",
    ] {
        assert!(points[0].get(key).is_some(), "{key}: {:?}", points[0]);
    }

    // The table says so too.
    let db = temp_db();
    let out = noop_load(&db.path, &["-n", "37", "--rps", "200"]);
    let text = support::cli::ok(out);
    let line = text
        .lines()
        .find(|l| l.contains("workflows started"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains(" 37 "), "{line}");
    assert!(text.contains("37 workflows at"), "{text}");
}

#[test]
fn a_ramp_follows_its_stages_in_the_series() {
    let db = temp_db();
    let series = db.dir.path().join("ramp.csv");
    // 3 s at 10/s, then a jump to 60/s for 3 s.
    let out = noop_load(
        &db.path,
        &[
            "--stage",
            "0s:10",
            "--stage",
            "3s:10",
            "--ramp",
            "0s:60",
            "--stage",
            "3s:60",
            "--format",
            "json",
            "--series",
            series.to_str().unwrap(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_report(&out);
    assert_eq!(report["stages"].as_array().unwrap().len(), 4);
    // The mean target: (30 + 180) / 6.
    assert_eq!(report["target_rps"].as_f64(), Some(35.0));
    let text = std::fs::read_to_string(&series).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    let started: f64 = rows.iter().map(|r| r[col("started")]).sum();
    assert_eq!(started as u64, report["started"].as_u64().unwrap());
    let mean = |from: usize, to: usize| {
        rows[from..to]
            .iter()
            .map(|r| r[col("started")])
            .sum::<f64>()
            / (to - from) as f64
    };
    let (low, high) = (mean(0, 3), mean(3, 6));
    println!("ramp: {low:.1}/s in the low stage, {high:.1}/s in the high one");
    assert_eq!(rows[1][col("target_rate")], 10.0);
    assert_eq!(rows[4][col("target_rate")], 60.0);
    // Loosely: the high stage started clearly more (60 vs 10 asked).
    assert!(high > 2.0 * low, "low {low}, high {high}");
}
