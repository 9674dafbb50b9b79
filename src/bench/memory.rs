//! Memory: peak RSS after a few and after many recorded no-op workflows in
//! one process. The peak is reset first (`/proc/self/clear_refs`), and this
//! suite runs before the others, so earlier figures do not inflate it.

use anyhow::bail;
use serde_json::json;

use super::workload::{NOOP, noop_workers, open_store, register_three_steps, run_workflows};
use super::{BenchOptions, BenchResult, Figure, Goal, Progress};
use crate::orchestrator::Orchestrator;

/// Resident and peak resident memory of this process, bytes.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Rss {
    /// VmRSS.
    pub rss_bytes: u64,
    /// VmHWM: the peak since start (or since the last reset).
    pub peak_bytes: u64,
}

/// Reads VmRSS and VmHWM from `/proc/self/status` (Linux).
pub fn read_rss() -> Option<Rss> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    };
    Some(Rss {
        rss_bytes: field("VmRSS:")?,
        peak_bytes: field("VmHWM:")?,
    })
}

/// Resets the peak RSS to the current RSS (Linux 4.0+); false if it could not.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

pub(super) async fn measure(
    options: &BenchOptions,
    progress: Progress<'_>,
) -> BenchResult<Vec<Figure>> {
    let small = options.memory_baseline_workflows.max(1);
    let large = options.memory_workflows.max(small);
    let reset = reset_peak();
    let at_start = read_rss();
    let path = options.db_path("memory");
    let (store, writer) = open_store(&path)?;
    let orch = Orchestrator::with_store(noop_workers(), store, writer.clone());
    register_three_steps(&orch, NOOP, "noop")?;
    progress(&format!("  {small} no-op workflows, recorded"));
    let first = run_workflows(&orch, NOOP, small, options.in_flight, 0).await?;
    let after_small = read_rss();
    progress(&format!("  continuing to {large} in the same process"));
    let rest = run_workflows(&orch, NOOP, large - small, options.in_flight, small).await?;
    let after_large = read_rss();
    writer.shutdown().await?;
    drop(orch);
    super::remove_db(&path);
    let (Some(a), Some(b)) = (after_small, after_large) else {
        bail!("cannot read /proc/self/status: memory is measured on Linux only");
    };
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    Ok(vec![Figure::new(
        "memory_growth",
        &format!("peak RSS after {large} vs after {small} recorded no-op workflows, one process"),
        mib(b.peak_bytes),
        "MiB",
        Some((mib(a.peak_bytes), &format!("after {small}"))),
        Goal::RatioAtMost { max: 1.10 },
        json!({
            "peak_reset": reset,
            "at_start": at_start,
            "after_small": a,
            "after_large": b,
            "small_workflows": small,
            "large_workflows": large,
            "in_flight": options.in_flight,
            "elapsed_s": (first + rest).as_secs_f64(),
        }),
    )])
}
