//! System sampling against a real file: samples taken with sysinfo are
//! recorded through the writer, and the windowed summary computed in SQL
//! matches the same figures computed here from the inserted samples.

mod support;

use multiagents::monitor::RunScope;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use multiagents::monitor::system::{
    self, MetricsCollector, active_workflows_from, no_active_workflows, spawn_system_sampler,
    system_metrics, system_samples_series,
};
use multiagents::store::{Record, SystemSample};
use multiagents::window::TimeWindow;
use support::*;

/// A deterministic, varied sample at `t`.
fn synthetic(i: i64, t: i64) -> SystemSample {
    SystemSample {
        sampled_at_us: t,
        cpu_usage_percent: (i * 37 % 100) as f64 + 0.25,
        memory_usage_percent: 40.0 + (i * 13 % 50) as f64 / 3.0,
        memory_used_bytes: 1_000_000 + i * 10,
        memory_total_bytes: 8_000_000,
        load_avg_1m: (i % 7) as f64 * 0.3,
        load_avg_5m: 1.0,
        load_avg_15m: 0.5,
        process_cpu_percent: (i * 11 % 180) as f64 / 7.0,
        process_rss_bytes: 20_000_000 + (i * 7919 % 1000) * 4096,
        active_connections: i % 5,
        active_workflows: i % 9,
    }
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = xs.collect();
    v.iter().sum::<f64>() / v.len() as f64
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test]
async fn windowed_summary_matches_figures_computed_from_the_samples() {
    let db = temp_db();
    let (store, writer) = open(&db.path);
    let t0 = 1_700_000_000_000_000;
    let samples: Vec<SystemSample> = (0..500).map(|i| synthetic(i, t0 + i * 1_000_000)).collect();
    for s in &samples {
        writer
            .record(Record::SystemSample(s.clone()))
            .await
            .unwrap();
    }
    writer.flush().await.unwrap();

    // Half-open window: the sample at `end` is out, the one at `start` in.
    let window = TimeWindow {
        start_us: t0 + 100 * 1_000_000,
        end_us: t0 + 400 * 1_000_000,
    };
    let inside: Vec<&SystemSample> = samples
        .iter()
        .filter(|s| s.sampled_at_us >= window.start_us && s.sampled_at_us < window.end_us)
        .collect();
    assert_eq!(inside.len(), 300);

    let conn = store.reader().unwrap();
    let m = system_metrics(&conn, window, RunScope::AllRuns).unwrap();
    assert_eq!(m.sample_count, inside.len() as i64);
    assert!(close(
        m.avg_cpu_usage,
        mean(inside.iter().map(|s| s.cpu_usage_percent))
    ));
    assert!(close(
        m.avg_memory_usage,
        mean(inside.iter().map(|s| s.memory_usage_percent))
    ));
    assert!(close(
        m.avg_system_load,
        mean(inside.iter().map(|s| s.load_avg_1m))
    ));
    assert!(close(
        m.avg_process_cpu_percent,
        mean(inside.iter().map(|s| s.process_cpu_percent))
    ));
    let max = |f: fn(&SystemSample) -> f64| inside.iter().map(|s| f(s)).fold(f64::MIN, f64::max);
    assert_eq!(m.peak_cpu_usage, max(|s| s.cpu_usage_percent));
    assert_eq!(m.peak_memory_usage, max(|s| s.memory_usage_percent));
    assert_eq!(m.peak_process_cpu_percent, max(|s| s.process_cpu_percent));
    assert_eq!(
        m.peak_process_rss_bytes,
        inside.iter().map(|s| s.process_rss_bytes).max().unwrap()
    );
    assert_eq!(
        m.peak_active_connections,
        inside.iter().map(|s| s.active_connections).max().unwrap()
    );
    assert_eq!(
        m.peak_active_workflows,
        inside.iter().map(|s| s.active_workflows).max().unwrap()
    );

    // The series is exactly the samples in the window, oldest first.
    let series = system_samples_series(&conn, window, RunScope::AllRuns).unwrap();
    let expected: Vec<SystemSample> = inside.into_iter().cloned().collect();
    assert_eq!(series, expected);

    // The seed's keys are what the summary serializes to.
    let json = serde_json::to_value(&m).unwrap();
    for key in [
        "avg_cpu_usage",
        "peak_cpu_usage",
        "avg_memory_usage",
        "peak_memory_usage",
        "avg_system_load",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
    writer.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_empty_window_has_no_samples_and_zero_figures() {
    let db = temp_db();
    let (store, writer) = open(&db.path);
    let conn = store.reader().unwrap();
    let m = system_metrics(
        &conn,
        TimeWindow::ending_at(1_000, Duration::from_secs(60)),
        RunScope::AllRuns,
    )
    .unwrap();
    assert_eq!(m, system::SystemMetrics::default());
    writer.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticks_record_real_samples_with_connections_and_active_workflows() {
    let db = temp_db();
    let (store, writer) = open(&db.path);
    let active = Arc::new(AtomicI64::new(3));
    let collector =
        MetricsCollector::new(store.clone(), active_workflows_from(Arc::clone(&active))).unwrap();
    let t0 = 1_700_000_000_000_000;
    let first = system::tick(&collector, &writer, t0).await.unwrap();
    active.store(7, Ordering::Relaxed);
    let second = system::tick(&collector, &writer, t0 + 1_000_000)
        .await
        .unwrap();
    writer.flush().await.unwrap();

    for s in [&first, &second] {
        assert!((0.0..=100.0).contains(&s.cpu_usage_percent), "{s:?}");
        assert!((0.0..=100.0).contains(&s.memory_usage_percent), "{s:?}");
        assert!(s.memory_total_bytes > 0 && s.memory_used_bytes <= s.memory_total_bytes);
        assert!(s.process_rss_bytes > 0, "{s:?}");
        assert!(s.load_avg_1m >= 0.0);
        // The writer holds the write connection.
        assert!(s.active_connections >= 1, "{s:?}");
    }
    assert_eq!(first.active_workflows, 3);
    assert_eq!(second.active_workflows, 7);

    let conn = store.reader().unwrap();
    let stored = system_samples_series(
        &conn,
        TimeWindow::ending_at(t0 + 2_000_000, Duration::from_secs(10)),
        RunScope::AllRuns,
    )
    .unwrap();
    assert_eq!(stored, vec![first, second]);
    writer.shutdown().await.unwrap();
}

/// The first sample measures CPU over a real interval instead of reporting
/// 0: a thread burning CPU while it is taken must show up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_sample_already_measures_cpu() {
    let db = temp_db();
    let (store, writer) = open(&db.path);
    let stop = Arc::new(AtomicBool::new(false));
    let burner = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut x = 0u64;
            while !stop.load(Ordering::Relaxed) {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                std::hint::black_box(x);
            }
        })
    };
    // sysinfo computes a process's CPU share only once the process has
    // used at least one clock tick (10 ms) before the first reading; a test
    // binary that started a moment ago on an idle machine may not have.
    // Any real process has; wait until this one has too.
    let ticks_used = || {
        std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|stat| {
                let fields: Vec<u64> = stat[stat.rfind(')')? + 2..]
                    .split_whitespace()
                    .skip(11)
                    .take(2)
                    .filter_map(|f| f.parse().ok())
                    .collect();
                Some(fields.iter().sum::<u64>())
            })
            .unwrap_or(1)
    };
    while ticks_used() == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let collector = MetricsCollector::new(store.clone(), no_active_workflows()).unwrap();
    let sample = collector.collect_system_metrics().await.unwrap();
    stop.store(true, Ordering::Relaxed);
    burner.join().unwrap();
    assert!(sample.process_cpu_percent > 20.0, "{sample:?}");
    assert!(sample.cpu_usage_percent > 0.0, "{sample:?}");
    writer.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_sampler_records_until_told_to_stop() {
    let db = temp_db();
    let (store, writer) = open(&db.path);
    let collector = MetricsCollector::new(store.clone(), no_active_workflows()).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let handle = spawn_system_sampler(
        collector.clone(),
        writer.clone(),
        Duration::from_millis(200),
        stop_rx,
    );
    // The first tick is immediate; wait for a few.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        writer.flush().await.unwrap();
        let n: i64 = store
            .reader()
            .unwrap()
            .query_row("SELECT count(*) FROM system_samples", [], |r| r.get(0))
            .unwrap();
        if n >= 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "sampler recorded {n}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("sampler stops promptly")
        .unwrap();
    writer.flush().await.unwrap();
    let count = |store: &multiagents::store::Store| -> i64 {
        store
            .reader()
            .unwrap()
            .query_row("SELECT count(*) FROM system_samples", [], |r| r.get(0))
            .unwrap()
    };
    let after_stop = count(&store);
    tokio::time::sleep(Duration::from_millis(500)).await;
    writer.flush().await.unwrap();
    assert_eq!(count(&store), after_stop, "no samples after stop");

    // Dropping the sender also stops a sampler.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let handle = spawn_system_sampler(collector, writer.clone(), Duration::from_secs(60), stop_rx);
    drop(stop_tx);
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("sampler stops when its sender is dropped")
        .unwrap();
    writer.shutdown().await.unwrap();
}
