//! What the figures run: a 3-step workflow of a given worker, started
//! concurrently with a bounded number in flight, every one waited.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use serde_json::json;
use tokio::sync::Semaphore;

use super::BenchResult;
use crate::orchestrator::Orchestrator;
use crate::store::{RunInfo, Store, WorkflowState, Writer, WriterOptions};
use crate::worker::{Context, WorkerRegistry};
use crate::workflow::WorkflowBuilder;

/// Name of the 3-step no-op workflow.
pub(super) const NOOP: &str = "noop3";

/// A registry with one worker, `noop`, that returns `{}` at once.
pub(super) fn noop_workers() -> WorkerRegistry {
    let mut workers = WorkerRegistry::new();
    workers.register("noop", |_ctx: Context| async { Ok(json!({})) });
    workers
}

/// Registers a workflow `name` of three steps, all run by `worker`.
pub(super) fn register_three_steps(
    orch: &Orchestrator,
    name: &str,
    worker: &str,
) -> BenchResult<()> {
    orch.register_workflow(
        WorkflowBuilder::new(name)
            .step("a", worker)
            .step("b", worker)
            .step("c", worker)
            .build()?,
    )?;
    Ok(())
}

/// Opens a fresh database for a figure.
pub(super) fn open_store(path: &std::path::Path) -> BenchResult<(Store, Writer)> {
    super::remove_db(path);
    let run = RunInfo {
        command: "multiagents bench".into(),
        config_json: "{}".into(),
    };
    Store::open(path, &run, WriterOptions::default())
        .with_context(|| format!("cannot open {}", path.display()))
}

/// Runs `count` workflows `name`, at most `in_flight` at once, waiting for
/// each one (so, when recording, each is committed). Returns the wall time.
/// Fails if any workflow does not complete.
pub(super) async fn run_workflows(
    orch: &Orchestrator,
    name: &str,
    count: usize,
    in_flight: usize,
    first_index: usize,
) -> BenchResult<Duration> {
    let in_flight = in_flight.max(1);
    let permits = Arc::new(Semaphore::new(in_flight));
    let failures = Arc::new(AtomicUsize::new(0));
    let name: Arc<str> = Arc::from(name);
    let started = Instant::now();
    for i in first_index..first_index + count {
        let permit = Arc::clone(&permits).acquire_owned().await?;
        let orch = orch.clone();
        let failures = Arc::clone(&failures);
        let name = Arc::clone(&name);
        tokio::spawn(async move {
            let done = async {
                let id = orch
                    .execute_workflow(&name, json!({ "data": format!("item{i}") }))
                    .await?;
                let status = orch.wait(&id).await?;
                Ok::<_, anyhow::Error>(status.state)
            }
            .await;
            if !matches!(done, Ok(WorkflowState::Completed))
                && failures.fetch_add(1, Ordering::Relaxed) == 0
            {
                tracing::warn!(outcome = ?done, "a benchmark workflow did not complete");
            }
            drop(permit);
        });
    }
    // Every permit back means every workflow has been waited.
    let all = u32::try_from(in_flight).unwrap_or(u32::MAX);
    let _all = permits.acquire_many(all).await?;
    let elapsed = started.elapsed();
    let failed = failures.load(Ordering::Relaxed);
    ensure!(
        failed == 0,
        "{failed} of {count} benchmark workflows did not complete"
    );
    Ok(elapsed)
}

/// CPU time (user + system, seconds) of this process, or of its threads
/// whose name starts with `thread_prefix`; from `/proc` (Linux), 0 elsewhere.
/// CPU time is far less disturbed by a busy neighbour than wall time, so the
/// figures carry it beside their rates.
pub(super) fn cpu_seconds(thread_prefix: Option<&str>) -> f64 {
    match thread_prefix {
        None => std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| ticks(&s))
            .map_or(0.0, |t| t as f64 / TICKS),
        Some(prefix) => {
            let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
                return 0.0;
            };
            let mut total = 0;
            for task in tasks.flatten() {
                let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
                if comm.trim_end().starts_with(prefix)
                    && let Some(t) = std::fs::read_to_string(task.path().join("stat"))
                        .ok()
                        .and_then(|s| ticks(&s))
                {
                    total += t;
                }
            }
            total as f64 / TICKS
        }
    }
}

/// Clock ticks per second of `/proc`'s CPU times: 100 on every Linux this
/// runs on.
const TICKS: f64 = 100.0;

/// user + system ticks of a `/proc/.../stat` line.
fn ticks(stat: &str) -> Option<u64> {
    // Fields after the parenthesised name: state is field 3; utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// CPU time (user + system, seconds) of another process (a child this
/// harness started), every thread; 0 when it cannot be read.
pub(super) fn process_cpu_seconds(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| ticks(&s))
        .map_or(0.0, |t| t as f64 / TICKS)
}

/// The whole machine's CPU time since boot, seconds summed over its CPUs:
/// (busy, total), from the first line of `/proc/stat`; zeros elsewhere.
/// The difference of two readings says how busy the machine was between
/// them, whoever kept it busy.
pub(super) fn machine_cpu_seconds() -> (f64, f64) {
    let Some(line) = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().next().map(str::to_string))
    else {
        return (0.0, 0.0);
    };
    // cpu user nice system idle iowait irq softirq steal ...
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    (
        total.saturating_sub(idle) as f64 / TICKS,
        total as f64 / TICKS,
    )
}
