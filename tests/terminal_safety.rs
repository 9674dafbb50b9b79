//! Terminal safety (issue 10.11): a database whose stored text carries
//! escape sequences (clear screen, OSC window title, C1 CSI, a bidi
//! override) in worker, workflow and step names, error messages, a metric
//! name, an alert and the recorded command line. Every command that prints
//! for people shows them escaped; JSON keeps them exact.

mod support;

use std::path::Path;
use std::process::Command;

use multiagents::orchestrator::Orchestrator;
use multiagents::store::{RunInfo, Store, WriterOptions};
use multiagents::worker::{Context, WorkerError, WorkerRegistry};
use multiagents::workflow::WorkflowBuilder;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_multiagents");

const CLEAR: &str = "\u{1b}[2J\u{1b}[H";
const TITLE: &str = "\u{1b}]0;pwned\u{7}";
const CSI: &str = "\u{9b}31m";
const BIDI: &str = "\u{202e}";

fn worker_name() -> String {
    format!("evil{CLEAR}worker")
}

fn error_message() -> String {
    format!("ValueError: bad{TITLE}thing{CSI}{BIDI}")
}

/// Records one run whose text is hostile everywhere a name or message goes.
async fn hostile_database(path: &Path) -> String {
    let run = RunInfo {
        command: format!("multiagents load-test{TITLE} --rps 1"),
        config_json: "{}".into(),
    };
    let (store, writer) = Store::open(path, &run, WriterOptions::default()).unwrap();
    let mut workers = WorkerRegistry::new();
    let message = error_message();
    workers.register(&worker_name(), move |_ctx: Context| {
        let message = message.clone();
        async move { Err::<serde_json::Value, _>(WorkerError::fatal(message)) }
    });
    workers.register("fine", |_ctx: Context| async { Ok(json!({})) });
    let orch = Orchestrator::with_store(workers, store, writer.clone());
    orch.register_workflow(
        WorkflowBuilder::new(&format!("flow{CLEAR}"))
            .step("ok", "fine")
            .step(&format!("step{CSI}"), &worker_name())
            .build()
            .unwrap(),
    )
    .unwrap();
    let mut last = String::new();
    for _ in 0..3 {
        let tx = orch
            .execute_workflow(&format!("flow{CLEAR}"), json!({}))
            .await
            .unwrap();
        orch.wait(&tx).await.unwrap();
        last = tx;
    }
    writer.shutdown().await.unwrap();
    // A file from elsewhere can hold what our API refuses: a metric name
    // and an alert message with escapes.
    let conn = rusqlite::Connection::open(path).unwrap();
    let run_id: i64 = conn
        .query_row("SELECT max(id) FROM runs", [], |r| r.get(0))
        .unwrap();
    let now = multiagents::clock::now_us();
    conn.execute(
        "INSERT INTO custom_metrics (run_id, name, metric_type, value, recorded_at_us)
         VALUES (?1, ?2, 'counter', 1, ?3)",
        rusqlite::params![run_id, format!("orders{CLEAR}"), now],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO alerts (run_id, alert_type, subject, severity, message, fired_at_us)
         VALUES (?1, 'worker_failed', ?2, 'critical', ?3, ?4)",
        rusqlite::params![run_id, worker_name(), format!("alert{TITLE}"), now],
    )
    .unwrap();
    last
}

fn run(db: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(BIN)
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// No raw control character (other than newline and tab) and no bidi
/// override reaches the terminal.
fn assert_safe(what: &str, bytes: &[u8]) {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| {
            (c.is_control() && c != '\n' && c != '\t') || ('\u{202a}'..='\u{202e}').contains(&c)
        })
        .collect();
    assert!(bad.is_empty(), "{what} printed raw {bad:?}:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_escape_sequences_are_shown_escaped_and_json_stays_exact() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hostile.db");
    let tx = hostile_database(&db).await;

    let mut seen_escape = false;
    for args in [
        vec!["query", "runs"],
        vec!["query", "workers", "--run", "latest"],
        vec!["query", "errors", "--run", "latest"],
        vec!["query", "health", "--run", "latest"],
        vec!["query", "events", "--run", "latest"],
        vec!["query", "metrics", "--run", "latest"],
        vec!["query", "alerts", "--run", "latest"],
        vec!["query", "trace", &tx],
        vec!["report"],
        vec!["compare", "--base", "latest", "--head", "latest"],
        vec!["dashboard", "--once"],
    ] {
        let stdout = run(&db, &args);
        assert_safe(&args.join(" "), &stdout);
        seen_escape |= String::from_utf8_lossy(&stdout).contains("\\x1b[2J");
    }
    assert!(seen_escape, "the escapes should be visible, not dropped");

    // The text report written to a file is escaped too (people `cat` it).
    let out = dir.path().join("report.txt");
    run(&db, &["report", "--out", out.to_str().unwrap()]);
    assert_safe("report --out", &std::fs::read(&out).unwrap());
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("load-test\\x1b]0;pwned\\x07 --rps 1"),
        "{text}"
    );

    // JSON keeps the exact strings.
    let json: serde_json::Value =
        serde_json::from_slice(&run(&db, &["query", "errors", "--format", "json"])).unwrap();
    assert!(holds(&json, &error_message()), "{json}");
    let report: serde_json::Value =
        serde_json::from_slice(&run(&db, &["report", "--format", "json"])).unwrap();
    assert_eq!(
        report["run"]["command"],
        format!("multiagents load-test{TITLE} --rps 1")
    );
    let workers: serde_json::Value = serde_json::from_slice(&run(
        &db,
        &["query", "workers", "--run", "latest", "--format", "json"],
    ))
    .unwrap();
    assert!(holds(&workers, &worker_name()), "{workers}");
}

/// Whether `value` holds the string `wanted` exactly, as a value or a key.
fn holds(value: &serde_json::Value, wanted: &str) -> bool {
    match value {
        serde_json::Value::String(s) => s == wanted,
        serde_json::Value::Array(items) => items.iter().any(|v| holds(v, wanted)),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k == wanted || holds(v, wanted)),
        _ => false,
    }
}

#[test]
fn an_error_quoting_the_database_is_escaped_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("--db")
        .arg(dir.path().join(format!("weird{CLEAR}.db")))
        .args(["query", "runs"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_safe("stderr", &out.stderr);
    assert!(String::from_utf8_lossy(&out.stderr).contains("\\x1b[2J"));
}
