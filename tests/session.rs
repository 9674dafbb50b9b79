//! A whole monitored run: demo workers, background sampling, health checks
//! and alerts, all landing in the file.

mod support;

use multiagents::config::MonitoringConfig;
use multiagents::session::Session;
use multiagents::store::WorkflowState;
use multiagents::worker::WorkerRegistry;
use multiagents::workload::{DemoSettings, register_demo_workers, register_demo_workflows};
use serde_json::json;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_records_workflows_samples_and_alerts() {
    let db = temp_db();
    let mut config = MonitoringConfig::default();
    config.metrics_collection.collection_interval_seconds = 0.2;
    // Long enough that nobody goes inactive during the test. The background
    // check's first tick may come after the workflows on a loaded machine
    // and fire the alerts before the check below does, so what fired is
    // read from the file.
    config.worker_monitoring.health_check_interval_seconds = 30.0;
    let mut workers = WorkerRegistry::new();
    // Always fail the flaky worker, so its alerts must fire.
    register_demo_workers(
        &mut workers,
        DemoSettings {
            seed: 7,
            time_scale: 0.01,
            failure_rate: 1.0,
        },
    );
    let session = Session::start(&db.path, config, workers, run_info())
        .await
        .unwrap();
    register_demo_workflows(session.orchestrator()).unwrap();
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            session
                .orchestrator()
                .execute_workflow(
                    "error_monitoring",
                    json!({ "data": format!("error_test_{i}") }),
                )
                .await
                .unwrap(),
        );
    }
    for id in &ids {
        assert_eq!(
            session.orchestrator().wait(id).await.unwrap().state,
            WorkflowState::Failed
        );
    }
    session.check_alerts().await.unwrap();
    session.writer().flush().await.unwrap();
    let fired: Vec<String> = {
        let conn = rusqlite::Connection::open(&db.path).unwrap();
        let mut stmt = conn
            .prepare("SELECT alert_type FROM alerts WHERE resolved_at_us IS NULL")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert!(fired.contains(&"high_error_rate".to_string()), "{fired:?}");
    assert!(fired.contains(&"worker_failed".to_string()), "{fired:?}");
    // Checking again while the conditions hold changes nothing.
    let changes = session.check_alerts().await.unwrap();
    assert!(changes.is_empty(), "{changes:?}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let perf = session
        .worker_monitor()
        .get_worker_performance(
            "flaky_processor",
            multiagents::window::TimeWindow::last_minutes(5.0),
        )
        .unwrap();
    assert_eq!(perf.total_executions, 20);
    assert_eq!(perf.error_rate, 100.0);
    let run_id = session.run_id();
    session.shutdown().await.unwrap();
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    assert!(count(&conn, "SELECT count(*) FROM system_samples") >= 1);
    for alert_type in ["high_error_rate", "worker_failed"] {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM alerts WHERE alert_type = ?1 AND resolved_at_us IS NOT NULL",
                [alert_type],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            n, 1,
            "{alert_type} fired once, and resolved when the run ended"
        );
    }
    let ended: Option<i64> = conn
        .query_row(
            "SELECT ended_at_us FROM runs WHERE id = ?1",
            [run_id],
            |r| r.get(0),
        )
        .unwrap();
    assert!(ended.is_some());
}
