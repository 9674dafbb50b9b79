//! The Prometheus exposition: it parses (every sample after its family's
//! HELP and TYPE), label values are escaped, `serve` answers /metrics and
//! /health over real TCP while a run writes the file, and a non-loopback
//! address needs --allow-remote.

mod export_support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use export_support::*;
use multiagents::export::prometheus::{self, ExportOptions};
use multiagents::store::{
    EventDispatched, EventFinished, EventOutcome, EventType, Record, RunInfo, Store,
    WorkflowChanged, WorkflowStarted, WorkflowState, WriterOptions,
};

/// Checks the text format: each sample's family has HELP and TYPE lines
/// before it, names and label syntax are well formed. Returns the sample
/// lines.
fn check_exposition(text: &str) -> Vec<String> {
    let mut helped = HashSet::new();
    let mut typed = std::collections::HashMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.insert(rest.split(' ').next().unwrap().to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap().to_string();
            let kind = parts.next().unwrap().to_string();
            assert!(
                ["counter", "gauge", "histogram"].contains(&kind.as_str()),
                "{line}"
            );
            assert!(helped.contains(&name), "TYPE before HELP: {line}");
            typed.insert(name, kind);
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment: {line}");
        if line.is_empty() {
            continue;
        }
        let name_end = line.find(['{', ' ']).expect("sample has a value");
        let name = &line[..name_end];
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        // The family a sample belongs to: histograms add suffixes.
        let family = if typed.contains_key(name) {
            name.to_string()
        } else {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|f| typed.get(*f).is_some_and(|k| k == "histogram"))
                .unwrap_or_else(|| panic!("sample without TYPE: {line}"))
                .to_string()
        };
        assert!(helped.contains(&family), "sample without HELP: {line}");
        let value = line.rsplit(' ').next().unwrap();
        assert!(
            value == "+Inf" || value.parse::<f64>().is_ok(),
            "bad value: {line}"
        );
        samples.push(line.to_string());
    }
    samples
}

fn value_of(samples: &[String], prefix: &str) -> f64 {
    samples
        .iter()
        .find(|s| s.starts_with(prefix))
        .unwrap_or_else(|| panic!("no sample {prefix}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_exposition_parses_and_counts_what_the_run_did() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    record_demo_run(&db, 24).await;
    for args in [vec![], vec!["--run", "latest"], vec!["--window", "1h"]] {
        let out = binary()
            .arg("--db")
            .arg(&db)
            .args(["export", "prometheus"])
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let samples = check_exposition(&text);
        for name in [
            "multiagents_events_total{",
            "multiagents_success_rate ",
            "multiagents_error_rate ",
            "multiagents_avg_latency_seconds ",
            "multiagents_worker_executions_total{worker=\"fast_processor\"}",
            "multiagents_worker_success_rate{worker=\"fast_processor\"}",
            "multiagents_worker_avg_duration_seconds{worker=\"slow_processor\"}",
            "multiagents_worker_duration_seconds_bucket{worker=\"slow_processor\",le=\"+Inf\"}",
            "multiagents_worker_health{",
            "multiagents_system_cpu_usage_ratio ",
            "multiagents_active_workflows ",
            "multiagents_alerts_firing{severity=\"critical\"}",
        ] {
            assert!(
                samples.iter().any(|s| s.starts_with(name)),
                "{name} missing from\n{text}"
            );
        }
        // Rates are fractions, and with cancellations absent they add up.
        let success = value_of(&samples, "multiagents_success_rate ");
        let error = value_of(&samples, "multiagents_error_rate ");
        assert!((0.0..=1.0).contains(&success) && (0.0..=1.0).contains(&error));
        assert!((success + error - 1.0).abs() < 1e-9, "{success} + {error}");
        // Counters agree with the raw rows.
        let conn = rusqlite::Connection::open(&db).unwrap();
        let fast = count(
            &conn,
            "SELECT count(*) FROM events e JOIN workers k ON k.id = e.worker_id \
             WHERE k.name = 'fast_processor' AND e.finished_at_us IS NOT NULL",
        );
        assert_eq!(
            value_of(
                &samples,
                "multiagents_worker_executions_total{worker=\"fast_processor\"}"
            ),
            fast as f64
        );
        assert_eq!(
            value_of(
                &samples,
                "multiagents_worker_duration_seconds_count{worker=\"fast_processor\"}"
            ),
            fast as f64
        );
        // Buckets are cumulative: never decreasing, ending at the count.
        let buckets: Vec<f64> = samples
            .iter()
            .filter(|s| {
                s.starts_with(
                    "multiagents_worker_duration_seconds_bucket{worker=\"slow_processor\"",
                )
            })
            .map(|s| s.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(buckets.len(), 13);
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    }
}

#[test]
fn label_values_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let run = RunInfo {
        command: "escape test".into(),
        config_json: "{}".into(),
    };
    let (store, writer) = Store::open(&db, &run, WriterOptions::default()).unwrap();
    let worker: Arc<str> = Arc::from("we\"ird\\name\nline2");
    let name: Arc<str> = Arc::from("wf");
    let t0 = multiagents::clock::now_us() - 1_000_000;
    let id = writer.next_id();
    let eid = writer.next_id();
    for record in [
        Record::WorkflowStarted(WorkflowStarted {
            id,
            transaction_id: Arc::from("tx-escape"),
            workflow_name: Arc::clone(&name),
            created_at_us: t0,
            started_at_us: t0,
            input_size_bytes: 1,
        }),
        Record::EventDispatched(EventDispatched {
            id: eid,
            workflow_id: id,
            event_type: EventType::Command,
            step: Arc::from("s"),
            worker: Arc::clone(&worker),
            attempt: 1,
            dispatched_at_us: t0,
            payload_size_bytes: 1,
        }),
        Record::EventFinished(EventFinished {
            id: eid,
            outcome: EventOutcome::Completed,
            picked_up_at_us: Some(t0 + 1),
            processing_at_us: Some(t0 + 2),
            finished_at_us: t0 + 2_002,
            duration_us: 2_000,
            result_size_bytes: Some(1),
            error_type: None,
            error_message: None,
            worker: Arc::clone(&worker),
            event_type: EventType::Command,
            dispatched_at_us: t0,
            payload_size_bytes: 1,
            host: None,
        }),
        Record::WorkflowChanged(WorkflowChanged {
            id,
            state: WorkflowState::Completed,
            at_us: t0 + 3_000,
            current_step: None,
            error: None,
            workflow_name: name,
            created_at_us: t0,
        }),
    ] {
        writer.blocking_record(record).unwrap();
    }
    writer.blocking_flush().unwrap();
    let text = prometheus::export(&store, &ExportOptions::now()).unwrap();
    let samples = check_exposition(&text);
    let escaped = r#"worker="we\"ird\\name\nline2""#;
    assert!(
        samples
            .iter()
            .any(|s| s == &format!("multiagents_worker_executions_total{{{escaped}}} 1")),
        "{text}"
    );
    assert!(
        samples.iter().any(|s| s.starts_with(&format!(
            "multiagents_worker_duration_seconds_bucket{{{escaped},le=\"0.005\"}} 1"
        ))),
        "{text}"
    );
    writer.blocking_shutdown().unwrap();
}

/// A hand-written HTTP/1.1 GET; returns (status line, headers, body).
fn get(addr: &str, path: &str) -> (String, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a full response");
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_string(), headers.to_lowercase(), body.to_string())
}

/// Chunked bodies (axum streams large ones) reassembled.
fn dechunk(headers: &str, body: &str) -> String {
    if !headers.contains("transfer-encoding: chunked") {
        return body.to_string();
    }
    let mut out = String::new();
    let mut rest = body;
    loop {
        let (size, after) = rest.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_metrics_and_health_while_a_run_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    // The writer: a session in this process, still running.
    let session = start_demo_session(&db).await;
    run_workflows(&session, 8).await;

    let mut child = binary()
        .arg("--db")
        .arg(&db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();

    // Scrape while more workflows are being recorded.
    let writing = {
        let orchestrator = session.orchestrator().clone();
        tokio::spawn(async move {
            for i in 0..20 {
                let id = orchestrator
                    .execute_workflow(
                        "simple_monitoring",
                        serde_json::json!({ "data": format!("x{i}") }),
                    )
                    .await
                    .unwrap();
                orchestrator.wait(&id).await.unwrap();
            }
        })
    };
    for _ in 0..3 {
        let addr = addr.clone();
        let (status, headers, body) = tokio::task::spawn_blocking(move || get(&addr, "/metrics"))
            .await
            .unwrap();
        assert!(status.contains("200"), "{status}");
        assert!(
            headers.contains("content-type: text/plain; version=0.0.4"),
            "{headers}"
        );
        let body = dechunk(&headers, &body);
        let samples = check_exposition(&body);
        assert!(
            samples
                .iter()
                .any(|s| s
                    .starts_with("multiagents_worker_executions_total{worker=\"fast_processor\"}")),
            "{body}"
        );
    }
    writing.await.unwrap();
    let a = addr.clone();
    let (status, headers, body) = tokio::task::spawn_blocking(move || get(&a, "/health"))
        .await
        .unwrap();
    assert!(status.contains("200"), "{status}");
    assert!(headers.contains("application/json"), "{headers}");
    let health: serde_json::Value = serde_json::from_str(&dechunk(&headers, &body)).unwrap();
    for worker in ["fast_processor", "slow_processor", "flaky_processor"] {
        let status = health[worker]["status"].as_str().unwrap();
        assert!(
            ["healthy", "degraded", "failing", "inactive"].contains(&status),
            "{health}"
        );
    }
    let a = addr.clone();
    let (status, _, _) = tokio::task::spawn_blocking(move || get(&a, "/nope"))
        .await
        .unwrap();
    assert!(status.contains("404"), "{status}");

    // SIGTERM: a graceful stop with exit 0.
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    session.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_non_loopback_address_without_allow_remote() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    record_demo_run(&db, 1).await;
    let out = binary()
        .arg("--db")
        .arg(&db)
        .args(["serve", "--listen", "0.0.0.0:0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--allow-remote"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
