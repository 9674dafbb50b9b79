//! The monitoring queries against a generated dataset written through the
//! real writer: every figure is computed again in Rust from the generated
//! values and compared. Also: every query's plan uses indexes, health at a
//! fixed clock, empty windows, and a percentile property test.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use multiagents::monitor::Precision;
use multiagents::monitor::{
    self, ALL_TIME, EventMonitor, HealthStatus, HealthThresholds, MonitorError, RunScope,
    WorkerMonitor,
};
use multiagents::sql::QUERY_FILES;
use multiagents::store::{EventOutcome, EventType, IdAllocator, Store, Writer};
use multiagents::window::TimeWindow;
use proptest::prelude::*;
use support::dataset::{self, Dataset, GenEvent};
use support::*;

/// A minute-aligned start, so that rollups and raw rows agree.
const T0: i64 = 1_700_000_040_000_000;
const MINUTE: i64 = 60_000_000;

// ---------------------------------------------------------------------------
// Independent computations.

/// Nearest rank (tests/support/stats.rs) on whole percentages.
fn nearest_rank(sorted: &[i64], p: u64) -> Option<i64> {
    support::stats::nearest_rank(sorted, p as f64).copied()
}

fn in_scope(id: i64, scope: RunScope) -> bool {
    let (first, last) = scope.id_bounds();
    (first..=last).contains(&id)
}

/// Events that ended in the window, within the scope.
fn ended_in(events: &[GenEvent], w: TimeWindow, scope: RunScope) -> Vec<&GenEvent> {
    events
        .iter()
        .filter(|e| in_scope(e.id, scope))
        .filter(|e| {
            e.end
                .as_ref()
                .is_some_and(|x| x.finished_at_us >= w.start_us && x.finished_at_us < w.end_us)
        })
        .collect()
}

fn outcome(e: &GenEvent) -> EventOutcome {
    e.end.as_ref().map(|x| x.outcome).expect("ended")
}

fn finished(e: &GenEvent) -> i64 {
    e.end.as_ref().map(|x| x.finished_at_us).expect("ended")
}

fn pct(part: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        part as f64 * 100.0 / total as f64
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

macro_rules! assert_close {
    ($a:expr, $b:expr, $($ctx:tt)*) => {
        assert!(close($a, $b), "{} != {}: {}", $a, $b, format!($($ctx)*))
    };
}

struct Fixture {
    _db: TempDb,
    store: Store,
    writers: Vec<Writer>,
    runs: Vec<Dataset>,
}

impl Fixture {
    fn all_events(&self) -> Vec<GenEvent> {
        self.runs.iter().flat_map(|d| d.events.clone()).collect()
    }
}

/// Two runs in one file: 240 workflows over 5 minutes, then 120 more over
/// the following 4 minutes from a second process run.
fn fixture() -> Fixture {
    let db = temp_db();
    let (store, w1) = open(&db.path);
    let d1 = dataset::generate(&w1, 7, 240, 3, T0, 5 * MINUTE);
    dataset::write(&w1, &d1);
    let (_store2, w2) = open(&db.path);
    let d2 = dataset::generate(&w2, 11, 120, 0, T0 + 4 * MINUTE, 4 * MINUTE);
    dataset::write(&w2, &d2);
    Fixture {
        _db: db,
        store,
        writers: vec![w1, w2],
        runs: vec![d1, d2],
    }
}

fn windows() -> Vec<TimeWindow> {
    vec![
        ALL_TIME,
        TimeWindow {
            start_us: T0,
            end_us: T0 + 15 * MINUTE,
        },
        TimeWindow {
            start_us: T0 + MINUTE + 12_345_678,
            end_us: T0 + 5 * MINUTE + 1,
        },
        TimeWindow {
            start_us: T0 + 2 * MINUTE,
            end_us: T0 + 3 * MINUTE,
        },
    ]
}

fn scopes(f: &Fixture) -> Vec<RunScope> {
    vec![
        RunScope::AllRuns,
        RunScope::Run(f.runs[0].run_id),
        RunScope::Run(f.runs[1].run_id),
    ]
}

// ---------------------------------------------------------------------------

#[test]
fn the_dataset_has_what_the_tests_rely_on() {
    let f = fixture();
    let events = f.all_events();
    let count = |o: EventOutcome| {
        events
            .iter()
            .filter(|e| e.end.as_ref().is_some_and(|x| x.outcome == o))
            .count()
    };
    assert!(count(EventOutcome::Failed) > 20);
    assert!(count(EventOutcome::Timeout) > 5);
    assert!(count(EventOutcome::Cancelled) > 2);
    assert!(
        events
            .iter()
            .any(|e| e.event_type == EventType::Compensation)
    );
    assert!(events.iter().any(|e| e.end.is_none()), "in-flight events");
    assert!(events.iter().any(|e| e.attempt == 2), "retries");
    let conn = f.store.reader().unwrap();
    assert_eq!(
        count_rows(&conn, "SELECT count(*) FROM events"),
        events.len() as i64
    );
}

fn count_rows(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn event_metrics_match_the_generated_events() {
    let f = fixture();
    let events = f.all_events();
    let conn = f.store.reader().unwrap();
    for scope in scopes(&f) {
        for w in windows() {
            // Exact (raw rows): the definitions; tests/sketches.rs holds the
            // sketch answers to these within 1 %.
            let got =
                monitor::event::event_metrics_with(&conn, w, scope, Precision::Exact).unwrap();
            let ended = ended_in(&events, w, scope);
            let n = ended.len();
            let ctx = format!("{scope:?} {w:?}");
            assert_eq!(got.total_events, n as u64, "{ctx}");
            let by = |o: EventOutcome| ended.iter().filter(|e| outcome(e) == o).count();
            let status: BTreeMap<String, u64> = [
                ("cancelled", by(EventOutcome::Cancelled)),
                ("completed", by(EventOutcome::Completed)),
                ("failed", by(EventOutcome::Failed)),
                ("timeout", by(EventOutcome::Timeout)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v as u64))
            .collect();
            assert_eq!(got.events_by_status, status, "{ctx}");
            let commands = ended
                .iter()
                .filter(|e| e.event_type == EventType::Command)
                .count();
            assert_eq!(got.events_by_type["command"], commands as u64, "{ctx}");
            assert_eq!(
                got.events_by_type["compensation"],
                (n - commands) as u64,
                "{ctx}"
            );
            assert_close!(
                got.success_rate,
                pct(by(EventOutcome::Completed), n),
                "{ctx}"
            );
            assert_close!(
                got.error_rate,
                pct(by(EventOutcome::Failed) + by(EventOutcome::Timeout), n),
                "{ctx}"
            );
            let mut latencies: Vec<i64> = ended
                .iter()
                .map(|e| finished(e) - e.dispatched_at_us)
                .collect();
            latencies.sort_unstable();
            let avg = if n == 0 {
                0.0
            } else {
                latencies.iter().sum::<i64>() as f64 / n as f64 / 1000.0
            };
            assert_close!(got.avg_latency_ms, avg, "{ctx}");
            let p95 = nearest_rank(&latencies, 95).map_or(0.0, |v| v as f64 / 1000.0);
            assert_close!(got.p95_latency_ms, p95, "{ctx}");
            if w != ALL_TIME {
                assert_close!(got.throughput_per_minute, n as f64 / w.minutes(), "{ctx}");
            }
            let mut per_minute: BTreeMap<i64, u64> = BTreeMap::new();
            for e in &ended {
                *per_minute
                    .entry(finished(e).div_euclid(MINUTE))
                    .or_default() += 1;
            }
            let peak = per_minute.values().copied().max().unwrap_or(0);
            assert_eq!(got.peak_throughput, peak, "{ctx}");
            assert!(n > 0 || got.success_rate == 0.0);
        }
    }
}

#[test]
fn rollup_summary_equals_raw_metrics_on_minute_aligned_windows() {
    let f = fixture();
    let conn = f.store.reader().unwrap();
    for (start, end) in [(0, 15), (1, 4), (2, 3), (0, 1)] {
        let w = TimeWindow {
            start_us: T0 + start * MINUTE,
            end_us: T0 + end * MINUTE,
        };
        let raw = monitor::event::event_metrics(&conn, w, RunScope::AllRuns).unwrap();
        let rolled = monitor::event::event_summary_from_rollups(
            &conn,
            w,
            multiagents::monitor::RunScope::AllRuns,
        )
        .unwrap();
        assert_eq!(rolled.total_events, raw.total_events, "{w:?}");
        assert_eq!(rolled.events_by_type, raw.events_by_type, "{w:?}");
        assert_eq!(rolled.events_by_status, raw.events_by_status, "{w:?}");
        assert_close!(rolled.success_rate, raw.success_rate, "{w:?}");
        assert_close!(rolled.error_rate, raw.error_rate, "{w:?}");
        assert_close!(rolled.avg_latency_ms, raw.avg_latency_ms, "{w:?}");
        assert_close!(
            rolled.throughput_per_minute,
            raw.throughput_per_minute,
            "{w:?}"
        );
        assert_eq!(rolled.peak_throughput, raw.peak_throughput, "{w:?}");
    }
}

#[test]
fn worker_performance_matches_the_generated_events() {
    let f = fixture();
    let events = f.all_events();
    let conn = f.store.reader().unwrap();
    let workers = [
        "fast_processor",
        "slow_processor",
        "flaky_processor",
        "compensator",
    ];
    for scope in scopes(&f) {
        for w in windows() {
            for name in workers {
                let got = monitor::performance::worker_performance_with(
                    &conn,
                    name,
                    w,
                    scope,
                    Precision::Exact,
                )
                .unwrap();
                let mine: Vec<&GenEvent> = ended_in(&events, w, scope)
                    .into_iter()
                    .filter(|e| e.worker == name)
                    .collect();
                let n = mine.len();
                let ctx = format!("{name} {scope:?} {w:?}");
                let by = |o: EventOutcome| mine.iter().filter(|e| outcome(e) == o).count();
                assert_eq!(got.total_executions, n as u64, "{ctx}");
                assert_eq!(
                    got.failed_executions,
                    by(EventOutcome::Failed) as u64,
                    "{ctx}"
                );
                assert_eq!(
                    got.timeout_executions,
                    by(EventOutcome::Timeout) as u64,
                    "{ctx}"
                );
                assert_close!(
                    got.success_rate,
                    pct(by(EventOutcome::Completed), n),
                    "{ctx}"
                );
                assert_close!(
                    got.error_rate,
                    pct(by(EventOutcome::Failed) + by(EventOutcome::Timeout), n),
                    "{ctx}"
                );
                let mut durations: Vec<i64> = mine
                    .iter()
                    .map(|e| e.end.as_ref().map(|x| x.duration_us).unwrap())
                    .collect();
                durations.sort_unstable();
                let avg = if n == 0 {
                    0.0
                } else {
                    durations.iter().sum::<i64>() as f64 / n as f64 / 1000.0
                };
                assert_close!(got.avg_duration_ms, avg, "{ctx}");
                for (p, value) in [
                    (50, got.p50_duration_ms),
                    (95, got.p95_duration_ms),
                    (99, got.p99_duration_ms),
                ] {
                    let want = nearest_rank(&durations, p).map_or(0.0, |v| v as f64 / 1000.0);
                    assert_close!(value, want, "p{p} {ctx}");
                }
                let last = events
                    .iter()
                    .filter(|e| e.worker == name && in_scope(e.id, scope))
                    .filter_map(|e| e.end.as_ref().map(|x| x.finished_at_us))
                    .filter(|&t| t <= w.end_us)
                    .max();
                assert_eq!(got.last_execution_at_us, last, "{ctx}");
            }
        }
    }
}

#[test]
fn tracked_workers_and_the_summary_match() {
    let f = fixture();
    let events = f.all_events();
    let conn = f.store.reader().unwrap();
    let thresholds = HealthThresholds::default();
    for scope in scopes(&f) {
        for w in windows() {
            let ended = ended_in(&events, w, scope);
            let mut names: Vec<String> = ended.iter().map(|e| e.worker.clone()).collect();
            names.sort();
            names.dedup();
            let ctx = format!("{scope:?} {w:?}");
            assert_eq!(
                monitor::worker::tracked_workers(&conn, w, scope).unwrap(),
                names,
                "{ctx}"
            );
            let summary =
                monitor::worker::worker_performance_summary(&conn, w, scope, &thresholds).unwrap();
            assert_eq!(
                summary.workers.keys().cloned().collect::<Vec<_>>(),
                names,
                "{ctx}"
            );
            let agg = &summary.aggregated_metrics;
            assert_eq!(agg.total_commands, ended.len() as u64, "{ctx}");
            let rates: Vec<f64> = names
                .iter()
                .map(|n| {
                    let mine: Vec<_> = ended.iter().filter(|e| &e.worker == n).collect();
                    pct(
                        mine.iter()
                            .filter(|e| outcome(e) == EventOutcome::Completed)
                            .count(),
                        mine.len(),
                    )
                })
                .collect();
            let mean = if rates.is_empty() {
                0.0
            } else {
                rates.iter().sum::<f64>() / rates.len() as f64
            };
            assert_close!(agg.average_success_rate, mean, "{ctx}");
            // Every worker is either a problem or ranked (top 3 of the rest).
            let problems: Vec<&str> = summary
                .problem_workers
                .iter()
                .map(|p| p.worker.as_str())
                .collect();
            for p in &summary.problem_workers {
                assert!(!p.issues.is_empty());
                assert_ne!(p.status, HealthStatus::Healthy);
            }
            let expected_top = (names.len() - problems.len()).min(3);
            assert_eq!(summary.top_performers.len(), expected_top, "{ctx}");
            for pair in summary.top_performers.windows(2) {
                assert!(pair[0].success_rate >= pair[1].success_rate, "{ctx}");
            }
        }
    }
    // Over all time, slow_processor is slow and flaky_processor errs.
    let summary = monitor::worker::worker_performance_summary(
        &conn,
        ALL_TIME,
        RunScope::AllRuns,
        &thresholds,
    )
    .unwrap();
    let problems: Vec<&str> = summary
        .problem_workers
        .iter()
        .map(|p| p.worker.as_str())
        .collect();
    assert_eq!(problems, ["flaky_processor", "slow_processor"]);
}

#[test]
fn error_patterns_match_the_generated_errors() {
    let f = fixture();
    let events = f.all_events();
    let conn = f.store.reader().unwrap();
    for scope in scopes(&f) {
        for w in windows() {
            for worker in [None, Some("flaky_processor"), Some("fast_processor")] {
                let got = monitor::event::error_patterns(&conn, w, scope, worker).unwrap();
                let errs: Vec<&GenEvent> = ended_in(&events, w, scope)
                    .into_iter()
                    .filter(|e| worker.is_none_or(|name| e.worker == name))
                    .filter(|e| matches!(outcome(e), EventOutcome::Failed | EventOutcome::Timeout))
                    .collect();
                let ctx = format!("{worker:?} {scope:?} {w:?}");
                let mut groups: BTreeMap<String, Vec<&GenEvent>> = BTreeMap::new();
                for e in &errs {
                    let end = e.end.as_ref().unwrap();
                    let key = end.error_type.clone().unwrap_or_else(|| match end.outcome {
                        EventOutcome::Timeout => "timeout".into(),
                        _ => "failed".into(),
                    });
                    groups.entry(key).or_default().push(e);
                }
                assert_eq!(got.len(), groups.len(), "{ctx}");
                for pair in got.windows(2) {
                    assert!(pair[0].count >= pair[1].count, "most frequent first: {ctx}");
                }
                for pattern in &got {
                    let group = &groups[&pattern.error_type];
                    assert_eq!(pattern.count, group.len() as u64, "{ctx}");
                    let mut workers: Vec<String> = group.iter().map(|e| e.worker.clone()).collect();
                    workers.sort();
                    workers.dedup();
                    assert_eq!(pattern.workers, workers, "{ctx}");
                    let first = group.iter().map(|e| finished(e)).min().unwrap();
                    let last = group.iter().map(|e| finished(e)).max().unwrap();
                    assert_eq!(pattern.first_seen_us, first, "{ctx}");
                    assert_eq!(pattern.last_seen_us, last, "{ctx}");
                    assert_eq!(pattern.first_seen, multiagents::clock::format_iso(first));
                    assert_eq!(pattern.last_seen, multiagents::clock::format_iso(last));
                    let latest = group.iter().max_by_key(|e| (finished(e), e.id)).unwrap();
                    assert_eq!(
                        pattern.example,
                        latest.end.as_ref().unwrap().error_message,
                        "{ctx}"
                    );
                    assert_eq!(
                        pattern.example_transaction.as_deref(),
                        Some(latest.transaction_id.as_str()),
                        "{ctx}"
                    );
                }
            }
        }
    }
    let all = monitor::event::error_patterns(&conn, ALL_TIME, RunScope::AllRuns, None).unwrap();
    let network = all
        .iter()
        .find(|p| p.error_type == "NetworkError")
        .expect("NetworkError pattern");
    assert_eq!(network.workers, ["flaky_processor"]);
    assert!(
        network
            .example
            .as_deref()
            .is_some_and(|m| m.starts_with("NetworkError: "))
    );
}

/// (event_type, stage, worker, event_id, at_us) of one trace row.
type TraceRow = (String, String, Option<String>, Option<i64>, i64);

/// The trace as the generated data says it should be: workflow pending and
/// running first at a tie, compensating and terminal last, events in id
/// order, stages in lifecycle order.
fn expected_trace(data: &Dataset, transaction_id: &str) -> Vec<TraceRow> {
    let wf = data
        .workflows
        .iter()
        .find(|w| w.transaction_id == transaction_id)
        .unwrap();
    let mut rows: Vec<((i64, u8, i64, u8), TraceRow)> = Vec::new();
    let mut push_wf = |stage: &str, at: i64, grp: u8| {
        rows.push((
            (at, grp, i64::MIN, 0),
            ("workflow".into(), stage.into(), None, None, at),
        ))
    };
    push_wf("pending", wf.created_at_us, 0);
    push_wf("running", wf.started_at_us, 1);
    if let Some(at) = wf.compensating_at_us {
        push_wf("compensating", at, 3);
    }
    if let Some((state, at)) = wf.end {
        push_wf(state.as_str(), at, 4);
    }
    for e in data.events.iter().filter(|e| e.workflow_id == wf.id) {
        // Pick-up and processing stamps are recorded with the event's end,
        // so an in-flight event shows only its dispatch.
        let mut stages = vec![("dispatched".to_string(), e.dispatched_at_us)];
        if let Some(end) = &e.end {
            stages.push(("picked_up".to_string(), e.picked_up_at_us));
            stages.push(("processing".to_string(), e.processing_at_us));
            stages.push((end.outcome.as_str().to_string(), end.finished_at_us));
        }
        for (ord, (stage, at)) in stages.into_iter().enumerate() {
            rows.push((
                (at, 2, e.id, ord as u8),
                (
                    e.event_type.as_str().into(),
                    stage,
                    Some(e.worker.clone()),
                    Some(e.id),
                    at,
                ),
            ));
        }
    }
    rows.sort_by_key(|r| r.0);
    rows.into_iter().map(|r| r.1).collect()
}

#[test]
fn transaction_traces_list_every_stage_in_order() {
    let f = fixture();
    let monitor = EventMonitor::new(f.store.clone());
    let data = &f.runs[0];
    // A completed one, a compensated one, a cancelled one, an in-flight one.
    let mut picks = Vec::new();
    for pred in [
        |w: &dataset::GenWorkflow| w.end.map(|e| e.0.as_str()) == Some("completed"),
        |w: &dataset::GenWorkflow| w.compensating_at_us.is_some(),
        |w: &dataset::GenWorkflow| w.end.map(|e| e.0.as_str()) == Some("cancelled"),
        |w: &dataset::GenWorkflow| w.end.is_none(),
    ] {
        picks.push(
            data.workflows
                .iter()
                .find(|w| pred(w))
                .expect("dataset has this kind")
                .transaction_id
                .clone(),
        );
    }
    for tx in &picks {
        let got = monitor.get_transaction_trace(tx).unwrap();
        let got: Vec<_> = got
            .into_iter()
            .map(|s| {
                assert_eq!(s.timestamp, multiagents::clock::format_iso(s.at_us));
                (s.event_type, s.stage, s.worker, s.event_id, s.at_us)
            })
            .collect();
        assert_eq!(got, expected_trace(data, tx), "{tx}");
    }
    let err = monitor.get_transaction_trace("no-such-tx").unwrap_err();
    assert!(matches!(err, MonitorError::UnknownTransaction { .. }));
    assert!(err.to_string().contains("no-such-tx"), "{err}");
}

#[test]
fn unknown_workers_are_typed_errors_naming_the_worker() {
    let f = fixture();
    let workers = WorkerMonitor::new(f.store.clone());
    let events = EventMonitor::new(f.store.clone());
    let w = TimeWindow::ending_at(T0 + 10 * MINUTE, Duration::from_secs(600));
    for err in [
        workers.get_worker_performance("nobody", w).unwrap_err(),
        workers.check_worker_health("nobody").unwrap_err(),
        events.get_error_patterns(w, Some("nobody")).unwrap_err(),
    ] {
        assert!(matches!(err, MonitorError::UnknownWorker { .. }), "{err}");
        assert!(err.to_string().contains("\"nobody\""), "{err}");
    }
}

#[test]
fn empty_windows_give_zeros() {
    let f = fixture();
    let events = EventMonitor::new(f.store.clone());
    let workers = WorkerMonitor::new(f.store.clone());
    let w = TimeWindow::ending_at(T0 - 60 * MINUTE, Duration::from_secs(300));
    let m = events.get_event_metrics(w).unwrap();
    assert_eq!(m.total_events, 0);
    for v in [
        m.success_rate,
        m.error_rate,
        m.avg_latency_ms,
        m.p95_latency_ms,
        m.throughput_per_minute,
    ] {
        assert_eq!(v, 0.0);
    }
    assert_eq!(m.peak_throughput, 0);
    assert!(m.events_by_status.values().all(|&v| v == 0));
    let s = events.get_event_summary(w).unwrap();
    assert_eq!((s.total_events, s.avg_latency_ms), (0, 0.0));
    assert!(events.get_error_patterns(w, None).unwrap().is_empty());
    let p = workers.get_worker_performance("fast_processor", w).unwrap();
    assert_eq!(p.total_executions, 0);
    for v in [
        p.success_rate,
        p.error_rate,
        p.avg_duration_ms,
        p.p50_duration_ms,
        p.p95_duration_ms,
        p.p99_duration_ms,
    ] {
        assert_eq!(v, 0.0);
    }
    assert!(workers.get_tracked_workers(Some(w)).unwrap().is_empty());
    let summary = workers.get_worker_performance_summary(w).unwrap();
    assert_eq!(summary.aggregated_metrics.total_commands, 0);
    assert_eq!(summary.aggregated_metrics.average_success_rate, 0.0);
    assert!(summary.top_performers.is_empty() && summary.problem_workers.is_empty());
    // JSON has no NaN (serde_json would write null) and the seed's keys.
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["aggregated_metrics"]["average_duration_ms"], 0.0);
    let json = serde_json::to_value(&m).unwrap();
    for key in [
        "total_events",
        "events_by_type",
        "events_by_status",
        "success_rate",
        "error_rate",
        "avg_latency_ms",
        "p95_latency_ms",
        "throughput_per_minute",
        "peak_throughput",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
}

#[test]
fn health_at_a_fixed_clock_gives_each_status() {
    let f = fixture();
    let events = &f.runs[0].events;
    let last_end = events
        .iter()
        .filter_map(|e| e.end.as_ref().map(|x| x.finished_at_us))
        .max()
        .unwrap();
    let monitor = WorkerMonitor::new(f.store.clone()).with_scope(RunScope::Run(f.runs[0].run_id));
    // Just after run 1's last event: the workers of the seed's shapes.
    let at = last_end + 1;
    let all = monitor.get_all_workers_health_at(at).unwrap();
    let status = |w: &str| all[w].status;
    assert_eq!(status("flaky_processor"), HealthStatus::Failing);
    assert!(
        all["flaky_processor"].issues[0].contains("% threshold"),
        "{:?}",
        all["flaky_processor"].issues
    );
    assert_eq!(status("slow_processor"), HealthStatus::Degraded);
    assert!(all["slow_processor"].issues[0].contains("1000.0 ms"));
    assert_eq!(status("fast_processor"), HealthStatus::Healthy);
    assert!(all["fast_processor"].issues.is_empty());
    // A minute later nothing of run 1 has ended for more than 30 s.
    let later = monitor
        .check_worker_health_at("fast_processor", at + MINUTE)
        .unwrap();
    assert_eq!(later.status, HealthStatus::Inactive);
    assert!(later.issues[0].contains("30.0 s"), "{:?}", later.issues);
    // Before any event ended the worker has never been active.
    let before = monitor
        .check_worker_health_at("fast_processor", T0 - MINUTE)
        .unwrap();
    assert_eq!(before.status, HealthStatus::Inactive);
    // Looser thresholds make the flaky worker merely degraded or healthy.
    let loose = WorkerMonitor::new(f.store.clone())
        .with_scope(RunScope::Run(f.runs[0].run_id))
        .with_thresholds(HealthThresholds {
            error_rate_threshold: 0.9,
            slow_execution_threshold_ms: 10_000.0,
            ..HealthThresholds::default()
        });
    assert_eq!(
        loose
            .check_worker_health_at("flaky_processor", at)
            .unwrap()
            .status,
        HealthStatus::Healthy
    );
    // The tracker reports the first round and then only the changes.
    let mut tracker = monitor::HealthTracker::new();
    let round = |t: i64| -> BTreeMap<String, HealthStatus> {
        monitor
            .get_all_workers_health_at(t)
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, v.status))
            .collect()
    };
    assert_eq!(tracker.tick(&round(at)).len(), all.len());
    assert!(tracker.tick(&round(at)).is_empty());
    let changes = tracker.tick(&round(at + MINUTE));
    assert!(
        changes
            .iter()
            .all(|t| t.to == HealthStatus::Inactive && t.from.is_some())
    );
    assert_eq!(changes.len(), all.len());
}

#[test]
fn run_scopes_are_id_ranges() {
    let f = fixture();
    let (first, last) = IdAllocator::run_range(f.runs[1].run_id);
    assert!(
        f.runs[1]
            .events
            .iter()
            .all(|e| (first..=last).contains(&e.id))
    );
    assert!(
        !f.runs[0]
            .events
            .iter()
            .any(|e| (first..=last).contains(&e.id))
    );
    let m = EventMonitor::new(f.store.clone());
    let all = m.get_event_metrics(ALL_TIME).unwrap().total_events;
    let one = m
        .clone()
        .with_scope(RunScope::Run(f.runs[0].run_id))
        .get_event_metrics(ALL_TIME)
        .unwrap()
        .total_events;
    let two = m
        .with_scope(RunScope::Run(f.runs[1].run_id))
        .get_event_metrics(ALL_TIME)
        .unwrap()
        .total_events;
    assert_eq!(all, one + two);
    assert!(one > 0 && two > 0);
    for w in &f.writers {
        w.blocking_flush().unwrap();
    }
}

// ---------------------------------------------------------------------------
// Plans.

/// Names the query defines with `WITH name AS (` / `name (cols) AS (`: the
/// intermediate results a plan may scan.
fn cte_names(sql: &str) -> Vec<String> {
    sql.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("--") && l.ends_with('(') && l.contains(" AS "))
        .filter_map(|l| {
            let l = l.strip_prefix("WITH ").unwrap_or(l);
            let l = l.strip_prefix("RECURSIVE ").unwrap_or(l);
            let name = l.split([' ', '(']).next()?;
            (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                .then(|| name.to_string())
        })
        .collect()
}

/// Full scans in a plan: a SCAN of anything but the tiny `workers` table,
/// an intermediate result, or constant rows; and any rowid range (which for
/// "all runs" is the whole table).
fn full_scans(conn: &rusqlite::Connection, name: &str, sql: &str) -> Vec<String> {
    let allowed = cte_names(sql);
    // These two read one run at a time: their rowid range is that run's
    // id range, never the whole table.
    let one_run_at_a_time = matches!(name, "runs.sql" | "run_bounds.sql");
    // These find a workflow's events by its id range (its id to its
    // last_event_id, migrations/0006_compact_events.sql): one workflow's
    // events and what its run dispatched meanwhile, never the whole table.
    let one_workflow_at_a_time = matches!(name, "transaction_trace.sql" | "active_workflows.sql");
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    // raw_query leaves the named parameters unbound (NULL): a plan does not
    // depend on their values.
    let mut rows = stmt.raw_query();
    let mut details = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        details.push(row.get::<_, String>(3).unwrap());
    }
    details
        .into_iter()
        .filter(|d| {
            if d.contains("(rowid>") || d.contains("(rowid<") {
                return !(one_run_at_a_time || one_workflow_at_a_time);
            }
            // Partial indexes of unfinished things hold only those rows:
            // firing alerts, active workflows.
            if d.contains("USING INDEX alerts_firing") || d.contains("USING INDEX workflows_active")
            {
                return false;
            }
            let Some(rest) = d.strip_prefix("SCAN ") else {
                return false;
            };
            let target = rest.split(' ').next().unwrap_or("");
            // `workers`, `hosts` and `runs` hold a row per worker name, per
            // worker host name and per process run (the sketch queries read
            // every run's sketched_until_us), `retention_watermarks` at most
            // three rows per run; `json_each` reads a JSON array parameter
            // (:crashed_runs), a handful of run ids.
            !(target == "workers"
                || target == "hosts"
                || target == "json_each"
                || target == "retention_watermarks"
                || target == "runs"
                || (one_run_at_a_time && target == "r")
                || target.starts_with("(subquery")
                || rest.contains("CONSTANT ROW")
                || allowed.iter().any(|a| a == target))
        })
        .map(|d| format!("{name}: {d}"))
        .collect()
}

#[test]
fn query_files_list_matches_the_directory() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/queries");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().into_string().ok()?;
            (e.file_type().ok()?.is_file() && name.ends_with(".sql")).then_some(name)
        })
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = QUERY_FILES.iter().map(|(n, _)| n.to_string()).collect();
    listed.sort();
    assert_eq!(
        listed, on_disk,
        "add new queries/*.sql files to QUERY_FILES"
    );
    for (name, sql) in QUERY_FILES {
        let text = std::fs::read_to_string(format!("{dir}/{name}")).unwrap();
        assert_eq!(&text, sql, "{name} is embedded from its file");
    }
}

#[test]
fn every_query_searches_indexes_on_a_fresh_database() {
    let db = temp_db();
    let (store, writer) = open(&db.path);
    let conn = store.reader().unwrap();
    let scans: Vec<String> = QUERY_FILES
        .iter()
        .flat_map(|(name, sql)| full_scans(&conn, name, sql))
        .collect();
    assert!(scans.is_empty(), "full scans:\n{}", scans.join("\n"));
    writer.blocking_shutdown().unwrap();
}

#[test]
fn every_query_searches_indexes_after_analyze_on_real_data() {
    let f = fixture();
    for w in &f.writers {
        w.blocking_shutdown().unwrap();
    }
    // Statistics change the planner's choices; with few workers it may
    // prefer other plans. The plans must still avoid full scans.
    let conn = rusqlite::Connection::open(f.store.path()).unwrap();
    conn.execute_batch("ANALYZE").unwrap();
    let scans: Vec<String> = QUERY_FILES
        .iter()
        .flat_map(|(name, sql)| full_scans(&conn, name, sql))
        .collect();
    assert!(scans.is_empty(), "full scans:\n{}", scans.join("\n"));
}

#[test]
fn the_scan_detector_catches_full_scans() {
    let db = temp_db();
    let (store, writer) = open(&db.path);
    let conn = store.reader().unwrap();
    let bad = "SELECT count(*) FROM events AS e WHERE e.duration_us > :x";
    assert_eq!(full_scans(&conn, "bad", bad).len(), 1);
    let bad = "SELECT count(*) FROM events WHERE id BETWEEN :a AND :b";
    assert_eq!(full_scans(&conn, "bad", bad).len(), 1);
    writer.blocking_shutdown().unwrap();
}

// ---------------------------------------------------------------------------
// Percentiles.

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn sql_percentiles_are_nearest_rank(
        samples in prop::collection::vec((0i64..2_000, 0i64..50), 1..60)
    ) {
        let db = temp_db();
        let (store, writer) = open(&db.path);
        // One workflow whose events carry the durations; latency adds a
        // random queueing time so that the latency order differs.
        let mut records = workflow_records(&writer, 0, T0);
        let wf_id = match &records[0] {
            multiagents::store::Record::WorkflowStarted(w) => w.id,
            _ => unreachable!(),
        };
        records.pop(); // keep the workflow running
        let mut durations = Vec::new();
        let mut latencies = Vec::new();
        for (i, (duration, queued)) in samples.iter().enumerate() {
            let dispatched = T0 + i as i64 * 10_000;
            let processing = dispatched + queued;
            let finished = processing + duration;
            durations.push(*duration);
            latencies.push(finished - dispatched);
            let id = writer.next_id();
            let worker: std::sync::Arc<str> = std::sync::Arc::from("p");
            records.push(multiagents::store::Record::EventDispatched(multiagents::store::EventDispatched {
                id, workflow_id: wf_id, event_type: EventType::Command, step: "s".into(),
                worker: worker.clone(), attempt: 1, dispatched_at_us: dispatched, payload_size_bytes: 1,
            }));
            records.push(multiagents::store::Record::EventFinished(multiagents::store::EventFinished {
                id, outcome: EventOutcome::Completed, picked_up_at_us: Some(processing),
                processing_at_us: Some(processing), finished_at_us: finished, duration_us: *duration,
                result_size_bytes: None, error_type: None, error_message: None, worker,
                event_type: EventType::Command, dispatched_at_us: dispatched, payload_size_bytes: 1,
                host: None,
            }));
        }
        for r in records {
            writer.blocking_record(r).unwrap();
        }
        writer.blocking_flush().unwrap();
        durations.sort_unstable();
        latencies.sort_unstable();
        let conn = store.reader().unwrap();
        let perf = monitor::performance::worker_performance_with(&conn, "p", ALL_TIME, RunScope::AllRuns, Precision::Exact)
            .unwrap();
        for (p, got) in [(50, perf.p50_duration_ms), (95, perf.p95_duration_ms), (99, perf.p99_duration_ms)] {
            let want = nearest_rank(&durations, p).unwrap() as f64 / 1000.0;
            prop_assert_eq!(got, want, "p{} of {:?}", p, durations);
        }
        let m = monitor::event::event_metrics_with(&conn, ALL_TIME, RunScope::AllRuns, Precision::Exact).unwrap();
        let want = nearest_rank(&latencies, 95).unwrap() as f64 / 1000.0;
        prop_assert_eq!(m.p95_latency_ms, want);
        drop(conn);
        writer.blocking_shutdown().unwrap();
    }
}

// ---------------------------------------------------------------------------
// The percentile definition itself (tests/support/stats.rs), against counting.

/// The definition, by counting: the smallest value `v` of the data with
/// `count(x <= v) >= p% of n`.
fn naive_nearest_rank<T: Ord + Clone>(values: &[T], p: f64) -> Option<T> {
    let mut sorted = values.to_vec();
    sorted.sort();
    let n = values.len() as f64;
    sorted
        .iter()
        .find(|v| {
            let at_most = values.iter().filter(|x| x <= v).count() as f64;
            at_most * 100.0 >= p * n
        })
        .cloned()
}

#[test]
fn nearest_rank_of_whole_percentages_of_twenty_values() {
    let v: Vec<i64> = (1..=20).collect();
    assert_eq!(support::stats::nearest_rank(&v, 95.0), Some(&19));
    assert_eq!(support::stats::nearest_rank(&v, 5.0), Some(&1));
    assert_eq!(support::stats::nearest_rank(&v, 100.0), Some(&20));
    assert_eq!(support::stats::nearest_rank(&v, 100.5), None);
    assert_eq!(support::stats::nearest_rank(&v, -1.0), None);
    assert_eq!(support::stats::nearest_rank(&v, f64::NAN), None);
}

proptest! {
    #[test]
    fn nearest_rank_matches_the_counting_definition(
        values in proptest::collection::vec(-1000i64..1000, 1..200),
        p in prop_oneof![(0u32..=100).prop_map(f64::from), 0.0f64..=100.0],
    ) {
        let mut sorted = values.clone();
        sorted.sort();
        prop_assert_eq!(support::stats::nearest_rank(&sorted, p).cloned(), naive_nearest_rank(&values, p));
    }

    #[test]
    fn nearest_rank_is_monotonic_in_p(
        values in proptest::collection::vec(any::<u16>(), 1..100),
        a in 0.0f64..=100.0,
        b in 0.0f64..=100.0,
    ) {
        let mut sorted = values;
        sorted.sort();
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(support::stats::nearest_rank(&sorted, lo) <= support::stats::nearest_rank(&sorted, hi));
    }
}
