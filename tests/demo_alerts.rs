//! The demo shows what it announces: run as a user runs it (default seed,
//! quick timings), it prints the alerts its background checks fire, the
//! business metric and the intervals it uses — and a webhook configured in
//! the YAML receives every alert it printed.

mod support;

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::post;
use serde_json::Value;
use support::*;

async fn receive(State(got): State<Arc<Mutex<Vec<Value>>>>, body: String) -> &'static str {
    if let Ok(alert) = serde_json::from_str(&body) {
        got.lock().unwrap().push(alert);
    }
    "ok"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_demo_prints_alerts_that_a_webhook_receives() {
    let got = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route("/alerts", post(receive))
        .with_state(Arc::clone(&got));
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(socket, app).await.unwrap() });

    let db = temp_db();
    let config = db.dir.path().join("alerts.yaml");
    std::fs::write(
        &config,
        format!(
            "alerts:\n  notifiers:\n    - type: webhook\n      url: http://127.0.0.1:{port}/alerts\n      min_severity: info\n      send_resolved: false\n"
        ),
    )
    .unwrap();
    let (db_path, config_path) = (db.path.clone(), config.clone());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_multiagents"))
            .arg("--db")
            .arg(&db_path)
            .arg("--config")
            .arg(&config_path)
            .args(["--log-level", "warn", "demo"])
            .output()
            .expect("run the demo")
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The intervals it uses: the configuration's, scaled like the rest.
    assert!(
        text.contains("Health and alert checks every 1.0 s, system samples every 1.50 s"),
        "{text}"
    );
    // The seed's business metric, recorded and read back.
    let orders = text
        .lines()
        .find(|l| l.contains("Orders in hour"))
        .unwrap_or_else(|| panic!("no order line in:\n{text}"));
    assert!(
        orders.contains("Total:") && orders.contains("Max:"),
        "{orders}"
    );

    // At least one alert fired, and every one printed reached the webhook.
    let printed: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("🚨 CRITICAL ALERT: ") || l.starts_with("⚠️  ALERT ("))
        .collect();
    assert!(!printed.is_empty(), "no alert in the demo output:\n{text}");
    let received = got.lock().unwrap().clone();
    assert_eq!(received.len(), printed.len(), "{received:?}\n{printed:?}");
    for line in &printed {
        assert!(
            received
                .iter()
                .any(|a| line.ends_with(a["message"].as_str().unwrap())),
            "{line} not received: {received:?}"
        );
    }
    // The file agrees: each alert stored once, and resolved by the end.
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    assert_eq!(
        count(&conn, "SELECT count(*) FROM alerts") as usize,
        printed.len()
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM alerts WHERE resolved_at_us IS NULL"
        ),
        0
    );
    // On-demand samples of the system section are stored too: at least
    // one per printed CPU line.
    let cpu_lines = text.lines().filter(|l| l.starts_with("CPU: ")).count() as i64;
    assert!(cpu_lines > 0);
    assert!(
        count(&conn, "SELECT count(*) FROM system_samples") >= cpu_lines,
        "{text}"
    );
}
