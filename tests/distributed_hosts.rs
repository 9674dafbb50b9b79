//! `query hosts` (queries/hosts.sql, `monitor::hosts`): what each worker
//! host did, from real files written by the real writer with events that
//! carry their host (`EventFinished::host`) and the hosts' heartbeats
//! (`Record::HostSeen`).
//!
//! - Every figure of every host, and of the in-process executions, equals
//!   its recomputation in Rust from the raw rows (`event_rows`, `hosts`,
//!   `run_hosts` read whole), for several windows and run scopes.
//! - The hosts and the in-process executions add up to the executions of
//!   `query workers` (`worker_performance_summary`).
//! - The CLI prints the same answer as a table and as JSON.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use multiagents::monitor::health::HealthThresholds;
use multiagents::monitor::hosts::{HostActivity, HostsSummary, host_activity};
use multiagents::monitor::{ALL_TIME, RunScope, worker};
use multiagents::store::{HostSeen, Record, Writer};
use multiagents::window::TimeWindow;
use rusqlite::Connection;
use support::cli::{json_answer, stdout};
use support::dataset::{self, Dataset};
use support::{open, temp_db};

const T0: i64 = 1_700_000_000_000_000;
const MINUTE: i64 = 60_000_000;

/// A host's heartbeat as the orchestrator records it.
fn seen(
    name: &str,
    workers: &str,
    concurrency: i64,
    first: i64,
    last: i64,
    reclaimed: i64,
    duplicates: i64,
) -> Record {
    Record::HostSeen(HostSeen {
        name: Arc::from(name),
        workers: workers.to_string(),
        concurrency,
        first_seen_us: first,
        last_heartbeat_us: last,
        reclaimed,
        duplicates,
    })
}

/// Two runs in one file, as two orchestrators would write them:
/// - run 1: 240 workflows over 5 minutes, three in four on hosts `alpha`
///   and `beta`, the rest in process; `idle` only sent heartbeats (in its
///   second minute), `early` was heard of before the data.
/// - run 2: 120 workflows over 4 minutes from minute 4, on `beta` (again,
///   now with other workers and concurrency) and `gamma`, a third in
///   process.
///
/// The heartbeats are recorded twice, the second time with larger counters
/// (the orchestrator records them every two seconds: an upsert of totals).
fn write_two_runs(path: &Path) -> (Vec<Dataset>, Vec<Writer>) {
    let (_store, w1) = open(path);
    let mut d1 = dataset::generate(&w1, 7, 240, 3, T0, 5 * MINUTE);
    dataset::assign_hosts(&mut d1, &["alpha:101", "beta:202"], 4, 1);
    dataset::write(&w1, &d1);
    for r in [
        seen(
            "alpha:101",
            "fast_processor,slow_processor",
            8,
            T0 - 1_000,
            T0 + MINUTE,
            0,
            0,
        ),
        seen(
            "beta:202",
            "flaky_processor",
            16,
            T0 - 2_000,
            T0 + 2 * MINUTE,
            1,
            0,
        ),
        seen(
            "alpha:101",
            "fast_processor,slow_processor",
            8,
            T0,
            T0 + 7 * MINUTE,
            2,
            1,
        ),
        seen(
            "beta:202",
            "flaky_processor",
            16,
            T0 - 500,
            T0 + 7 * MINUTE,
            3,
            4,
        ),
        seen(
            "idle:303",
            "compensator",
            1,
            T0 + MINUTE,
            T0 + 2 * MINUTE,
            0,
            0,
        ),
        seen(
            "early:404",
            "fast_processor",
            2,
            T0 - 20 * MINUTE,
            T0 - 10 * MINUTE,
            5,
            0,
        ),
    ] {
        w1.blocking_record(r).unwrap();
    }
    w1.blocking_flush().unwrap();
    let (_store2, w2) = open(path);
    let mut d2 = dataset::generate(&w2, 11, 120, 0, T0 + 4 * MINUTE, 4 * MINUTE);
    dataset::assign_hosts(&mut d2, &["beta:202", "gamma:505"], 3, 2);
    dataset::write(&w2, &d2);
    for r in [
        seen(
            "beta:202",
            "fast_processor,flaky_processor",
            32,
            T0 + 4 * MINUTE,
            T0 + 9 * MINUTE,
            0,
            2,
        ),
        seen(
            "gamma:505",
            "slow_processor",
            4,
            T0 + 4 * MINUTE,
            T0 + 9 * MINUTE,
            7,
            0,
        ),
    ] {
        w2.blocking_record(r).unwrap();
    }
    w2.blocking_flush().unwrap();
    (vec![d1, d2], vec![w1, w2])
}

/// One raw event row: its id, host name (None: in process), status code,
/// end and duration.
struct RawEvent {
    id: i64,
    host: Option<String>,
    status_code: i64,
    finished_at_us: Option<i64>,
    duration_us: Option<i64>,
}

/// One raw run_hosts row with its host's name.
struct RawHeard {
    run_id: i64,
    host: String,
    workers: String,
    concurrency: i64,
    first_seen_us: i64,
    last_heartbeat_us: i64,
    reclaimed: i64,
    duplicates: i64,
}

fn raw_events(conn: &Connection) -> Vec<RawEvent> {
    conn.prepare(
        "SELECT e.id, h.name, e.status_code, e.finished_at_us, e.duration_us
         FROM event_rows e LEFT JOIN hosts h ON h.id = e.host_id",
    )
    .unwrap()
    .query_map([], |r| {
        Ok(RawEvent {
            id: r.get(0)?,
            host: r.get(1)?,
            status_code: r.get(2)?,
            finished_at_us: r.get(3)?,
            duration_us: r.get(4)?,
        })
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn raw_heard(conn: &Connection) -> Vec<RawHeard> {
    conn.prepare(
        "SELECT r.run_id, h.name, r.workers, r.concurrency, r.first_seen_us, r.last_heartbeat_us,
                r.reclaimed, r.duplicates
         FROM run_hosts r JOIN hosts h ON h.id = r.host_id",
    )
    .unwrap()
    .query_map([], |r| {
        Ok(RawHeard {
            run_id: r.get(0)?,
            host: r.get(1)?,
            workers: r.get(2)?,
            concurrency: r.get(3)?,
            first_seen_us: r.get(4)?,
            last_heartbeat_us: r.get(5)?,
            reclaimed: r.get(6)?,
            duplicates: r.get(7)?,
        })
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// Nearest-rank percentile of sorted values: rank ceil(p n / 100), from 1.
fn nearest_rank(sorted: &[i64], p: usize) -> i64 {
    sorted[(p * sorted.len()).div_ceil(100).max(1) - 1]
}

fn pct(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        part as f64 * 100.0 / total as f64
    }
}

/// Counts of executions: completed, failed, timeout, cancelled, duration sum.
#[derive(Default, Debug, Clone, Copy, PartialEq)]
struct Counts {
    total: u64,
    completed: u64,
    failed: u64,
    timeout: u64,
    cancelled: u64,
    duration_sum_us: i64,
}

impl Counts {
    fn add(&mut self, e: &RawEvent) {
        self.total += 1;
        match e.status_code {
            1 => self.completed += 1,
            2 => self.failed += 1,
            3 => self.timeout += 1,
            4 => self.cancelled += 1,
            other => panic!("a finished event with status code {other}"),
        }
        self.duration_sum_us += e.duration_us.unwrap_or(0);
    }
}

/// `query hosts` recomputed from the raw rows.
fn recompute(
    events: &[RawEvent],
    heard: &[RawHeard],
    window: TimeWindow,
    scope: RunScope,
) -> HostsSummary {
    let (first, last) = scope.id_bounds();
    let mut by_host: BTreeMap<String, (Counts, Vec<i64>)> = BTreeMap::new();
    let mut local = Counts::default();
    for e in events {
        let Some(end) = e.finished_at_us else {
            continue;
        };
        if end < window.start_us || end >= window.end_us || e.id < first || e.id > last {
            continue;
        }
        match &e.host {
            Some(h) => {
                let entry = by_host.entry(h.clone()).or_default();
                entry.0.add(e);
                entry.1.push(e.duration_us.unwrap_or(0));
            }
            None => local.add(e),
        }
    }
    // The runs' heartbeats overlapping the window.
    let mut runs_of: BTreeMap<String, Vec<&RawHeard>> = BTreeMap::new();
    for h in heard {
        let in_scope = scope.run_id().is_none_or(|r| r == h.run_id);
        if in_scope && h.first_seen_us < window.end_us && h.last_heartbeat_us >= window.start_us {
            runs_of.entry(h.host.clone()).or_default().push(h);
        }
    }
    let names: std::collections::BTreeSet<String> =
        by_host.keys().chain(runs_of.keys()).cloned().collect();
    let mut hosts = Vec::new();
    let mut total = local.total;
    for name in names {
        let (c, mut durations) = by_host.get(&name).cloned().unwrap_or_default();
        durations.sort_unstable();
        total += c.total;
        let runs = runs_of.get(&name).cloned().unwrap_or_default();
        let newest = runs
            .iter()
            .max_by_key(|h| (h.last_heartbeat_us, h.run_id))
            .copied();
        let last_heartbeat_us = runs.iter().map(|h| h.last_heartbeat_us).max();
        hosts.push(HostActivity {
            host: name,
            workers: newest.map(|h| h.workers.split(',').map(str::to_string).collect()),
            concurrency: newest.map(|h| h.concurrency),
            total_executions: c.total,
            successful_executions: c.completed,
            failed_executions: c.failed,
            timeout_executions: c.timeout,
            cancelled_executions: c.cancelled,
            success_rate: pct(c.completed, c.total),
            error_rate: pct(c.failed + c.timeout, c.total),
            avg_duration_ms: if c.total == 0 {
                0.0
            } else {
                c.duration_sum_us as f64 / c.total as f64 / 1000.0
            },
            p50_duration_ms: (!durations.is_empty())
                .then(|| nearest_rank(&durations, 50) as f64 / 1000.0),
            p95_duration_ms: (!durations.is_empty())
                .then(|| nearest_rank(&durations, 95) as f64 / 1000.0),
            first_seen: runs
                .iter()
                .map(|h| h.first_seen_us)
                .min()
                .map(multiagents::clock::format_iso),
            last_heartbeat: last_heartbeat_us.map(multiagents::clock::format_iso),
            last_heartbeat_us,
            last_heartbeat_age_s: last_heartbeat_us
                .map(|at| window.end_us.saturating_sub(at).max(0) as f64 / 1e6),
            reclaimed: (!runs.is_empty()).then(|| runs.iter().map(|h| h.reclaimed).sum()),
            duplicates: (!runs.is_empty()).then(|| runs.iter().map(|h| h.duplicates).sum()),
        });
    }
    HostsSummary {
        hosts,
        in_process: (local.total > 0).then(|| multiagents::monitor::hosts::InProcessActivity {
            total_executions: local.total,
            successful_executions: local.completed,
            failed_executions: local.failed,
            timeout_executions: local.timeout,
            cancelled_executions: local.cancelled,
            success_rate: pct(local.completed, local.total),
            error_rate: pct(local.failed + local.timeout, local.total),
            avg_duration_ms: local.duration_sum_us as f64 / local.total as f64 / 1000.0,
        }),
        total_executions: total,
    }
}

/// Means and rates are divided in SQL's order and ours alike, but compared
/// with a tolerance all the same: the figures are floats.
fn assert_same(ours: &HostsSummary, expected: &HostsSummary, what: &str) {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    assert_eq!(ours.total_executions, expected.total_executions, "{what}");
    assert_eq!(
        ours.hosts.iter().map(|h| &h.host).collect::<Vec<_>>(),
        expected.hosts.iter().map(|h| &h.host).collect::<Vec<_>>(),
        "{what}"
    );
    for (a, b) in ours.hosts.iter().zip(&expected.hosts) {
        let mut a2 = a.clone();
        let mut b2 = b.clone();
        assert!(close(a.success_rate, b.success_rate), "{what}: {a:?} {b:?}");
        assert!(close(a.error_rate, b.error_rate), "{what}: {a:?} {b:?}");
        assert!(
            close(a.avg_duration_ms, b.avg_duration_ms),
            "{what}: {a:?} {b:?}"
        );
        for h in [&mut a2, &mut b2] {
            h.success_rate = 0.0;
            h.error_rate = 0.0;
            h.avg_duration_ms = 0.0;
        }
        assert_eq!(a2, b2, "{what}");
    }
    match (&ours.in_process, &expected.in_process) {
        (Some(a), Some(b)) => {
            assert!(close(a.avg_duration_ms, b.avg_duration_ms), "{what}");
            assert!(close(a.error_rate, b.error_rate), "{what}");
            assert!(close(a.success_rate, b.success_rate), "{what}");
            assert_eq!(
                (
                    a.total_executions,
                    a.successful_executions,
                    a.failed_executions,
                    a.timeout_executions,
                    a.cancelled_executions
                ),
                (
                    b.total_executions,
                    b.successful_executions,
                    b.failed_executions,
                    b.timeout_executions,
                    b.cancelled_executions
                ),
                "{what}"
            );
        }
        (a, b) => assert_eq!(a, b, "{what}"),
    }
}

fn windows() -> Vec<TimeWindow> {
    vec![
        ALL_TIME,
        TimeWindow {
            start_us: T0,
            end_us: T0 + 15 * MINUTE,
        },
        // Minute 1.2 to 5: `idle` heartbeats in it, `early` does not.
        TimeWindow {
            start_us: T0 + MINUTE + 12_345_678,
            end_us: T0 + 5 * MINUTE + 1,
        },
        TimeWindow {
            start_us: T0 + 2 * MINUTE,
            end_us: T0 + 3 * MINUTE,
        },
        // After run 1's data, within run 2's.
        TimeWindow {
            start_us: T0 + 7 * MINUTE + 1,
            end_us: T0 + 8 * MINUTE,
        },
        // Before everything: `early` only, heard from after the window too.
        TimeWindow {
            start_us: T0 - 15 * MINUTE,
            end_us: T0 - 12 * MINUTE,
        },
        TimeWindow {
            start_us: T0 - 11 * MINUTE,
            end_us: T0 - 9 * MINUTE,
        },
    ]
}

#[test]
fn every_figure_of_every_host_equals_its_recomputation_from_raw_rows() {
    let db = temp_db();
    let (data, writers) = write_two_runs(&db.path);
    let conn = Connection::open(&db.path).unwrap();
    let events = raw_events(&conn);
    let heard = raw_heard(&conn);
    // The writer recorded each event's host as generated, and each host's
    // latest counters (the second heartbeat record upserted the first).
    let generated: BTreeMap<i64, Option<String>> = data
        .iter()
        .flat_map(|d| d.events.iter().map(|e| (e.id, e.host.clone())))
        .collect();
    assert_eq!(events.len(), generated.len());
    for e in &events {
        // The host is recorded with the end: an event still out has none.
        let host = e.finished_at_us.and(generated[&e.id].clone());
        assert_eq!(e.host, host, "event {}", e.id);
    }
    assert!(events.iter().filter(|e| e.host.is_none()).count() > 50);
    assert!(
        events
            .iter()
            .any(|e| e.status_code == 3 && e.host.is_some())
    );
    let beta_1 = heard
        .iter()
        .find(|h| h.host == "beta:202" && h.run_id == data[0].run_id)
        .unwrap();
    assert_eq!(
        (beta_1.first_seen_us, beta_1.reclaimed, beta_1.duplicates),
        (T0 - 2_000, 3, 4)
    );
    assert_eq!(heard.len(), 6);

    let thresholds = HealthThresholds::default();
    let scopes = [
        RunScope::AllRuns,
        RunScope::Run(data[0].run_id),
        RunScope::Run(data[1].run_id),
    ];
    let mut checked_hosts = 0;
    for window in windows() {
        for scope in scopes {
            let what = format!("{window:?} {scope:?}");
            let ours = host_activity(&conn, window, scope).unwrap();
            let expected = recompute(&events, &heard, window, scope);
            assert_same(&ours, &expected, &what);
            checked_hosts += ours.hosts.len();
            // The rows add up to the executions `query workers` counts.
            let parts: u64 = ours.hosts.iter().map(|h| h.total_executions).sum::<u64>()
                + ours.in_process.as_ref().map_or(0, |p| p.total_executions);
            assert_eq!(parts, ours.total_executions, "{what}");
            let workers =
                worker::worker_performance_summary(&conn, window, scope, &thresholds).unwrap();
            assert_eq!(
                ours.total_executions, workers.aggregated_metrics.total_commands,
                "{what}: the hosts do not add up to query workers"
            );
        }
    }
    assert!(checked_hosts > 20, "{checked_hosts}");

    // Spot checks that name what the windows were chosen for.
    let names = |s: &HostsSummary| s.hosts.iter().map(|h| h.host.clone()).collect::<Vec<_>>();
    let all = host_activity(&conn, ALL_TIME, RunScope::AllRuns).unwrap();
    assert_eq!(
        names(&all),
        [
            "alpha:101",
            "beta:202",
            "early:404",
            "gamma:505",
            "idle:303"
        ]
    );
    let beta = &all.hosts[1];
    // Its newest heartbeat (run 2) says what it serves; counters summed.
    assert_eq!(
        beta.workers.as_deref(),
        Some(&["fast_processor".to_string(), "flaky_processor".to_string()][..])
    );
    assert_eq!(beta.concurrency, Some(32));
    assert_eq!((beta.reclaimed, beta.duplicates), (Some(3), Some(6)));
    assert_eq!(first_seen_us(beta), Some(T0 - 2_000));
    let idle = &all.hosts[4];
    assert_eq!(idle.total_executions, 0);
    assert_eq!((idle.p50_duration_ms, idle.p95_duration_ms), (None, None));
    let before = host_activity(
        &conn,
        TimeWindow {
            start_us: T0 - 11 * MINUTE,
            end_us: T0 - 9 * MINUTE,
        },
        RunScope::AllRuns,
    )
    .unwrap();
    assert_eq!(names(&before), ["early:404"]);
    assert_eq!(before.in_process, None);
    assert_eq!(before.total_executions, 0);
    assert_eq!(before.hosts[0].last_heartbeat_age_s, Some(60.0));
    for w in writers {
        w.blocking_shutdown().unwrap();
    }
}

/// A host's `first_seen` back in µs, to compare with what was recorded.
fn first_seen_us(h: &HostActivity) -> Option<i64> {
    h.first_seen
        .as_deref()
        .map(|s| multiagents::window::parse_time(s).unwrap())
}

/// Two JSON objects with the same keys and values, numbers within a
/// rounding of their text (JSON parsing may differ in the last bit).
fn same_json(a: &serde_json::Value, b: &serde_json::Value) {
    let (a, b) = (a.as_object().unwrap(), b.as_object().unwrap());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (key, x) in a {
        let y = &b[key];
        match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => assert!((x - y).abs() <= 1e-9 * y.abs().max(1.0), "{key}"),
            _ => assert_eq!(x, y, "{key}"),
        }
    }
}

#[test]
fn query_hosts_prints_the_same_answer_as_a_table_and_as_json() {
    let db = temp_db();
    let (data, writers) = write_two_runs(&db.path);
    for w in writers {
        w.blocking_shutdown().unwrap();
    }
    let conn = Connection::open(&db.path).unwrap();
    let run = data[0].run_id.to_string();
    let until = multiagents::clock::format_iso(T0 + 6 * MINUTE);
    let args = [
        "query", "hosts", "--run", &run, "--window", "6m", "--until", &until,
    ];
    let window = TimeWindow {
        start_us: T0,
        end_us: T0 + 6 * MINUTE,
    };
    let expected = recompute(
        &raw_events(&conn),
        &raw_heard(&conn),
        window,
        RunScope::Run(data[0].run_id),
    );

    let json = json_answer(&db.path, &args);
    assert_eq!(json["run_id"], data[0].run_id);
    assert_eq!(json["window"]["start_us"], window.start_us);
    assert_eq!(json["window"]["end_us"], window.end_us);
    assert_eq!(json["source"], "raw");
    assert_eq!(json["total_executions"], expected.total_executions);
    let hosts = json["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), expected.hosts.len());
    assert_eq!(expected.hosts.len(), 3, "alpha, beta and idle");
    for (j, e) in hosts.iter().zip(&expected.hosts) {
        same_json(j, &serde_json::to_value(e).unwrap());
    }
    let local = expected.in_process.as_ref().unwrap();
    same_json(&json["in_process"], &serde_json::to_value(local).unwrap());
    // The same total as `query workers`.
    let workers = json_answer(
        &db.path,
        &[
            "query", "workers", "--run", &run, "--window", "6m", "--until", &until,
        ],
    );
    assert_eq!(
        workers["aggregated_metrics"]["total_commands"],
        json["total_executions"]
    );

    let table = stdout(&db.path, &args);
    assert!(table.contains(&format!("run {run}")), "{table}");
    for h in &expected.hosts {
        let line = table
            .lines()
            .find(|l| l.contains(&h.host))
            .unwrap_or_else(|| panic!("{} missing:\n{table}", h.host));
        for figure in [
            h.total_executions.to_string(),
            h.failed_executions.to_string(),
            format!("{:.1}%", h.error_rate),
            h.p95_duration_ms
                .map_or("-".to_string(), |p| format!("{p:.1}")),
            h.last_heartbeat.clone().unwrap(),
        ] {
            assert!(line.contains(&figure), "{figure} missing from {line}");
        }
    }
    assert!(
        table.contains(&format!(
            "In process (no host): {} executions, {} failed, {} timeout",
            local.total_executions, local.failed_executions, local.timeout_executions
        )),
        "{table}"
    );
    assert!(
        table.contains(&format!("Executions: {}", expected.total_executions)),
        "{table}"
    );

    // A window without hosts or heartbeats says so.
    let quiet = stdout(
        &db.path,
        &[
            "query",
            "hosts",
            "--window",
            "1m",
            "--until",
            &multiagents::clock::format_iso(T0 - 30 * MINUTE),
        ],
    );
    assert!(quiet.contains("No worker host"), "{quiet}");
}
