//! Our whole-hour worker percentiles and event metrics beside DuckDB's on
//! the same rows (`hour_worker_percentiles_vs_duckdb`,
//! `hour_event_metrics_vs_duckdb`).
//!
//! The reference is `shared/reference/setup_duckdb_reference.sh DB START_US
//! END_US REPEATS` (with `duckdb_reference.py` beside it): it loads the
//! finished events of the same file into an in-memory DuckDB table (load
//! time not counted) and prints JSON with the median time of the per-worker
//! nearest-rank p50/p95/p99 and of the event metrics (count, statuses, p95
//! latency) over the window, and the answers. Ours is timed like the other
//! query figures (`queries::time_ours`: warm, median of batches).
//! DuckDB's `quantile_disc` is nearest-rank, our definition, so its answers
//! are the exact values our percentiles are checked against.
//!
//! Without the script, Python or DuckDB (the script makes its venv on first
//! use and may fail offline), the figures say skipped and carry no ratio:
//! a missing reference is not a failure of ours.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};
use rusqlite::Connection;
use serde_json::{Value, json};

use super::queries::time_ours;
use super::{BenchOptions, BenchResult, Figure, Goal, Progress};
use crate::monitor::health::HealthThresholds;
use crate::monitor::{RunScope, event, worker};
use crate::window::TimeWindow;

/// The script's path below a directory that holds `shared/`.
const SCRIPT: &str = "shared/reference/setup_duckdb_reference.sh";
/// Our time over DuckDB's, at most.
const RATIO_GOAL: f64 = 1.0;
/// Largest relative error of one of our percentiles against DuckDB's exact
/// one.
const ACCURACY_GOAL: f64 = 0.01;

/// Where the reference script is by default: `shared/reference/...` in the
/// nearest ancestor of the current directory, then of the crate's directory
/// (a worktree sits deeper than the checkout `../shared` is relative to).
pub fn find_script() -> Option<PathBuf> {
    let starts = [
        std::env::current_dir().ok(),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR"))),
    ];
    starts
        .into_iter()
        .flatten()
        .flat_map(|start| {
            start
                .ancestors()
                .map(|dir| dir.join(SCRIPT))
                .collect::<Vec<_>>()
        })
        .find(|candidate| candidate.is_file())
}

/// Runs the script and parses its JSON.
fn run_reference(
    script: &Path,
    db: &Path,
    window: TimeWindow,
    repeats: usize,
) -> BenchResult<Value> {
    if !script.is_file() {
        bail!("{} does not exist", script.display());
    }
    let out = Command::new("bash")
        .arg(script)
        .arg(db)
        .arg(window.start_us.to_string())
        .arg(window.end_us.to_string())
        .arg(repeats.max(1).to_string())
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        bail!(
            "{} failed ({}): {}",
            script.display(),
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        );
    }
    serde_json::from_slice(&out.stdout).context("the reference printed no JSON")
}

/// `|ours - exact| / exact` (the absolute difference when exact is 0).
fn relative_error(ours: f64, exact: f64) -> f64 {
    if exact == 0.0 {
        (ours - exact).abs()
    } else {
        ((ours - exact) / exact).abs()
    }
}

/// One percentile of ours against the exact one, µs.
fn compare(ours_us: f64, exact_us: Option<f64>) -> Value {
    match exact_us {
        Some(exact) => json!({
            "ours_us": ours_us,
            "exact_us": exact,
            "relative_error": relative_error(ours_us, exact),
        }),
        None => json!({"ours_us": ours_us, "exact_us": null, "relative_error": null}),
    }
}

/// The largest `relative_error` in `checks` (0 when none).
fn max_error(checks: &[Value]) -> f64 {
    checks
        .iter()
        .filter_map(|c| c["relative_error"].as_f64())
        .fold(0.0, f64::max)
}

pub(super) fn figures(
    conn: &Connection,
    db: &Path,
    hour: TimeWindow,
    options: &BenchOptions,
    progress: Progress<'_>,
) -> BenchResult<Vec<Figure>> {
    let all = RunScope::AllRuns;
    let thresholds = HealthThresholds::default();
    let batches = options.query_batches;
    let target = options.query_target_ms;
    let reference = match &options.duckdb_script {
        None => Err(
            "no reference script (not found, --no-duckdb, or --quick without --duckdb-script)"
                .to_string(),
        ),
        Some(script) => {
            progress(&format!(
                "  DuckDB reference: {} (first use makes its venv)",
                script.display()
            ));
            run_reference(script, db, hour, batches).map_err(|e| format!("{e:#}"))
        }
    };
    if let Err(why) = &reference {
        progress(&format!("  DuckDB figures skipped: {why}"));
    }
    let skipped = reference.as_ref().err().cloned();
    let reference = reference.ok();
    let mut figures = Vec::new();

    // Per-worker percentiles.
    let summary = worker::worker_performance_summary(conn, hour, all, &thresholds)?;
    let (ours_ms, calls, samples, _) = time_ours(
        conn,
        &|c| {
            Ok(
                worker::worker_performance_summary(c, hour, all, &thresholds)?
                    .workers
                    .len(),
            )
        },
        batches,
        target,
        5_000,
    )?;
    let duck = reference.as_ref().map(|r| &r["worker_percentiles"]);
    let mut checks = Vec::new();
    if let Some(answer) = duck.and_then(|d| d["answer"].as_array()) {
        for row in answer {
            let name = row["worker"].as_str().unwrap_or_default();
            let ours = summary.workers.get(name);
            let p = |f: fn(&crate::monitor::WorkerPerformance) -> f64| {
                ours.map_or(f64::NAN, |w| f(w) * 1000.0)
            };
            checks.push(json!({
                "worker": name,
                "executions_ours": ours.map(|w| w.total_executions),
                "executions_duckdb": row["executions"],
                "p50": compare(p(|w| w.p50_duration_ms), row["p50_us"].as_f64()),
                "p95": compare(p(|w| w.p95_duration_ms), row["p95_us"].as_f64()),
                "p99": compare(p(|w| w.p99_duration_ms), row["p99_us"].as_f64()),
            }));
        }
    }
    let percentile_checks: Vec<Value> = checks
        .iter()
        .flat_map(|c| ["p50", "p95", "p99"].map(|p| c[p].clone()))
        .collect();
    let worst = max_error(&percentile_checks);
    let duck_ms = duck.and_then(|d| d["median_ms"].as_f64());
    progress(&format!(
        "  hour worker percentiles: ours {ours_ms:.3} ms, DuckDB {} (largest percentile error {:.4} %)",
        duck_ms.map_or("-".into(), |m| format!("{m:.3} ms")),
        worst * 100.0
    ));
    figures.push(Figure::new(
        "hour_worker_percentiles_vs_duckdb",
        "ms for every worker's p50/p95/p99 over the whole hour through monitor::worker::worker_performance_summary vs DuckDB's quantile_disc on the same finished events in memory (median; load not counted)",
        ours_ms,
        "ms",
        duck_ms.map(|m| (m, "DuckDB")),
        Goal::RatioAtMost { max: RATIO_GOAL },
        json!({
            "skipped": skipped,
            "window": hour,
            "ours_calls_per_batch": calls,
            "ours_batch_ms": samples,
            "duckdb": duck.map(|d| json!({"median_ms": d["median_ms"], "min_ms": d["min_ms"]})),
            "duckdb_version": reference.as_ref().map(|r| r["duckdb_version"].clone()),
            "duckdb_rows_loaded": reference.as_ref().map(|r| r["rows_loaded"].clone()),
            "duckdb_load_s": reference.as_ref().map(|r| r["load_s"].clone()),
            "accuracy": {
                "goal_max_relative_error": ACCURACY_GOAL,
                "max_relative_error": reference.as_ref().map(|_| worst),
                "met": reference.as_ref().map(|_| worst <= ACCURACY_GOAL),
                "workers": checks,
            },
        }),
    ));

    // Event metrics.
    let metrics = event::event_metrics(conn, hour, all)?;
    let (ours_ms, calls, samples, _) = time_ours(
        conn,
        &|c| Ok(event::event_metrics(c, hour, all)?.total_events as usize),
        batches,
        target,
        5_000,
    )?;
    let duck = reference.as_ref().map(|r| &r["event_metrics"]);
    let answer = duck.map(|d| &d["answer"]);
    let p95 = answer.map(|a| {
        compare(
            metrics.p95_latency_ms * 1000.0,
            a["p95_latency_us"].as_f64(),
        )
    });
    let worst = p95.as_ref().map(|c| max_error(std::slice::from_ref(c)));
    let duck_ms = duck.and_then(|d| d["median_ms"].as_f64());
    progress(&format!(
        "  hour event metrics: ours {ours_ms:.3} ms, DuckDB {} (p95 error {})",
        duck_ms.map_or("-".into(), |m| format!("{m:.3} ms")),
        worst.map_or("-".into(), |w| format!("{:.4} %", w * 100.0))
    ));
    figures.push(Figure::new(
        "hour_event_metrics_vs_duckdb",
        "ms for the event metrics (count, statuses, p95 latency) over the whole hour through monitor::event::event_metrics vs DuckDB on the same finished events in memory (median; load not counted)",
        ours_ms,
        "ms",
        duck_ms.map(|m| (m, "DuckDB")),
        Goal::RatioAtMost { max: RATIO_GOAL },
        json!({
            "skipped": skipped,
            "window": hour,
            "ours_calls_per_batch": calls,
            "ours_batch_ms": samples,
            "duckdb": duck.map(|d| json!({"median_ms": d["median_ms"], "min_ms": d["min_ms"]})),
            "duckdb_version": reference.as_ref().map(|r| r["duckdb_version"].clone()),
            "accuracy": {
                "goal_max_relative_error": ACCURACY_GOAL,
                "max_relative_error": worst,
                "met": worst.map(|w| w <= ACCURACY_GOAL),
                "p95_latency": p95,
                "total_ours": metrics.total_events,
                "total_duckdb": answer.map(|a| a["total"].clone()),
                "by_status_ours": metrics.events_by_status,
                "by_status_duckdb": answer.map(|a| json!({
                    "completed": a["completed"], "failed": a["failed"], "timeout": a["timeout"],
                })),
            },
        }),
    ));
    Ok(figures)
}
