//! Keeps `multiagents bench` working: runs it at its tiny size through the
//! built binary. It asserts that it completes and names each figure, never
//! anything about time.

use std::process::Command;

#[test]
fn the_quick_bench_completes_and_prints_every_figure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json_out = dir.path().join("bench.json");
    let output = Command::new(env!("CARGO_BIN_EXE_multiagents"))
        .current_dir(dir.path())
        .args(["bench", "--quick", "--dir"])
        .arg(dir.path().join("work"))
        .arg("--json-out")
        .arg(&json_out)
        // The query dataset is cached per directory: a fresh one per run.
        .arg("--query-cache-dir")
        .arg(dir.path().join("cache"))
        .output()
        .expect("run multiagents bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "bench failed: {}\n{stdout}\n{stderr}",
        output.status
    );
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
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_out).expect("JSON written"))
            .expect("valid JSON");
    let names: Vec<&str> = report["figures"]
        .as_array()
        .expect("figures")
        .iter()
        .map(|f| f["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, figures);
}
