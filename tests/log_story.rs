//! Logs tell the story: a real `load-test` process logging at debug to the
//! console and to a JSON file shows each workflow's start and end, each
//! step's dispatch and end with the transaction id as a field, failures at
//! warn (throttled) and alerts at warn/error.

mod support;

use std::process::Command;

use serde_json::Value;
use support::*;

#[test]
fn a_debug_run_logs_workflows_steps_failures_and_alerts_with_the_transaction_id() {
    let db = temp_db();
    let log = db.dir.path().join("logs").join("run.log");
    let config = db.dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "logging:\n  default_logger: composite\n  level: debug\n  file_path: {}\n  json_format: true\n\
             worker_monitoring:\n  health_check_interval_seconds: 0.2\n",
            log.display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_multiagents"))
        .arg("--db")
        .arg(&db.path)
        .arg("--config")
        .arg(&config)
        .args([
            "load-test",
            "--duration",
            "2s",
            "--rps",
            "100",
            "--mix",
            "error",
            "--seed",
            "5",
        ])
        .output()
        .expect("run load-test");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");

    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .expect("log file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let with = |message: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|l| l["fields"]["message"] == message)
            .collect()
    };
    for message in [
        "workflow started",
        "step dispatched",
        "step completed",
        "step failed",
    ] {
        let found = with(message);
        assert!(!found.is_empty(), "no {message:?} line");
        assert!(
            found.iter().all(|l| l["fields"]["transaction_id"]
                .as_str()
                .is_some_and(|t| !t.is_empty())),
            "{message:?} without a transaction id: {:?}",
            found[0]
        );
    }
    let dispatched = with("step dispatched")[0];
    assert_eq!(dispatched["level"], "DEBUG");
    assert!(dispatched["fields"]["step"].is_string() && dispatched["fields"]["worker"].is_string());
    // Workflow ends: failed ones at warn (while the throttle allows),
    // the others at debug.
    let ended = with("workflow finished").len() + with("workflow failed").len();
    assert!(ended > 0);
    assert!(with("workflow failed").iter().all(|l| l["level"] == "WARN"));
    // Step failures at warn, throttled: at most 10 a second for both
    // kinds of failure over a run of a few seconds, and those held back
    // are counted in the next line let through.
    let warned: Vec<&Value> = with("step failed")
        .into_iter()
        .chain(with("workflow failed"))
        .filter(|l| l["level"] == "WARN")
        .collect();
    assert!(!warned.is_empty());
    let failed_workflows = count(
        &rusqlite::Connection::open(&db.path).unwrap(),
        "SELECT count(*) FROM workflows WHERE state <> 'completed'",
    );
    assert!(
        (warned.len() as i64) < failed_workflows * 2,
        "throttled: {} warn lines for {failed_workflows} failed workflows",
        warned.len()
    );
    assert!(
        warned
            .iter()
            .any(|l| l["fields"]["failures_not_logged"].as_u64().unwrap_or(0) > 0),
        "some failures were held back and counted"
    );
    // Alerts at warn (warnings) or error (critical).
    let alerts: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Alert triggered"))
        })
        .collect();
    assert!(!alerts.is_empty(), "no alert logged");
    for alert in &alerts {
        let expected = if alert["fields"]["severity"] == "critical" {
            "ERROR"
        } else {
            "WARN"
        };
        assert_eq!(alert["level"], expected, "{alert}");
    }
    // The console says the same in its own format.
    assert!(stderr.contains("step dispatched"), "{stderr}");
    assert!(stderr.contains("transaction_id="), "{stderr}");
    assert!(stderr.contains("Alert triggered"), "{stderr}");
}
