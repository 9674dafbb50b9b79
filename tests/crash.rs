//! Crash tests with real processes: the hidden `multiagents soak` command is
//! killed with SIGKILL (`Child::kill`) at many different moments, and the
//! file it leaves behind must
//!
//! - open with `Store::open_existing` and pass `PRAGMA integrity_check`;
//! - hold every workflow whose transaction id the child printed (printed =
//!   `wait()` reported it terminal) in its terminal state, with its complete
//!   trace: every event has all its stage timestamps and a terminal status,
//!   and the executions view has a row for each;
//! - (writer mode) hold every record whose `flush()` was acknowledged.
//!
//! Kill moments are deterministic (a seeded generator and fixed lists), and
//! include kills during the migration of a fresh file and during retention.
//! Nothing here asserts how long anything takes; waits are hang guards only.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use multiagents::store::{Store, WriterOptions};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const BIN: &str = env!("CARGO_BIN_EXE_multiagents");

/// Longest a child may take to show signs of life. A hang guard, not a
/// performance assertion: it only turns a hang into a failure.
const HANG_GUARD: Duration = Duration::from_secs(120);

/// Complete lines a child wrote on one of its pipes.
type Lines = Arc<Mutex<Vec<String>>>;

fn collect_lines(pipe: impl std::io::Read + Send + 'static) -> (Lines, JoinHandle<()>) {
    let lines: Lines = Arc::default();
    let sink = Arc::clone(&lines);
    let handle = std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                // A line cut short by the kill was never fully printed.
                Ok(_) if line.ends_with('\n') => {
                    sink.lock().unwrap().push(line.trim_end().to_string())
                }
                Ok(_) => return,
            }
        }
    });
    (lines, handle)
}

struct Soak {
    child: std::process::Child,
    stdout: Lines,
    stderr: Lines,
    readers: Vec<JoinHandle<()>>,
}

/// What a killed child left: what it printed, and whether it was still
/// running when killed.
struct Killed {
    stdout: Vec<String>,
    stderr: Vec<String>,
    was_running: bool,
}

impl Soak {
    fn spawn(db: &Path, extra: &[&str]) -> Soak {
        let mut child = Command::new(BIN)
            .arg("--db")
            .arg(db)
            .args(["soak", "--duration", "10m"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn multiagents soak");
        let (stdout, out_reader) = collect_lines(child.stdout.take().unwrap());
        let (stderr, err_reader) = collect_lines(child.stderr.take().unwrap());
        Soak {
            child,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
        }
    }

    /// Waits until `ready` holds for what the child printed so far.
    fn wait_until(&mut self, what: &str, ready: impl Fn(&[String], &[String]) -> bool) {
        let started = Instant::now();
        loop {
            if ready(&self.stdout.lock().unwrap(), &self.stderr.lock().unwrap()) {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "soak exited ({status}) before {what}; stderr: {:?}",
                    self.stderr.lock().unwrap()
                );
            }
            assert!(started.elapsed() < HANG_GUARD, "no sign of {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// SIGKILL (std's `Child::kill` on Unix), then reap and drain the pipes.
    fn kill(mut self) -> Killed {
        let was_running = self.child.try_wait().unwrap().is_none();
        let _ = self.child.kill();
        self.child.wait().unwrap();
        for reader in self.readers {
            reader.join().unwrap();
        }
        Killed {
            stdout: std::mem::take(&mut self.stdout.lock().unwrap()),
            stderr: std::mem::take(&mut self.stderr.lock().unwrap()),
            was_running,
        }
    }
}

/// What one printed transaction must look like in the file.
#[derive(Debug)]
struct Trace {
    workflow_name: String,
    state: String,
    ended: bool,
    events: i64,
    incomplete_events: i64,
    completed_steps: i64,
    completed_compensations: i64,
    executions: i64,
}

// A workflow's events are the rows of its id range (the trace's own lookup,
// migrations/0006_compact_events.sql): no index leads from a workflow to them.
const TRACE_SQL: &str = "
SELECT w.workflow_name, w.state, w.ended_at_us IS NOT NULL,
  (SELECT count(*) FROM events e WHERE e.id > w.id AND e.id <= coalesce(w.last_event_id, w.id | 1099511627775) AND e.workflow_id = w.id),
  (SELECT count(*) FROM events e WHERE e.id > w.id AND e.id <= coalesce(w.last_event_id, w.id | 1099511627775) AND e.workflow_id = w.id
     AND (e.picked_up_at_us IS NULL OR e.processing_at_us IS NULL
          OR e.finished_at_us IS NULL OR e.duration_us IS NULL OR e.status = 'dispatched')),
  (SELECT count(DISTINCT e.step) FROM events e WHERE e.id > w.id AND e.id <= coalesce(w.last_event_id, w.id | 1099511627775) AND e.workflow_id = w.id
     AND e.event_type = 'command' AND e.status = 'completed'),
  (SELECT count(*) FROM events e WHERE e.id > w.id AND e.id <= coalesce(w.last_event_id, w.id | 1099511627775) AND e.workflow_id = w.id
     AND e.event_type = 'compensation' AND e.status = 'completed'),
  (SELECT count(*) FROM executions x WHERE x.transaction_id = w.transaction_id)
FROM workflows w WHERE w.transaction_id = ?1";

/// Why a printed transaction's record is not what `wait()` promised, or
/// `None` if it is complete.
fn trace_problem(conn: &rusqlite::Connection, id: &str) -> Option<String> {
    let trace = conn
        .prepare_cached(TRACE_SQL)
        .unwrap()
        .query_row([id], |r| {
            Ok(Trace {
                workflow_name: r.get(0)?,
                state: r.get(1)?,
                ended: r.get(2)?,
                events: r.get(3)?,
                incomplete_events: r.get(4)?,
                completed_steps: r.get(5)?,
                completed_compensations: r.get(6)?,
                executions: r.get(7)?,
            })
        });
    let t = match trace {
        Ok(t) => t,
        Err(rusqlite::Error::QueryReturnedNoRows) => return Some("no workflows row".into()),
        Err(e) => return Some(format!("query failed: {e}")),
    };
    // The soak's workflows (src/cli/soak.rs) and what each must have left.
    let expected_ok = match t.workflow_name.as_str() {
        "soak_steps" => t.state == "completed" && t.completed_steps == 3 && t.events == 3,
        "soak_parallel" => t.state == "completed" && t.completed_steps == 5 && t.events == 5,
        "soak_retry" => {
            (t.state == "completed" && t.completed_steps == 2 && t.events >= 2)
                || (t.state == "failed" && t.events == 4)
        }
        // reserve, two failed attempts of charge, the compensation of reserve
        "soak_compensated" => {
            t.state == "compensated" && t.completed_compensations == 1 && t.events == 4
        }
        // a fatal error is not retried
        "soak_failed" => t.state == "failed" && t.events == 1,
        _ => false,
    };
    let complete = t.ended && t.incomplete_events == 0 && t.executions == t.events;
    (!(expected_ok && complete)).then(|| format!("{t:?}"))
}

/// Opens the file as a reader would after the crash, checks integrity, and
/// returns the transaction ids among `ids` whose record is missing or
/// incomplete (with why).
fn check_file(db: &Path, ids: &[String]) -> Vec<String> {
    let store = Store::open_existing(db).expect("the file opens after SIGKILL");
    let conn = store.reader().unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok", "{}", db.display());
    ids.iter()
        .filter_map(|id| trace_problem(&conn, id).map(|why| format!("{id}: {why}")))
        .collect()
}

#[derive(Default)]
struct Figures {
    kills: usize,
    kills_while_running: usize,
    ids_checked: usize,
    ids_lost: Vec<String>,
    integrity_ok: usize,
    kills_during_retention: usize,
    migration_outcomes: Vec<&'static str>,
}

/// When a migration kill fires, counted from the spawn.
#[derive(Debug, Clone, Copy)]
enum EarlyKill {
    AfterSpawn(Duration),
    AfterFileAppears(Duration),
}

fn kill_early(dir: &Path, n: usize, when: EarlyKill, figures: &mut Figures) {
    let db = dir.join(format!("migrate-{n}.db"));
    let mut soak = Soak::spawn(&db, &[]);
    match when {
        EarlyKill::AfterSpawn(d) => std::thread::sleep(d),
        EarlyKill::AfterFileAppears(d) => {
            let started = Instant::now();
            while !db.exists() && soak.child.try_wait().unwrap().is_none() {
                assert!(started.elapsed() < HANG_GUARD, "file never appeared");
                std::hint::spin_loop();
            }
            std::thread::sleep(d);
        }
    }
    let killed = soak.kill();
    figures.kills += 1;
    figures.kills_while_running += usize::from(killed.was_running);
    // Where the kill landed, read without writing anything.
    let wal = dir.join(format!("migrate-{n}.db-wal"));
    let outcome = if !db.exists() {
        "no file yet"
    } else if std::fs::metadata(&db).unwrap().len() == 0 && !wal.exists() {
        "empty file"
    } else {
        let conn =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        // A kill inside the first (rollback-journal) transaction leaves a
        // hot journal that a read-only connection may not roll back.
        match conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)) {
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly) => {
                "migration interrupted (hot journal)"
            }
            Err(e) => panic!("{}: {e}", db.display()),
            Ok(version) => match (version, killed.stdout.is_empty()) {
                (0, _) => "migration not committed",
                (_, true) => "migrated, nothing reported",
                (_, false) => "migrated, workflows reported",
            },
        }
    };
    figures.migration_outcomes.push(outcome);
    if db.exists() {
        let lost = check_file(&db, &killed.stdout);
        figures.integrity_ok += 1;
        figures.ids_checked += killed.stdout.len();
        figures.ids_lost.extend(lost);
    } else {
        assert!(
            killed.stdout.is_empty(),
            "ids printed without a database file"
        );
    }
    // Whatever the kill left, the next run can record into it.
    let (_store, writer) = Store::open(&db, &support::run_info(), WriterOptions::default())
        .unwrap_or_else(|e| panic!("reopening after a kill {when:?}: {e}"));
    writer.blocking_shutdown().unwrap();
}

/// Runs soaks on one file one after another, killing each after a delay;
/// every id printed by any of them must survive every later crash too.
fn kill_repeatedly(
    db: &Path,
    delays_ms: &[u64],
    extra: &[&str],
    during_retention: bool,
    figures: &mut Figures,
) {
    let mut all_ids: Vec<String> = Vec::new();
    for &delay in delays_ms {
        let mut soak = Soak::spawn(db, extra);
        soak.wait_until("a first workflow", |out, _| !out.is_empty());
        if during_retention {
            // Aim at a pass: wait for the next one to start, then a little.
            let passes = |err: &[String]| {
                err.iter()
                    .filter(|l| l.starts_with("soak: retention started"))
                    .count()
            };
            let seen = passes(&soak.stderr.lock().unwrap());
            soak.wait_until("a new retention pass", |_, err| passes(err) > seen);
        }
        std::thread::sleep(Duration::from_millis(delay));
        let killed = soak.kill();
        figures.kills += 1;
        figures.kills_while_running += usize::from(killed.was_running);
        if during_retention {
            let started = killed
                .stderr
                .iter()
                .filter(|l| l.starts_with("soak: retention started"))
                .count();
            let finished = killed
                .stderr
                .iter()
                .filter(|l| l.starts_with("soak: retention finished"))
                .count();
            figures.kills_during_retention += usize::from(started > finished);
        }
        all_ids.extend(killed.stdout);
        let lost = check_file(db, &all_ids);
        figures.integrity_ok += 1;
        figures.ids_checked += all_ids.len();
        figures.ids_lost.extend(lost);
    }
}

fn report(lines: &[String]) {
    // Straight to the stderr handle, past the test harness's capture, so the
    // figures show in CI logs.
    let mut err = std::io::stderr().lock();
    for line in lines {
        let _ = writeln!(err, "{line}");
    }
}

#[test]
fn sigkill_never_loses_a_workflow_reported_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_c2a5);
    let mut figures = Figures::default();

    // 6 kills around the first open: file creation and migration.
    let early = [
        EarlyKill::AfterSpawn(Duration::ZERO),
        EarlyKill::AfterSpawn(Duration::from_millis(3)),
        EarlyKill::AfterFileAppears(Duration::ZERO),
        EarlyKill::AfterFileAppears(Duration::from_micros(300)),
        EarlyKill::AfterFileAppears(Duration::from_millis(2)),
        EarlyKill::AfterFileAppears(Duration::from_millis(10)),
    ];
    for (n, when) in early.into_iter().enumerate() {
        kill_early(dir.path(), n, when, &mut figures);
    }

    // 9 kills of a running workload, all on one file: each child recovers
    // the previous crash and goes on.
    let delays: Vec<u64> = (0..9).map(|_| rng.random_range(0..1200)).collect();
    let plain = dir.path().join("plain.db");
    kill_repeatedly(
        &plain,
        &delays,
        &["--concurrency", "32"],
        false,
        &mut figures,
    );

    // 5 kills while retention deletes old rows between insert batches.
    let delays: Vec<u64> = (0..5).map(|_| rng.random_range(0..40)).collect();
    let retained = dir.path().join("retention.db");
    kill_repeatedly(
        &retained,
        &delays,
        &["--concurrency", "16", "--with-retention"],
        true,
        &mut figures,
    );

    report(&[
        "crash test (workflows):".to_string(),
        format!(
            "  kills: {} ({} while the child ran)",
            figures.kills, figures.kills_while_running
        ),
        format!(
            "  kills during first open/migration: {:?}",
            figures.migration_outcomes
        ),
        format!(
            "  kills with a retention pass in progress: {} of 5",
            figures.kills_during_retention
        ),
        format!("  integrity checks ok: {}", figures.integrity_ok),
        format!("  ids checked: {}", figures.ids_checked),
        format!("  ids lost: {}", figures.ids_lost.len()),
    ]);
    assert_eq!(figures.kills, 20);
    assert!(
        figures.ids_lost.is_empty(),
        "{} reported workflows lost or incomplete, e.g. {:?}",
        figures.ids_lost.len(),
        &figures.ids_lost[..figures.ids_lost.len().min(5)]
    );
    assert!(figures.ids_checked > 0, "no workflow was ever reported");
}

#[test]
fn sigkill_never_loses_an_acknowledged_flush() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0xf1a5_2024);
    let mut kills = 0;
    let mut acknowledged_total = 0i64;
    let mut lost_total = 0i64;
    for n in 0..6 {
        let db: PathBuf = dir.path().join(format!("writer-{n}.db"));
        let mut soak = Soak::spawn(&db, &["--mode", "writer", "--batch", "300"]);
        soak.wait_until("a first flush", |out, _| !out.is_empty());
        std::thread::sleep(Duration::from_millis(rng.random_range(0..600)));
        let killed = soak.kill();
        kills += 1;
        let acknowledged: i64 = killed
            .stdout
            .last()
            .map(|l| l.parse().expect("a record count"))
            .unwrap();
        let store = Store::open_existing(&db).expect("the file opens after SIGKILL");
        let conn = store.reader().unwrap();
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
        let present: i64 = conn
            .query_row(
                "SELECT count(DISTINCT sampled_at_us) FROM system_samples WHERE sampled_at_us < ?1",
                [acknowledged],
                |r| r.get(0),
            )
            .unwrap();
        acknowledged_total += acknowledged;
        lost_total += acknowledged - present;
    }
    report(&[
        "crash test (writer):".to_string(),
        format!("  kills: {kills}"),
        format!("  acknowledged records checked: {acknowledged_total}"),
        format!("  acknowledged records lost: {lost_total}"),
    ]);
    assert_eq!(lost_total, 0);
}
