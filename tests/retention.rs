//! Retention through the writer: old rows go in slices, recent ones stay,
//! rollups outlive raw rows, and `multiagents cleanup` reports counts.

mod support;

use multiagents::store::{Record, RetentionCutoffs, SystemSample};
use support::*;

const HOUR_US: i64 = 3_600_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_workflows_events_and_samples_go_recent_ones_and_rollups_stay() {
    let db = temp_db();
    let (_store, writer) = open(&db.path);
    let now = multiagents::clock::now_us();
    let old = now - 5 * HOUR_US;
    // 5,000 old workflows (3 events each) and 100 recent ones.
    for i in 0..5_000 {
        for r in workflow_records(&writer, 3, old + i) {
            writer.record(r).await.unwrap();
        }
    }
    for i in 0..100 {
        for r in workflow_records(&writer, 3, now - 1_000_000 + i) {
            writer.record(r).await.unwrap();
        }
    }
    for t in [old, old + 1, now - 10] {
        writer
            .record(Record::SystemSample(SystemSample {
                sampled_at_us: t,
                ..Default::default()
            }))
            .await
            .unwrap();
    }
    writer.flush().await.unwrap();
    let cutoffs = RetentionCutoffs {
        traces_before_us: Some(now - HOUR_US),
        metrics_before_us: Some(now - HOUR_US),
        rollups_before_us: Some(now - 30 * 24 * HOUR_US),
    };
    let report = writer.run_retention(cutoffs).await.unwrap();
    assert_eq!(report.workflows, 5_000);
    assert_eq!(report.events, 15_000);
    assert_eq!(report.system_samples, 2);
    assert_eq!(report.rollups, 0);
    // Slices of 2,000 rows: several transactions, never one huge delete.
    assert!(report.slices >= 3, "{report:?}");
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    assert_eq!(count(&conn, "SELECT count(*) FROM workflows"), 100);
    assert_eq!(count(&conn, "SELECT count(*) FROM events"), 300);
    assert_eq!(count(&conn, "SELECT count(*) FROM system_samples"), 1);
    // The per-minute rollups still know about all 5,100 workflows.
    assert_eq!(
        count(&conn, "SELECT sum(completed) FROM workflow_minute_rollups"),
        5_100
    );
    assert_eq!(
        count(&conn, "SELECT sum(completed) FROM worker_minute_rollups"),
        15_300
    );
    // A second run finds nothing more to delete.
    let again = writer.run_retention(cutoffs).await.unwrap();
    assert_eq!((again.workflows, again.events), (0, 0));
    writer.shutdown().await.unwrap();
}

#[test]
fn cleanup_deletes_what_is_older_and_prints_counts() {
    let db = temp_db();
    {
        let (_store, writer) = open(&db.path);
        let old = multiagents::clock::now_us() - 3 * HOUR_US;
        for i in 0..10 {
            for r in workflow_records(&writer, 2, old + i) {
                writer.blocking_record(r).unwrap();
            }
        }
        writer.blocking_shutdown().unwrap();
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_multiagents"))
        .arg("--db")
        .arg(&db.path)
        .args(["cleanup", "--older-than", "2h", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["workflows"], 10);
    assert_eq!(report["events"], 20);
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    assert_eq!(count(&conn, "SELECT count(*) FROM workflows"), 0);
    // cleanup on a missing file is an error, and creates nothing.
    let missing = db.dir.path().join("missing.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_multiagents"))
        .arg("--db")
        .arg(&missing)
        .arg("cleanup")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!missing.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retention_tick_deletes_by_the_configured_horizon_at_the_time_it_is_given() {
    use multiagents::config::MonitoringConfig;
    use multiagents::store::retention;

    let db = temp_db();
    let (_store, writer) = open(&db.path);
    let config = MonitoringConfig::default();
    let horizon_us = i64::try_from(config.trace_retention().as_micros()).unwrap();
    let t0 = multiagents::clock::now_us();
    for r in workflow_records(&writer, 3, t0) {
        writer.record(r).await.unwrap();
    }
    writer.flush().await.unwrap();
    // Just inside the horizon: nothing goes.
    let report = retention::tick(&writer, &config, t0 + horizon_us - 1_000_000)
        .await
        .unwrap();
    assert_eq!((report.workflows, report.events), (0, 0), "{report:?}");
    // Just past it: the finished workflow and its events go.
    let report = retention::tick(&writer, &config, t0 + horizon_us + 1_000_000)
        .await
        .unwrap();
    assert_eq!((report.workflows, report.events), (1, 3), "{report:?}");
    writer.shutdown().await.unwrap();
}
