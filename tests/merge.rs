//! `multiagents merge OUT IN...` through the built binary, on files
//! recorded by real runs (the demo workers under a real session and
//! writer): every figure of the merged file is the sum, or the
//! recomputation, of the parts; each merged run answers exactly as it did
//! in its own file; merging again adds nothing; bad inputs are refused with
//! every file as it was.

mod export_support;
mod support;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use multiagents::interrupt::Interrupt;
use multiagents::store::merge::{self, MergeError, MergeOptions};
use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_multiagents");
/// The sequence bits of a row id: `id & MASK` is the same in every file.
const MASK: i64 = (1 << 40) - 1;

fn binary() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("MULTIAGENTS_DB")
        .env_remove("MULTIAGENTS_CONFIG")
        .env_remove("RUST_LOG")
        .env_remove(multiagents::store::MAX_PAGE_COUNT_ENV);
    cmd
}

fn succeeded(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `multiagents merge OUT IN... --format json`, which must succeed.
fn merge_cli(out: &Path, inputs: &[&Path]) -> Value {
    let output = binary()
        .arg("merge")
        .arg(out)
        .args(inputs)
        .args(["--format", "json"])
        .output()
        .unwrap();
    serde_json::from_str(&succeeded(output)).unwrap()
}

/// `multiagents --db DB ARGS... --format json`, parsed.
fn json(db: &Path, args: &[&str]) -> Value {
    let output = binary()
        .arg("--db")
        .arg(db)
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    serde_json::from_str(&succeeded(output)).unwrap()
}

/// `multiagents --db DB compare --base X --head Y --format json`: exit 0,
/// or 1 when it found regressions.
fn compare(db: &Path, base: i64, head: i64) -> Value {
    let output = binary()
        .arg("--db")
        .arg(db)
        .args([
            "compare",
            "--base",
            &base.to_string(),
            "--head",
            &head.to_string(),
        ])
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&String::from_utf8(output.stdout).unwrap()).unwrap()
}

/// Records one run per size (that many demo workflows, with failures,
/// system samples, custom metrics and alerts) into `db`; returns their ids.
async fn record(db: &Path, sizes: &[usize]) -> Vec<i64> {
    let mut runs = Vec::new();
    for &n in sizes {
        runs.push(export_support::record_demo_run(db, n).await);
    }
    runs
}

/// Makes the events of `db` look run by worker hosts (as with `--redis`):
/// each event on one of `hosts` in turn, and each run heard from all of
/// them. Then leaves the file checkpointed, its sidecars gone.
fn give_hosts(db: &Path, hosts: &[&str]) {
    let conn = Connection::open(db).unwrap();
    for (i, host) in hosts.iter().enumerate() {
        conn.execute(
            "INSERT INTO hosts (name) VALUES (?1) ON CONFLICT (name) DO NOTHING",
            [host],
        )
        .unwrap();
        conn.execute(
            "UPDATE event_rows SET host_id = (SELECT id FROM hosts WHERE name = ?1)
              WHERE id % ?2 = ?3",
            rusqlite::params![host, hosts.len() as i64, i as i64],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO run_hosts (run_id, host_id, workers, concurrency, first_seen_us,
                                    last_heartbeat_us, reclaimed, duplicates)
             SELECT r.id, h.id, 'fast_processor,slow_processor', 4, r.started_at_us,
                    coalesce(r.ended_at_us, r.started_at_us), 1, 2
             FROM runs r, hosts h WHERE h.name = ?1",
            [host],
        )
        .unwrap();
    }
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
}

/// Checkpoints `db` and removes its sidecars (closing the only connection
/// does), so that its bytes are the whole database.
fn settle(db: &Path) {
    let conn = Connection::open(db).unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
}

/// Ids of every row number in the same run are `(run << 40) | sequence`:
/// in answers, keep the sequence; drop what only names the run or the
/// moment of asking.
fn normalized(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "run_id" | "generated_at"))
                .map(|(k, v)| {
                    let v = match (k.as_str(), v.as_i64()) {
                        ("id" | "event_id" | "first_id" | "last_id", Some(id)) => {
                            Value::from(id & MASK)
                        }
                        _ => normalized(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        other => other.clone(),
    }
}

fn rows(conn: &Connection, sql: &str, run: i64) -> Vec<Vec<SqlValue>> {
    let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let n = stmt.column_count();
    stmt.query_map([run], |r| (0..n).map(|i| r.get(i)).collect())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The tables kept per run (every one `merge` copies).
const PER_RUN_TABLES: &[&str] = &[
    "workflows",
    "event_rows",
    "alerts",
    "system_samples",
    "custom_metrics",
    "run_hosts",
    "retention_watermarks",
    "worker_minute_rollups",
    "worker_minute_histogram",
    "workflow_minute_rollups",
    "event_minute_latency_histogram",
    "worker_minute_sketch",
    "worker_hour_sketch",
    "error_minute_rollups",
    "worker_hour_rollups",
    "worker_hour_histogram",
    "error_hour_rollups",
];

/// Every row of `table` that belongs to `run`, as a file-independent
/// value: ids by their sequence, workers and hosts by name, the run left
/// out. Sorted.
fn run_rows(conn: &Connection, table: &str, run: i64) -> Vec<Vec<SqlValue>> {
    let columns: Vec<String> = {
        let mut stmt = conn
            .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
            .unwrap();
        stmt.query_map([table], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let renumbered = matches!(table, "system_samples" | "custom_metrics");
    let shown: Vec<String> = columns
        .iter()
        .filter(|c| *c != "run_id" && !(renumbered && *c == "id"))
        .map(|c| match c.as_str() {
            "id" | "workflow_id" | "last_event_id" | "example_id" => format!("{c} & {MASK}"),
            "worker_id" => "(SELECT k.name FROM workers k WHERE k.id = t.worker_id)".to_string(),
            "host_id" => "(SELECT h.name FROM hosts h WHERE h.id = t.host_id)".to_string(),
            _ => c.clone(),
        })
        .collect();
    let filter = if table == "event_rows" {
        "id >> 40 = ?1"
    } else {
        "run_id = ?1"
    };
    let order: Vec<String> = (1..=shown.len()).map(|i| i.to_string()).collect();
    let sql = format!(
        "SELECT {} FROM {table} t WHERE {filter} ORDER BY {}",
        shown.join(", "),
        order.join(", ")
    );
    rows(conn, &sql, run)
}

/// Run `out_run` of `out` holds exactly what run `src_run` of `src` holds,
/// table by table, and answers every question exactly as it did there.
fn assert_same_run(src: &Path, src_run: i64, out: &Path, out_run: i64) {
    let a = Connection::open(src).unwrap();
    let b = Connection::open(out).unwrap();
    for table in PER_RUN_TABLES {
        let (x, y) = (run_rows(&a, table, src_run), run_rows(&b, table, out_run));
        assert_eq!(
            x.len(),
            y.len(),
            "{table}: rows of run {src_run} -> {out_run}"
        );
        assert_eq!(x, y, "{table}: run {src_run} -> {out_run}");
    }
    // The transaction traces, through the view people read them with.
    let stages =
        "SELECT transaction_id, event_id & 1099511627775, event_type, stage, at_us, timestamp,
                         worker, step
                  FROM event_stages
                  WHERE transaction_id IN (SELECT transaction_id FROM workflows WHERE run_id = ?1)
                  ORDER BY 1, 5, 2, 4";
    let (x, y) = (rows(&a, stages, src_run), rows(&b, stages, out_run));
    assert!(!x.is_empty());
    assert_eq!(x, y, "event_stages of run {src_run} -> {out_run}");
    drop((a, b));

    let (s, o) = (src_run.to_string(), out_run.to_string());
    for question in [
        &["query", "events"][..],
        &["query", "events", "--exact"],
        &["query", "errors"],
        &["query", "workers"],
        &["query", "health"],
        &["query", "system"],
        &["query", "metrics"],
        &["query", "alerts"],
        &["report"],
    ] {
        let x = json(src, &[question, &["--run", &s]].concat());
        let y = json(out, &[question, &["--run", &o]].concat());
        assert_eq!(
            normalized(&x),
            normalized(&y),
            "{question:?} --run {s} -> {o}"
        );
    }
    // A few traces through the CLI.
    let conn = Connection::open(src).unwrap();
    let some: Vec<String> = {
        let mut stmt = conn
            .prepare("SELECT transaction_id FROM workflows WHERE run_id = ?1 ORDER BY id LIMIT 4")
            .unwrap();
        stmt.query_map([src_run], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    for tx in some {
        let x = json(src, &["query", "trace", &tx]);
        let y = json(out, &["query", "trace", &tx]);
        assert_eq!(normalized(&x), normalized(&y), "trace {tx}");
    }
}

/// `query runs` of `db`, by run id.
fn listed_runs(db: &Path) -> BTreeMap<i64, Value> {
    json(db, &["query", "runs"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["run_id"].as_i64().unwrap(), r.clone()))
        .collect()
}

/// The merged runs of a `merge --format json` report: (input path, run
/// there) -> run in OUT.
fn run_map(report: &Value) -> BTreeMap<(String, i64), i64> {
    let mut map = BTreeMap::new();
    for source in report["sources"].as_array().unwrap() {
        for run in source["runs_added"].as_array().unwrap() {
            map.insert(
                (
                    source["path"].as_str().unwrap().to_string(),
                    run["source_run_id"].as_i64().unwrap(),
                ),
                run["run_id"].as_i64().unwrap(),
            );
        }
    }
    map
}

/// integrity_check and foreign_key_check pass, hour rollups are the sums
/// of their minutes, and every event lies in its workflow's id range.
fn assert_sound(db: &Path) {
    let conn = Connection::open(db).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let broken: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(broken, 0, "foreign keys");
    assert_eq!(
        support::hour_rollup_differences(&conn),
        Vec::<String>::new()
    );
    support::assert_event_ranges(&conn);
}

/// Row counts of every per-run table and of the runs, workers and hosts.
fn counts(db: &Path) -> BTreeMap<String, i64> {
    let conn = Connection::open(db).unwrap();
    PER_RUN_TABLES
        .iter()
        .chain(&["runs", "workers", "hosts"])
        .map(|t| {
            (
                t.to_string(),
                support::count(&conn, &format!("SELECT count(*) FROM {t}")),
            )
        })
        .collect()
}

/// Totals of the whole file over the last hour, from every raw row: the
/// events by status, the executions of all workers, the errors by type.
fn totals(db: &Path) -> BTreeMap<String, i64> {
    let window = ["--window", "1h", "--exact"];
    let mut totals = BTreeMap::new();
    let events = json(db, &[&["query", "events"][..], &window].concat());
    totals.insert(
        "total_events".into(),
        events["total_events"].as_i64().unwrap(),
    );
    for (status, n) in events["events_by_status"].as_object().unwrap() {
        totals.insert(format!("status {status}"), n.as_i64().unwrap());
    }
    let workers = json(db, &[&["query", "workers"][..], &window].concat());
    totals.insert(
        "total_commands".into(),
        workers["aggregated_metrics"]["total_commands"]
            .as_i64()
            .unwrap(),
    );
    let errors = json(db, &[&["query", "errors"][..], &window].concat());
    for pattern in errors["error_patterns"].as_array().unwrap() {
        totals.insert(
            format!("errors {}", pattern["error_type"].as_str().unwrap()),
            pattern["count"].as_i64().unwrap(),
        );
    }
    totals
}

fn add(a: &BTreeMap<String, i64>, b: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    let mut sum = a.clone();
    for (k, v) in b {
        *sum.entry(k.clone()).or_default() += v;
    }
    sum
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_recordings_merge_into_one_whose_figures_are_those_of_the_parts() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("host-a.db");
    let b = dir.path().join("host-b.db");
    let a_runs = record(&a, &[16, 9]).await;
    let b_runs = record(&b, &[12]).await;
    // The same host names in the two files under different ids.
    give_hosts(&a, &["gpu-1", "gpu-2"]);
    give_hosts(&b, &["gpu-2", "cpu-9", "gpu-1"]);
    let a_bytes = std::fs::read(&a).unwrap();
    let b_bytes = std::fs::read(&b).unwrap();
    let a_totals = totals(&a);
    let b_totals = totals(&b);

    let out = dir.path().join("merged.db");
    let report = merge_cli(&out, &[&a, &b]);
    assert_eq!(report["created"], true);
    // The inputs are read-only to a merge.
    assert_eq!(std::fs::read(&a).unwrap(), a_bytes, "host-a.db changed");
    assert_eq!(std::fs::read(&b).unwrap(), b_bytes, "host-b.db changed");
    let map = run_map(&report);
    let a_name = a.to_string_lossy().to_string();
    let b_name = b.to_string_lossy().to_string();
    assert_eq!(map.len(), 3, "{report}");
    // Renumbered in the order given: host-a's runs, then host-b's.
    assert_eq!(map[&(a_name.clone(), a_runs[0])], 1);
    assert_eq!(map[&(a_name.clone(), a_runs[1])], 2);
    assert_eq!(map[&(b_name.clone(), b_runs[0])], 3);
    assert_sound(&out);

    // Each merged run is its source run, row for row and answer for answer.
    for ((path, src_run), out_run) in &map {
        assert_same_run(Path::new(path), *src_run, &out, *out_run);
    }

    // The whole file: the sum of the parts.
    assert_eq!(totals(&out), add(&a_totals, &b_totals));
    let conn = Connection::open(&out).unwrap();
    let workers: Vec<String> = {
        let mut stmt = conn
            .prepare("SELECT name FROM workers ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let names = |db: &Path| -> std::collections::BTreeSet<String> {
        let conn = Connection::open(db).unwrap();
        let mut stmt = conn.prepare("SELECT name FROM workers").unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let union: Vec<String> = names(&a).union(&names(&b)).cloned().collect();
    assert_eq!(workers, union, "workers by name, once each");
    let hosts = support::count(&conn, "SELECT count(*) FROM hosts");
    assert_eq!(hosts, 3, "hosts by name");
    // Each source named, each run with its origin.
    let sources = support::count(&conn, "SELECT count(*) FROM merge_sources");
    assert_eq!(sources, 2);
    let no_origin = support::count(
        &conn,
        "SELECT count(*) FROM runs WHERE origin IS NULL OR source_id IS NULL",
    );
    assert_eq!(no_origin, 0);
    // A merge is not a run: it logged itself as maintenance.
    let logged = support::count(
        &conn,
        "SELECT count(*) FROM maintenance_log WHERE command LIKE '%merge%'",
    );
    assert_eq!(logged, 1);
    drop(conn);

    // `query runs` says where each run came from, and counts as its source.
    let merged = listed_runs(&out);
    for ((path, src_run), out_run) in &map {
        let source = &listed_runs(Path::new(path))[src_run];
        let run = &merged[out_run];
        for field in [
            "started_at",
            "ended_at",
            "command",
            "host",
            "version",
            "workflows",
            "unfinished",
            "status",
            "end_reason",
            "source",
        ] {
            assert_eq!(run[field], source[field], "{field} of run {out_run}");
        }
        assert_eq!(run["merged_from"], path.as_str());
        assert!(run["origin"].as_str().unwrap().contains('|'), "{run}");
    }
    let table = succeeded(
        binary()
            .arg("--db")
            .arg(&out)
            .args(["query", "runs"])
            .output()
            .unwrap(),
    );
    assert!(
        table.contains(&format!("Run 3: merged from {b_name}.")),
        "{table}"
    );

    // compare: the two runs of host-a compare in the merged file as in
    // their own; and host-a's first run against host-b's, as in each file.
    let x = compare(&a, a_runs[0], a_runs[1]);
    let y = compare(&out, 1, 2);
    assert_eq!(normalized(&x), normalized(&y));
    let across = compare(&out, 1, 3);
    assert_eq!(
        normalized(&across["base"]),
        normalized(&y["base"]),
        "{across}"
    );
    let b_alone = compare(&b, b_runs[0], b_runs[0]);
    assert_eq!(normalized(&across["head"]), normalized(&b_alone["head"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merging_again_adds_nothing_and_a_merge_of_a_merge_keeps_origins() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.db");
    let b = dir.path().join("b.db");
    let c = dir.path().join("c.db");
    record(&a, &[6, 5]).await;
    record(&b, &[7]).await;
    record(&c, &[4]).await;
    for f in [&a, &b, &c] {
        settle(f);
    }

    // The same input twice in one merge: its runs are added once.
    let first = dir.path().join("first.db");
    let report = merge_cli(&first, &[&a, &b, &a]);
    assert_eq!(
        report["sources"][0]["runs_added"].as_array().unwrap().len(),
        2
    );
    assert_eq!(
        report["sources"][2]["runs_added"].as_array().unwrap().len(),
        0
    );
    assert_eq!(
        report["sources"][2]["runs_skipped"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let before = counts(&first);
    let totals_before = totals(&first);
    assert_eq!(before["runs"], 3);

    // Again: a no-op, reported.
    let again = succeeded(
        binary()
            .arg("merge")
            .arg(&first)
            .args([&a, &b])
            .output()
            .unwrap(),
    );
    assert!(again.contains("0 run(s) added, 3 skipped"), "{again}");
    assert!(again.contains("skipped 2 run(s) already in OUT"), "{again}");
    let after = counts(&first);
    assert_eq!(after, before, "a second merge changed the figures");
    assert_eq!(totals(&first), totals_before);

    // A merge result merged into another file: origins carried, nothing
    // counted twice, whichever way the runs arrive.
    let second = dir.path().join("second.db");
    merge_cli(&second, &[&c]);
    let report = merge_cli(&second, &[&first, &a]);
    assert_eq!(
        report["sources"][0]["runs_added"].as_array().unwrap().len(),
        3
    );
    assert_eq!(
        report["sources"][1]["runs_skipped"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let origins = |db: &Path| -> BTreeMap<String, i64> {
        let conn = Connection::open(db).unwrap();
        let mut stmt = conn
            .prepare("SELECT origin, count(*) FROM runs GROUP BY origin")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let first_origins = origins(&first);
    let second_origins = origins(&second);
    for (origin, n) in &first_origins {
        assert_eq!(*n, 1);
        assert_eq!(
            second_origins.get(origin),
            Some(&1),
            "{origin} carried once"
        );
    }
    assert_eq!(second_origins.len(), 4);
    assert_eq!(
        totals(&second),
        add(&totals_before, &totals(&c)),
        "the sum of the parts, once each"
    );
    for ((path, src_run), out_run) in run_map(&report) {
        assert_same_run(Path::new(&path), src_run, &second, out_run);
    }
    assert_sound(&second);

    // A run recorded in OUT itself is in OUT: a copy of OUT merged back
    // adds nothing.
    record(&second, &[3]).await;
    settle(&second);
    let copy = dir.path().join("copy.db");
    std::fs::copy(&second, &copy).unwrap();
    let before = counts(&second);
    let report = merge_cli(&second, &[&copy]);
    assert_eq!(
        report["sources"][0]["runs_added"].as_array().unwrap().len(),
        0
    );
    assert_eq!(
        report["sources"][0]["runs_skipped"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let after = counts(&second);
    assert_eq!(after, before);
}

/// A run recorded in the past (`count` workflows from `t0` over `spread`)
/// through the real writer, its start moved back to `t0`.
fn record_past_run(db: &Path, seed: u64, count: usize, t0: i64, spread: i64) -> i64 {
    let (_store, writer) = support::open(db);
    let data = support::dataset::generate(&writer, seed, count, 0, t0, spread);
    support::dataset::write(&writer, &data);
    writer.blocking_shutdown().unwrap();
    let conn = Connection::open(db).unwrap();
    conn.execute(
        "UPDATE runs SET started_at_us = ?1 WHERE id = ?2",
        rusqlite::params![t0, data.run_id],
    )
    .unwrap();
    data.run_id
}

const MINUTE: i64 = 60_000_000;

#[test]
fn retention_and_crashes_stay_as_they_were_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let now = multiagents::clock::now_us();
    // A run whose raw rows retention partly deleted.
    let kept = dir.path().join("kept.db");
    let old = record_past_run(&kept, 5, 80, now - 3 * 60 * MINUTE, 150 * MINUTE);
    succeeded(
        binary()
            .arg("--db")
            .arg(&kept)
            .args(["cleanup", "--older-than", "1h"])
            .output()
            .unwrap(),
    );
    // A run whose process on another host fell silent two hours ago: open,
    // judged dead.
    let dead = dir.path().join("dead.db");
    let silent = record_past_run(&dead, 9, 40, now - 2 * 60 * MINUTE, 3 * MINUTE);
    {
        let conn = Connection::open(&dead).unwrap();
        conn.execute(
            "UPDATE runs SET status = 'running', ended_at_us = NULL, end_reason = NULL,
                             host = 'another-host', heartbeat_at_us = ?1
              WHERE id = ?2",
            rusqlite::params![now - 2 * 60 * MINUTE + 3 * MINUTE, silent],
        )
        .unwrap();
    }
    settle(&kept);
    settle(&dead);
    let dead_bytes = std::fs::read(&dead).unwrap();

    let out = dir.path().join("out.db");
    let report = merge_cli(&out, &[&kept, &dead]);
    assert_eq!(std::fs::read(&dead).unwrap(), dead_bytes);
    let map = run_map(&report);
    let kept_run = map[&(kept.to_string_lossy().to_string(), old)];
    let dead_run = map[&(dead.to_string_lossy().to_string(), silent)];
    assert_sound(&out);

    // Retention: partial there, partial here, and said so the same way.
    assert_same_run(&kept, old, &out, kept_run);
    let there = &listed_runs(&kept)[&old];
    let here = &listed_runs(&out)[&kept_run];
    assert_ne!(there["source"], "raw", "{there}");
    for field in ["workflows", "workflows_from_rollups", "source", "notes"] {
        assert_eq!(here[field], there[field], "{field}");
    }
    let q = ["query", "events", "--window", "4h"];
    let x = json(&kept, &[&q[..], &["--run", &old.to_string()]].concat());
    let y = json(&out, &[&q[..], &["--run", &kept_run.to_string()]].concat());
    assert_eq!(normalized(&x), normalized(&y));
    assert_ne!(y["notes"], Value::Array(vec![]), "{y}");

    // The dead run: closed in OUT as crashed, as cleanup closes it in its
    // own file (the input itself stays as it was: still open there).
    let closed = &report["sources"][1]["runs_added"][0];
    assert!(
        closed["closed_as_crashed"]
            .as_str()
            .unwrap()
            .contains("another-host"),
        "{closed}"
    );
    let here = &listed_runs(&out)[&dead_run];
    assert_eq!(here["status"], "crashed", "{here}");
    let cleaned = dir.path().join("dead-cleaned.db");
    std::fs::copy(&dead, &cleaned).unwrap();
    succeeded(
        binary()
            .arg("--db")
            .arg(&cleaned)
            .args(["cleanup", "--older-than", "36500d"])
            .output()
            .unwrap(),
    );
    // The reasons name the seconds of silence when each was judged.
    Connection::open(&out)
        .unwrap()
        .execute("UPDATE runs SET end_reason = 'x' WHERE id = ?1", [dead_run])
        .unwrap();
    Connection::open(&cleaned)
        .unwrap()
        .execute("UPDATE runs SET end_reason = 'x' WHERE id = ?1", [silent])
        .unwrap();
    assert_same_run(&cleaned, silent, &out, dead_run);
}

/// Every regular file under `dir` but SQLite's sidecars (`-wal`, `-shm`:
/// a reader may leave or update them), with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.to_string_lossy();
            !name.ends_with("-wal") && !name.ends_with("-shm")
        })
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// A small real recording (two workflows) in `dir/name`, settled.
fn small(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let (_store, writer) = support::open(&path);
    for record in support::workflow_records(&writer, 2, multiagents::clock::now_us()) {
        writer.blocking_record(record).unwrap();
    }
    writer.blocking_shutdown().unwrap();
    settle(&path);
    path
}

/// A recording of 300 workflows in `dir/big.db`, settled.
fn big(dir: &Path) -> PathBuf {
    let path = dir.join("big.db");
    record_past_run(
        &path,
        7,
        300,
        multiagents::clock::now_us() - 30 * MINUTE,
        10 * MINUTE,
    );
    settle(&path);
    path
}

/// One bad merge: a setup that prepares files in a directory and returns
/// the arguments after `merge`, and what stderr must say.
struct Case {
    name: &'static str,
    setup: fn(&Path) -> Vec<OsString>,
    stderr: &'static str,
}

fn os(list: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    list.iter().map(|a| a.as_ref().to_os_string()).collect()
}

/// `out.db` (a real recording) and `in.db` (another), the arguments.
fn out_and_input(d: &Path) -> (PathBuf, PathBuf) {
    (small(d, "out.db"), small(d, "in.db"))
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "missing input",
            setup: |d| {
                let (out, _) = out_and_input(d);
                os(&[&out, &d.join("missing.db")])
            },
            stderr: "missing.db: no such database",
        },
        Case {
            name: "input not a database",
            setup: |d| {
                let (out, _) = out_and_input(d);
                std::fs::write(d.join("notes.txt"), "hello, not SQLite\n".repeat(20)).unwrap();
                os(&[&out, &d.join("notes.txt")])
            },
            stderr: "not a SQLite database",
        },
        Case {
            name: "input of another program",
            setup: |d| {
                let (out, _) = out_and_input(d);
                let other = d.join("other.db");
                Connection::open(&other)
                    .unwrap()
                    .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
                    .unwrap();
                os(&[&out, &other])
            },
            stderr: "another program",
        },
        Case {
            name: "input at an older schema",
            setup: |d| {
                let (out, input) = out_and_input(d);
                support::downgrade_to_7(&Connection::open(&input).unwrap());
                os(&[&out, &input])
            },
            stderr: "upgrade` on it (or on a copy of it)",
        },
        Case {
            name: "OUT at an older schema",
            setup: |d| {
                let (out, input) = out_and_input(d);
                support::downgrade_to_7(&Connection::open(&out).unwrap());
                os(&[&out, &input])
            },
            stderr: "out.db: schema version 7 is older",
        },
        Case {
            name: "OUT not a database",
            setup: |d| {
                let (_, input) = out_and_input(d);
                std::fs::write(d.join("out.txt"), "x".repeat(200)).unwrap();
                os(&[&d.join("out.txt"), &input])
            },
            stderr: "not a SQLite database",
        },
        Case {
            name: "OUT is the input",
            setup: |d| {
                let (_, input) = out_and_input(d);
                os(&[&input, &input])
            },
            stderr: "is the input",
        },
        Case {
            name: "OUT is the input by another path",
            setup: |d| {
                let (out, input) = out_and_input(d);
                let other = d.join(".").join("in.db");
                os(&[&other, &out, &input])
            },
            stderr: "is the input",
        },
        Case {
            name: "OUT is a hard link to an input",
            setup: |d| {
                let (out, input) = out_and_input(d);
                let link = d.join("link.db");
                std::fs::hard_link(&input, &link).unwrap();
                os(&[&link, &out, &input])
            },
            stderr: "is the input",
        },
        Case {
            name: "OUT is a symbolic link to an input",
            setup: |d| {
                let (_, input) = out_and_input(d);
                let link = d.join("link.db");
                std::os::unix::fs::symlink(&input, &link).unwrap();
                os(&[&link, &input])
            },
            stderr: "is the input",
        },
        Case {
            name: "OUT is an input's write-ahead log",
            setup: |d| {
                let (_, input) = out_and_input(d);
                os(&[&d.join("in.db-wal"), &input])
            },
            stderr: "SQLite's files beside the input",
        },
        Case {
            name: "more inputs than one merge attaches",
            setup: |d| {
                let (out, input) = out_and_input(d);
                let mut list = os(&[&out]);
                list.extend(std::iter::repeat_n(input.into_os_string(), 11));
                list
            },
            stderr: "at most 10",
        },
        Case {
            name: "inputs sharing a transaction id under different runs",
            // support::workflow_records names transactions after their row
            // ids: two files' first runs share them.
            setup: |d| {
                let (out, input) = out_and_input(d);
                os(&[&out, &input])
            },
            stderr: "transaction id already in",
        },
        Case {
            name: "a new OUT on a full disk",
            setup: |d| os(&[&d.join("new.db"), &big(d), &"FULL"]),
            stderr: "full",
        },
        Case {
            name: "OUT on a full disk",
            setup: |d| os(&[&small(d, "out.db"), &big(d), &"FULL"]),
            stderr: "full",
        },
    ]
}

#[test]
fn bad_merges_fail_in_one_line_and_change_no_file() {
    let mut failures = Vec::new();
    for case in cases() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = (case.setup)(dir.path());
        let full = args.last().is_some_and(|a| a == "FULL");
        let mut cmd = binary();
        if full {
            args.pop();
            // Room for OUT as it is (or a new file's schema, 67 pages),
            // not for the copied rows.
            let out = Path::new(&args[0]);
            let pages = if out.exists() {
                support::count(&Connection::open(out).unwrap(), "PRAGMA page_count")
            } else {
                67
            };
            cmd.env(
                multiagents::store::MAX_PAGE_COUNT_ENV,
                (pages + 3).to_string(),
            );
        }
        let before = files(dir.path());
        let output = cmd
            .arg("merge")
            .args(&args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let mut problems = Vec::new();
        if output.status.code() != Some(2) {
            problems.push(format!("exit {:?}", output.status));
        }
        if !stderr.contains(case.stderr) {
            problems.push(format!("stderr lacks {:?}", case.stderr));
        }
        if stderr.lines().count() != 1 || stderr.contains("panicked") {
            problems.push("stderr is not one line".to_string());
        }
        let after = files(dir.path());
        if after != before {
            let changed: Vec<_> = after
                .keys()
                .chain(before.keys())
                .filter(|p| after.get(*p) != before.get(*p))
                .collect();
            problems.push(format!("files changed: {changed:?}"));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n    stderr: {stderr}",
                case.name,
                problems.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_recording_in_progress_is_never_merged_nor_merged_into() {
    let dir = tempfile::tempdir().unwrap();
    let out = small(dir.path(), "out.db");
    let live = dir.path().join("live.db");
    // This test's own process records into live.db while merge runs.
    let (_store, writer) = support::open(&live);
    for record in support::workflow_records(&writer, 2, multiagents::clock::now_us()) {
        writer.blocking_record(record).unwrap();
    }
    let before = files(dir.path());
    for (args, expected) in [
        (
            vec![out.clone(), live.clone()],
            "live.db: run 1 is still recording",
        ),
        (
            vec![live.clone(), out.clone()],
            "live.db: run 1 is recording into it",
        ),
    ] {
        let output = binary().arg("merge").args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    writer.blocking_shutdown().unwrap();
    // Only the live file changed (its writer went on), and OUT not at all.
    let after = files(dir.path());
    assert_eq!(after[&out], before[&out]);
    assert_eq!(after.len(), before.len());
}

#[test]
fn an_interrupted_merge_leaves_out_as_it_was_or_absent() {
    let dir = tempfile::tempdir().unwrap();
    let out = small(dir.path(), "out.db");
    let a = dir.path().join("a.db");
    // Inputs with transaction ids of their own.
    record_past_run(
        &a,
        3,
        30,
        multiagents::clock::now_us() - 20 * MINUTE,
        5 * MINUTE,
    );
    settle(&a);
    let stop = Interrupt::new();
    stop.trigger("stopped by the test");
    let options = MergeOptions {
        command: "merge test".into(),
        interrupt: Some(stop),
    };
    let before = files(dir.path());
    for target in [out.clone(), dir.path().join("new.db")] {
        let err = merge::merge(&target, std::slice::from_ref(&a), &options).unwrap_err();
        assert!(matches!(err, MergeError::Interrupted { .. }), "{err}");
        assert!(err.to_string().contains("stopped by the test"), "{err}");
        assert_eq!(files(dir.path()), before, "{}", target.display());
    }
    // Not stopped, the same merge goes through.
    let report = merge::merge(&out, std::slice::from_ref(&a), &MergeOptions::default()).unwrap();
    assert_eq!(report.runs_added(), 1);
    assert_sound(&out);
}

/// SQLite (built with URI names on) would read `file:in.db` as a URI for
/// `in.db`: relative names starting with `file:` are files like any other.
#[test]
fn files_named_like_uris_are_files() {
    let dir = tempfile::tempdir().unwrap();
    small(dir.path(), "file:in.db");
    for _ in 0..2 {
        succeeded(
            binary()
                .args(["merge", "file:out.db", "file:in.db"])
                .current_dir(dir.path())
                .output()
                .unwrap(),
        );
    }
    let runs = listed_runs(&dir.path().join("file:out.db"));
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[&1]["merged_from"], "file:in.db");
    for stray in ["in.db", "out.db"] {
        assert!(!dir.path().join(stray).exists(), "{stray} was created");
    }
}

/// Rollup rows of run 0 (minutes several runs shared, from files older
/// than schema version 4) belong to their file as a whole: added to OUT's
/// own when the file's runs are new there, left (and said so) when some
/// were merged before.
#[test]
fn rollups_of_no_run_are_added_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = small(dir.path(), "old.db");
    let out = small(dir.path(), "out.db");
    // small() names transactions after their row ids: make OUT's its own.
    Connection::open(&out)
        .unwrap()
        .execute(
            "UPDATE workflows SET transaction_id = 'out-' || transaction_id",
            [],
        )
        .unwrap();
    let minute = 27_000_000 * MINUTE;
    for db in [&input, &out] {
        let conn = Connection::open(db).unwrap();
        conn.execute(
            "INSERT INTO worker_minute_rollups (run_id, worker_id, event_type, minute_us, completed,
                                                duration_sum_us, payload_sum_bytes)
             VALUES (0, (SELECT min(id) FROM workers), 'command', ?1, 5, 500, 50)",
            [minute],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO worker_hour_rollups (hour_us, run_id, worker_id, event_type, completed,
                                              duration_sum_us, payload_sum_bytes)
             VALUES ((?1 / 3600000000) * 3600000000, 0, (SELECT min(id) FROM workers), 'command',
                     5, 500, 50)",
            [minute],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO retention_watermarks (run_id, kind, deleted_before_us)
             VALUES (0, 'traces', ?1)",
            [minute + if db == &input { 2 * MINUTE } else { MINUTE }],
        )
        .unwrap();
    }
    let unattributed = |db: &Path| -> (i64, i64) {
        let conn = Connection::open(db).unwrap();
        conn.query_row(
            "SELECT (SELECT sum(completed) FROM worker_minute_rollups WHERE run_id = 0),
                    (SELECT deleted_before_us FROM retention_watermarks WHERE run_id = 0)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    let options = MergeOptions::default();
    let report = merge::merge(&out, std::slice::from_ref(&input), &options).unwrap();
    assert_eq!(report.runs_added(), 1);
    assert_eq!(report.sources[0].unattributed_rows_left, 0);
    // Added up with OUT's own; the later watermark kept.
    assert_eq!(unattributed(&out), (10, minute + 2 * MINUTE));
    let again = merge::merge(&out, std::slice::from_ref(&input), &options).unwrap();
    assert_eq!(again.runs_added(), 0);
    assert_eq!(again.sources[0].unattributed_rows_left, 3);
    assert_eq!(unattributed(&out), (10, minute + 2 * MINUTE));
    assert_sound(&out);
}
