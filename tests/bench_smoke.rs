//! Keeps `multiagents bench` working: runs it at its tiny size through the
//! built binary. It asserts that it completes and names each figure, never
//! anything about time.

use std::path::Path;
use std::process::Command;

/// Runs `bench --quick` with `extra` arguments in `dir` and returns its
/// table and its JSON report.
fn quick_bench(dir: &Path, extra: &[&str]) -> (String, serde_json::Value) {
    let json_out = dir.join("bench.json");
    let output = Command::new(env!("CARGO_BIN_EXE_multiagents"))
        .current_dir(dir)
        .args(["bench", "--quick", "--dir"])
        .arg(dir.join("work"))
        .arg("--json-out")
        .arg(&json_out)
        // The query datasets are cached per directory: fresh ones per run.
        .arg("--query-cache-dir")
        .arg(dir.join("cache"))
        .args(extra)
        .output()
        .expect("run multiagents bench");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "bench failed: {}\n{stdout}\n{stderr}",
        output.status
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_out).expect("JSON written"))
            .expect("valid JSON");
    (stdout, report)
}

/// The figure names of a report, in order.
fn names(report: &serde_json::Value) -> Vec<&str> {
    report["figures"]
        .as_array()
        .expect("figures")
        .iter()
        .map(|f| f["name"].as_str().expect("name"))
        .collect()
}

#[test]
fn the_quick_bench_completes_and_prints_every_figure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (stdout, report) = quick_bench(dir.path(), &[]);
    let mut figures: Vec<String> = [
        "memory_growth",
        "workflow_throughput",
        "noop_recording_on_vs_off",
        "recording_overhead",
        "writer_ingest",
        "writer_one_transaction_per_row",
        "retention_max_wait",
        "query_dataset",
    ]
    .map(String::from)
    .to_vec();
    // One query-speed figure per query file, then the whole-hour ones.
    for (file, _) in multiagents::sql::QUERY_FILES {
        figures.push(format!("query_{}", file.trim_end_matches(".sql")));
    }
    for name in [
        "hour_event_metrics",
        "hour_worker_summary",
        "hour_throughput_per_minute",
        // Skipped in --quick (no --duckdb-script), but listed.
        "hour_worker_percentiles_vs_duckdb",
        "hour_event_metrics_vs_duckdb",
        "bytes_per_execution",
        "wal_peak_mib",
        "writer_stall_after_long_reader_ms",
        "scrape_errors",
        "scrape_p50_latency",
        "scrape_p99_latency",
    ] {
        figures.push(name.to_string());
    }
    for name in &figures {
        assert!(stdout.contains(name), "{name} missing from:\n{stdout}");
    }
    assert_eq!(names(&report), figures);
    // The day suite is not part of the default run.
    assert!(!stdout.contains("day_dataset"), "{stdout}");
}

/// `--only day` at its quick size: 40,000 executions over 2 hours (the
/// hour's density), with the 1-hour file beside it.
#[test]
fn the_quick_day_suite_completes_and_prints_every_figure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (stdout, report) = quick_bench(dir.path(), &["--only", "day"]);
    let mut figures: Vec<String> = [
        "day_dataset",
        "day_ingest_at_20m",
        "day_worker_summary",
        "day_event_metrics",
        "day_report_json",
    ]
    .map(String::from)
    .to_vec();
    for (file, _) in multiagents::sql::QUERY_FILES {
        figures.push(format!("day_query_{}", file.trim_end_matches(".sql")));
    }
    for name in &figures {
        assert!(stdout.contains(name), "{name} missing from:\n{stdout}");
    }
    assert_eq!(names(&report), figures);
    let day = &report["figures"][0]["details"];
    assert_eq!(day["spec"]["hours"], 2);
    assert!(day["summary"]["executions"].as_u64().expect("executions") >= 40_000);
    assert!(day["size_bytes"].as_u64().expect("size") > 0);
    // Every percentile was checked against the raw rows.
    for f in &report["figures"].as_array().expect("figures")[2..5] {
        assert!(
            f["details"]["accuracy"]["max_relative_error"].is_number(),
            "{f}"
        );
    }
}

/// `--only distributed` at its quick size: its own redis-server, two
/// `multiagents worker` processes, 1,000 no-op workflows each way and 40
/// light-load steps. Every figure is named; with redis-server both hosts
/// ran steps, and the latencies were read from the recorded rows.
#[test]
fn the_quick_distributed_suite_completes_and_names_every_figure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (stdout, report) = quick_bench(dir.path(), &["--only", "distributed"]);
    let figures = [
        "distributed_throughput",
        "distributed_vs_in_process",
        "remote_step_added_latency_p50",
        "remote_step_added_latency_p99",
    ];
    for name in figures {
        assert!(stdout.contains(name), "{name} missing from:\n{stdout}");
    }
    assert_eq!(names(&report), figures);
    let throughput = &report["figures"][0]["details"];
    if let Some(why) = throughput["skipped"].as_str() {
        // CI installs redis-server (.ci/run); a local run without it says so.
        eprintln!("SKIPPED the distributed figures: {why}");
        assert!(why.contains("redis-server not found"), "{why}");
        return;
    }
    let per_host = throughput["executions_per_host"]
        .as_object()
        .expect("executions per host");
    assert_eq!(per_host.len(), 2, "{per_host:?}");
    for (host, executions) in per_host {
        assert!(
            executions.as_u64().expect("a count") > 0,
            "{host} ran nothing"
        );
    }
    let total: u64 = per_host.values().filter_map(|v| v.as_u64()).sum();
    // 1,000 workflows and a warm-up of 100, three steps each.
    assert_eq!(total, 3 * 1_100);
    assert!(
        throughput["in_process_workflows_per_s"]
            .as_f64()
            .expect("rate")
            > 0.0
    );
    let latency = &report["figures"][2]["details"];
    assert_eq!(latency["remote"]["events"], 40);
    assert_eq!(latency["in_process"]["events"], 40);
}
