//! `multiagents report` through the built binary on a real recorded run:
//! JSON counts agree with SQL, text has every section, HTML is one
//! self-contained page with every chart, and --out writes atomically.

mod export_support;

use std::collections::BTreeMap;

use export_support::*;
use multiagents::export::html::CHART_TITLES;

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
        "Throughput per minute",
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
