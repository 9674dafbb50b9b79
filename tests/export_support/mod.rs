//! Helpers of the export tests (tests/prometheus.rs, tests/report.rs): a
//! real monitored run with the demo workers, and running the built binary.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::Path;

use multiagents::config::MonitoringConfig;
use multiagents::session::Session;
use multiagents::store::RunInfo;
use multiagents::worker::WorkerRegistry;
use multiagents::workload::{DemoSettings, register_demo_workers, register_demo_workflows};
use serde_json::json;

pub const WORKFLOWS: [&str; 4] = [
    "simple_monitoring",
    "parallel_monitoring",
    "error_monitoring",
    "cpu_intensive_monitoring",
];

/// A session with the demo workers at 1 % of the seed's timing and system
/// samples every 0.2 s.
pub async fn start_demo_session(db: &Path) -> Session {
    let mut config = MonitoringConfig::default();
    config.metrics_collection.collection_interval_seconds = 0.2;
    config.worker_monitoring.health_check_interval_seconds = 30.0;
    let mut workers = WorkerRegistry::new();
    register_demo_workers(
        &mut workers,
        DemoSettings {
            seed: 11,
            time_scale: 0.01,
            failure_rate: 0.3,
        },
    );
    let run = RunInfo {
        command: "export test".into(),
        config_json: "{}".into(),
    };
    let session = Session::start(db, config, workers, run).await.unwrap();
    register_demo_workflows(session.orchestrator()).unwrap();
    session
}

/// Runs `n` demo workflows (the four kinds in turn) and waits for all.
pub async fn run_workflows(session: &Session, n: usize) {
    let mut ids = Vec::new();
    for i in 0..n {
        let name = WORKFLOWS[i % WORKFLOWS.len()];
        ids.push(
            session
                .orchestrator()
                .execute_workflow(name, json!({ "data": format!("item_{i}") }))
                .await
                .unwrap(),
        );
    }
    for id in &ids {
        session.orchestrator().wait(id).await.unwrap();
    }
}

/// A whole run of `n` demo workflows, ended cleanly; returns its run id.
pub async fn record_demo_run(db: &Path, n: usize) -> i64 {
    let session = start_demo_session(db).await;
    run_workflows(&session, n).await;
    // Let the sampler take a few samples.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    session.check_alerts().await.unwrap();
    let run_id = session.run_id();
    session.shutdown().await.unwrap();
    run_id
}

/// The built `multiagents` binary.
pub fn binary() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_multiagents"))
}

pub fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}
