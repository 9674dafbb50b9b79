//! Memory: steady RSS while a few and while many recorded no-op workflows
//! have run in one process. VmRSS is sampled every few milliseconds during
//! the last `window` workflows of the small phase and during the last
//! `window` of the large phase (equal-length windows, the same work in
//! each), and the figure compares the medians: a transient peak (a burst of
//! in-flight futures, a batch being built) no longer decides it, growth
//! that stays does. The peaks (VmHWM, reset first through
//! `/proc/self/clear_refs`) are kept in the details. This suite runs
//! before the others, so earlier figures do not inflate it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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

/// How often the sampler reads VmRSS.
const SAMPLE_EVERY: Duration = Duration::from_millis(2);

/// VmRSS read every [`SAMPLE_EVERY`] on a thread of its own until stopped.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<u64>>,
}

impl Sampler {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            loop {
                // At least one sample, and one after the stop request, so
                // even a window shorter than the period has two.
                let stopping = flag.load(Ordering::Relaxed);
                if let Some(r) = read_rss() {
                    samples.push(r.rss_bytes);
                }
                if stopping {
                    return samples;
                }
                std::thread::sleep(SAMPLE_EVERY);
            }
        });
        Sampler { stop, thread }
    }

    fn finish(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// Median, mean, min and max of samples, MiB.
fn steady(samples: &[u64]) -> serde_json::Value {
    let mut v: Vec<f64> = samples.iter().map(|&b| mib(b)).collect();
    v.sort_by(f64::total_cmp);
    json!({
        "samples": v.len(),
        "median_mib": median(&v),
        "mean_mib": v.iter().sum::<f64>() / v.len().max(1) as f64,
        "min_mib": v.first(),
        "max_mib": v.last(),
    })
}

fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn median_mib(samples: &[u64]) -> f64 {
    let mut v: Vec<f64> = samples.iter().map(|&b| mib(b)).collect();
    v.sort_by(f64::total_cmp);
    median(&v)
}

pub(super) async fn measure(
    options: &BenchOptions,
    progress: Progress<'_>,
) -> BenchResult<Vec<Figure>> {
    let small = options.memory_baseline_workflows.max(2);
    let large = options.memory_workflows.max(small * 2);
    // The sampled windows: the last half of the small phase, and as many
    // workflows at the end of the large one.
    let window = small / 2;
    let reset = reset_peak();
    let at_start = read_rss();
    let path = options.db_path("memory");
    let (store, writer) = open_store(&path)?;
    let orch = Orchestrator::with_store(noop_workers(), store, writer.clone());
    register_three_steps(&orch, NOOP, "noop")?;
    let started = Instant::now();
    progress(&format!(
        "  {small} no-op workflows, recorded (RSS sampled over the last {window})"
    ));
    run_workflows(&orch, NOOP, small - window, options.in_flight, 0).await?;
    let sampler = Sampler::start();
    run_workflows(&orch, NOOP, window, options.in_flight, small - window).await?;
    let small_samples = sampler.finish();
    let after_small = read_rss();
    progress(&format!(
        "  continuing to {large} in the same process (RSS sampled over the last {window})"
    ));
    run_workflows(
        &orch,
        NOOP,
        large - small - window,
        options.in_flight,
        small,
    )
    .await?;
    let sampler = Sampler::start();
    run_workflows(&orch, NOOP, window, options.in_flight, large - window).await?;
    let large_samples = sampler.finish();
    let after_large = read_rss();
    let elapsed = started.elapsed();
    writer.shutdown().await?;
    drop(orch);
    super::remove_db(&path);
    let (Some(a), Some(b)) = (after_small, after_large) else {
        bail!("cannot read /proc/self/status: memory is measured on Linux only");
    };
    if small_samples.is_empty() || large_samples.is_empty() {
        bail!("no RSS samples: memory is measured on Linux only");
    }
    Ok(vec![Figure::new(
        "memory_growth",
        &format!(
            "median RSS (sampled every {} ms) over the last {window} of {large} vs the last {window} of {small} recorded no-op workflows, one process",
            SAMPLE_EVERY.as_millis()
        ),
        median_mib(&large_samples),
        "MiB",
        Some((
            median_mib(&small_samples),
            &format!("last {window} of {small}"),
        )),
        Goal::RatioAtMost { max: 1.10 },
        json!({
            "window_workflows": window,
            "sample_every_ms": SAMPLE_EVERY.as_millis(),
            "steady_small": steady(&small_samples),
            "steady_large": steady(&large_samples),
            "peak_ratio": mib(b.peak_bytes) / mib(a.peak_bytes).max(1e-9),
            "peak_reset": reset,
            "at_start": at_start,
            "after_small": a,
            "after_large": b,
            "small_workflows": small,
            "large_workflows": large,
            "in_flight": options.in_flight,
            "elapsed_s": elapsed.as_secs_f64(),
        }),
    )])
}
