//! Workers on other hosts over Redis Streams (issue 14), with real parts: a
//! `redis-server` of the test's own on a free loopback port, real
//! `multiagents worker` processes, a real `load-test --redis` orchestrator
//! process, real signals.
//!
//! - Two hosts run every workflow to its end with full traces; parallel
//!   steps ran on different hosts at the same time; the hosts and their
//!   counts are in the file.
//! - A host killed with SIGKILL mid-run: its steps are reclaimed by the
//!   other host after the visibility timeout and recorded as new attempts
//!   with the reason; every workflow ends; nothing reported done is missing.
//! - Redis stopped mid-run: steps fail with a transport error, the run ends
//!   and the file is whole; Redis back: new workflows complete.
//! - A password never reaches the file, the logs or an error.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use support::cli::multiagents;
use support::redis::RedisServer;

/// A `multiagents worker` process serving every demo worker.
struct Host {
    child: Child,
    log: std::path::PathBuf,
}

impl Host {
    fn start(dir: &Path, url: &str, name: &str, extra: &[&str]) -> Host {
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_multiagents"))
            .args(["worker", "--redis", url, "--name", name])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Host { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGINT, then waits for it to leave.
    fn stop(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "host did not stop: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `load-test --redis URL` recording into `db`.
fn load_test(db: &Path, url: &str, args: &[&str]) -> Command {
    let mut cmd = multiagents(db);
    cmd.args(["load-test", "--redis", url, "--format", "json"])
        .args(["--wait-for-hosts", "20s"])
        .args(args);
    cmd
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// The checks every recording must pass whatever happened: a whole file,
/// nothing left running, every finished event with its stages in order and
/// every ended workflow's events in its id range.
fn assert_consistent(conn: &Connection) {
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    assert_eq!(
        count(conn, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
    assert_eq!(
        count(
            conn,
            "SELECT count(*) FROM workflows WHERE ended_at_us IS NULL"
        ),
        0,
        "every workflow reached a terminal state"
    );
    assert_eq!(
        count(
            conn,
            "SELECT count(*) FROM events WHERE status = 'dispatched'"
        ),
        0,
        "every event ended"
    );
    assert_eq!(
        count(
            conn,
            "SELECT count(*) FROM events WHERE picked_up_at_us < dispatched_at_us
                OR processing_at_us < picked_up_at_us OR finished_at_us < processing_at_us
                OR finished_at_us < dispatched_at_us"
        ),
        0,
        "stages in order on the orchestrator's clock"
    );
    support::assert_event_ranges(conn);
}

#[test]
fn two_hosts_run_every_workflow_with_full_traces() {
    let Some(redis) = RedisServer::start("two_hosts_run_every_workflow_with_full_traces") else {
        return;
    };
    let db = support::temp_db();
    let url = redis.url();
    // One step at a time per host: the two steps of a parallel group can
    // only run at once on two hosts.
    let mut a = Host::start(
        db.dir.path(),
        &url,
        "host-a",
        &["--time-scale", "0.05", "--concurrency", "1"],
    );
    let mut b = Host::start(
        db.dir.path(),
        &url,
        "host-b",
        &["--time-scale", "0.05", "--concurrency", "1"],
    );
    let out = load_test(
        &db.path,
        &url,
        &[
            "--duration",
            "3s",
            "--rps",
            "4",
            "--mix",
            "parallel,simple",
            "--time-scale",
            "0.05",
        ],
    )
    .output()
    .unwrap();
    let report: serde_json::Value = serde_json::from_str(&support::cli::ok(out)).unwrap();
    let conn = Connection::open(&db.path).unwrap();
    assert_consistent(&conn);
    let started = report["started"].as_i64().unwrap();
    assert!(started >= 8, "{report}");
    assert_eq!(count(&conn, "SELECT count(*) FROM workflows"), started);
    // Every step ran on a host; both hosts worked; the file names them.
    assert_eq!(
        count(&conn, "SELECT count(*) FROM executions WHERE host IS NULL"),
        0
    );
    let per_host: Vec<(String, i64)> = conn
        .prepare("SELECT host, count(*) FROM executions GROUP BY host ORDER BY host")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(per_host.len(), 2, "{per_host:?}");
    assert!(per_host.iter().all(|(_, n)| *n > 0), "{per_host:?}");
    assert_eq!(
        per_host.iter().map(|(_, n)| n).sum::<i64>(),
        count(&conn, "SELECT count(*) FROM events")
    );
    let hosts: Vec<(String, String, i64)> = conn
        .prepare(
            "SELECT h.name, r.workers, r.concurrency FROM run_hosts r JOIN hosts h ON h.id = r.host_id
             ORDER BY h.name",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(hosts.len(), 2);
    assert_eq!(hosts[0].0, "host-a");
    assert!(hosts[0].1.contains("fast_processor"), "{hosts:?}");
    assert_eq!(hosts[0].2, 1);
    // `query hosts` adds up: per host as in the raw rows, together every
    // execution `query workers` counts.
    let answer = support::cli::json_answer(
        &db.path,
        &["query", "hosts", "--run", "1", "--window", "1h"],
    );
    let listed: Vec<(String, i64)> = answer["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["host"].as_str().unwrap().to_string(),
                h["total_executions"].as_i64().unwrap(),
            )
        })
        .collect();
    let ended: Vec<(String, i64)> = conn
        .prepare("SELECT host, count(*) FROM executions WHERE ended_at_us IS NOT NULL GROUP BY host ORDER BY host")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(listed, ended, "{answer}");
    let workers = support::cli::json_answer(
        &db.path,
        &["query", "workers", "--run", "1", "--window", "1h"],
    );
    let by_workers: i64 = workers["workers"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|w| w["total_executions"].as_i64())
        .sum();
    assert_eq!(
        answer["total_executions"].as_i64().unwrap(),
        by_workers,
        "{workers}"
    );
    assert!(answer["hosts"][0]["last_heartbeat"].is_string(), "{answer}");
    // A parallel group's two steps ran on different hosts, overlapping.
    let overlapped = count(
        &conn,
        "SELECT count(*) FROM events x JOIN events y
           ON x.workflow_id = y.workflow_id AND x.id < y.id
          AND x.step = 'process_a' AND y.step = 'process_b'
          AND x.host_id <> y.host_id
          AND x.processing_at_us < y.finished_at_us AND y.processing_at_us < x.finished_at_us",
    );
    assert!(overlapped > 0, "no parallel group overlapped on two hosts");
    // Full traces: every event has its four stages.
    let tx: String = conn
        .query_row(
            "SELECT transaction_id FROM workflows WHERE workflow_name = 'parallel_monitoring'
               AND state = 'completed' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let stages = count(
        &conn,
        &format!(
            "SELECT count(*) FROM event_stages WHERE transaction_id = '{tx}' AND event_id IS NOT NULL"
        ),
    );
    let events = count(
        &conn,
        &format!("SELECT count(*) FROM executions WHERE transaction_id = '{tx}'"),
    );
    assert_eq!(stages, 4 * events);
    // The hosts leave in order on Ctrl-C.
    for host in [&mut a, &mut b] {
        let status = host.stop();
        assert_eq!(status.code(), Some(130), "{}", host.log());
        assert!(host.log().contains("worker host stopped"), "{}", host.log());
    }
}

#[test]
fn a_host_killed_mid_run_loses_its_steps_to_the_other_host() {
    let Some(redis) = RedisServer::start("a_host_killed_mid_run_loses_its_steps_to_the_other_host")
    else {
        return;
    };
    let db = support::temp_db();
    let url = redis.url();
    // Slow steps (0.5-2 s), so the victim holds some when it dies.
    let host_args = ["--time-scale", "1", "--visibility-timeout", "1s"];
    let mut victim = Host::start(db.dir.path(), &url, "victim", &host_args);
    let _survivor = Host::start(db.dir.path(), &url, "survivor", &host_args);
    let orchestrator = load_test(
        &db.path,
        &url,
        &[
            "--duration",
            "4s",
            "--rps",
            "5",
            "--mix",
            "simple",
            "--time-scale",
            "1",
            "--drain-timeout",
            "60s",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(2_500));
    victim.kill9();
    let out = orchestrator.wait_with_output().unwrap();
    let report: serde_json::Value = serde_json::from_str(&support::cli::ok(out)).unwrap();
    let conn = Connection::open(&db.path).unwrap();
    assert_consistent(&conn);
    // Nothing reported done is missing.
    assert_eq!(
        report["finished"].as_i64().unwrap(),
        count(
            &conn,
            "SELECT count(*) FROM workflows WHERE state <> 'running'"
        )
    );
    assert_eq!(report["unfinished"].as_i64().unwrap(), 0, "{report}");
    // The lost attempts are recorded with the reason, and the next attempt
    // ran on the survivor.
    let lost = count(
        &conn,
        "SELECT count(*) FROM executions WHERE error_type = 'HostLost' AND host = 'victim'",
    );
    assert!(lost > 0, "no reclaimed step recorded");
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM executions x WHERE x.error_type = 'HostLost'
               AND NOT EXISTS (SELECT 1 FROM executions y WHERE y.transaction_id = x.transaction_id
                                 AND y.step = x.step AND y.attempt = x.attempt + 1 AND y.host = 'survivor')"
        ),
        0,
        "every lost attempt has its next attempt on the survivor"
    );
    let reclaimed = count(
        &conn,
        "SELECT r.reclaimed FROM run_hosts r JOIN hosts h ON h.id = r.host_id WHERE h.name = 'survivor'",
    );
    assert_eq!(reclaimed, lost);
    // Every completed workflow has every step completed.
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM workflows w WHERE w.state = 'completed' AND
               (SELECT count(DISTINCT step) FROM executions x WHERE x.transaction_id = w.transaction_id
                  AND x.status = 'completed') <> 3"
        ),
        0
    );
}

#[test]
fn redis_stopped_mid_run_ends_the_run_cleanly_and_back_it_serves_again() {
    let Some(mut redis) =
        RedisServer::start("redis_stopped_mid_run_ends_the_run_cleanly_and_back_it_serves_again")
    else {
        return;
    };
    let db = support::temp_db();
    let url = redis.url();
    let host_args = ["--time-scale", "0.2"];
    let host = Host::start(db.dir.path(), &url, "h1", &host_args);
    let orchestrator = load_test(
        &db.path,
        &url,
        &[
            "--duration",
            "4s",
            "--rps",
            "10",
            "--mix",
            "simple",
            "--time-scale",
            "0.2",
            "--drain-timeout",
            "30s",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(1_500));
    redis.stop();
    let started = Instant::now();
    let out = orchestrator.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "the run did not end"
    );
    let report: serde_json::Value = serde_json::from_str(&support::cli::ok(out)).unwrap();
    assert_eq!(report["unfinished"].as_i64().unwrap(), 0, "{report}");
    {
        let conn = Connection::open(&db.path).unwrap();
        assert_consistent(&conn);
        assert!(
            count(
                &conn,
                "SELECT count(*) FROM events WHERE error_type = 'TransportError'"
            ) > 0,
            "the outage's failures say what happened"
        );
        let message: String = conn
            .query_row(
                "SELECT error_message FROM events WHERE error_type = 'TransportError' LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(message.contains("Redis"), "{message}");
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM runs WHERE status = 'completed'"
            ),
            1
        );
    }
    // Back: the same host reconnects by itself, new workflows complete.
    redis.restart();
    let out = load_test(
        &db.path,
        &url,
        &[
            "--duration",
            "1s",
            "--rps",
            "5",
            "--mix",
            "simple",
            "--time-scale",
            "0.2",
        ],
    )
    .output()
    .unwrap();
    let report: serde_json::Value = serde_json::from_str(&support::cli::ok(out)).unwrap();
    let conn = Connection::open(&db.path).unwrap();
    assert_consistent(&conn);
    let run2_completed = count(
        &conn,
        "SELECT count(*) FROM workflows WHERE run_id = 2 AND state = 'completed'",
    );
    assert!(run2_completed > 0, "{report} {}", host.log());
}

#[test]
fn the_password_is_never_recorded_printed_or_logged() {
    let password = "pw-s3cret-7781";
    let Some(redis) = RedisServer::start_with(
        "the_password_is_never_recorded_printed_or_logged",
        Some(password),
    ) else {
        return;
    };
    let db = support::temp_db();
    let url = redis.url();
    let host = Host::start(
        db.dir.path(),
        &url,
        "h1",
        &["--time-scale", "0.01", "--log-level", "debug"],
    );
    let out = load_test(
        &db.path,
        &url,
        &[
            "--duration",
            "1s",
            "--rps",
            "5",
            "--mix",
            "simple",
            "--time-scale",
            "0.01",
        ],
    )
    .arg("--log-level")
    .arg("debug")
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    support::cli::ok(out);
    assert!(!stderr.contains(password), "{stderr}");
    assert!(stderr.contains("***@127.0.0.1"), "{stderr}");
    let conn = Connection::open(&db.path).unwrap();
    let (command, config): (String, String) = conn
        .query_row("SELECT command, config_json FROM runs", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert!(!command.contains(password), "{command}");
    assert!(command.contains("--redis"), "{command}");
    assert!(!config.contains(password));
    assert!(count(&conn, "SELECT count(*) FROM executions WHERE host = 'h1'") > 0);
    let host_log = host.log();
    assert!(!host_log.contains(password), "{host_log}");
    assert!(host_log.contains("***@127.0.0.1"), "{host_log}");
    drop(host);
    // A wrong password: one line, exit 2, no file made.
    let other = db.dir.path().join("other.db");
    let wrong = format!("redis://:wrong-pass-123@127.0.0.1:{}", redis.port);
    let out = load_test(&other, &wrong, &["--duration", "1s"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("wrong-pass-123"), "{stderr}");
    assert!(stderr.contains("--redis"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(!other.exists());
}

/// Drops what only names the run or the moment of asking.
fn normalized(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "run_id" | "generated_at" | "run"))
                .map(|(k, v)| (k.clone(), normalized(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        other => other.clone(),
    }
}

fn per_host(db: &Path) -> Vec<(String, i64)> {
    let conn = Connection::open(db).unwrap();
    conn.prepare(
        "SELECT h.name, count(*) FROM event_rows e JOIN hosts h ON h.id = e.host_id
         GROUP BY h.name ORDER BY h.name",
    )
    .unwrap()
    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

#[test]
fn two_orchestrators_files_merge_into_one_analysis() {
    let Some(redis) = RedisServer::start("two_orchestrators_files_merge_into_one_analysis") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = redis.url();
    let _a = Host::start(dir.path(), &url, "host-a", &["--time-scale", "0.02"]);
    let _b = Host::start(dir.path(), &url, "host-b", &["--time-scale", "0.02"]);
    let files = [dir.path().join("east.db"), dir.path().join("west.db")];
    // Two orchestrators at once, each with its own file, sharing the hosts.
    let runs: Vec<std::process::Child> = files
        .iter()
        .map(|db| {
            load_test(
                db,
                &url,
                &[
                    "--duration",
                    "2s",
                    "--rps",
                    "10",
                    "--mix",
                    "simple,parallel,error",
                    "--time-scale",
                    "0.02",
                ],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for run in runs {
        support::cli::ok(run.wait_with_output().unwrap());
    }
    let all = dir.path().join("all.db");
    let merge = |out: &Path| {
        let output = Command::new(env!("CARGO_BIN_EXE_multiagents"))
            .arg("merge")
            .arg(out)
            .args(&files)
            .output()
            .unwrap();
        support::cli::ok(output)
    };
    merge(&all);
    let conn = Connection::open(&all).unwrap();
    assert_consistent(&conn);
    // Per host, the merged file holds the sum of the parts.
    let mut expected: std::collections::BTreeMap<String, i64> = Default::default();
    for db in &files {
        for (host, n) in per_host(db) {
            *expected.entry(host).or_default() += n;
        }
    }
    let merged: std::collections::BTreeMap<String, i64> = per_host(&all).into_iter().collect();
    assert_eq!(merged, expected);
    assert_eq!(expected.len(), 2);
    assert_eq!(count(&conn, "SELECT count(*) FROM run_hosts"), 4);
    // Each merged run answers as its source did.
    for (db, merged_run) in files.iter().zip(["1", "2"]) {
        for question in [
            ["query", "workers"],
            ["query", "events"],
            ["query", "errors"],
        ] {
            let source = support::cli::json_answer(
                db,
                &[question[0], question[1], "--run", "1", "--window", "1h"],
            );
            let copy = support::cli::json_answer(
                &all,
                &[
                    question[0],
                    question[1],
                    "--run",
                    merged_run,
                    "--window",
                    "1h",
                ],
            );
            assert_eq!(
                normalized(&copy),
                normalized(&source),
                "{question:?} of {}",
                db.display()
            );
        }
    }
    // Merging the same files again adds nothing.
    let before = count(&conn, "SELECT count(*) FROM event_rows");
    merge(&all);
    assert_eq!(count(&conn, "SELECT count(*) FROM event_rows"), before);
    assert_eq!(count(&conn, "SELECT count(*) FROM runs"), 2);
}

#[test]
fn tls_with_a_private_authority_works_and_without_it_is_refused() {
    let password = "tls-pw-5521";
    let Some(redis) = RedisServer::start_tls(
        "tls_with_a_private_authority_works_and_without_it_is_refused",
        password,
    ) else {
        return;
    };
    let db = support::temp_db();
    let url = redis.url();
    assert!(url.starts_with("rediss://"));
    let ca = redis.ca_cert.clone().unwrap();
    let ca = ca.to_str().unwrap();
    let host = Host::start(
        db.dir.path(),
        &url,
        "tls-host",
        &["--time-scale", "0.01", "--redis-ca", ca],
    );
    let out = load_test(
        &db.path,
        &url,
        &[
            "--duration",
            "1s",
            "--rps",
            "5",
            "--mix",
            "simple",
            "--time-scale",
            "0.01",
            "--redis-ca",
            ca,
        ],
    )
    .output()
    .unwrap();
    support::cli::ok(out);
    let conn = Connection::open(&db.path).unwrap();
    assert_consistent(&conn);
    assert!(
        count(
            &conn,
            "SELECT count(*) FROM executions WHERE host = 'tls-host'"
        ) > 0,
        "{}",
        host.log()
    );
    assert!(!host.log().contains(password));
    // Without the authority the server's certificate is not trusted: one
    // line, exit 2, no file.
    let other = db.dir.path().join("untrusted.db");
    let out = load_test(&other, &url, &["--duration", "1s"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("certificate"), "{stderr}");
    assert!(!stderr.contains(password), "{stderr}");
    assert!(!other.exists());
}

#[test]
fn ctrl_c_of_the_orchestrator_closes_its_run_and_the_hosts_serve_on() {
    let Some(redis) =
        RedisServer::start("ctrl_c_of_the_orchestrator_closes_its_run_and_the_hosts_serve_on")
    else {
        return;
    };
    let db = support::temp_db();
    let url = redis.url();
    // Slow steps (0.5-2 s), so some are out on the host at the signal.
    let host = Host::start(db.dir.path(), &url, "h1", &["--time-scale", "1"]);
    let orchestrator = load_test(
        &db.path,
        &url,
        &[
            "--duration",
            "20s",
            "--rps",
            "5",
            "--mix",
            "simple",
            "--time-scale",
            "1",
            "--grace",
            "300ms",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(2_000));
    Command::new("kill")
        .args(["-INT", &orchestrator.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    let out = orchestrator.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(15), "the stop hung");
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    {
        let conn = Connection::open(&db.path).unwrap();
        assert_consistent(&conn);
        let status: String = conn
            .query_row("SELECT status FROM runs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(status, "interrupted");
        // The steps out on the host at the stop are recorded cancelled,
        // not left dispatched; their late replies are never recorded.
        assert!(
            count(
                &conn,
                "SELECT count(*) FROM events WHERE status = 'cancelled'"
            ) > 0,
            "no step was out at the signal"
        );
    }
    // The host goes on serving the next run.
    let out = load_test(
        &db.path,
        &url,
        &[
            "--duration",
            "1s",
            "--rps",
            "5",
            "--mix",
            "simple",
            "--time-scale",
            "0.01",
        ],
    )
    .output()
    .unwrap();
    support::cli::ok(out);
    let conn = Connection::open(&db.path).unwrap();
    assert_consistent(&conn);
    assert!(
        count(
            &conn,
            "SELECT count(*) FROM workflows WHERE run_id = 2 AND state = 'completed'"
        ) > 0,
        "{}",
        host.log()
    );
}
