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
        // `trace` and `runs` are not windowed: they take no --run.
        if !matches!(question[0], "trace" | "runs") {
            args.extend(["--run", "latest"]);
        }
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

/// A closed run in a fresh file, for the command-line convention tests.
fn recorded_db() -> TempDb {
    let db = temp_db();
    let (_store, writer) = open(&db.path);
    writer.blocking_shutdown().unwrap();
    db
}

/// Runs the binary without `--db` (the arguments say where).
fn bare(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_multiagents"))
        .env_remove("MULTIAGENTS_DB")
        .env_remove("MULTIAGENTS_CONFIG")
        .args(args)
        .output()
        .expect("run multiagents")
}

/// The usage error of a refused command line: exit 2, no panic, and the
/// first line says it all.
fn refused(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn short_flags_mean_the_same_as_the_long_ones() {
    let db = recorded_db();
    let path = db.path.to_str().unwrap();
    let long = ok(bare(&[
        "--db", path, "query", "events", "--run", "1", "--window", "1m", "--format", "json",
    ]));
    let short = ok(bare(&[
        "-d", path, "query", "events", "-r", "1", "-w", "1m", "-f", "json",
    ]));
    assert_eq!(long, short);
    let answer: Value = serde_json::from_str(&short).unwrap();
    assert_eq!(answer["run_id"], 1, "{answer}");
    // Global options also after the command's name.
    assert_eq!(
        ok(bare(&["query", "runs", "-f", "json", "-d", path])),
        ok(bare(&["--db", path, "query", "runs", "--format", "json"]))
    );
    // -c/--config: the database named by the configuration.
    let config = db.dir.path().join("c.yaml");
    std::fs::write(&config, format!("storage:\n  database_path: {path}\n")).unwrap();
    let via_config = ok(bare(&[
        "-c",
        config.to_str().unwrap(),
        "query",
        "runs",
        "-f",
        "json",
    ]));
    assert_eq!(via_config, long_runs(path));
    // -o/--out: the same document in a file, for query, report and export.
    for (args, name) in [
        (vec!["query", "events", "-r", "1", "-f", "json"], "q.json"),
        (vec!["report", "-r", "1", "-f", "json"], "r.json"),
        (
            vec!["export", "prometheus", "-r", "1", "-w", "1m"],
            "m.prom",
        ),
        (vec!["query", "runs"], "runs.txt"),
    ] {
        let to_stdout = ok(bare(&[&["-d", path][..], &args].concat()));
        let file = db.dir.path().join(name);
        let to_file = bare(&[&["-d", path][..], &args, &["-o", file.to_str().unwrap()]].concat());
        assert!(ok(to_file).is_empty(), "{args:?} printed despite -o");
        let written = std::fs::read_to_string(&file).unwrap();
        if name == "r.json" {
            // The report says when it was made.
            let strip = |t: &str| -> Value {
                let mut v: Value = serde_json::from_str(t).unwrap();
                v.as_object_mut().unwrap().remove("generated_at");
                v
            };
            assert_eq!(strip(&written), strip(&to_stdout), "{args:?}");
        } else if name == "m.prom" {
            // The exposition's series of one family come in no fixed order.
            let sorted = |t: &str| {
                let mut lines: Vec<String> = t.lines().map(str::to_string).collect();
                lines.sort();
                lines
            };
            assert_eq!(sorted(&written), sorted(&to_stdout), "{args:?}");
        } else {
            assert_eq!(written, to_stdout, "{args:?}");
        }
    }
    // --out never overwrites the database (nor any SQLite file).
    let before = std::fs::read(&db.path).unwrap();
    let stderr = refused(bare(&[
        "-d", path, "query", "runs", "-f", "json", "-o", path, "--force",
    ]));
    assert!(stderr.contains("database"), "{stderr}");
    assert_eq!(std::fs::read(&db.path).unwrap(), before);
}

fn long_runs(path: &str) -> String {
    ok(bare(&["--db", path, "query", "runs", "--format", "json"]))
}

#[test]
fn formats_are_one_vocabulary_and_each_command_refuses_what_it_does_not_render() {
    let db = recorded_db();
    let path = db.path.to_str().unwrap();
    // `table` is the old name of `text`: old scripts keep working.
    let text = ok(bare(&["-d", path, "query", "runs", "--format", "text"]));
    assert_eq!(
        ok(bare(&["-d", path, "query", "runs", "--format", "table"])),
        text
    );
    assert_eq!(ok(bare(&["-d", path, "query", "runs"])), text);
    // The document formats where they are rendered.
    assert!(ok(bare(&["-d", path, "report", "-f", "html"])).contains("<html"));
    assert!(
        ok(bare(&[
            "-d", path, "query", "series", "-r", "1", "-f", "csv"
        ]))
        .contains(',')
    );
    for (args, listed) in [
        (vec!["query", "events", "-f", "csv"], "text or json"),
        (vec!["query", "runs", "--format", "html"], "text or json"),
        (vec!["check", "-f", "html"], "text or json"),
        (vec!["report", "-f", "csv"], "text, json or html"),
        (vec!["query", "series", "-f", "xml"], "text, json or csv"),
    ] {
        let stderr = refused(bare(&[&["-d", path][..], &args].concat()));
        let first = stderr.lines().next().unwrap_or_default();
        let given = args.last().unwrap();
        assert!(
            first.contains(&format!("\"{given}\"")) && first.contains(listed),
            "{args:?}: {stderr}"
        );
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    }
}

#[test]
fn a_question_refuses_the_options_it_would_ignore() {
    let db = recorded_db();
    let path = db.path.to_str().unwrap();
    for (args, option) in [
        (vec!["query", "trace", "tx-1", "--window", "5m"], "--window"),
        (vec!["query", "trace", "tx-1", "-w", "5m"], "-w"),
        (vec!["query", "trace", "tx-1", "--run", "1"], "--run"),
        (vec!["query", "trace", "tx-1", "--until", "now"], "--until"),
        (vec!["query", "runs", "--window", "5m"], "--window"),
        (vec!["query", "runs", "--run", "latest"], "--run"),
        (vec!["query", "health", "--exact"], "--exact"),
        (vec!["query", "system", "--exact"], "--exact"),
        // The live dashboard has no format: only its --once snapshot.
        (vec!["dashboard", "-f", "json"], "--once"),
    ] {
        let stderr = refused(bare(&[&["-d", path][..], &args].concat()));
        assert!(stderr.contains(option), "{args:?}: {stderr}");
    }
    // Where they are used they are accepted.
    ok(bare(&[
        "-d", path, "query", "health", "-w", "5m", "-r", "1",
    ]));
    ok(bare(&[
        "-d", path, "query", "workers", "--exact", "-r", "1",
    ]));
}

#[test]
fn global_options_have_their_own_heading_in_every_help() {
    for args in [
        &["--help"][..],
        &["query", "events", "--help"],
        &["report", "--help"],
    ] {
        let help = ok(bare(args));
        let (own, global) = help
            .split_once("Global options:")
            .unwrap_or_else(|| panic!("{args:?}: no Global options heading:\n{help}"));
        assert!(
            global.contains("--db") && global.contains("--config"),
            "{help}"
        );
        assert!(global.contains("--log-level"), "{help}");
        assert!(
            !own.contains("--db"),
            "{args:?}: --db among the command's own:\n{help}"
        );
    }
}

#[test]
fn completions_are_generated_for_bash_and_zsh() {
    for shell in ["bash", "zsh"] {
        let script = ok(bare(&["completions", shell]));
        for name in ["query", "load-test", "report", "completions", "--format"] {
            assert!(script.contains(name), "{shell}: no {name}");
        }
    }
    let bash = ok(bare(&["completions", "bash"]));
    if let Ok(out) = Command::new("bash")
        .arg("-n")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(bash.as_bytes())?;
            child.wait_with_output()
        })
    {
        assert!(
            out.status.success(),
            "bash -n: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    refused(bare(&["completions", "tcsh"]));
}

#[test]
fn the_man_page_renders() {
    let page = ok(bare(&["man"]));
    assert!(page.starts_with(".TH"), "{}", &page[..page.len().min(200)]);
    // roff escapes hyphens.
    for name in ["query", "load\\-test", "completions"] {
        assert!(page.contains(name), "no {name} in the man page");
    }
    let events = ok(bare(&["man", "query", "events"]));
    assert!(events.starts_with(".TH"), "{events}");
    assert!(events.contains("exact"), "{events}");
    let stderr = refused(bare(&["man", "query", "nonsense"]));
    assert!(stderr.contains("nonsense"), "{stderr}");
    // -o writes it atomically, never over a database.
    let db = recorded_db();
    let file = db.dir.path().join("multiagents.1");
    ok(bare(&["man", "-o", file.to_str().unwrap()]));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), page);
    let before = std::fs::read(&db.path).unwrap();
    refused(bare(&["man", "-o", db.path.to_str().unwrap(), "--force"]));
    assert_eq!(std::fs::read(&db.path).unwrap(), before);
    // Rendered by groff when it is installed: no warnings, the name shown.
    if let Ok(out) = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", &file.to_string_lossy()])
        .output()
    {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "groff: {stderr}");
        assert!(stderr.trim().is_empty(), "groff warns: {stderr}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("multiagents"));
    }
}
