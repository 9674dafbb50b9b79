//! The library API the way the seed's Python uses it: register workers,
//! build workflows, execute, poll the status, print the trace and the
//! worker figures.
//!
//! ```sh
//! cargo run --release --example monitoring_demo [DB_PATH]
//! ```

use std::time::Duration;

use multiagents::config::MonitoringConfig;
use multiagents::session::Session;
use multiagents::store::RunInfo;
use multiagents::window::TimeWindow;
use multiagents::worker::{Context, WorkerError, WorkerRegistry};
use multiagents::workflow::{RetryPolicy, Step, WorkflowBuilder};
use serde_json::json;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let db = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("multiagents_example.db"));

    // @worker("fast_processor") in the seed.
    let mut workers = WorkerRegistry::new();
    workers.register("fast_processor", |ctx: Context| async move {
        let data = ctx.get_str("data").unwrap_or("").to_string();
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(json!({ "processed": data.to_uppercase(), "worker_type": "fast_processor" }))
    });
    workers.register("flaky_processor", |ctx: Context| async move {
        // Fails on every other input, with the seed's error format.
        if ctx
            .get_str("data")
            .is_some_and(|d| d.ends_with(['1', '3', '5', '7', '9']))
        {
            return Err(WorkerError::new("NetworkError: Connection timeout"));
        }
        Ok(json!({ "success": true }))
    });
    workers.register("undo", |_ctx: Context| async {
        Ok(json!({ "undone": true }))
    });

    let session = Session::start(
        &db,
        MonitoringConfig::default(),
        workers,
        RunInfo::from_env("{}".into()),
    )
    .await?;
    let orchestrator = session.orchestrator();
    orchestrator.register_workflow(
        WorkflowBuilder::new("example")
            .step("prepare", "fast_processor")
            .compensation("undo")
            .parallel([
                Step::new("left", "fast_processor"),
                Step::new("right", "fast_processor"),
            ])
            .then(
                Step::new("risky", "flaky_processor")
                    .retry(RetryPolicy::attempts(2))
                    .timeout(Duration::from_secs(1)),
            )
            .build()?,
    )?;

    // Execute and poll, as the seed's event tracking demo does.
    let transaction_id = orchestrator
        .execute_workflow("example", json!({ "data": "example_0" }))
        .await?;
    loop {
        let status = orchestrator.get_status(&transaction_id)?;
        println!(
            "State: {} | Step: {}",
            status.state,
            status.current_step.as_deref().unwrap_or("-")
        );
        if status.state.is_terminal() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("\nEvent trace of {transaction_id}:");
    for stage in session
        .event_monitor()
        .get_transaction_trace(&transaction_id)?
    {
        println!(
            "  {}: {} -> {}",
            stage.timestamp, stage.event_type, stage.stage
        );
    }

    // A few more, some failing and compensated.
    let mut ids = Vec::new();
    for i in 1..=9 {
        ids.push(
            orchestrator
                .execute_workflow("example", json!({ "data": format!("example_{i}") }))
                .await?,
        );
    }
    for id in &ids {
        let status = orchestrator.wait(id).await?;
        println!("{id}: {}", status.state);
    }
    let perf = session
        .worker_monitor()
        .get_worker_performance("flaky_processor", TimeWindow::last_minutes(5.0))?;
    println!(
        "\nflaky_processor: {} executions, {:.1}% success, p95 {:.1} ms",
        perf.total_executions, perf.success_rate, perf.p95_duration_ms
    );
    session.shutdown().await?;
    println!("\nRecorded in {}", db.display());
    Ok(())
}
