//! The Prometheus exposition: it parses (every sample after its family's
//! HELP and TYPE), names and units follow the naming guide (every family
//! read and checked), `promtool check metrics` accepts it, label values
//! are escaped, custom histograms use their configured buckets, the
//! recording process adds its writer's figures, `serve` answers /metrics
//! and /health over real TCP while a run writes the file, /health answers
//! 503 when workers fail, and a non-loopback address needs --allow-remote.

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

/// Every metric family with its TYPE and HELP, in order.
fn families(text: &str) -> Vec<(String, String, String)> {
    let mut help = std::collections::HashMap::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            help.insert(name.to_string(), text.to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            let h = help.get(name).cloned().unwrap_or_default();
            out.push((name.to_string(), kind.to_string(), h));
        }
    }
    out
}

/// The Prometheus naming guide, family by family: counters and only
/// counters end in `_total`; `_seconds`, `_bytes` and `_ratio` families are
/// gauges or histograms (or `…_seconds_total` counters); fractions are
/// `_ratio`, never `_rate` or `_percent`, and lie in 0-1; no
/// milliseconds; `_info` is a gauge of 1; every family has a HELP text.
/// Our own histograms carry a unit. Returns the problems.
fn naming_problems(text: &str) -> Vec<String> {
    let samples = check_exposition(text);
    let mut problems = Vec::new();
    let fams = families(text);
    assert!(fams.len() > 10, "too few families to judge:\n{text}");
    for (name, kind, help) in &fams {
        let mut found = Vec::new();
        let mut bad = |why: &str| found.push(format!("{name} ({kind}): {why}"));
        if help.trim().is_empty() {
            bad("no HELP text");
        }
        if !name.starts_with("multiagents_") {
            bad("not prefixed multiagents_");
        }
        match kind.as_str() {
            "counter" if !name.ends_with("_total") => bad("counter without _total"),
            "counter" | "gauge" | "histogram" => {}
            _ => bad("unexpected type"),
        }
        if kind != "counter" && name.ends_with("_total") {
            bad("_total on a non-counter");
        }
        for unit in ["_rate", "_percent", "_ms", "_milliseconds", "_us"] {
            if name.ends_with(unit) || name.contains(&format!("{unit}_")) {
                bad("rate or unit outside the one convention (_ratio, _seconds, _bytes)");
            }
        }
        if name.ends_with("_ratio") {
            if kind != "gauge" {
                bad("_ratio is not a gauge");
            }
            for s in samples.iter().filter(|s| {
                s.strip_prefix(name.as_str())
                    .is_some_and(|r| r.starts_with(['{', ' ']))
            }) {
                let v: f64 = s.rsplit(' ').next().unwrap().parse().unwrap();
                if !(0.0..=1.0).contains(&v) {
                    bad(&format!("{s}: a ratio outside 0-1"));
                }
            }
        }
        if (name.ends_with("_seconds") || name.ends_with("_bytes"))
            && !(kind == "gauge" || kind == "histogram")
        {
            bad("a unit family that is neither gauge nor histogram");
        }
        if name.ends_with("_info") && kind != "gauge" {
            bad("_info is not a gauge");
        }
        if kind == "histogram"
            && !name.starts_with(prometheus::CUSTOM_PREFIX)
            && !name.ends_with("_seconds")
            && !name.ends_with("_bytes")
        {
            bad("a histogram of ours without a unit");
        }
        problems.extend(found);
    }
    problems
}

/// `promtool check metrics` on `text`: it must accept it without a lint
/// warning. Without promtool the check is skipped, said loudly — unless
/// `MULTIAGENTS_REQUIRE_PROMTOOL` is set (`.ci/run` sets it): then a
/// missing promtool fails the test.
fn promtool_accepts(test: &str, text: &str) {
    let found = std::process::Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("MULTIAGENTS_REQUIRE_PROMTOOL").is_none(),
            "promtool is not installed and MULTIAGENTS_REQUIRE_PROMTOOL is set: {test} cannot be skipped"
        );
        eprintln!(
            "\n*** SKIPPED promtool in {test}: promtool is not installed (apt-get install prometheus; CI installs it) ***\n"
        );
        return;
    }
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics ({:?}):\n{said}\n--- exposition:\n{text}",
        out.status
    );
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
            "multiagents_build_info{version=",
            "multiagents_events_total{",
            "multiagents_success_ratio ",
            "multiagents_error_ratio ",
            "multiagents_avg_latency_seconds ",
            "multiagents_workflows_total{workflow=\"simple_monitoring\",outcome=\"completed\"}",
            "multiagents_workflow_duration_seconds_bucket{workflow=\"simple_monitoring\",le=\"+Inf\"}",
            "multiagents_database_size_bytes ",
            "multiagents_database_wal_size_bytes ",
            "multiagents_system_sample_timestamp_seconds ",
            "multiagents_writer_stats_available 0",
            "multiagents_worker_executions_total{worker=\"fast_processor\"}",
            "multiagents_worker_success_ratio{worker=\"fast_processor\"}",
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
        let problems = naming_problems(&text);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        // Read from a file another process wrote: the writer's in-memory
        // figures are absent (and the HELP of the flag says so).
        assert!(!text.contains("multiagents_writer_queue_depth"), "{text}");
        promtool_accepts(
            "the_cli_exposition_parses_and_counts_what_the_run_did",
            &text,
        );
        // Ratios, and with cancellations absent they add up.
        let success = value_of(&samples, "multiagents_success_ratio ");
        let error = value_of(&samples, "multiagents_error_ratio ");
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
        // Per-workflow counters and the duration histogram agree with the
        // raw workflows (nothing was deleted by retention).
        for workflow in WORKFLOWS {
            let ended = count(
                &conn,
                &format!(
                    "SELECT count(*) FROM workflows WHERE workflow_name = '{workflow}' \
                     AND ended_at_us IS NOT NULL"
                ),
            );
            let counted: f64 = ["completed", "failed", "compensated", "cancelled"]
                .iter()
                .map(|o| {
                    value_of(
                        &samples,
                        &format!(
                            "multiagents_workflows_total{{workflow=\"{workflow}\",outcome=\"{o}\"}}"
                        ),
                    )
                })
                .sum();
            assert_eq!(counted, ended as f64, "{workflow}");
            assert_eq!(
                value_of(
                    &samples,
                    &format!(
                        "multiagents_workflow_duration_seconds_count{{workflow=\"{workflow}\"}}"
                    )
                ),
                ended as f64,
                "{workflow}"
            );
        }
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
    assert!(headers.contains("application/json"), "{headers}");
    let health: serde_json::Value = serde_json::from_str(&dechunk(&headers, &body)).unwrap();
    for worker in ["fast_processor", "slow_processor", "flaky_processor"] {
        let status = health["workers"][worker]["status"].as_str().unwrap();
        assert!(
            ["healthy", "degraded", "failing", "inactive"].contains(&status),
            "{health}"
        );
    }
    // One overall status, and the HTTP status says the same: 503 exactly
    // when a worker is failing (the default --unhealthy-on).
    let any_failing = ["fast_processor", "slow_processor", "flaky_processor"]
        .iter()
        .any(|w| health["workers"][w]["status"] == "failing");
    assert_eq!(
        health["status"],
        if any_failing { "unhealthy" } else { "healthy" }
    );
    assert!(
        status.contains(if any_failing { "503" } else { "200" }),
        "{status} {health}"
    );
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

/// Starts `multiagents serve` on a free loopback port with `args`; returns
/// the child and its address.
fn start_serve(db: &std::path::Path, args: &[&str]) -> (std::process::Child, String) {
    let mut child = binary()
        .arg("--db")
        .arg(db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = served_address(&mut child);
    (child, addr)
}

/// The address a child that serves printed first on stderr ("listening on
/// http://ADDR"); the rest of its stderr is drained so that its last line
/// ("stopped") has a reader.
fn served_address(child: &mut std::process::Child) -> String {
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    addr
}

/// A run whose one worker failed every execution just now, ended cleanly.
fn record_failing_worker(db: &std::path::Path) {
    let run = RunInfo {
        command: "failing".into(),
        config_json: "{}".into(),
    };
    let (_store, writer) = Store::open(db, &run, WriterOptions::default()).unwrap();
    let worker: Arc<str> = Arc::from("broken_processor");
    let name: Arc<str> = Arc::from("wf");
    let t0 = multiagents::clock::now_us() - 2_000_000;
    for i in 0..10 {
        let id = writer.next_id();
        let eid = writer.next_id();
        let t = t0 + i * 10_000;
        for record in [
            Record::WorkflowStarted(WorkflowStarted {
                id,
                transaction_id: Arc::from(format!("tx-{i}").as_str()),
                workflow_name: Arc::clone(&name),
                created_at_us: t,
                started_at_us: t,
                input_size_bytes: 1,
            }),
            Record::EventDispatched(EventDispatched {
                id: eid,
                workflow_id: id,
                event_type: EventType::Command,
                step: Arc::from("s"),
                worker: Arc::clone(&worker),
                attempt: 1,
                dispatched_at_us: t,
                payload_size_bytes: 1,
            }),
            Record::EventFinished(EventFinished {
                id: eid,
                outcome: EventOutcome::Failed,
                picked_up_at_us: Some(t + 1),
                processing_at_us: Some(t + 2),
                finished_at_us: t + 1_002,
                duration_us: 1_000,
                result_size_bytes: None,
                error_type: Some("Broken".into()),
                error_message: Some("always fails".into()),
                worker: Arc::clone(&worker),
                event_type: EventType::Command,
                dispatched_at_us: t,
                payload_size_bytes: 1,
                host: None,
            }),
            Record::WorkflowChanged(WorkflowChanged {
                id,
                state: WorkflowState::Failed,
                at_us: t + 2_000,
                current_step: None,
                error: None,
                workflow_name: Arc::clone(&name),
                created_at_us: t,
            }),
        ] {
            writer.blocking_record(record).unwrap();
        }
    }
    writer.blocking_shutdown().unwrap();
}

fn stop(mut child: std::process::Child) {
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(child.wait().unwrap().success());
}

#[test]
fn health_is_503_when_workers_fail_and_unhealthy_on_decides_which_statuses_count() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("failing.db");
    record_failing_worker(&db);

    // Default: failing counts.
    let (child, addr) = start_serve(&db, &[]);
    let (status, headers, body) = get(&addr, "/health");
    assert!(status.contains("503"), "{status}");
    assert!(headers.contains("application/json"), "{headers}");
    let health: serde_json::Value = serde_json::from_str(&dechunk(&headers, &body)).unwrap();
    assert_eq!(health["status"], "unhealthy", "{health}");
    assert_eq!(health["unhealthy_on"], serde_json::json!(["failing"]));
    assert_eq!(
        health["unhealthy_workers"],
        serde_json::json!(["broken_processor"])
    );
    assert_eq!(health["workers"]["broken_processor"]["status"], "failing");
    // /metrics still answers 200 and says the same.
    let (status, headers, body) = get(&addr, "/metrics");
    assert!(status.contains("200"), "{status}");
    let samples = check_exposition(&dechunk(&headers, &body));
    assert_eq!(
        value_of(
            &samples,
            "multiagents_worker_health{worker=\"broken_processor\",status=\"failing\"}"
        ),
        1.0
    );
    stop(child);

    // Only inactive counts: a failing worker is no reason for a 503.
    let (child, addr) = start_serve(&db, &["--unhealthy-on", "inactive"]);
    let (status, headers, body) = get(&addr, "/health");
    assert!(status.contains("200"), "{status}");
    let health: serde_json::Value = serde_json::from_str(&dechunk(&headers, &body)).unwrap();
    assert_eq!(health["status"], "healthy", "{health}");
    assert_eq!(health["unhealthy_workers"], serde_json::json!([]));
    stop(child);

    // `none`: never 503; several statuses at once.
    let (child, addr) = start_serve(&db, &["--unhealthy-on", "none"]);
    assert!(get(&addr, "/health").0.contains("200"));
    stop(child);
    let (child, addr) = start_serve(&db, &["--unhealthy-on", "failing,inactive"]);
    assert!(get(&addr, "/health").0.contains("503"));
    stop(child);

    // A status that does not exist: one line, exit 2, no server.
    let out = binary()
        .arg("--db")
        .arg(&db)
        .args(["serve", "--listen", "127.0.0.1:0", "--unhealthy-on", "sick"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown status \"sick\""), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_recording_process_metrics_add_the_writer_and_custom_histograms_use_their_buckets() {
    use multiagents::config::{CustomMetricConfig, MetricType};
    use multiagents::export::http::{self, ServeOptions};
    use multiagents::export::prometheus::Live;

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let mut config = multiagents::config::MonitoringConfig::default();
    config.metrics_collection.custom_metrics = vec![
        CustomMetricConfig {
            name: "order_size".into(),
            metric_type: MetricType::Histogram,
            buckets: Some(vec![1.0, 10.0, 100.0]),
        },
        CustomMetricConfig {
            name: "wait_seconds".into(),
            metric_type: MetricType::Histogram,
            buckets: None,
        },
    ];
    let mut workers = multiagents::worker::WorkerRegistry::new();
    multiagents::workload::register_demo_workers(
        &mut workers,
        multiagents::workload::DemoSettings {
            seed: 3,
            time_scale: 0.01,
            failure_rate: 0.0,
        },
    );
    let run = RunInfo {
        command: "live test".into(),
        config_json: "{}".into(),
    };
    let session = multiagents::session::Session::start(&db, config.clone(), workers, run)
        .await
        .unwrap();
    multiagents::workload::register_demo_workflows(session.orchestrator()).unwrap();
    run_workflows(&session, 8).await;
    let metrics = session.custom_metrics();
    let eu: multiagents::monitor::custom::Labels = [("region".to_string(), "eu".to_string())]
        .into_iter()
        .collect();
    for v in [0.5, 5.0, 50.0, 500.0] {
        metrics
            .observe_histogram("order_size", &eu, v)
            .await
            .unwrap();
    }
    metrics
        .observe_histogram("wait_seconds", &Default::default(), 0.2)
        .await
        .unwrap();
    session.writer().flush().await.unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let options = ServeOptions {
        custom_buckets: prometheus::custom_buckets(&config),
        live: Some(Live::of_session(&session)),
        ..ServeOptions::new(session.store().clone())
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(listener, options, async {
        let _ = stopped.await;
    }));
    let (status, headers, body) = tokio::task::spawn_blocking(move || get(&addr, "/metrics"))
        .await
        .unwrap();
    assert!(status.contains("200"), "{status}");
    let text = dechunk(&headers, &body);
    let samples = check_exposition(&text);
    let problems = naming_problems(&text);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    promtool_accepts(
        "in_the_recording_process_metrics_add_the_writer_and_custom_histograms_use_their_buckets",
        &text,
    );

    // The configured buckets, cumulative, with count and sum.
    let h = "multiagents_custom_order_size";
    assert!(text.contains(h), "{text}");
    for (le, n) in [("1", 1.0), ("10", 2.0), ("100", 3.0), ("+Inf", 4.0)] {
        assert_eq!(
            value_of(
                &samples,
                &format!("{h}_bucket{{region=\"eu\",le=\"{le}\"}}")
            ),
            n,
            "le {le}:\n{text}"
        );
    }
    assert_eq!(
        value_of(&samples, &format!("{h}_count{{region=\"eu\"}}")),
        4.0
    );
    assert_eq!(
        value_of(&samples, &format!("{h}_sum{{region=\"eu\"}}")),
        555.5
    );
    // Without buckets in the configuration: Prometheus's defaults.
    assert_eq!(
        value_of(
            &samples,
            "multiagents_custom_wait_seconds_bucket{le=\"0.1\"}"
        ),
        0.0
    );
    assert_eq!(
        value_of(
            &samples,
            "multiagents_custom_wait_seconds_bucket{le=\"0.25\"}"
        ),
        1.0
    );

    // The recording process's own figures.
    assert_eq!(
        value_of(&samples, "multiagents_writer_stats_available "),
        1.0
    );
    assert_eq!(value_of(&samples, "multiagents_in_flight_workflows "), 0.0);
    for name in [
        "multiagents_writer_queue_depth ",
        "multiagents_writer_queue_capacity ",
        "multiagents_writer_producer_waits_total ",
        "multiagents_writer_producer_wait_seconds_total ",
        "multiagents_writer_commit_retries_total ",
        "multiagents_writer_busy_seconds_total ",
    ] {
        value_of(&samples, name);
    }
    let stats = session.writer().stats();
    assert!(value_of(&samples, "multiagents_writer_commit_seconds_count ") >= 1.0);
    assert!(
        value_of(&samples, "multiagents_writer_commit_seconds_count ")
            <= stats.batches_committed as f64
    );
    assert!(
        value_of(
            &samples,
            "multiagents_writer_rows_written_total{operation=\"insert\"}"
        ) >= 16.0,
        "8 workflows and their events were inserted:\n{text}"
    );
    assert!(value_of(&samples, "multiagents_writer_records_total ") >= 1.0);
    assert!(value_of(&samples, "multiagents_database_size_bytes ") > 0.0);

    let _ = stop.send(());
    server.await.unwrap().unwrap();
    session.shutdown().await.unwrap();
}

/// `load-test --serve` exposes the recording process's own figures, which
/// `multiagents serve` on the file cannot: the writer's queue, waits,
/// commit latency and rows, and the workflows in flight now. The
/// exposition passes the same naming checks and promtool.
#[test]
fn load_test_serve_exposes_the_recording_process_figures() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("served.db");
    let mut child = binary()
        .arg("--db")
        .arg(&db)
        .args([
            "load-test",
            "--serve",
            "127.0.0.1:0",
            "--duration",
            "6s",
            "--rps",
            "200",
            "--mix",
            "simple",
            "--time-scale",
            "0.05",
            "--format",
            "json",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = served_address(&mut child);
    // Scrape until the run has written something (the first scrape may
    // come before the first commit).
    let mut text = String::new();
    for _ in 0..100 {
        let (status, headers, body) = get(&addr, "/metrics");
        assert!(status.contains("200"), "{status}");
        text = dechunk(&headers, &body);
        let samples: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        if value_of(&samples, "multiagents_writer_records_total") > 0.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let samples: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    assert_eq!(
        value_of(&samples, "multiagents_writer_stats_available"),
        1.0,
        "{text}"
    );
    assert!(value_of(&samples, "multiagents_writer_records_total") > 0.0);
    assert!(value_of(&samples, "multiagents_writer_queue_capacity") > 0.0);
    for family in [
        "multiagents_in_flight_workflows",
        "multiagents_writer_queue_depth",
        "multiagents_writer_producer_wait_seconds_total",
        "multiagents_writer_commit_seconds_count",
        "multiagents_writer_rows_written_total",
    ] {
        assert!(
            samples.iter().any(|s| s.starts_with(family)),
            "{family} missing from\n{text}"
        );
    }
    assert_eq!(naming_problems(&text), Vec::<String>::new());
    promtool_accepts("load_test_serve", &text);
    let (status, _, body) = get(&addr, "/health");
    assert!(
        status.contains("200") || status.contains("503"),
        "{status} {body}"
    );
    assert!(body.contains("\"status\""), "{body}");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["started"].as_u64().unwrap() > 0, "{report}");
}

#[test]
fn load_test_serve_refuses_a_non_loopback_address_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("never.db");
    let out = binary()
        .arg("--db")
        .arg(&db)
        .args(["load-test", "--serve", "0.0.0.0:0", "--duration", "1s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("loopback"), "{stderr}");
    assert!(!db.exists(), "the database was created");
}
