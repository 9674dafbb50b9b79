//! Load-tests a program's own workflow with the library's load tester: the
//! scheduler, report and thresholds of `multiagents load-test`, on an
//! `order_processing` workflow defined here (validate → charge → ship, the
//! charge failing with a card error for one order in 50).
//!
//! The rate ramps k6-style (0 → 40/s over 2 s, 40/s for 2 s, down to 0
//! over 1 s); the thresholds decide the exit code (1 when one broke):
//!
//! ```sh
//! cargo run --release --example load_test_own_workflow -- [orders.db]
//! ```
//!
//! It needs no feature of the crate: the load tester, the store and the
//! runtime are all in the embeddable library.

use std::time::Duration;

use multiagents::config::MonitoringConfig;
use multiagents::loadtest::{
    LoadTarget, LoadTestOptions, Stage, parse_threshold, run_load_test_on,
};
use multiagents::session::Session;
use multiagents::store::RunInfo;
use multiagents::worker::{Context, WorkerError, WorkerRegistry};
use multiagents::workflow::WorkflowBuilder;
use serde_json::json;

fn workers() -> WorkerRegistry {
    let mut workers = WorkerRegistry::new();
    workers.register("validate_order", |ctx: Context| async move {
        tokio::time::sleep(Duration::from_millis(2)).await;
        Ok(json!({ "valid": ctx.get_i64("order").is_some() }))
    });
    workers.register("charge_card", |ctx: Context| async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        match ctx.get_i64("order") {
            Some(order) if order % 50 == 49 => {
                Err(WorkerError::new("CardDeclined: insufficient funds"))
            }
            _ => Ok(json!({ "charged": true })),
        }
    });
    workers.register("ship_order", |_ctx: Context| async move {
        tokio::time::sleep(Duration::from_millis(3)).await;
        Ok(json!({ "shipped": true }))
    });
    workers
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = match std::env::args().nth(1) {
        Some(path) => std::path::PathBuf::from(path),
        None => dir.path().join("orders.db"),
    };
    let config = MonitoringConfig::default();
    let run = RunInfo::from_env(config.to_json().to_string());
    let session = Session::start(&db, config, workers(), run).await?;
    session.orchestrator().register_workflow(
        WorkflowBuilder::new("order_processing")
            .step("validate", "validate_order")
            .step("charge", "charge_card")
            .step("ship", "ship_order")
            .build()?,
    )?;

    let target = LoadTarget::new().workflow("order_processing", 1, |k| json!({ "order": k }));
    let stage = |ms: u64, target: f64| Stage {
        duration: Duration::from_millis(ms),
        target,
    };
    let thresholds = [
        "order_processing:p99<2s",
        "success>=0.95",
        "error_rate<0.05",
    ]
    .iter()
    .map(|t| parse_threshold(t).map_err(anyhow::Error::msg))
    .collect::<anyhow::Result<Vec<_>>>()?;
    let options = LoadTestOptions {
        stages: vec![stage(2000, 40.0), stage(2000, 40.0), stage(1000, 0.0)],
        concurrency: 50,
        thresholds,
        drain_timeout: Duration::from_secs(10),
        ..LoadTestOptions::default()
    };
    let report = run_load_test_on(&session, &target, &options, |_| {}).await?;
    session.shutdown().await?;

    println!(
        "run {}: {} orders started ({:.1}/s), {:.1}% completed, p95 {:.1} ms, p99.9 {:.1} ms",
        report.run_id,
        report.started,
        report.achieved_rps,
        report.success_rate,
        report.latency.p95_ms,
        report.latency.p99_9_ms
    );
    for e in &report.errors {
        println!("  {} × {} ({})", e.count, e.error, e.state);
    }
    for v in &report.thresholds {
        println!("  {}", v.describe());
    }
    if !report.thresholds_passed {
        std::process::exit(1);
    }
    Ok(())
}
