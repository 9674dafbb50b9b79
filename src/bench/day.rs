//! The day-scale figures (`bench --only day`): the generator's hour
//! density over 24 hours (24,000,000 executions by default), written through
//! the real writer and cached like the hour.
//!
//! - `day_dataset`: seconds to generate it, its size on disk.
//! - `day_ingest_at_20m`: the writer's ingest rate (executions/s) while the
//!   file passes 20/24 of its executions (20 M) against the rate over the
//!   first 1/24 (1 M), both taken during generation from its progress
//!   marks. A cached file reports the marks of the run that generated it.
//! - `day_worker_summary`, `day_event_metrics`, `day_report_json`: the whole
//!   generated span (24 h) through the public API — what `query workers`,
//!   `query events` and `report --format json` call — in ms, each with the
//!   relative error of every percentile against the exact nearest-rank
//!   value from the raw rows (`raw_worker_performance`, `raw_event_metrics`).
//! - `day_query_<file>`: every query file on the day file against the same
//!   5-minute window (minutes 30–35) of the 13th hour, over the same on the
//!   hour file (minutes 30–35 of its hour): what the file's size costs a
//!   query whose window holds the same rows.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Context as _;
use rusqlite::Connection;
use serde_json::{Value, json};

use super::dataset::{self, DatasetSpec, HOUR_START_US, HOUR_US, MINUTE_US, Prepared};
use super::queries::{QueryParams, case, ms, time_ours};
use super::{BenchOptions, BenchResult, Figure, Goal, Progress};
use crate::export::report::build_report;
use crate::monitor::health::HealthThresholds;
use crate::monitor::{EventMetrics, RunScope, WorkerPerformance, event, performance, worker};
use crate::runs::RunSelector;
use crate::sql::QUERY_FILES;
use crate::store::Store;
use crate::window::TimeWindow;

/// A whole-day answer must take at most this, ms.
const DAY_QUERY_GOAL_MS: f64 = 200.0;
/// The ingest rate past 20 M over the rate of the first 1 M, at least.
const INGEST_RATIO_GOAL: f64 = 0.8;
/// A query's time on the day file over the same window on the hour file, at
/// most.
const SCALE_RATIO_GOAL: f64 = 1.5;
/// About how many executions the writer's queue holds (65,536 records of
/// about 2.6 per execution): a window shorter than a few of these measures
/// the generator rather than the writer.
const QUEUE_EXECUTIONS: u64 = 100_000;
/// A first call slower than this, ms, is not repeated.
const SLOW_CALL_MS: f64 = 2_000.0;

pub(super) async fn measure(
    options: &BenchOptions,
    progress: Progress<'_>,
) -> BenchResult<Vec<Figure>> {
    let spec = DatasetSpec {
        executions: options.day_executions,
        seed: options.query_seed,
        hours: options.day_hours,
    };
    progress(&format!(
        "  day dataset: {} executions over {} h, seed {} (cache: {}; the first run generates it, minutes at full size)",
        spec.executions,
        spec.hours,
        spec.seed,
        options.query_cache_dir.display()
    ));
    let day = dataset::prepare(&options.query_cache_dir, spec).await?;
    progress(&format!(
        "  {} {} ({:.1} s to generate)",
        if day.cached { "reusing" } else { "generated" },
        day.path.display(),
        day.generation_s
    ));
    let hour_spec = DatasetSpec::hour(options.query_executions, options.query_seed);
    let hour = dataset::prepare(&options.query_cache_dir, hour_spec).await?;
    let mut figures = vec![dataset_figure(&day, &spec)?, ingest_figure(&day, &spec)];
    let store = Store::open_existing(&day.path)?;
    let conn = store.reader()?;
    let span = TimeWindow {
        start_us: HOUR_START_US,
        end_us: HOUR_START_US + spec.span_us(),
    };
    figures.extend(window_figures(&conn, span, options, progress)?);
    let hour_store = Store::open_existing(&hour.path)?;
    let hour_conn = hour_store.reader()?;
    figures.extend(scale_figures(&hour_conn, &conn, &spec, options, progress)?);
    Ok(figures)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// `day_dataset`: generation time and size on disk.
fn dataset_figure(day: &Prepared, spec: &DatasetSpec) -> BenchResult<Figure> {
    let bytes = std::fs::metadata(&day.path)
        .with_context(|| format!("cannot stat {}", day.path.display()))?
        .len();
    let executions = day.summary.executions.max(1);
    Ok(Figure::new(
        "day_dataset",
        "seconds to generate the day-scale dataset through the writer (the hour's density over the whole span; from the run that generated it, when cached); size in the details",
        day.generation_s,
        "s",
        None,
        Goal::None,
        json!({
            "path": day.path,
            "cached": day.cached,
            "spec": spec,
            "size_bytes": bytes,
            "size_mib": mib(bytes),
            "file_bytes_per_execution": bytes as f64 / executions as f64,
            "executions_per_s": day.summary.executions as f64 / day.generation_s.max(1e-9),
            "summary": {
                "executions": day.summary.executions,
                "workflows": day.summary.workflows,
                "failed": day.summary.failed,
                "timeouts": day.summary.timeouts,
                "cancelled": day.summary.cancelled,
                "compensations": day.summary.compensations,
                "system_samples": day.summary.system_samples,
                "custom_metrics": day.summary.custom_metrics,
                "alerts": day.summary.alerts,
            },
        }),
    ))
}

/// `day_ingest_at_20m`: executions/s around 20/24 of the file against the
/// first 1/24.
fn ingest_figure(day: &Prepared, spec: &DatasetSpec) -> Figure {
    let target = spec.executions as u64;
    let first_end = target / 24;
    let (from, to) = (target * 39 / 48, target * 41 / 48);
    let early = day.summary.ingest_rate(0, first_end);
    let late = day.summary.ingest_rate(from, to);
    Figure::new(
        "day_ingest_at_20m",
        &format!(
            "executions/s the writer took during generation while the file passed {} executions (from {from} to {to}) vs over the first {first_end}",
            target * 20 / 24
        ),
        late.unwrap_or(0.0),
        "executions/s",
        early.map(|e| (e, "first 1/24")),
        Goal::RatioAtLeast {
            min: INGEST_RATIO_GOAL,
        },
        json!({
            "late_window": [from, to],
            "early_window": [0, first_end],
            "late_executions_per_s": late,
            "early_executions_per_s": early,
            "from_cached_generation": day.cached,
            "marks": day.summary.ingest_marks,
            "note": if day.summary.ingest_marks.is_empty() {
                "the cached file has no recorded marks: delete it to measure"
            } else if first_end < QUEUE_EXECUTIONS {
                "the first window fits in the writer's queue, so its rate is the generator's, not the writer's: only indicative at this size"
            } else {
                "marks every 1/48 of the executions, taken as the generator handed them to the writer (its queue is bounded, so the generator runs at the writer's pace)"
            },
        }),
    )
}

/// Times `f` like the query figures and keeps its first answer; a first
/// call slower than [`SLOW_CALL_MS`] is the measurement (minutes of
/// repeats would not bring it near the goal). The OS page cache is warm
/// from generation or an earlier run. Returns (median ms per call, calls per
/// batch, per-batch ms, the answer).
fn timed<T>(
    conn: &Connection,
    f: &dyn Fn(&Connection) -> BenchResult<T>,
    options: &BenchOptions,
) -> BenchResult<(f64, usize, Vec<f64>, T)> {
    let started = Instant::now();
    let answer = f(conn)?;
    let first = ms(started.elapsed());
    if first > SLOW_CALL_MS {
        return Ok((first, 1, vec![first], answer));
    }
    let (median, calls, samples, _) = time_ours(
        conn,
        &|c| {
            std::hint::black_box(f(c)?);
            Ok(0)
        },
        options.query_batches,
        options.query_target_ms,
        1_000,
    )?;
    Ok((median, calls, samples, answer))
}

/// One percentile against the exact one (both ms).
fn check(ours: f64, exact: f64) -> Value {
    let error = if exact == 0.0 {
        (ours - exact).abs()
    } else {
        ((ours - exact) / exact).abs()
    };
    json!({"ours_ms": ours, "exact_ms": exact, "relative_error": error})
}

/// The exact answers from the raw rows, computed once per worker and
/// window: over a day each is a scan of millions of rows, and the report of
/// the file's only run asks about the same window as the whole-span
/// summary.
#[derive(Default)]
struct Exact {
    workers: HashMap<(String, i64, i64), WorkerPerformance>,
}

impl Exact {
    /// `raw_worker_performance` of `worker` over `window`. `scope` is one
    /// run or every run; a file with one run answers both alike, so they
    /// share the entry there.
    fn worker(
        &mut self,
        conn: &Connection,
        worker: &str,
        window: TimeWindow,
        scope: RunScope,
        one_run: bool,
    ) -> BenchResult<WorkerPerformance> {
        let key = (worker.to_string(), window.start_us, window.end_us);
        if one_run && let Some(p) = self.workers.get(&key) {
            return Ok(p.clone());
        }
        let p = performance::raw_worker_performance(conn, worker, window, scope)?;
        if one_run {
            self.workers.insert(key, p.clone());
        }
        Ok(p)
    }
}

/// Every worker's p50/p95/p99 in `ours` against the raw rows over `window`
/// in `scope`, and the largest relative error.
fn worker_accuracy<'a>(
    conn: &Connection,
    exact_answers: &mut Exact,
    one_run: bool,
    ours: impl Iterator<Item = &'a WorkerPerformance>,
    window: TimeWindow,
    scope: RunScope,
) -> BenchResult<Value> {
    let mut workers = serde_json::Map::new();
    let mut worst: f64 = 0.0;
    for p in ours {
        let exact = exact_answers.worker(conn, &p.worker, window, scope, one_run)?;
        let checks = [
            ("p50", check(p.p50_duration_ms, exact.p50_duration_ms)),
            ("p95", check(p.p95_duration_ms, exact.p95_duration_ms)),
            ("p99", check(p.p99_duration_ms, exact.p99_duration_ms)),
        ];
        for (_, c) in &checks {
            worst = worst.max(c["relative_error"].as_f64().unwrap_or(f64::INFINITY));
        }
        let mut entry: serde_json::Map<String, Value> = checks
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        entry.insert(
            "executions_equal".into(),
            json!(p.total_executions == exact.total_executions),
        );
        workers.insert(p.worker.clone(), Value::Object(entry));
    }
    Ok(json!({"max_relative_error": worst, "workers": workers}))
}

/// The three whole-span answers through the public API.
fn window_figures(
    conn: &Connection,
    span: TimeWindow,
    options: &BenchOptions,
    progress: Progress<'_>,
) -> BenchResult<Vec<Figure>> {
    let all = RunScope::AllRuns;
    let thresholds = HealthThresholds::default();
    let hours = span.length_us() as f64 / HOUR_US as f64;
    let goal = Goal::AtMost {
        max: DAY_QUERY_GOAL_MS,
    };
    let mut figures = Vec::new();
    let runs: i64 = conn.query_row("SELECT count(*) FROM runs", [], |r| r.get(0))?;
    let one_run = runs == 1;
    let mut exact_answers = Exact::default();

    let (ms_summary, calls, samples, summary) = timed(
        conn,
        &|c| {
            Ok(worker::worker_performance_summary(
                c,
                span,
                all,
                &thresholds,
            )?)
        },
        options,
    )?;
    progress(&format!(
        "  {hours} h worker_performance_summary: {ms_summary:.1} ms; checking percentiles against raw rows ..."
    ));
    let accuracy = worker_accuracy(
        conn,
        &mut exact_answers,
        one_run,
        summary.workers.values(),
        span,
        all,
    )?;
    figures.push(Figure::new(
        "day_worker_summary",
        &format!("ms for monitor::worker::worker_performance_summary over the whole generated span ({hours} h, every run, default thresholds); accuracy of every p50/p95/p99 vs the exact nearest-rank value from the raw rows in the details"),
        ms_summary,
        "ms",
        None,
        goal,
        json!({
            "window": span,
            "calls_per_batch": calls,
            "batch_ms": samples,
            "workers": summary.workers.len(),
            "accuracy": accuracy,
        }),
    ));

    let (ms_events, calls, samples, metrics) =
        timed(conn, &|c| Ok(event::event_metrics(c, span, all)?), options)?;
    progress(&format!(
        "  {hours} h event_metrics: {ms_events:.1} ms; checking p95 against raw rows ..."
    ));
    let exact_events: EventMetrics = event::raw_event_metrics(conn, span, all)?;
    let exact = &exact_events;
    figures.push(Figure::new(
        "day_event_metrics",
        &format!("ms for monitor::event::event_metrics over the whole generated span ({hours} h, every run); accuracy of p95 latency vs the exact nearest-rank value from the raw rows in the details"),
        ms_events,
        "ms",
        None,
        goal,
        json!({
            "window": span,
            "calls_per_batch": calls,
            "batch_ms": samples,
            "total_events": metrics.total_events,
            "accuracy": {
                "max_relative_error": check(metrics.p95_latency_ms, exact.p95_latency_ms)["relative_error"],
                "p95_latency": check(metrics.p95_latency_ms, exact.p95_latency_ms),
                "total_events_equal": metrics.total_events == exact.total_events,
            },
        }),
    ));

    // `report --format json`: build_report of the newest run (the dataset's
    // only one, spanning the generated data) serialised as the command does.
    let (ms_report, calls, samples, (report, json_bytes)) = timed(
        conn,
        &|c| {
            let report = build_report(c, RunSelector::Latest, &thresholds, crate::clock::now_us())?;
            let text = serde_json::to_string_pretty(&report)?;
            Ok((report, text.len()))
        },
        options,
    )?;
    progress(&format!(
        "  report --format json ({hours} h run): {ms_report:.1} ms; checking percentiles against raw rows ..."
    ));
    let scope = RunScope::Run(report.run.run_id);
    let window = report.run.window;
    let accuracy = worker_accuracy(
        conn,
        &mut exact_answers,
        one_run,
        report.workers.iter().map(|w| &w.performance),
        window,
        scope,
    )?;
    let exact = if one_run && window == span {
        exact_events
    } else {
        event::raw_event_metrics(conn, window, scope)?
    };
    let p95 = check(report.events.p95_latency_ms, exact.p95_latency_ms);
    let worst = accuracy["max_relative_error"]
        .as_f64()
        .unwrap_or(0.0)
        .max(p95["relative_error"].as_f64().unwrap_or(0.0));
    figures.push(Figure::new(
        "day_report_json",
        &format!("ms for export::report::build_report of the run ({hours} h) and its JSON text, what `report --format json` does; accuracy of the workers' p50/p95/p99 and the events' p95 vs the raw rows in the details"),
        ms_report,
        "ms",
        None,
        goal,
        json!({
            "window": window,
            "run_id": report.run.run_id,
            "calls_per_batch": calls,
            "batch_ms": samples,
            "json_bytes": json_bytes,
            "provenance": report.provenance,
            "accuracy": {
                "max_relative_error": worst,
                "events_p95_latency": p95,
                "workers": accuracy["workers"],
            },
        }),
    ));
    Ok(figures)
}

/// `day_query_<file>`: each query file on the day file vs on the hour
/// file, same relative 5-minute window.
fn scale_figures(
    hour_conn: &Connection,
    day_conn: &Connection,
    spec: &DatasetSpec,
    options: &BenchOptions,
    progress: Progress<'_>,
) -> BenchResult<Vec<Figure>> {
    let five = |hour: i64| TimeWindow {
        start_us: HOUR_START_US + hour * HOUR_US + 30 * MINUTE_US,
        end_us: HOUR_START_US + hour * HOUR_US + 35 * MINUTE_US,
    };
    let day_hour = i64::from(spec.hours.clamp(1, 13)) - 1;
    let hour_ctx = QueryParams::at(
        hour_conn,
        TimeWindow {
            start_us: HOUR_START_US,
            end_us: HOUR_START_US + HOUR_US,
        },
        five(0),
    )?;
    let day_ctx = QueryParams::at(
        day_conn,
        TimeWindow {
            start_us: HOUR_START_US,
            end_us: HOUR_START_US + spec.span_us(),
        },
        five(day_hour),
    )?;
    let batches = options.query_batches;
    let target = options.query_target_ms;
    let mut figures = Vec::new();
    for (file, sql) in QUERY_FILES {
        let stem = file.trim_end_matches(".sql");
        let hour_params = hour_ctx.params(hour_conn, file, sql)?;
        let day_params = day_ctx.params(day_conn, file, sql)?;
        let on_hour = case(file, sql, &hour_params, &hour_ctx);
        let on_day = case(file, sql, &day_params, &day_ctx);
        let (h_ms, h_r, h_samples, h_rows) =
            time_ours(hour_conn, &*on_hour.run, batches, target, 5_000)
                .with_context(|| format!("{file} on the hour file"))?;
        let (d_ms, d_r, d_samples, d_rows) =
            time_ours(day_conn, &*on_day.run, batches, target, 5_000)
                .with_context(|| format!("{file} on the day file"))?;
        progress(&format!(
            "  {file}: day {d_ms:.3} ms, hour {h_ms:.3} ms ({:.2}x; result sizes {d_rows} / {h_rows})",
            d_ms / h_ms.max(1e-9)
        ));
        figures.push(Figure::new(
            &format!("day_query_{stem}"),
            &format!(
                "queries/{file} through {} on the {}-hour file (minutes 30-35 of hour {}) vs on the 1-hour file (minutes 30-35), same density, warm, ms per execution",
                on_day.api,
                spec.hours,
                day_hour + 1
            ),
            d_ms,
            "ms",
            Some((h_ms, "1-hour file")),
            Goal::RatioAtMost {
                max: SCALE_RATIO_GOAL,
            },
            json!({
                "file": file,
                "api": on_day.api,
                "day_result_size": d_rows,
                "hour_result_size": h_rows,
                "day_calls_per_batch": d_r,
                "hour_calls_per_batch": h_r,
                "day_batch_ms": d_samples,
                "hour_batch_ms": h_samples,
            }),
        ));
    }
    Ok(figures)
}
