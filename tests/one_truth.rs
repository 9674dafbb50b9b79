//! Issue 11's check: one file holding two runs recorded at the same time by
//! two real processes, a run killed with SIGKILL, and a run partly removed
//! by retention (a real `cleanup`). Every `query` subcommand, `report
//! --format json` and `export prometheus`, for each run and for every run,
//! is recomputed here from the raw rows — and from the rollups where the raw
//! rows are gone — with the test's own code, and must match.
//!
//! The recomputation follows `docs/figures.md` and the split of
//! `monitor::coverage`: a window is read from raw rows from the first whole
//! minute at or after the run's traces watermark, and from the rollups
//! (whole minutes overlapping the window) before it.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, named_params};
use serde_json::Value;
use support::cli::*;
use support::*;

const MINUTE: i64 = 60_000_000;

fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

macro_rules! check {
    ($got:expr, $want:expr, $($ctx:tt)*) => {{
        let (g, w): (f64, f64) = ($got, $want);
        assert!(same(g, w), "{}: got {g}, want {w}", format!($($ctx)*));
    }};
}

/// A finished raw event.
#[derive(Debug, Clone)]
struct Ev {
    run: i64,
    worker: String,
    event_type: String,
    status: String,
    finished: i64,
    latency: i64,
    duration: i64,
    error_type: Option<String>,
}

/// One rollup row.
#[derive(Debug, Clone)]
struct Roll {
    run: i64,
    worker: String,
    event_type: String,
    minute: i64,
    counts: [u64; 4], // completed, failed, timeout, cancelled
    duration_sum: i64,
    duration_max: i64,
    latency_sum: i64,
    latency_max: i64,
}

/// Everything the file holds, read once with the test's own SQL.
struct Truth {
    events: Vec<Ev>,
    rollups: Vec<Roll>,
    /// (run, worker, minute, le, count)
    duration_hist: Vec<(i64, String, i64, i64, u64)>,
    /// (run, minute, le, count)
    latency_hist: Vec<(i64, i64, i64, u64)>,
    /// run -> traces watermark
    watermarks: BTreeMap<i64, i64>,
}

fn read_truth(conn: &Connection) -> Truth {
    let events = conn
        .prepare(
            "SELECT e.id >> 40, k.name, e.event_type, e.status, e.finished_at_us,
                    e.finished_at_us - e.dispatched_at_us, coalesce(e.duration_us, 0), e.error_type
               FROM events e JOIN workers k ON k.id = e.worker_id
              WHERE e.finished_at_us IS NOT NULL",
        )
        .unwrap()
        .query_map([], |r| {
            Ok(Ev {
                run: r.get(0)?,
                worker: r.get(1)?,
                event_type: r.get(2)?,
                status: r.get(3)?,
                finished: r.get(4)?,
                latency: r.get(5)?,
                duration: r.get(6)?,
                error_type: r.get(7)?,
            })
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let rollups = conn
        .prepare(
            "SELECT r.run_id, k.name, r.event_type, r.minute_us, r.completed, r.failed, r.timeout,
                    r.cancelled, r.duration_sum_us, coalesce(r.duration_max_us, 0), r.latency_sum_us,
                    coalesce(r.latency_max_us, 0)
               FROM worker_minute_rollups r JOIN workers k ON k.id = r.worker_id",
        )
        .unwrap()
        .query_map([], |r| {
            Ok(Roll {
                run: r.get(0)?,
                worker: r.get(1)?,
                event_type: r.get(2)?,
                minute: r.get(3)?,
                counts: [
                    r.get::<_, i64>(4)? as u64,
                    r.get::<_, i64>(5)? as u64,
                    r.get::<_, i64>(6)? as u64,
                    r.get::<_, i64>(7)? as u64,
                ],
                duration_sum: r.get(8)?,
                duration_max: r.get(9)?,
                latency_sum: r.get(10)?,
                latency_max: r.get(11)?,
            })
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let duration_hist = conn
        .prepare(
            "SELECT h.run_id, k.name, h.minute_us, h.le_ms, h.count
               FROM worker_minute_histogram h JOIN workers k ON k.id = h.worker_id",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get::<_, i64>(4)? as u64,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let latency_hist = conn
        .prepare("SELECT run_id, minute_us, le_ms, count FROM event_minute_latency_histogram")
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? as u64))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let watermarks = conn
        .prepare("SELECT run_id, deleted_before_us FROM retention_watermarks WHERE kind = 'traces'")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    Truth {
        events,
        rollups,
        duration_hist,
        latency_hist,
        watermarks,
    }
}

/// The histogram buckets of the writer (upper-inclusive ms; -1 is +Inf).
fn bucket(us: i64) -> i64 {
    [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
        .into_iter()
        .find(|&le| us <= le * 1000)
        .unwrap_or(-1)
}

fn bucket_percentile(hist: &BTreeMap<i64, u64>, p: u64, max_ms: f64) -> f64 {
    let n: u64 = hist.values().sum();
    if n == 0 {
        return 0.0;
    }
    let rank = (p * n).div_ceil(100).max(1);
    let mut seen = 0;
    let mut keys: Vec<i64> = hist.keys().copied().collect();
    keys.sort_by_key(|&le| if le < 0 { i64::MAX } else { le });
    for le in keys {
        seen += hist[&le];
        if seen >= rank {
            return if le < 0 { max_ms } else { le as f64 };
        }
    }
    max_ms
}

/// Nearest rank (tests/support/stats.rs) of microseconds, in ms; 0 when empty.
fn nearest_rank(values: &mut [i64], p: usize) -> f64 {
    values.sort_unstable();
    support::stats::nearest_rank(values, p as f64).map_or(0.0, |v| *v as f64 / 1000.0)
}

fn floor_minute(us: i64) -> i64 {
    us.saturating_sub(us.rem_euclid(MINUTE))
}

/// The split of `monitor::coverage`, recomputed: (rollup minutes, raw part).
#[allow(clippy::type_complexity)]
fn split(
    truth: &Truth,
    run: Option<i64>,
    (start, end): (i64, i64),
) -> (Option<(i64, i64)>, Option<(i64, i64)>) {
    let mark = match run {
        Some(r) => truth.watermarks.get(&r).copied(),
        None => truth.watermarks.values().copied().max(),
    };
    match mark {
        Some(m) if m > start && start < end => {
            let resume = if m.rem_euclid(MINUTE) == 0 {
                m
            } else {
                floor_minute(m) + MINUTE
            };
            let rolled = (floor_minute(start), resume.min(end));
            let raw = (resume < end).then_some((resume, end));
            (Some(rolled), raw)
        }
        _ => (None, Some((start, end))),
    }
}

fn in_run(run: Option<i64>, r: i64) -> bool {
    run.is_none_or(|x| x == r)
}

/// The expected totals of a set of executions: [completed, failed, timeout,
/// cancelled], duration sum, latency sum, and per-minute totals.
#[derive(Default, Debug)]
struct Totals {
    counts: [u64; 4],
    commands: u64,
    compensations: u64,
    duration_sum: i64,
    latency_sum: i64,
    per_minute: BTreeMap<i64, u64>,
    latency_hist: BTreeMap<i64, u64>,
    duration_hist: BTreeMap<i64, u64>,
    raw_latencies: Vec<i64>,
    raw_durations: Vec<i64>,
    latency_max: i64,
    duration_max: i64,
}

impl Totals {
    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

fn status_index(s: &str) -> usize {
    match s {
        "completed" => 0,
        "failed" => 1,
        "timeout" => 2,
        _ => 3,
    }
}

/// Totals over a window for a scope, optionally one worker.
fn totals(truth: &Truth, run: Option<i64>, window: (i64, i64), worker: Option<&str>) -> Totals {
    let (rolled, raw) = split(truth, run, window);
    let mut t = Totals::default();
    let wanted = |w: &str| worker.is_none_or(|x| x == w);
    if let Some((a, b)) = rolled {
        for r in truth
            .rollups
            .iter()
            .filter(|r| in_run(run, r.run) && wanted(&r.worker) && r.minute >= a && r.minute < b)
        {
            for i in 0..4 {
                t.counts[i] += r.counts[i];
            }
            let n: u64 = r.counts.iter().sum();
            if r.event_type == "command" {
                t.commands += n;
            } else {
                t.compensations += n;
            }
            t.duration_sum += r.duration_sum;
            t.latency_sum += r.latency_sum;
            *t.per_minute.entry(r.minute).or_default() += n;
            t.latency_max = t.latency_max.max(r.latency_max);
            t.duration_max = t.duration_max.max(r.duration_max);
        }
        for (r, m, le, c) in &truth.latency_hist {
            if in_run(run, *r) && *m >= a && *m < b && worker.is_none() {
                *t.latency_hist.entry(*le).or_default() += c;
            }
        }
        for (r, w, m, le, c) in &truth.duration_hist {
            if in_run(run, *r) && wanted(w) && *m >= a && *m < b {
                *t.duration_hist.entry(*le).or_default() += c;
            }
        }
    }
    if let Some((a, b)) = raw {
        for e in truth.events.iter().filter(|e| {
            in_run(run, e.run) && wanted(&e.worker) && e.finished >= a && e.finished < b
        }) {
            t.counts[status_index(&e.status)] += 1;
            if e.event_type == "command" {
                t.commands += 1;
            } else {
                t.compensations += 1;
            }
            t.duration_sum += e.duration;
            t.latency_sum += e.latency;
            *t.per_minute.entry(floor_minute(e.finished)).or_default() += 1;
            *t.latency_hist.entry(bucket(e.latency)).or_default() += 1;
            *t.duration_hist.entry(bucket(e.duration)).or_default() += 1;
            t.raw_latencies.push(e.latency);
            t.raw_durations.push(e.duration);
            t.latency_max = t.latency_max.max(e.latency);
        }
    }
    t
}

fn pct(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        part as f64 * 100.0 / total as f64
    }
}

fn mean_ms(sum: i64, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        sum as f64 / n as f64 / 1000.0
    }
}

fn window_of(v: &Value) -> (i64, i64) {
    (
        v["start_us"].as_i64().unwrap(),
        v["end_us"].as_i64().unwrap(),
    )
}

/// `get_event_metrics` as JSON against the recomputation.
fn check_events(truth: &Truth, run: Option<i64>, window: (i64, i64), m: &Value, ctx: &str) {
    let t = totals(truth, run, window, None);
    let (rolled, _) = split(truth, run, window);
    assert_eq!(m["total_events"].as_u64().unwrap(), t.total(), "{ctx}");
    for (i, s) in ["completed", "failed", "timeout", "cancelled"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            m["events_by_status"][s].as_u64().unwrap(),
            t.counts[i],
            "{ctx} {s}"
        );
    }
    assert_eq!(
        m["events_by_type"]["command"].as_u64().unwrap(),
        t.commands,
        "{ctx}"
    );
    assert_eq!(
        m["events_by_type"]["compensation"].as_u64().unwrap(),
        t.compensations,
        "{ctx}"
    );
    check!(
        m["success_rate"].as_f64().unwrap(),
        pct(t.counts[0], t.total()),
        "{ctx} success"
    );
    check!(
        m["error_rate"].as_f64().unwrap(),
        pct(t.counts[1] + t.counts[2], t.total()),
        "{ctx} error"
    );
    check!(
        m["avg_latency_ms"].as_f64().unwrap(),
        mean_ms(t.latency_sum, t.total()),
        "{ctx} avg"
    );
    let p95 = if rolled.is_some() {
        bucket_percentile(&t.latency_hist, 95, t.latency_max as f64 / 1000.0)
    } else {
        nearest_rank(&mut t.raw_latencies.clone(), 95)
    };
    check!(m["p95_latency_ms"].as_f64().unwrap(), p95, "{ctx} p95");
    let minutes = (window.1 - window.0) as f64 / 60e6;
    check!(
        m["throughput_per_minute"].as_f64().unwrap(),
        t.total() as f64 / minutes,
        "{ctx} throughput"
    );
    assert_eq!(
        m["peak_throughput"].as_u64().unwrap(),
        t.per_minute.values().copied().max().unwrap_or(0),
        "{ctx} peak"
    );
    let expected_source = match split(truth, run, window) {
        (None, _) => "raw",
        (Some(_), None) => "rollups",
        (Some(_), Some(_)) => "raw+rollups",
    };
    if let Some(source) = m.get("source") {
        assert_eq!(source, expected_source, "{ctx} source");
    }
}

/// One worker's performance as JSON against the recomputation.
fn check_worker(
    truth: &Truth,
    run: Option<i64>,
    window: (i64, i64),
    worker: &str,
    p: &Value,
    ctx: &str,
) {
    let t = totals(truth, run, window, Some(worker));
    let (rolled, raw) = split(truth, run, window);
    let ctx = format!("{ctx} worker {worker}");
    assert_eq!(p["total_executions"].as_u64().unwrap(), t.total(), "{ctx}");
    assert_eq!(
        p["failed_executions"].as_u64().unwrap(),
        t.counts[1],
        "{ctx}"
    );
    assert_eq!(
        p["timeout_executions"].as_u64().unwrap(),
        t.counts[2],
        "{ctx}"
    );
    check!(
        p["success_rate"].as_f64().unwrap(),
        pct(t.counts[0], t.total()),
        "{ctx}"
    );
    check!(
        p["error_rate"].as_f64().unwrap(),
        pct(t.counts[1] + t.counts[2], t.total()),
        "{ctx}"
    );
    check!(
        p["avg_duration_ms"].as_f64().unwrap(),
        mean_ms(t.duration_sum, t.total()),
        "{ctx}"
    );
    for (key, q) in [
        ("p50_duration_ms", 50),
        ("p95_duration_ms", 95),
        ("p99_duration_ms", 99),
    ] {
        let want = if rolled.is_some() {
            // The estimate's stand-in for +Inf: the longest known duration
            // (the rollups' maximum, or the raw part's p99).
            let raw_p99 = raw.map_or(0.0, |_| nearest_rank(&mut t.raw_durations.clone(), 99));
            let max_ms = raw_p99.max(t.duration_max as f64 / 1000.0);
            bucket_percentile(&t.duration_hist, q, max_ms)
        } else {
            nearest_rank(&mut t.raw_durations.clone(), q as usize)
        };
        check!(p[key].as_f64().unwrap(), want, "{ctx} {key}");
    }
}

/// The workers with executions in the window.
fn workers_in(truth: &Truth, run: Option<i64>, window: (i64, i64)) -> Vec<String> {
    let (rolled, raw) = split(truth, run, window);
    let mut names: Vec<String> = Vec::new();
    if let Some((a, b)) = rolled {
        names.extend(
            truth
                .rollups
                .iter()
                .filter(|r| in_run(run, r.run) && r.minute >= a && r.minute < b)
                .map(|r| r.worker.clone()),
        );
    }
    // Raw executions anywhere in the window (the raw part of the name list).
    let _ = raw;
    names.extend(
        truth
            .events
            .iter()
            .filter(|e| in_run(run, e.run) && e.finished >= window.0 && e.finished < window.1)
            .map(|e| e.worker.clone()),
    );
    names.sort();
    names.dedup();
    names
}

fn run_args(run: Option<i64>, until: &str) -> Vec<String> {
    match run {
        Some(r) => vec!["--run".into(), r.to_string()],
        None => vec![
            "--window".into(),
            "30m".into(),
            "--until".into(),
            until.to_string(),
        ],
    }
}

/// `query WHAT` with `--exact`: every raw row (and the rollups where
/// retention deleted them), the model this test recomputes.
fn query(db: &Path, what: &[&str], run: Option<i64>, until: &str) -> Value {
    // Only the questions that read percentiles take --exact (the others
    // refuse a flag they would ignore).
    let exact = matches!(
        what[0],
        "events" | "errors" | "workers" | "worker" | "series"
    );
    query_with(db, what, run, until, exact)
}

fn query_with(db: &Path, what: &[&str], run: Option<i64>, until: &str, exact: bool) -> Value {
    let mut args: Vec<String> = vec!["query".into()];
    args.extend(what.iter().map(|s| s.to_string()));
    args.extend(run_args(run, until));
    if exact {
        args.push("--exact".into());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    json_answer(db, &refs)
}

/// The default answer (long windows from the rollups and sketches) against
/// the exact one: the same counts; percentiles within 1 % where every raw
/// row of the window is still in the file (else the exact answer is itself
/// an estimate from histogram buckets).
fn check_against_exact(
    auto: &Value,
    exact: &Value,
    same: &[&str],
    percentiles: &[&str],
    complete: bool,
    ctx: &str,
) {
    for key in same {
        assert_eq!(auto[key], exact[key], "{ctx} {key}");
    }
    for key in percentiles {
        let (a, e) = (auto[key].as_f64().unwrap(), exact[key].as_f64().unwrap());
        if complete {
            assert!(
                (a == 0.0 && e == 0.0) || ((a - e) / e).abs() < 0.01,
                "{ctx} {key}: {a} vs exact {e}"
            );
        }
    }
}

/// Every query subcommand, the report and the exposition of one scope.
fn check_scope(db: &Path, conn: &Connection, truth: &Truth, run: Option<i64>, until: &str) {
    let ctx = format!("run {run:?}");

    // query events
    let events = query(db, &["events"], run, until);
    let window = window_of(&events["window"]);
    assert_eq!(events["run_id"].as_i64(), run, "{ctx}");
    check_events(truth, run, window, &events, &format!("{ctx} query events"));
    let complete = split(truth, run, window).0.is_none();
    let auto = query_with(db, &["events"], run, until, false);
    check_against_exact(
        &auto,
        &events,
        &[
            "total_events",
            "events_by_type",
            "events_by_status",
            "success_rate",
            "error_rate",
            "avg_latency_ms",
            "throughput_per_minute",
            "peak_throughput",
        ],
        &["p95_latency_ms"],
        complete,
        &format!("{ctx} query events without --exact"),
    );

    // query workers, and query worker NAME for each
    let summary = query(db, &["workers"], run, until);
    let names = workers_in(truth, run, window);
    let listed: Vec<String> = summary["workers"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(listed, names, "{ctx} workers");
    let auto = query_with(db, &["workers"], run, until, false);
    for name in &names {
        check_against_exact(
            &auto["workers"][name],
            &summary["workers"][name],
            &[
                "total_executions",
                "successful_executions",
                "failed_executions",
                "timeout_executions",
                "cancelled_executions",
                "duration_sum_us",
                "success_rate",
                "error_rate",
                "avg_duration_ms",
            ],
            &["p50_duration_ms", "p95_duration_ms", "p99_duration_ms"],
            complete,
            &format!("{ctx} query workers without --exact, {name}"),
        );
    }
    let mut all = Totals::default();
    for name in &names {
        check_worker(
            truth,
            run,
            window,
            name,
            &summary["workers"][name],
            &format!("{ctx} query workers"),
        );
        let one = query(db, &["worker", name], run, until);
        check_worker(
            truth,
            run,
            window,
            name,
            &one,
            &format!("{ctx} query worker"),
        );
        let t = totals(truth, run, window, Some(name));
        all.counts[0] += t.total();
        all.duration_sum += t.duration_sum;
    }
    let agg = &summary["aggregated_metrics"];
    assert_eq!(
        agg["total_commands"].as_u64().unwrap(),
        all.counts[0],
        "{ctx}"
    );
    check!(
        agg["average_duration_ms"].as_f64().unwrap(),
        mean_ms(all.duration_sum, all.counts[0]),
        "{ctx} weighted mean"
    );

    // query health: each worker judged over its window.
    let health = query(db, &["health"], run, until);
    let hwin = window_of(&health["window"]);
    for (name, h) in health["workers"].as_object().unwrap() {
        let t = totals(truth, run, hwin, Some(name));
        assert_eq!(
            h["total_executions"].as_u64().unwrap(),
            t.total(),
            "{ctx} health {name}"
        );
        check!(
            h["error_rate"].as_f64().unwrap(),
            pct(t.counts[1] + t.counts[2], t.total()),
            "{ctx} health {name}"
        );
    }

    // query errors: raw rows only (rollups keep no error types).
    let errors = query(db, &["errors"], run, until);
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for e in truth.events.iter().filter(|e| {
        in_run(run, e.run)
            && e.finished >= window.0
            && e.finished < window.1
            && (e.status == "failed" || e.status == "timeout")
    }) {
        *want
            .entry(e.error_type.clone().unwrap_or_else(|| e.status.clone()))
            .or_default() += 1;
    }
    let got: BTreeMap<String, u64> = errors["error_patterns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["error_type"].as_str().unwrap().to_string(),
                p["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want, "{ctx} errors");

    // query system / metrics / alerts: raw rows of the scope.
    let system = query(db, &["system"], run, until);
    let w = window_of(&system["window"]);
    let samples: i64 = conn
        .query_row(
            "SELECT count(*) FROM system_samples WHERE (:run IS NULL OR run_id = :run)
               AND sampled_at_us >= :a AND sampled_at_us < :b",
            named_params! {":run": run, ":a": w.0, ":b": w.1},
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        system["sample_count"].as_i64().unwrap(),
        samples,
        "{ctx} system"
    );
    let alerts = query(db, &["alerts"], run, until);
    let w = window_of(&alerts["window"]);
    let fired: i64 = conn
        .query_row(
            "SELECT count(*) FROM alerts WHERE (:run IS NULL OR run_id = :run)
               AND fired_at_us >= :a AND fired_at_us < :b",
            named_params! {":run": run, ":a": w.0, ":b": w.1},
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        alerts["history"].as_array().unwrap().len() as i64,
        fired,
        "{ctx} alerts"
    );
    let metrics = query(db, &["metrics"], run, until);
    let w = window_of(&metrics["window"]);
    let counter_sum: f64 = conn
        .query_row(
            "SELECT coalesce(sum(value), 0) FROM custom_metrics WHERE (:run IS NULL OR run_id = :run)
               AND metric_type = 'counter' AND recorded_at_us >= :a AND recorded_at_us < :b",
            named_params! {":run": run, ":a": w.0, ":b": w.1},
            |r| r.get(0),
        )
        .unwrap();
    let got: f64 = metrics["counters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["total"].as_f64().unwrap())
        .sum();
    check!(got, counter_sum, "{ctx} custom counters");
    let histogram_n: i64 = conn
        .query_row(
            "SELECT count(*) FROM custom_metrics WHERE (:run IS NULL OR run_id = :run)
               AND metric_type = 'histogram' AND recorded_at_us >= :a AND recorded_at_us < :b",
            named_params! {":run": run, ":a": w.0, ":b": w.1},
            |r| r.get(0),
        )
        .unwrap();
    let got: i64 = metrics["histograms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["count"].as_i64().unwrap())
        .sum();
    assert_eq!(got, histogram_n, "{ctx} custom histograms");

    // query trace: one of the scope's transactions still in raw rows.
    let tx: Option<(String, i64)> = conn
        .query_row(
            "SELECT transaction_id, id FROM workflows WHERE (:run IS NULL OR run_id = :run)
              ORDER BY id DESC LIMIT 1",
            named_params! {":run": run},
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .unwrap();
    if let Some((tx, id)) = tx {
        let trace = json_answer(db, &["query", "trace", &tx]);
        let stages: i64 = conn
            .query_row(
                "SELECT (SELECT 1 + (started_at_us IS NOT NULL) + (compensating_at_us IS NOT NULL)
                               + (ended_at_us IS NOT NULL) FROM workflows WHERE id = ?1)
                      + (SELECT coalesce(sum(1 + (picked_up_at_us IS NOT NULL)
                               + (processing_at_us IS NOT NULL) + (finished_at_us IS NOT NULL)), 0)
                           FROM events WHERE workflow_id = ?1)",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            trace.as_array().unwrap().len() as i64,
            stages,
            "{ctx} trace"
        );
    }

    let Some(run_id) = run else {
        // Every run: the exposition's counters are every rollup row.
        let text = ok(multiagents(db)
            .args(["export", "prometheus"])
            .output()
            .unwrap());
        check_prometheus_totals(truth, None, &text);
        return;
    };

    // query runs: the run is listed with its workflows — where retention
    // deleted raw ones, those that ended before the first whole minute at
    // or after the watermark from the workflow rollups.
    let runs = json_answer(db, &["query", "runs", "--limit", "100"]);
    let listed = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_id"].as_i64() == Some(run_id))
        .unwrap_or_else(|| panic!("{ctx} not listed"));
    let resume = truth
        .watermarks
        .get(&run_id)
        .map(|&m| floor_minute(m + MINUTE - 1));
    let raw_workflows: i64 = conn
        .query_row(
            "SELECT count(*) FROM workflows WHERE run_id = ?1
               AND (?2 IS NULL OR ended_at_us IS NULL OR ended_at_us >= ?2)",
            rusqlite::params![run_id, resume],
            |r| r.get(0),
        )
        .unwrap();
    let rolled_workflows: i64 = match resume {
        None => 0,
        Some(resume) => conn
            .query_row(
                "SELECT coalesce(sum(completed + failed + compensated + cancelled), 0)
                   FROM workflow_minute_rollups WHERE run_id = ?1 AND minute_us < ?2",
                rusqlite::params![run_id, resume],
                |r| r.get(0),
            )
            .unwrap(),
    };
    assert_eq!(
        listed["workflows"].as_i64().unwrap(),
        raw_workflows + rolled_workflows,
        "{ctx} runs"
    );
    assert_eq!(
        listed["source"],
        match (resume, raw_workflows) {
            (None, _) => "raw",
            (Some(_), 0) => "rollups",
            (Some(_), _) => "raw+rollups",
        },
        "{ctx} runs"
    );
    if resume.is_some() {
        // The old run lost its first minutes: all 400 are counted.
        assert_eq!(listed["workflows"], 400, "{ctx} runs");
    }

    // report --format json: the run's events and workers over its window.
    let report = json_answer(db, &["report", "--run", &run_id.to_string(), "--exact"]);
    let rwin = window_of(&report["run"]["window"]);
    assert_eq!(rwin, window, "{ctx} report window = query window");
    check_events(
        truth,
        run,
        rwin,
        &report["events"],
        &format!("{ctx} report"),
    );
    let mut reported = 0;
    for w in report["workers"].as_array().unwrap() {
        let name = w["worker"].as_str().unwrap();
        check_worker(truth, run, rwin, name, w, &format!("{ctx} report"));
        reported += 1;
    }
    assert_eq!(reported, names.len(), "{ctx} report workers");
    let expected_source = match split(truth, run, rwin) {
        (None, _) => "raw",
        (Some(_), None) => "rollups",
        (Some(_), Some(_)) => "raw+rollups",
    };
    assert_eq!(report["provenance"]["source"], expected_source, "{ctx}");
    let throughput: u64 = report["throughput"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            ["completed", "failed", "timeout", "cancelled"]
                .iter()
                .map(|k| m[k].as_u64().unwrap())
                .sum::<u64>()
        })
        .sum();
    assert_eq!(
        throughput,
        totals(truth, run, rwin, None).total(),
        "{ctx} report throughput"
    );

    // export prometheus --run: counters are the run's rollups.
    let text = ok(multiagents(db)
        .args(["export", "prometheus", "--run", &run_id.to_string()])
        .output()
        .unwrap());
    check_prometheus_totals(truth, run, &text);
}

/// `multiagents_events_total` and `multiagents_worker_executions_total`
/// against the rollup rows of the scope (every retained minute).
fn check_prometheus_totals(truth: &Truth, run: Option<i64>, text: &str) {
    let mut want_events: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut want_workers: BTreeMap<String, u64> = BTreeMap::new();
    for r in truth.rollups.iter().filter(|r| in_run(run, r.run)) {
        for (i, s) in ["completed", "failed", "timeout", "cancelled"]
            .iter()
            .enumerate()
        {
            *want_events
                .entry((r.event_type.clone(), s.to_string()))
                .or_default() += r.counts[i];
        }
        *want_workers.entry(r.worker.clone()).or_default() += r.counts.iter().sum::<u64>();
    }
    for ((ty, status), n) in want_events {
        let line = format!("multiagents_events_total{{type=\"{ty}\",status=\"{status}\"}} {n}");
        assert!(text.contains(&line), "run {run:?}: missing {line}\n{text}");
    }
    for (worker, n) in want_workers {
        let line = format!("multiagents_worker_executions_total{{worker=\"{worker}\"}} {n}");
        assert!(text.contains(&line), "run {run:?}: missing {line}\n{text}");
    }
}

#[test]
fn every_answer_of_every_run_recomputes_from_raw_rows_and_rollups() {
    let db = temp_db();
    let config = fast_config(db.dir.path());

    // A run recorded ten minutes ago over six minutes (through the real
    // writer, with the seed's workers and failures), to be partly removed
    // by retention below. Its `runs` row is moved back to when it began.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let t0 = now - 10 * MINUTE;
    let old_run = {
        let (_store, writer) = open(&db.path);
        let data = support::dataset::generate(&writer, 11, 400, 0, t0, 6 * MINUTE);
        support::dataset::write(&writer, &data);
        writer.blocking_shutdown().unwrap();
        let conn = Connection::open(&db.path).unwrap();
        conn.execute(
            "UPDATE runs SET started_at_us = ?1, ended_at_us = ?2 WHERE id = ?3",
            rusqlite::params![t0, t0 + 7 * MINUTE, data.run_id],
        )
        .unwrap();
        data.run_id
    };

    // Two real processes recording at the same time.
    let demo = multiagents(&db.path)
        .args(["--config", config.to_str().unwrap(), "demo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let load = load_test(&db.path, &config, "3s")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ok(load.wait_with_output().unwrap());
    ok(demo.wait_with_output().unwrap());

    // A run killed with SIGKILL while it records.
    let mut killed = load_test(&db.path, &config, "60s")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let conn = Connection::open(&db.path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "the killed run recorded nothing");
        std::thread::sleep(Duration::from_millis(200));
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM workflows WHERE run_id = (SELECT max(id) FROM runs)
                   AND ended_at_us IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if n > 20 {
            break;
        }
    }
    killed.kill().unwrap();
    killed.wait().unwrap();

    // Retention removes the old run's first minutes (and nothing recent).
    ok(multiagents(&db.path)
        .args(["cleanup", "--older-than", "7m"])
        .output()
        .unwrap());
    let truth = read_truth(&conn);
    let mark = truth.watermarks.get(&old_run).copied();
    assert!(
        mark.is_some_and(|m| m > t0 && m < t0 + 6 * MINUTE),
        "the old run is partly removed: {mark:?}"
    );
    let remaining: i64 = conn
        .query_row(
            "SELECT count(*) FROM workflows WHERE run_id = ?1",
            [old_run],
            |r| r.get(0),
        )
        .unwrap();
    assert!(remaining > 0 && remaining < 400, "{remaining} of 400 left");

    let until = chrono_like(now + MINUTE);
    let mut runs: Vec<Option<i64>> = conn
        .prepare("SELECT id FROM runs ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| Some(r.unwrap()))
        .collect();
    runs.push(None);
    for run in runs {
        check_scope(&db.path, &conn, &truth, run, &until);
    }
}

/// An RFC 3339 time for `--until`.
fn chrono_like(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[test]
fn the_load_test_report_adds_up_when_trace_retention_is_shorter_than_the_run() {
    let db = temp_db();
    let config = db.dir.path().join("short.yaml");
    // Keep traces about a second, and clean up every 0.6 s: the run's own
    // first workflows are deleted while it still runs.
    std::fs::write(
        &config,
        "event_monitoring:\n  trace_retention_hours: 0.0003\n  cleanup_interval_minutes: 0.01\n",
    )
    .unwrap();
    let report: Value =
        serde_json::from_str(&ok(load_test(&db.path, &config, "4s").output().unwrap())).unwrap();
    let n = |k: &str| report[k].as_u64().unwrap();
    assert!(n("started") > 0);
    assert_eq!(n("finished") + n("unfinished"), n("started"), "{report}");
    assert_eq!(
        n("completed") + n("failed") + n("compensated") + n("cancelled"),
        n("finished"),
        "{report}"
    );
    assert_eq!(
        report["events"]["total_events"].as_u64().unwrap(),
        report["events"]["events_by_status"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>()
    );
    // When retention did delete this run's rows, the report says so.
    let conn = Connection::open(&db.path).unwrap();
    let deleted: i64 = conn
        .query_row("SELECT count(*) FROM retention_watermarks", [], |r| {
            r.get(0)
        })
        .unwrap();
    let source = report["provenance"]["source"].as_str().unwrap();
    if deleted > 0 {
        assert_ne!(source, "raw", "{report}");
    } else {
        assert_eq!(source, "raw", "{report}");
    }
}
