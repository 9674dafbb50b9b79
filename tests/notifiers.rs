//! Alerts reach people: notifiers configured in the YAML (`alerts.notifiers`)
//! deliver to a real HTTP listener on loopback and to a real program.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use multiagents::config::MonitoringConfig;
use multiagents::monitor::alerts::{
    AlertChange, AlertNotifier, AlertStatus, AlertThresholds, MonitoringAlerts, Severity,
    WebhookNotifier, WorkerObservation,
};
use multiagents::session::Session;
use multiagents::worker::WorkerRegistry;
use multiagents::workload::{DemoSettings, register_demo_workers, register_demo_workflows};
use serde_json::{Value, json};
use support::*;

/// What the listener received, and how it answers.
#[derive(Default)]
struct Hook {
    /// Bodies (as JSON) and content types received, in order.
    received: Mutex<Vec<(Value, String)>>,
    /// Status codes to answer with, first to last; 200 once used up.
    answers: Mutex<Vec<u16>>,
    /// How long to wait before answering.
    delay: Mutex<Duration>,
}

async fn receive(State(hook): State<Arc<Hook>>, headers: HeaderMap, body: String) -> StatusCode {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let parsed = serde_json::from_str(&body).unwrap_or(Value::String(body));
    hook.received.lock().unwrap().push((parsed, content_type));
    let delay = *hook.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let mut answers = hook.answers.lock().unwrap();
    let code = if answers.is_empty() {
        200
    } else {
        answers.remove(0)
    };
    StatusCode::from_u16(code).unwrap()
}

/// A webhook receiver on 127.0.0.1 (a free port); returns its URL.
async fn listener(hook: Arc<Hook>) -> String {
    let app = axum::Router::new()
        .route("/hook/{secret}", post(receive))
        .with_state(hook);
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    tokio::spawn(async move {
        axum::serve(socket, app).await.unwrap();
    });
    format!("http://127.0.0.1:{port}/hook/s3cr3t-token")
}

/// A session with always-failing `flaky_processor`, quiet background jobs.
async fn failing_session(db: &std::path::Path, yaml: &str) -> Session {
    let config = MonitoringConfig::from_yaml_str(yaml, "test.yaml").expect("valid config");
    let mut workers = WorkerRegistry::new();
    register_demo_workers(
        &mut workers,
        DemoSettings {
            seed: 3,
            time_scale: 0.01,
            failure_rate: 1.0,
        },
    );
    let session = Session::start(db, config, workers, run_info())
        .await
        .expect("starts");
    register_demo_workflows(session.orchestrator()).expect("workflows");
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(
            session
                .orchestrator()
                .execute_workflow("error_monitoring", json!({"data": format!("n{i}")}))
                .await
                .expect("starts"),
        );
    }
    for id in &ids {
        session.orchestrator().wait(id).await.expect("ends");
    }
    session
}

const QUIET: &str = "worker_monitoring:\n  health_check_interval_seconds: 3600\n\
metrics_collection:\n  collection_interval_seconds: 3600\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_from_the_yaml_receives_critical_alerts_and_their_resolution() {
    let hook = Arc::new(Hook::default());
    let url = listener(Arc::clone(&hook)).await;
    let db = temp_db();
    let yaml = format!(
        "{QUIET}alerts:\n  notifiers:\n    - type: webhook\n      url: \"{url}\"\n      timeout_seconds: 5\n      retries: 2\n"
    );
    let session = failing_session(&db.path, &yaml).await;
    session.check_alerts().await.expect("check");
    {
        // Critical by default: worker_failed, not the high_error_rate warning.
        let received = hook.received.lock().unwrap();
        assert_eq!(received.len(), 1, "{received:?}");
        let (alert, content_type) = &received[0];
        assert_eq!(content_type, "application/json");
        assert_eq!(alert["type"], "worker_failed");
        assert_eq!(alert["severity"], "critical");
        assert_eq!(alert["worker"], "flaky_processor");
        assert_eq!(alert["status"], "firing");
        assert!(
            alert["message"]
                .as_str()
                .unwrap()
                .contains("Worker flaky_processor has failed"),
            "{alert}"
        );
    }
    // The run ends: the alert resolves, and the receiver is told.
    session.shutdown().await.expect("shutdown");
    let received = hook.received.lock().unwrap();
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!(received[1].0["type"], "worker_failed");
    assert_eq!(received[1].0["status"], "resolved");
    assert!(received[1].0["resolved_at"].is_string());
    drop(received);
    // The configuration stored with a run does not keep the URL's secret.
    let stored = MonitoringConfig::from_yaml_str(&yaml, "test.yaml")
        .unwrap()
        .to_json()
        .to_string();
    assert!(!stored.contains("s3cr3t-token"), "{stored}");
    assert!(stored.contains("http://127.0.0.1:"), "{stored}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_severity_and_send_resolved_choose_what_is_sent() {
    let hook = Arc::new(Hook::default());
    let url = listener(Arc::clone(&hook)).await;
    let db = temp_db();
    let yaml = format!(
        "{QUIET}alerts:\n  notifiers:\n    - type: webhook\n      url: \"{url}\"\n      min_severity: warning\n      send_resolved: false\n"
    );
    let session = failing_session(&db.path, &yaml).await;
    session.check_alerts().await.expect("check");
    session.shutdown().await.expect("shutdown");
    let received = hook.received.lock().unwrap();
    let mut types: Vec<String> = received
        .iter()
        .map(|(a, _)| format!("{} {}", a["type"].as_str().unwrap(), a["status"]))
        .collect();
    types.sort();
    assert_eq!(
        types,
        ["high_error_rate \"firing\"", "worker_failed \"firing\""]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_from_the_yaml_gets_the_alert_on_stdin() {
    let db = temp_db();
    let out = db.dir.path().join("alerts.jsonl");
    let yaml = format!(
        "{QUIET}alerts:\n  notifiers:\n    - type: command\n      argv: [\"sh\", \"-c\", \"cat >> \\\"$0\\\"; echo >> \\\"$0\\\"\", \"{}\"]\n      timeout_seconds: 5\n",
        out.display()
    );
    let session = failing_session(&db.path, &yaml).await;
    session.check_alerts().await.expect("check");
    session.shutdown().await.expect("shutdown");
    let text = std::fs::read_to_string(&out).expect("the program wrote the alerts");
    let alerts: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON alert per line"))
        .collect();
    assert_eq!(alerts.len(), 2, "{text}");
    assert_eq!(alerts[0]["type"], "worker_failed");
    assert_eq!(alerts[0]["status"], "firing");
    assert_eq!(alerts[1]["status"], "resolved");
}

fn critical_change() -> AlertChange {
    let mut engine =
        multiagents::monitor::alerts::AlertEngine::new(AlertThresholds::default(), Arc::new(|| 42));
    let changes = engine.evaluate(
        &multiagents::monitor::alerts::AlertInputs {
            error_rate_percent: 0.0,
            avg_latency_ms: 1.0,
            workers: vec![WorkerObservation {
                name: "w".into(),
                status: "failing".into(),
                p95_duration_ms: Some(1.0),
                issues: vec!["error rate 90.0% exceeds the 20.0% threshold".into()],
            }],
        },
        1_700_000_000_000_000,
    );
    changes.into_iter().next().expect("fires")
}

/// Runs the blocking notifier off the runtime, as MonitoringAlerts does.
async fn deliver(notifier: WebhookNotifier) -> Result<(), String> {
    tokio::task::spawn_blocking(move || {
        notifier
            .notify(&critical_change())
            .map_err(|e| e.to_string())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_and_client_errors_are_not() {
    let hook = Arc::new(Hook::default());
    *hook.answers.lock().unwrap() = vec![503, 500];
    let url = listener(Arc::clone(&hook)).await;
    deliver(WebhookNotifier::new(&url, Duration::from_secs(5), 3))
        .await
        .expect("the third attempt succeeds");
    {
        let received = hook.received.lock().unwrap();
        assert_eq!(received.len(), 3);
        assert!(
            received.iter().all(|(a, _)| a == &received[0].0),
            "same body"
        );
        assert_eq!(received[0].0["id"], 42);
    }

    hook.received.lock().unwrap().clear();
    *hook.answers.lock().unwrap() = vec![404];
    let err = deliver(WebhookNotifier::new(&url, Duration::from_secs(5), 3))
        .await
        .expect_err("404 is final");
    assert!(err.contains("HTTP 404"), "{err}");
    assert!(err.contains("after 1 attempt"), "{err}");
    assert!(!err.contains("s3cr3t"), "the URL's secret stays out: {err}");
    assert_eq!(hook.received.lock().unwrap().len(), 1);

    hook.received.lock().unwrap().clear();
    *hook.answers.lock().unwrap() = vec![500, 500, 500];
    let err = deliver(WebhookNotifier::new(&url, Duration::from_secs(5), 1))
        .await
        .expect_err("retries run out");
    assert!(err.contains("HTTP 500 (after 2 attempts)"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_times_out_and_a_dead_one_fails_without_stopping_alerting() {
    let hook = Arc::new(Hook::default());
    *hook.delay.lock().unwrap() = Duration::from_secs(3);
    let url = listener(Arc::clone(&hook)).await;
    let err = deliver(WebhookNotifier::new(&url, Duration::from_millis(300), 0))
        .await
        .expect_err("too slow");
    assert!(err.contains("no answer within"), "{err}");

    // Nothing listens on this port any more.
    let port = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().port()
    };
    let db = temp_db();
    let (_store, writer) = open(&db.path);
    let mut alerts = MonitoringAlerts::new(AlertThresholds::default(), writer.clone());
    alerts.add_notifier(
        Arc::new(WebhookNotifier::new(
            &format!("http://127.0.0.1:{port}/hook"),
            Duration::from_secs(1),
            0,
        )),
        Severity::Info,
    );
    let changes = alerts
        .check_alerts(
            &multiagents::monitor::alerts::AlertInputs {
                error_rate_percent: 50.0,
                avg_latency_ms: 1.0,
                workers: vec![],
            },
            1_700_000_000_000_000,
        )
        .await
        .expect("alerting goes on");
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].alert().status, AlertStatus::Firing);
    writer.shutdown().await.unwrap();
}
