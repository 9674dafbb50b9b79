//! Alerts against a real file: firings and resolutions recorded through the
//! writer and read back with alert_history / firing_alerts; notifiers run a
//! real process.

mod support;

use multiagents::monitor::RunScope;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use multiagents::monitor::MonitorError;
use multiagents::monitor::alerts::{
    AlertChange, AlertInputs, AlertNotifier, AlertStatus, AlertThresholds, CommandNotifier,
    LogNotifier, MonitoringAlerts, Severity, WorkerObservation, alert_history, firing_alerts,
};
use multiagents::window::TimeWindow;
use support::*;

const T0: i64 = 1_700_000_000_000_000;
const SEC: i64 = 1_000_000;

fn inputs(error_rate_percent: f64, workers: Vec<WorkerObservation>) -> AlertInputs {
    AlertInputs {
        error_rate_percent,
        avg_latency_ms: 20.0,
        workers,
    }
}

fn failing(name: &str) -> WorkerObservation {
    WorkerObservation {
        name: name.into(),
        status: "failing".into(),
        p95_duration_ms: Some(10.0),
        issues: vec!["Error rate 60.0% exceeds threshold 20.0%".into()],
    }
}

/// Remembers what it was asked to deliver.
#[derive(Default)]
struct Recorder(Mutex<Vec<(String, i64)>>);

impl AlertNotifier for Recorder {
    fn name(&self) -> String {
        "recorder".into()
    }
    fn notify(&self, change: &AlertChange) -> Result<(), MonitorError> {
        let kind = match change {
            AlertChange::Fired(_) => "fired",
            AlertChange::Resolved(_) => "resolved",
        };
        self.0
            .lock()
            .unwrap()
            .push((kind.into(), change.alert().id));
        Ok(())
    }
}

#[tokio::test]
async fn firings_and_resolutions_are_stored_once_and_read_back() {
    let db = temp_db();
    let (store, writer) = open(&db.path);
    let mut alerts = MonitoringAlerts::new(AlertThresholds::default(), writer.clone());
    let critical = Arc::new(Recorder::default());
    let everything = Arc::new(Recorder::default());
    alerts.add_notifier(critical.clone(), Severity::Critical);
    alerts.add_notifier(everything.clone(), Severity::Info);
    alerts.add_notifier(Arc::new(LogNotifier), Severity::Warning);

    // t0: error rate high, worker a failing -> two alerts.
    let c = alerts
        .check_alerts(&inputs(30.0, vec![failing("a")]), T0)
        .await
        .unwrap();
    assert_eq!(c.len(), 2);
    // t0+10s: same conditions -> nothing new, nothing stored.
    let c = alerts
        .check_alerts(&inputs(35.0, vec![failing("a")]), T0 + 10 * SEC)
        .await
        .unwrap();
    assert!(c.is_empty());
    // t0+20s: error rate back to normal -> it resolves; a still failing.
    let c = alerts
        .check_alerts(&inputs(2.0, vec![failing("a")]), T0 + 20 * SEC)
        .await
        .unwrap();
    assert_eq!(c.len(), 1);
    assert!(matches!(&c[0], AlertChange::Resolved(a) if a.alert_type == "high_error_rate"));
    // t0+30s: error rate high again -> a new alert.
    let c = alerts
        .check_alerts(&inputs(50.0, vec![failing("a")]), T0 + 30 * SEC)
        .await
        .unwrap();
    assert_eq!(c.len(), 1);
    writer.flush().await.unwrap();

    let conn = store.reader().unwrap();
    assert_eq!(count(&conn, "SELECT count(*) FROM alerts"), 3);
    let history = alert_history(
        &conn,
        TimeWindow {
            start_us: T0,
            end_us: T0 + 60 * SEC,
        },
        RunScope::AllRuns,
    )
    .unwrap();
    let summary: Vec<_> = history
        .iter()
        .map(|a| {
            (
                a.alert_type.as_str(),
                a.fired_at_us,
                a.resolved_at_us,
                a.status,
            )
        })
        .collect();
    // Newest first; same fired time -> higher id (fired later) first.
    assert_eq!(
        summary,
        vec![
            ("high_error_rate", T0 + 30 * SEC, None, AlertStatus::Firing),
            ("worker_failed", T0, None, AlertStatus::Firing),
            (
                "high_error_rate",
                T0,
                Some(T0 + 20 * SEC),
                AlertStatus::Resolved
            ),
        ]
    );
    let failed = &history[1];
    assert_eq!(failed.severity, Severity::Critical);
    assert_eq!(failed.worker.as_deref(), Some("a"));
    assert_eq!(
        failed.issues,
        vec!["Error rate 60.0% exceeds threshold 20.0%".to_string()]
    );
    assert_eq!(
        failed.message,
        "Worker a has failed: Error rate 60.0% exceeds threshold 20.0%"
    );
    let rate = &history[0];
    assert_eq!((rate.value, rate.threshold), (Some(50.0), Some(10.0)));
    assert_eq!(rate.worker, None);

    // The window is half-open and bounds the fired time.
    let later = alert_history(
        &conn,
        TimeWindow {
            start_us: T0 + 1,
            end_us: T0 + 30 * SEC,
        },
        RunScope::AllRuns,
    )
    .unwrap();
    assert!(later.is_empty());

    let firing = firing_alerts(&conn, RunScope::AllRuns).unwrap();
    assert_eq!(
        firing
            .iter()
            .map(|a| a.alert_type.as_str())
            .collect::<Vec<_>>(),
        ["high_error_rate", "worker_failed"]
    );
    assert_eq!(alerts.engine().firing().len(), 2);

    // Ids in the database are the ids the engine handed out.
    let mut stored_ids: Vec<i64> = history.iter().map(|a| a.id).collect();
    stored_ids.sort();
    let mut notified: Vec<i64> = everything
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(k, _)| k == "fired")
        .map(|(_, id)| *id)
        .collect();
    notified.sort();
    assert_eq!(stored_ids, notified);
    // Everything: 3 firings + 1 resolution. Critical only: the failed worker.
    assert_eq!(everything.0.lock().unwrap().len(), 4);
    assert_eq!(critical.0.lock().unwrap().len(), 1);
    assert_eq!(critical.0.lock().unwrap()[0].1, failed.id);
    writer.shutdown().await.unwrap();
}

fn sample_change() -> AlertChange {
    let mut engine =
        multiagents::monitor::alerts::AlertEngine::new(AlertThresholds::default(), Arc::new(|| 42));
    engine
        .evaluate(&inputs(0.0, vec![failing("w \"quoted\" $(rm -rf /)")]), T0)
        .remove(0)
}

#[test]
fn the_command_notifier_hands_the_alert_json_to_a_real_process() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("alert.json");
    let notifier = CommandNotifier::new(
        vec![
            "sh".into(),
            "-c".into(),
            format!("cat > '{}'", out.display()),
        ],
        Duration::from_secs(10),
    );
    let change = sample_change();
    notifier.notify(&change).unwrap();
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(written, serde_json::to_value(change.alert()).unwrap());
    assert_eq!(written["type"], "worker_failed");
    assert_eq!(written["severity"], "critical");
    assert_eq!(written["id"], 42);
    // The worker name went through as data, never as shell text.
    assert_eq!(written["worker"], "w \"quoted\" $(rm -rf /)");
}

#[test]
fn command_notifier_failures_are_errors_naming_the_program_not_panics() {
    let change = sample_change();

    let missing = CommandNotifier::new(
        vec!["/nonexistent/notify-me".into()],
        Duration::from_secs(5),
    );
    let err = missing.notify(&change).unwrap_err();
    assert!(
        matches!(&err, MonitorError::Notifier { program, .. } if program == "/nonexistent/notify-me"),
        "{err}"
    );

    let failing = CommandNotifier::new(
        vec![
            "sh".into(),
            "-c".into(),
            "cat >/dev/null; echo boom >&2; exit 3".into(),
        ],
        Duration::from_secs(5),
    );
    let err = failing.notify(&change).unwrap_err().to_string();
    assert!(err.contains("boom") && err.contains('3'), "{err}");

    let started = std::time::Instant::now();
    let slow = CommandNotifier::new(
        vec!["sh".into(), "-c".into(), "exec sleep 30".into()],
        Duration::from_millis(300),
    );
    let err = slow.notify(&change).unwrap_err().to_string();
    assert!(err.contains("timed out"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "killed at the timeout"
    );

    // A grandchild holding the pipes open does not hold us past the timeout.
    let started = std::time::Instant::now();
    let forked = CommandNotifier::new(
        vec!["sh".into(), "-c".into(), "sleep 3; true".into()],
        Duration::from_millis(300),
    );
    let err = forked.notify(&change).unwrap_err().to_string();
    assert!(err.contains("timed out"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    let empty = CommandNotifier::new(vec![], Duration::from_secs(1));
    assert!(empty.notify(&change).is_err());
}

#[tokio::test]
async fn a_failing_notifier_does_not_stop_alerting() {
    let db = temp_db();
    let (store, writer) = open(&db.path);
    let mut alerts = MonitoringAlerts::new(AlertThresholds::default(), writer.clone());
    alerts.add_notifier(
        Arc::new(CommandNotifier::new(
            vec!["false".into()],
            Duration::from_secs(5),
        )),
        Severity::Info,
    );
    let c = alerts
        .check_alerts(&inputs(99.0, vec![]), T0)
        .await
        .unwrap();
    assert_eq!(c.len(), 1);
    writer.flush().await.unwrap();
    assert_eq!(
        count(&store.reader().unwrap(), "SELECT count(*) FROM alerts"),
        1
    );
    writer.shutdown().await.unwrap();
}
