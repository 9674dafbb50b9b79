//! The whole-window answers from the per-minute rollups equal the answers
//! from the raw rows on minute-aligned windows, on a small dataset of the
//! query benchmark's generator written through the real writer: event
//! metrics, the worker performance summary (counts, rates, means, min/max)
//! and throughput per minute. Percentiles are not compared: the rollups hold
//! none (they stay exact from raw rows). Nothing here is timed.

mod support;

use multiagents::bench::dataset::{self, DatasetSpec, HOUR_START_US, MINUTE_US};
use multiagents::monitor::health::HealthThresholds;
use multiagents::monitor::totals::throughput_per_minute;
use multiagents::monitor::{RunScope, event, rollups, worker};
use multiagents::window::TimeWindow;
use support::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn windows() -> Vec<TimeWindow> {
    let w = |a: i64, b: i64| TimeWindow {
        start_us: HOUR_START_US + a * MINUTE_US,
        end_us: HOUR_START_US + b * MINUTE_US,
    };
    // The whole hour, past its end (the last workflows finish after it),
    // five minutes, one minute, and an empty stretch before the data.
    vec![w(0, 60), w(0, 62), w(30, 35), w(17, 18), w(-10, -5)]
}

#[test]
fn rollup_answers_equal_raw_answers_on_minute_aligned_windows() {
    let db = temp_db();
    let (store, writer) = open(&db.path);
    let summary = dataset::generate_into(&writer, &DatasetSpec::hour(6_000, 7)).unwrap();
    // The dataset has what the benchmark relies on.
    assert!(summary.executions >= 6_000);
    let failure_percent = summary.failed as f64 * 100.0 / summary.executions as f64;
    assert!(
        (5.0..15.0).contains(&failure_percent),
        "{failure_percent} % failed"
    );
    assert!(summary.timeouts > 0 && summary.system_samples > 0 && summary.alerts > 0);
    let conn = store.reader().unwrap();
    let unfinished = count(
        &conn,
        "SELECT count(*) FROM workflows WHERE ended_at_us IS NULL",
    );
    assert!(unfinished > 0, "in-flight workflows");

    let all = RunScope::AllRuns;
    let (first, last) = all.id_bounds();
    let thresholds = HealthThresholds::default();
    for w in windows() {
        // Event metrics.
        let raw = event::event_metrics(&conn, w, all).unwrap();
        let rolled =
            event::event_summary_from_rollups(&conn, w, multiagents::monitor::RunScope::AllRuns)
                .unwrap();
        assert_eq!(rolled.total_events, raw.total_events, "{w:?}");
        assert_eq!(rolled.events_by_type, raw.events_by_type, "{w:?}");
        assert_eq!(rolled.events_by_status, raw.events_by_status, "{w:?}");
        assert!(close(rolled.success_rate, raw.success_rate), "{w:?}");
        assert!(close(rolled.error_rate, raw.error_rate), "{w:?}");
        assert!(close(rolled.avg_latency_ms, raw.avg_latency_ms), "{w:?}");
        assert!(
            close(rolled.throughput_per_minute, raw.throughput_per_minute),
            "{w:?}"
        );
        assert_eq!(rolled.peak_throughput, raw.peak_throughput, "{w:?}");

        // Worker performance summary.
        let raw = worker::worker_performance_summary(&conn, w, all, &thresholds).unwrap();
        let rolled =
            rollups::worker_summary_from_rollups(&conn, w, multiagents::monitor::RunScope::AllRuns)
                .unwrap();
        assert_eq!(
            rolled.workers.keys().collect::<Vec<_>>(),
            raw.workers.keys().collect::<Vec<_>>(),
            "{w:?}"
        );
        for (name, p) in &raw.workers {
            let q = &rolled.workers[name];
            let ctx = format!("{name} {w:?}");
            assert_eq!(q.total_executions, p.total_executions, "{ctx}");
            assert_eq!(q.successful_executions, p.successful_executions, "{ctx}");
            assert_eq!(q.failed_executions, p.failed_executions, "{ctx}");
            assert_eq!(q.timeout_executions, p.timeout_executions, "{ctx}");
            assert_eq!(q.cancelled_executions, p.cancelled_executions, "{ctx}");
            assert!(close(q.success_rate, p.success_rate), "{ctx}");
            assert!(close(q.error_rate, p.error_rate), "{ctx}");
            assert!(close(q.avg_duration_ms, p.avg_duration_ms), "{ctx}");
            let (min_us, max_us): (i64, i64) = conn
                .query_row(
                    "SELECT min(e.duration_us), max(e.duration_us)
                     FROM events e JOIN workers k ON k.id = e.worker_id
                     WHERE k.name = ?1 AND e.finished_at_us >= ?2 AND e.finished_at_us < ?3",
                    rusqlite::params![name, w.start_us, w.end_us],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            assert!(close(q.min_duration_ms, min_us as f64 / 1000.0), "{ctx}");
            assert!(close(q.max_duration_ms, max_us as f64 / 1000.0), "{ctx}");
        }
        let (a, b) = (&rolled.aggregated_metrics, &raw.aggregated_metrics);
        assert_eq!(a.total_commands, b.total_commands, "{w:?}");
        assert_eq!(a.active_workers, b.active_workers, "{w:?}");
        assert!(
            close(a.average_success_rate, b.average_success_rate),
            "{w:?}"
        );
        assert!(close(a.average_duration_ms, b.average_duration_ms), "{w:?}");

        // Throughput per minute.
        assert_eq!(
            rollups::throughput_per_minute_from_rollups(
                &conn,
                w,
                multiagents::monitor::RunScope::AllRuns
            )
            .unwrap(),
            throughput_per_minute(&conn, w, first, last).unwrap(),
            "{w:?}"
        );
    }
    // The whole hour is not empty.
    let hour = windows()[0];
    assert!(event::event_metrics(&conn, hour, all).unwrap().total_events > 5_000);
    drop(conn);
    writer.blocking_shutdown().unwrap();
}
