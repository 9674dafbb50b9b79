//! Records a monitored run into a database for a while, like a small demo:
//! the seed's demo workers and workflows at a quick time scale, system
//! sampling, health checks and alerts, and a custom counter and gauge.
//!
//! Used to watch `multiagents serve`, `export prometheus` and `report` on a
//! file that another process is writing (see scripts/prometheus_check.sh):
//!
//! ```sh
//! cargo run --release --example record_run -- run.db --seconds 60 --rate 20
//! ```

use std::time::{Duration, Instant};

use multiagents::config::MonitoringConfig;
use multiagents::monitor::custom::Labels;
use multiagents::session::Session;
use multiagents::store::RunInfo;
use multiagents::worker::WorkerRegistry;
use multiagents::workload::{DemoSettings, register_demo_workers, register_demo_workflows};
use serde_json::json;

const WORKFLOWS: [&str; 4] = [
    "simple_monitoring",
    "parallel_monitoring",
    "error_monitoring",
    "cpu_intensive_monitoring",
];

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(db) = args.first().filter(|a| !a.starts_with("--")) else {
        eprintln!("usage: record_run DB [--seconds 20] [--rate 20] [--time-scale 0.05]");
        std::process::exit(2);
    };
    let seconds: f64 = arg(&args, "--seconds", 20.0);
    let rate: f64 = arg(&args, "--rate", 20.0);
    let time_scale: f64 = arg(&args, "--time-scale", 0.05);

    let mut config = MonitoringConfig::default();
    config.metrics_collection.collection_interval_seconds = 1.0;
    config.worker_monitoring.health_check_interval_seconds = 5.0;
    let mut workers = WorkerRegistry::new();
    register_demo_workers(
        &mut workers,
        DemoSettings {
            seed: 42,
            time_scale,
            failure_rate: 0.3,
        },
    );
    let run = RunInfo::from_env(config.to_json().to_string());
    let session = Session::start(db.as_ref(), config, workers, run).await?;
    register_demo_workflows(session.orchestrator())?;
    eprintln!("record_run: run {} writing {db}", session.run_id());

    let started = Instant::now();
    let period = Duration::from_secs_f64(1.0 / rate.max(0.1));
    let mut ids = Vec::new();
    let mut i = 0usize;
    while started.elapsed().as_secs_f64() < seconds {
        let name = WORKFLOWS[i % WORKFLOWS.len()];
        let id = session
            .orchestrator()
            .execute_workflow(name, json!({ "data": format!("item_{i}") }))
            .await?;
        ids.push(id);
        let labels: Labels = [("workflow".to_string(), name.to_string())].into();
        session
            .custom_metrics()
            .increment_counter("workflows_started", &labels, 1.0)
            .await?;
        i += 1;
        if i.is_multiple_of(10) {
            let done = ids.len() as f64;
            session
                .custom_metrics()
                .set_gauge("workflows_submitted", &Labels::new(), done)
                .await?;
            session.check_alerts().await?;
        }
        tokio::time::sleep(period).await;
    }
    for id in &ids {
        session.orchestrator().wait(id).await?;
    }
    session.check_alerts().await?;
    let run_id = session.run_id();
    session.shutdown().await?;
    eprintln!("record_run: run {run_id} recorded {} workflows", ids.len());
    Ok(())
}
