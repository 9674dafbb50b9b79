//! Recording overhead on the seed's fast workload: a 3-step workflow of
//! `fast_processor` (10-50 ms per step at time scale 1.0), a bounded number
//! in flight, recording on vs off in the same run. The two sides alternate
//! in two rounds each so that a noisy neighbour hurts both alike, and both
//! draw the same durations (same seed, fresh workers per side).

use super::BenchResult;
use std::time::Duration;

use serde_json::json;

use super::workload::{open_store, register_three_steps, run_workflows};
use super::{BenchOptions, Figure, Goal, Progress, per_s};
use crate::orchestrator::Orchestrator;
use crate::worker::WorkerRegistry;
use crate::workload::{DemoSettings, register_demo_workers};

const FAST: &str = "fast3";

fn fast_workers(options: &BenchOptions) -> WorkerRegistry {
    let mut workers = WorkerRegistry::new();
    register_demo_workers(
        &mut workers,
        DemoSettings {
            time_scale: options.overhead_time_scale,
            ..DemoSettings::default()
        },
    );
    workers
}

async fn one_side(options: &BenchOptions, record: bool, count: usize) -> BenchResult<Duration> {
    let n = options.overhead_in_flight;
    if record {
        let path = options.db_path("overhead");
        let (store, writer) = open_store(&path)?;
        let orch = Orchestrator::with_store(fast_workers(options), store, writer.clone());
        register_three_steps(&orch, FAST, "fast_processor")?;
        let elapsed = run_workflows(&orch, FAST, count, n, 0).await?;
        writer.shutdown().await?;
        super::remove_db(&path);
        Ok(elapsed)
    } else {
        let orch = Orchestrator::new(fast_workers(options));
        register_three_steps(&orch, FAST, "fast_processor")?;
        run_workflows(&orch, FAST, count, n, 0).await
    }
}

pub(super) async fn measure(
    options: &BenchOptions,
    progress: Progress<'_>,
) -> BenchResult<Vec<Figure>> {
    const ROUNDS: usize = 2;
    let per_round = (options.overhead_workflows / ROUNDS).max(1);
    let mut on = Duration::ZERO;
    let mut off = Duration::ZERO;
    for round in 1..=ROUNDS {
        progress(&format!(
            "  round {round}/{ROUNDS}: {per_round} fast workflows, {} in flight, recording on, then off",
            options.overhead_in_flight
        ));
        on += one_side(options, true, per_round).await?;
        off += one_side(options, false, per_round).await?;
    }
    let total = per_round * ROUNDS;
    let on_rate = per_s(total, on);
    let off_rate = per_s(total, off);
    Ok(vec![Figure::new(
        "recording_overhead",
        "fast_processor 3-step workflows/s recorded vs not (seed's fast workload)",
        on_rate,
        "workflows/s",
        Some((off_rate, "recording off")),
        Goal::RatioAtLeast { min: 0.95 },
        json!({
            "workflows_per_side": total,
            "in_flight": options.overhead_in_flight,
            "time_scale": options.overhead_time_scale,
            "rounds": ROUNDS,
            "off_workflows_per_s": off_rate,
        }),
    )])
}
