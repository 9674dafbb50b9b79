//! Workflow throughput: no-op 3-step workflows per second with everything
//! recorded (each workflow waited, so committed), and the same with
//! recording off, in the same run.

use super::BenchResult;
use serde_json::json;

use super::workload::{
    NOOP, cpu_seconds, noop_workers, open_store, register_three_steps, run_workflows,
};
use super::{BenchOptions, DOCUMENTED_PEER_WORKFLOWS_PER_S, Figure, Goal, Progress, per_s};
use crate::orchestrator::Orchestrator;

/// The goal: this many times the Python original's throughput.
pub const GOAL_TIMES_PEER: f64 = 300.0;

/// Recorded no-op throughput (workflows/s) and the writer's statistics.
pub(super) async fn recorded(
    options: &BenchOptions,
    count: usize,
) -> BenchResult<(f64, serde_json::Value)> {
    let path = options.db_path("throughput");
    let (store, writer) = open_store(&path)?;
    let orch = Orchestrator::with_store(noop_workers(), store, writer.clone());
    register_three_steps(&orch, NOOP, "noop")?;
    let cpu_before = cpu_seconds(None);
    let writer_cpu_before = cpu_seconds(Some("multiagents-wri"));
    let elapsed = run_workflows(&orch, NOOP, count, options.in_flight, 0).await?;
    let cpu = cpu_seconds(None) - cpu_before;
    let writer_cpu = cpu_seconds(Some("multiagents-wri")) - writer_cpu_before;
    let stats = writer.stats();
    writer.shutdown().await?;
    let db_bytes = std::fs::metadata(&path).map_or(0, |m| m.len())
        + std::fs::metadata(path.with_extension("db-wal")).map_or(0, |m| m.len());
    super::remove_db(&path);
    let details = json!({
        "workflows": count,
        "in_flight": options.in_flight,
        "elapsed_s": elapsed.as_secs_f64(),
        "writer": stats,
        "writer_busy_percent": 100.0 * stats.busy_us as f64 / (elapsed.as_micros() as f64).max(1.0),
        "records_per_batch": stats.records_committed as f64 / (stats.batches_committed as f64).max(1.0),
        "cpu_us_per_workflow": cpu * 1e6 / count.max(1) as f64,
        "writer_cpu_us_per_workflow": writer_cpu * 1e6 / count.max(1) as f64,
        "db_bytes_per_workflow": db_bytes as f64 / count.max(1) as f64,
    });
    Ok((per_s(count, elapsed), details))
}

/// No-op throughput with recording off (workflows/s).
pub(super) async fn unrecorded(options: &BenchOptions, count: usize) -> BenchResult<(f64, f64)> {
    let orch = Orchestrator::new(noop_workers());
    register_three_steps(&orch, NOOP, "noop")?;
    let cpu_before = cpu_seconds(None);
    let elapsed = run_workflows(&orch, NOOP, count, options.in_flight, 0).await?;
    let cpu = cpu_seconds(None) - cpu_before;
    Ok((per_s(count, elapsed), cpu * 1e6 / count.max(1) as f64))
}

pub(super) async fn measure(
    options: &BenchOptions,
    progress: Progress<'_>,
) -> BenchResult<Vec<Figure>> {
    let n = options.workflows;
    progress(&format!("  {n} no-op workflows, recording on"));
    let (on, details) = recorded(options, n).await?;
    progress(&format!("  {n} no-op workflows, recording off"));
    let (off, off_cpu_us) = unrecorded(options, n).await?;
    let (peer, peer_label) = match &options.peer {
        Some(p) => (p.workflows_per_s, "peer (Python original), measured"),
        None => (
            DOCUMENTED_PEER_WORKFLOWS_PER_S,
            "peer (Python original), documented; --peer measures it",
        ),
    };
    Ok(vec![
        Figure::new(
            "workflow_throughput",
            "no-op 3-step workflows/s, everything recorded, each waited (committed)",
            on,
            "workflows/s",
            Some((peer, peer_label)),
            Goal::RatioAtLeast {
                min: GOAL_TIMES_PEER,
            },
            json!({ "recorded": details, "peer": options.peer }),
        ),
        Figure::new(
            "noop_recording_on_vs_off",
            "no-op workflows/s recorded vs recording off (Orchestrator::new), same run",
            on,
            "workflows/s",
            Some((off, "recording off")),
            Goal::None,
            json!({ "workflows": n, "in_flight": options.in_flight, "off_workflows_per_s": off, "off_cpu_us_per_workflow": off_cpu_us }),
        ),
    ])
}
