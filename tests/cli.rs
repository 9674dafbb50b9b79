//! The built binary as a user runs it: the demo, then offline questions
//! about the file it left.

mod support;

use std::process::{Command, Output};

use serde_json::Value;
use support::cli::ok;
use support::*;

fn multiagents(db: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_multiagents"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run multiagents")
}

fn json(out: Output) -> Value {
    serde_json::from_str(&ok(out)).expect("one JSON document")
}

#[test]
fn the_demo_records_a_run_that_can_be_explored_after_it_ended() {
    let db = temp_db();
    let text = ok(multiagents(&db.path, &["demo", "--seed", "7"]));
    for section in [
        "EVENT LIFECYCLE TRACKING DEMO",
        "Event Trace:",
        "WORKER PERFORMANCE DEMO",
        "ERROR MONITORING DEMO",
        "Error Patterns:",
        "SYSTEM RESOURCE MONITORING DEMO",
        "Peak CPU:",
        "MULTIAGENTS MONITORING DASHBOARD",
        "ACTIVE WORKFLOWS",
        "LOAD TEST WITH MONITORING",
        "Load Test Results:",
        "multiagents --db",
    ] {
        assert!(text.contains(section), "missing {section:?} in:\n{text}");
    }
    assert!(!text.contains("panicked"));

    let conn = rusqlite::Connection::open(&db.path).unwrap();
    // 1 traced + 10 performance + 20 error-prone + 5 CPU + 3 dashboard,
    // then the load test's; the closing line counts them all.
    let reported: i64 = text
        .split("Demo finished: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("closing line with the workflow count");
    assert!(reported > 39, "{reported}");
    assert_eq!(count(&conn, "SELECT count(*) FROM workflows"), reported);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM workflows WHERE ended_at_us IS NULL"
        ),
        0
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM events WHERE finished_at_us IS NULL"
        ),
        0
    );
    let executions = count(&conn, "SELECT count(*) FROM executions");
    assert_eq!(executions, count(&conn, "SELECT count(*) FROM events"));
    assert!(executions > 39 * 2, "{executions}");
    assert!(count(&conn, "SELECT count(*) FROM system_samples") > 0);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM runs WHERE ended_at_us IS NOT NULL"
        ),
        1
    );

    // Offline: the seed's keys, with values that raw rows confirm.
    let perf = json(multiagents(
        &db.path,
        &[
            "query",
            "worker",
            "flaky_processor",
            "--run",
            "latest",
            "--format",
            "json",
        ],
    ));
    for key in [
        "total_executions",
        "success_rate",
        "error_rate",
        "failed_executions",
        "timeout_executions",
        "avg_duration_ms",
        "p50_duration_ms",
        "p95_duration_ms",
        "p99_duration_ms",
    ] {
        assert!(perf.get(key).is_some(), "missing {key} in {perf}");
    }
    let (total, failed, avg_us): (i64, i64, f64) = conn
        .query_row(
            "SELECT count(*), sum(status = 'failed'), avg(duration_ms) * 1000 FROM executions
             WHERE worker = 'flaky_processor'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(perf["total_executions"], total);
    assert_eq!(perf["failed_executions"], failed);
    let error_rate = perf["error_rate"].as_f64().unwrap();
    assert!((error_rate - failed as f64 * 100.0 / total as f64).abs() < 1e-9);
    assert!((perf["avg_duration_ms"].as_f64().unwrap() - avg_us / 1000.0).abs() < 1e-6);
    let mut durations: Vec<i64> = conn
        .prepare("SELECT duration_us FROM events e JOIN workers w ON w.id = e.worker_id WHERE w.name = 'flaky_processor'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    durations.sort_unstable();
    let rank = (95 * durations.len()).div_ceil(100);
    assert_eq!(
        perf["p95_duration_ms"].as_f64().unwrap(),
        durations[rank - 1] as f64 / 1000.0
    );

    // Internally consistent event figures.
    let events = json(multiagents(
        &db.path,
        &["query", "events", "--run", "latest", "--format", "json"],
    ));
    let by_status: i64 = events["events_by_status"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_i64().unwrap())
        .sum();
    assert_eq!(by_status, events["total_events"].as_i64().unwrap());
    assert_eq!(
        events["total_events"].as_i64().unwrap(),
        count(&conn, "SELECT count(*) FROM events")
    );

    // Every other question answers, as a table and as JSON.
    let tx: String = conn
        .query_row("SELECT transaction_id FROM workflows LIMIT 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    for question in [
        vec!["trace", tx.as_str()],
        vec!["errors"],
        vec!["errors", "--worker", "flaky_processor"],
        vec!["workers"],
        vec!["health"],
        vec!["system"],
        vec!["metrics"],
        vec!["alerts"],
        vec!["hosts"],
        vec!["series"],
        vec!["runs"],
    ] {
        let mut args = vec!["query"];
        args.extend(&question);
        args.extend(["--run", "latest"]);
        ok(multiagents(&db.path, &args));
        args.extend(["--format", "json"]);
        json(multiagents(&db.path, &args));
    }
    let trace = json(multiagents(
        &db.path,
        &["query", "trace", &tx, "--format", "json"],
    ));
    assert!(trace.as_array().unwrap().len() >= 3 * 4 + 3);

    let snapshot = ok(multiagents(
        &db.path,
        &["dashboard", "--once", "--run", "latest", "--window", "1h"],
    ));
    for panel in ["EVENTS", "WORKERS", "SYSTEM", "ACTIVE WORKFLOWS", "ALERTS"] {
        assert!(snapshot.contains(panel), "{panel} missing:\n{snapshot}");
    }
}

#[test]
fn unknown_names_and_bad_values_are_clear_errors() {
    let db = temp_db();
    {
        let (_store, writer) = open(&db.path);
        writer.blocking_shutdown().unwrap();
    }
    for (args, expect) in [
        (vec!["query", "trace", "no-such-id"], "unknown transaction"),
        (vec!["query", "worker", "nobody"], "unknown worker"),
        (
            vec!["query", "events", "--run", "999"],
            "unknown run id 999",
        ),
        (vec!["query", "events", "--window", "5x"], "invalid window"),
        (
            vec!["query", "events", "--window", "-1m"],
            "must be positive",
        ),
        (
            vec!["query", "events", "--until", "yesterday"],
            "invalid time",
        ),
        (vec!["query", "events", "--run", "abc"], "invalid run"),
    ] {
        let out = multiagents(&db.path, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn the_database_path_comes_from_db_then_the_config_then_the_default() {
    let db = temp_db();
    let from_config = db.dir.path().join("from_config.db");
    let config = db.dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!("storage:\n  database_path: {}\n", from_config.display()),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_multiagents"))
        .env_remove("MULTIAGENTS_DB")
        .arg("--config")
        .arg(&config)
        .args(["query", "runs"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("from_config.db: no such database"),
        "{stderr}"
    );
    let out = multiagents(
        &db.path,
        &["--config", config.to_str().unwrap(), "query", "runs"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("test.db: no such database"), "{stderr}");
}
