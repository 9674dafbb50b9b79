//! One test per configuration key: each runs real sessions on real files
//! with the key set two ways and shows the difference in what is recorded
//! or evaluated.
//!
//! Keys tested elsewhere: `logging.*` in `tests/logging_init.rs` and
//! `tests/logging_rotation.rs`, `storage.database_path` in `tests/cli.rs`.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use multiagents::config::{MetricType, MonitoringConfig};
use multiagents::monitor::HealthStatus;
use multiagents::session::Session;
use multiagents::worker::WorkerRegistry;
use multiagents::workload::{DemoSettings, register_demo_workers, register_demo_workflows};
use rusqlite::Connection;
use serde_json::json;
use support::*;

/// A configuration whose background jobs stay out of the way: health and
/// alerts are checked once at start (tokio intervals tick at once) and
/// then only when a test asks; system samples hourly; cleanup hourly.
fn quiet_config() -> MonitoringConfig {
    let mut config = MonitoringConfig::default();
    config.worker_monitoring.health_check_interval_seconds = 3600.0;
    config.metrics_collection.collection_interval_seconds = 3600.0;
    config.event_monitoring.cleanup_interval_minutes = 60.0;
    config
}

/// Starts a session on `db` with the demo workers; `failure_rate` 1.0 makes
/// `flaky_processor` always fail.
async fn start(db: &Path, config: MonitoringConfig, failure_rate: f64) -> Session {
    config.validate().expect("test configs are valid");
    let mut workers = WorkerRegistry::new();
    register_demo_workers(
        &mut workers,
        DemoSettings {
            seed: 11,
            time_scale: 0.01,
            failure_rate,
        },
    );
    let session = Session::start(db, config, workers, run_info())
        .await
        .expect("session starts");
    register_demo_workflows(session.orchestrator()).expect("workflows");
    session
}

/// Runs `n` workflows of `name` to their end.
async fn run(session: &Session, name: &str, n: usize) {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            session
                .orchestrator()
                .execute_workflow(name, json!({ "data": format!("{name}_{i}") }))
                .await
                .expect("starts"),
        );
    }
    for id in &ids {
        session.orchestrator().wait(id).await.expect("ends");
    }
}

/// One recorded session: start, run `n` workflows of `name`, check alerts
/// once, shut down. Returns the run id.
async fn record(
    db: &Path,
    config: MonitoringConfig,
    failure_rate: f64,
    name: &str,
    n: usize,
) -> i64 {
    let session = start(db, config, failure_rate).await;
    run(&session, name, n).await;
    session.check_alerts().await.expect("check");
    let run_id = session.run_id();
    session.shutdown().await.expect("shutdown");
    run_id
}

fn conn(db: &Path) -> Connection {
    Connection::open(db).expect("open")
}

fn one(db: &Path, sql: &str, run_id: i64) -> i64 {
    conn(db)
        .query_row(sql, [run_id], |r| r.get(0))
        .expect("query")
}

fn events_of(db: &Path, run_id: i64) -> i64 {
    one(
        db,
        "SELECT count(*) FROM events JOIN workflows ON workflows.id = events.workflow_id \
         WHERE workflows.run_id = ?1",
        run_id,
    )
}

fn workflows_of(db: &Path, run_id: i64) -> i64 {
    one(
        db,
        "SELECT count(*) FROM workflows WHERE run_id = ?1",
        run_id,
    )
}

/// Alert types stored by a run (each firing once).
fn alerts_of(db: &Path, run_id: i64) -> Vec<String> {
    let conn = conn(db);
    let mut stmt = conn
        .prepare("SELECT alert_type FROM alerts WHERE run_id = ?1 ORDER BY alert_type")
        .expect("prepare");
    let rows = stmt
        .query_map([run_id], |r| r.get::<_, String>(0))
        .expect("query");
    let mut types: Vec<String> = rows.map(|r| r.expect("row")).collect();
    types.dedup();
    types
}

/// Polls `cond` until it holds (never a speed assertion: the limit is far
/// beyond what any check needs).
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---- event_monitoring -------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_monitoring_enabled_false_records_workflows_but_no_events() {
    let db = temp_db();
    let on = record(&db.path, quiet_config(), 0.0, "simple_monitoring", 3).await;
    let mut config = quiet_config();
    config.event_monitoring.enabled = false;
    config.worker_monitoring.enabled = false;
    config.alerts.enabled = false;
    let off = record(&db.path, config, 0.0, "simple_monitoring", 3).await;
    assert_eq!(events_of(&db.path, on), 9, "3 workflows x 3 steps");
    assert_eq!(events_of(&db.path, off), 0);
    assert_eq!(
        workflows_of(&db.path, off),
        3,
        "workflows are still recorded"
    );
    assert_eq!(
        one(
            &db.path,
            "SELECT count(*) FROM workflows WHERE run_id = ?1 AND state = 'completed'",
            off
        ),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_monitoring_track_payload_size_decides_whether_sizes_are_recorded() {
    let db = temp_db();
    let on = record(&db.path, quiet_config(), 0.0, "simple_monitoring", 2).await;
    let mut config = quiet_config();
    config.event_monitoring.track_payload_size = false;
    let off = record(&db.path, config, 0.0, "simple_monitoring", 2).await;
    let sized = |run| {
        one(
            &db.path,
            "SELECT count(*) FROM events JOIN workflows ON workflows.id = events.workflow_id \
             WHERE workflows.run_id = ?1 AND events.payload_size_bytes > 0 \
             AND events.result_size_bytes > 0",
            run,
        )
    };
    assert_eq!(sized(on), 6);
    assert_eq!(sized(off), 0);
    assert_eq!(
        one(
            &db.path,
            "SELECT count(*) FROM workflows WHERE run_id = ?1 AND input_size_bytes > 0",
            off
        ),
        0
    );
    assert_eq!(
        events_of(&db.path, off),
        6,
        "the events themselves are kept"
    );
}

/// Rows of a run's events with their intermediate stages recorded.
fn staged(db: &Path, run: i64) -> i64 {
    one(
        db,
        "SELECT count(*) FROM events JOIN workflows ON workflows.id = events.workflow_id \
         WHERE workflows.run_id = ?1 AND events.picked_up_at_us IS NOT NULL \
         AND events.processing_at_us IS NOT NULL",
        run,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_monitoring_detailed_timing_decides_whether_stages_are_recorded() {
    let db = temp_db();
    let on = record(&db.path, quiet_config(), 0.0, "simple_monitoring", 2).await;
    let mut config = quiet_config();
    config.event_monitoring.detailed_timing = false;
    let off = record(&db.path, config, 0.0, "simple_monitoring", 2).await;
    assert_eq!(staged(&db.path, on), 6);
    assert_eq!(staged(&db.path, off), 0);
    // Durations are still the worker's own time, and recorded.
    assert_eq!(
        one(
            &db.path,
            "SELECT count(*) FROM events JOIN workflows ON workflows.id = events.workflow_id \
             WHERE workflows.run_id = ?1 AND events.duration_us > 0",
            off
        ),
        6
    );
    // The trace shows dispatch and end only.
    let trace_id: String = conn(&db.path)
        .query_row(
            "SELECT transaction_id FROM workflows WHERE run_id = ?1 LIMIT 1",
            [off],
            |r| r.get(0),
        )
        .expect("a workflow");
    let stages: Vec<String> = multiagents::monitor::EventMonitor::new(
        multiagents::store::Store::open_existing(&db.path).expect("read"),
    )
    .get_transaction_trace(&trace_id)
    .expect("trace")
    .into_iter()
    .map(|s| s.stage)
    .collect();
    assert!(stages.contains(&"dispatched".to_string()), "{stages:?}");
    assert!(!stages.contains(&"picked_up".to_string()), "{stages:?}");
    assert!(!stages.contains(&"processing".to_string()), "{stages:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_monitoring_detailed_event_tracking_false_records_outcomes_only() {
    let db = temp_db();
    let on = record(&db.path, quiet_config(), 0.0, "simple_monitoring", 2).await;
    // The seed's programmatic form, switched off.
    let config = MonitoringConfig::from_json(&json!({
        "event_monitoring": {"enabled": true, "detailed_event_tracking": false},
        "worker_monitoring": {"health_check_interval_seconds": 3600},
        "metrics_collection": {"collection_interval_seconds": 3600},
    }))
    .expect("valid");
    let off = record(&db.path, config, 0.0, "simple_monitoring", 2).await;
    assert_eq!(staged(&db.path, on), 6);
    assert_eq!(staged(&db.path, off), 0);
    assert_eq!(
        one(
            &db.path,
            "SELECT count(*) FROM events JOIN workflows ON workflows.id = events.workflow_id \
             WHERE workflows.run_id = ?1 AND (payload_size_bytes > 0 OR result_size_bytes > 0)",
            off
        ),
        0
    );
    assert_eq!(events_of(&db.path, off), 6, "outcomes are recorded");
}

/// Runs a session `keep` with `config` over a file where an earlier run
/// recorded workflows, events, samples and metrics; waits `settle` and
/// returns how many of the earlier run's (events, samples, metrics) remain.
async fn earlier_rows_left(
    config: MonitoringConfig,
    wait_until_gone: bool,
    settle: Duration,
) -> (i64, i64, i64) {
    let db = temp_db();
    let mut first = quiet_config();
    first.metrics_collection.collection_interval_seconds = 0.2;
    let session = start(&db.path, first, 0.0).await;
    run(&session, "simple_monitoring", 2).await;
    session
        .custom_metrics()
        .set_gauge("workflow_completion_rate", &Default::default(), 1.0)
        .await
        .expect("gauge");
    session
        .metrics_collector()
        .collect_system_metrics()
        .await
        .expect("sample");
    let earlier = session.run_id();
    session.shutdown().await.expect("shutdown");
    let left = |db: &Path| {
        (
            events_of(db, earlier),
            one(
                db,
                "SELECT count(*) FROM system_samples WHERE run_id = ?1",
                earlier,
            ),
            one(
                db,
                "SELECT count(*) FROM custom_metrics WHERE run_id = ?1",
                earlier,
            ),
        )
    };
    let before = left(&db.path);
    assert!(before.0 > 0 && before.1 > 0 && before.2 > 0, "{before:?}");
    let session = start(&db.path, config, 0.0).await;
    if wait_until_gone {
        eventually("earlier rows deleted", || {
            let now = left(&db.path);
            now.0 == 0 || now.1 == 0
        })
        .await;
    }
    tokio::time::sleep(settle).await;
    let after = left(&db.path);
    session.shutdown().await.expect("shutdown");
    after
}

/// Two seconds, in the hours the retention keys are written in.
const TWO_SECONDS_IN_HOURS: f64 = 2.0 / 3600.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_monitoring_trace_retention_hours_decides_which_events_are_deleted() {
    let mut short = quiet_config();
    short.event_monitoring.trace_retention_hours = TWO_SECONDS_IN_HOURS;
    short.event_monitoring.cleanup_interval_minutes = 0.005; // 0.3 s
    let (events, samples, metrics) =
        earlier_rows_left(short, true, Duration::from_millis(400)).await;
    assert_eq!(events, 0, "events past the trace retention are deleted");
    assert!(samples > 0 && metrics > 0, "metrics retention is separate");

    let mut long = quiet_config();
    long.event_monitoring.cleanup_interval_minutes = 0.005;
    let (events, _, _) = earlier_rows_left(long, false, Duration::from_secs(3)).await;
    assert!(events > 0, "2 h retention keeps them through many cleanups");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_monitoring_cleanup_interval_minutes_decides_when_retention_runs() {
    let mut often = quiet_config();
    often.event_monitoring.trace_retention_hours = TWO_SECONDS_IN_HOURS;
    often.event_monitoring.cleanup_interval_minutes = 0.005;
    let (events, _, _) = earlier_rows_left(often, true, Duration::ZERO).await;
    assert_eq!(events, 0);

    // Hourly: the cleanup at start finds the rows younger than 2 s, and
    // the next one is an hour away.
    let mut hourly = quiet_config();
    hourly.event_monitoring.trace_retention_hours = TWO_SECONDS_IN_HOURS;
    let (events, _, _) = earlier_rows_left(hourly, false, Duration::from_secs(3)).await;
    assert!(events > 0, "no cleanup ran after the rows expired");
}

// ---- worker_monitoring ------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_monitoring_enabled_false_raises_no_worker_alerts() {
    let db = temp_db();
    let on = record(&db.path, quiet_config(), 1.0, "error_monitoring", 10).await;
    let mut config = quiet_config();
    config.worker_monitoring.enabled = false;
    let off = record(&db.path, config, 1.0, "error_monitoring", 10).await;
    assert!(
        alerts_of(&db.path, on).contains(&"worker_failed".to_string()),
        "{:?}",
        alerts_of(&db.path, on)
    );
    // The system-wide rule still runs; the worker rule does not.
    assert_eq!(alerts_of(&db.path, off), ["high_error_rate"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_monitoring_health_check_interval_seconds_paces_checks_and_inactivity() {
    // The background check runs every interval: with 0.25 s it fires the
    // alert without anyone asking (the workload goes on until it does, so
    // the worker is active when a check comes).
    let db = temp_db();
    let mut config = quiet_config();
    config.worker_monitoring.health_check_interval_seconds = 0.25;
    let session = start(&db.path, config, 1.0).await;
    let run_id = session.run_id();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !alerts_of(&db.path, run_id).contains(&"worker_failed".to_string()) {
        assert!(
            Instant::now() < deadline,
            "the background check never fired"
        );
        run(&session, "error_monitoring", 3).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Inactivity is three intervals: 2 s after the last execution a
    // worker is inactive with 0.25 s checks ...
    let later = multiagents::clock::now_us() + 2_000_000;
    let health = session
        .worker_monitor()
        .get_all_workers_health_at(later)
        .expect("health");
    assert_eq!(health["fast_processor"].status, HealthStatus::Inactive);
    session.shutdown().await.expect("shutdown");

    // ... but not with the seed's 10 s.
    let db = temp_db();
    let session = start(&db.path, quiet_config(), 1.0).await;
    let mut config = quiet_config();
    config.worker_monitoring.health_check_interval_seconds = 10.0;
    run(&session, "error_monitoring", 10).await;
    let health = multiagents::monitor::WorkerMonitor::new(session.store().clone())
        .with_thresholds(multiagents::monitor::HealthThresholds::from_config(&config))
        .get_all_workers_health_at(multiagents::clock::now_us() + 2_000_000)
        .expect("health");
    assert_eq!(health["fast_processor"].status, HealthStatus::Healthy);
    session.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_monitoring_performance_window_minutes_bounds_what_health_reads() {
    let db = temp_db();
    let session = start(&db.path, quiet_config(), 1.0).await;
    run(&session, "error_monitoring", 10).await;
    let at = multiagents::clock::now_us() + 2_000_000;
    let judge = |window_minutes: f64| {
        let mut config = quiet_config();
        config.worker_monitoring.performance_window_minutes = window_minutes;
        multiagents::monitor::WorkerMonitor::new(session.store().clone())
            .with_thresholds(multiagents::monitor::HealthThresholds::from_config(&config))
            .get_all_workers_health_at(at)
            .expect("health")["flaky_processor"]
            .clone()
    };
    let wide = judge(30.0);
    assert_eq!(wide.status, HealthStatus::Failing);
    assert_eq!(wide.total_executions, 10);
    // A one-second window ending 2 s later holds none of the failures.
    let narrow = judge(1.0 / 60.0);
    assert_eq!(narrow.total_executions, 0);
    assert_eq!(narrow.status, HealthStatus::Healthy);
    session.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_monitoring_alert_on_high_error_rate_switches_worker_failed_only() {
    let db = temp_db();
    let mut config = quiet_config();
    config.worker_monitoring.slow_execution_threshold_ms = 0.001;
    let on = record(&db.path, config.clone(), 1.0, "error_monitoring", 10).await;
    config.worker_monitoring.alert_on_high_error_rate = false;
    let off = record(&db.path, config, 1.0, "error_monitoring", 10).await;
    assert!(alerts_of(&db.path, on).contains(&"worker_failed".to_string()));
    let off_alerts = alerts_of(&db.path, off);
    assert!(
        !off_alerts.contains(&"worker_failed".to_string()),
        "{off_alerts:?}"
    );
    // Not OR-ed with performance_alerts: the slow-worker rule still fires.
    assert!(
        off_alerts.contains(&"slow_worker".to_string()),
        "{off_alerts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_monitoring_error_rate_threshold_decides_failing() {
    let db = temp_db();
    // Every flaky execution fails: 100 %, which is not above 1.0 (100 %).
    let mut config = quiet_config();
    config.worker_monitoring.error_rate_threshold = 1.0;
    let lenient = record(&db.path, config, 1.0, "error_monitoring", 10).await;
    let strict = record(&db.path, quiet_config(), 1.0, "error_monitoring", 10).await;
    assert!(!alerts_of(&db.path, lenient).contains(&"worker_failed".to_string()));
    let strict_alerts = alerts_of(&db.path, strict);
    assert!(strict_alerts.contains(&"worker_failed".to_string()));
    let message: String = conn(&db.path)
        .query_row(
            "SELECT message FROM alerts WHERE run_id = ?1 AND alert_type = 'worker_failed'",
            [strict],
            |r| r.get(0),
        )
        .expect("alert");
    assert!(message.contains("20.0%"), "names the threshold: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_monitoring_slow_execution_threshold_ms_decides_slow_workers() {
    let db = temp_db();
    let mut config = quiet_config();
    config.worker_monitoring.slow_execution_threshold_ms = 0.001;
    let strict = record(&db.path, config, 0.0, "simple_monitoring", 3).await;
    let lenient = record(&db.path, quiet_config(), 0.0, "simple_monitoring", 3).await;
    assert!(alerts_of(&db.path, strict).contains(&"slow_worker".to_string()));
    assert!(alerts_of(&db.path, lenient).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_monitoring_performance_alerts_switches_slow_worker_only() {
    let db = temp_db();
    let mut config = quiet_config();
    config.worker_monitoring.slow_execution_threshold_ms = 0.001;
    let on = record(&db.path, config.clone(), 1.0, "error_monitoring", 10).await;
    config.worker_monitoring.performance_alerts = false;
    let off = record(&db.path, config, 1.0, "error_monitoring", 10).await;
    assert!(alerts_of(&db.path, on).contains(&"slow_worker".to_string()));
    let off_alerts = alerts_of(&db.path, off);
    assert!(!off_alerts.contains(&"slow_worker".to_string()));
    assert!(off_alerts.contains(&"worker_failed".to_string()));
}

// ---- metrics_collection -----------------------------------------------

fn samples_of(db: &Path, run: i64) -> i64 {
    one(
        db,
        "SELECT count(*) FROM system_samples WHERE run_id = ?1",
        run,
    )
}

fn metrics_of(db: &Path, run: i64) -> i64 {
    one(
        db,
        "SELECT count(*) FROM custom_metrics WHERE run_id = ?1",
        run,
    )
}

/// A session that takes one on-demand sample and records one gauge;
/// returns the run and whether that very sample was stored.
async fn sample_and_gauge(db: &Path, config: MonitoringConfig) -> (i64, bool) {
    let session = start(db, config, 0.0).await;
    let sample = session
        .metrics_collector()
        .collect_system_metrics()
        .await
        .expect("a sample is taken either way");
    assert!(sample.memory_total_bytes > 0);
    session
        .custom_metrics()
        .set_gauge("workflow_completion_rate", &Default::default(), 0.5)
        .await
        .expect("gauge");
    let run = session.run_id();
    session.shutdown().await.expect("shutdown");
    let stored = conn(db)
        .query_row(
            "SELECT count(*) FROM system_samples WHERE run_id = ?1 AND sampled_at_us = ?2",
            [run, sample.sampled_at_us],
            |r| r.get::<_, i64>(0),
        )
        .expect("query");
    (run, stored == 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_collection_enabled_false_records_no_samples_and_no_metrics() {
    let db = temp_db();
    let (on, on_stored) = sample_and_gauge(&db.path, quiet_config()).await;
    let mut config = quiet_config();
    config.metrics_collection.enabled = false;
    let (off, off_stored) = sample_and_gauge(&db.path, config).await;
    // The on-demand sample is stored like the background ones.
    assert!(on_stored);
    assert_eq!(metrics_of(&db.path, on), 1);
    assert!(!off_stored);
    assert_eq!(samples_of(&db.path, off), 0);
    assert_eq!(metrics_of(&db.path, off), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_collection_include_system_metrics_false_keeps_custom_metrics() {
    let db = temp_db();
    let mut config = quiet_config();
    config.metrics_collection.include_system_metrics = false;
    let (off, stored) = sample_and_gauge(&db.path, config).await;
    assert!(!stored);
    assert_eq!(samples_of(&db.path, off), 0);
    assert_eq!(metrics_of(&db.path, off), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_collection_collection_interval_seconds_paces_background_samples() {
    let db = temp_db();
    let mut config = quiet_config();
    config.metrics_collection.collection_interval_seconds = 0.2;
    let fast = start(&db.path, config, 0.0).await;
    let slow = start(&db.path, quiet_config(), 0.0).await;
    let (fast_run, slow_run) = (fast.run_id(), slow.run_id());
    eventually("the hourly sampler's first sample", || {
        samples_of(&db.path, slow_run) == 1
    })
    .await;
    eventually("five samples at 0.2 s", || {
        samples_of(&db.path, fast_run) >= 5
    })
    .await;
    fast.shutdown().await.expect("shutdown");
    slow.shutdown().await.expect("shutdown");
    assert_eq!(samples_of(&db.path, slow_run), 1, "hourly: only the first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_collection_retention_hours_decides_which_samples_are_deleted() {
    let mut short = quiet_config();
    short.metrics_collection.retention_hours = TWO_SECONDS_IN_HOURS;
    short.event_monitoring.cleanup_interval_minutes = 0.005;
    let (events, samples, metrics) =
        earlier_rows_left(short, true, Duration::from_millis(400)).await;
    assert_eq!((samples, metrics), (0, 0));
    assert!(events > 0, "trace retention is separate");

    let mut long = quiet_config();
    long.event_monitoring.cleanup_interval_minutes = 0.005;
    let (_, samples, metrics) = earlier_rows_left(long, false, Duration::from_secs(3)).await;
    assert!(samples > 0 && metrics > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_collection_custom_metrics_declares_types() {
    let db = temp_db();
    let config = MonitoringConfig::from_yaml_str(
        "metrics_collection:\n  collection_interval_seconds: 3600\n  custom_metrics:\n    - name: queue_depth\n      type: gauge\n",
        "test.yaml",
    )
    .expect("valid");
    let session = start(&db.path, config, 0.0).await;
    let metrics = session.custom_metrics();
    assert_eq!(
        metrics.registry().metric_type("queue_depth"),
        Some(MetricType::Gauge)
    );
    let err = metrics
        .increment_counter("queue_depth", &Default::default(), 1.0)
        .await
        .expect_err("declared as a gauge");
    assert!(err.to_string().contains("queue_depth"), "{err}");
    metrics
        .set_gauge("queue_depth", &Default::default(), 3.0)
        .await
        .expect("the declared type");
    let run = session.run_id();
    session.shutdown().await.expect("shutdown");
    assert_eq!(metrics_of(&db.path, run), 1, "only the gauge was recorded");
}

// ---- alerts -----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_enabled_false_fires_nothing() {
    let db = temp_db();
    let on = record(&db.path, quiet_config(), 1.0, "error_monitoring", 10).await;
    let mut config = quiet_config();
    config.alerts.enabled = false;
    let session = start(&db.path, config, 1.0).await;
    run(&session, "error_monitoring", 10).await;
    assert!(session.check_alerts().await.expect("check").is_empty());
    let off = session.run_id();
    session.shutdown().await.expect("shutdown");
    assert!(alerts_of(&db.path, on).len() >= 2);
    assert!(alerts_of(&db.path, off).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_error_rate_threshold_decides_high_error_rate() {
    // error_monitoring with an always failing flaky step: validate
    // completes, risky_process fails: half the events fail.
    let db = temp_db();
    let mut config = quiet_config();
    config.alerts.error_rate_threshold = 0.6;
    let lenient = record(&db.path, config, 1.0, "error_monitoring", 10).await;
    let strict = record(&db.path, quiet_config(), 1.0, "error_monitoring", 10).await;
    assert!(!alerts_of(&db.path, lenient).contains(&"high_error_rate".to_string()));
    assert!(alerts_of(&db.path, strict).contains(&"high_error_rate".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_latency_threshold_ms_decides_high_latency() {
    let db = temp_db();
    let mut config = quiet_config();
    config.alerts.latency_threshold_ms = 0.001;
    let strict = record(&db.path, config, 0.0, "simple_monitoring", 2).await;
    let lenient = record(&db.path, quiet_config(), 0.0, "simple_monitoring", 2).await;
    assert!(alerts_of(&db.path, strict).contains(&"high_latency".to_string()));
    assert!(!alerts_of(&db.path, lenient).contains(&"high_latency".to_string()));
}
