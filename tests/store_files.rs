//! The database file under ordinary life, with real processes: many starts
//! on one new file, read commands that never write, damaged files refused,
//! `check`, `snapshot` and `upgrade`, a full disk, and a file complete on
//! its own after a clean exit.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use multiagents::store::{MAX_PAGE_COUNT_ENV, Store};

const BIN: &str = env!("CARGO_BIN_EXE_multiagents");

fn multiagents(db: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("MULTIAGENTS_DB")
        .env_remove("MULTIAGENTS_CONFIG")
        .env_remove(MAX_PAGE_COUNT_ENV)
        .env_remove("RUST_LOG");
    command
}

fn run(db: &Path, args: &[&str]) -> Output {
    multiagents(db, args).output().expect("run multiagents")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A short load test that records a few quick workflows.
const QUICK_LOAD: &[&str] = &[
    "load-test",
    "--duration",
    "300ms",
    "--rps",
    "50",
    "--mix",
    "noop",
    "--time-scale",
    "0",
    "--format",
    "json",
];

/// Every file under `dir` with its bytes; a `-shm` (SQLite's shared
/// memory index, rewritten by every reader) only by name.
fn listing(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let shm = path.to_string_lossy().ends_with("-shm");
            let bytes = if shm {
                Vec::new()
            } else {
                std::fs::read(&path).unwrap_or_default()
            };
            (path, bytes)
        })
        .collect()
}

/// Fails naming the files that appeared, vanished or changed.
fn assert_same(before: &BTreeMap<PathBuf, Vec<u8>>, after: &BTreeMap<PathBuf, Vec<u8>>) {
    let mut changes = Vec::new();
    for (path, bytes) in before {
        match after.get(path) {
            None => changes.push(format!("{} vanished", path.display())),
            Some(now) if now != bytes => changes.push(format!("{} changed", path.display())),
            Some(_) => {}
        }
    }
    for path in after.keys().filter(|p| !before.contains_key(*p)) {
        changes.push(format!("{} appeared", path.display()));
    }
    assert!(changes.is_empty(), "{changes:?}");
}

fn recorded_database(dir: &Path, name: &str) -> PathBuf {
    let db = dir.join(name);
    let out = run(&db, QUICK_LOAD);
    assert!(out.status.success(), "load-test: {}", stderr(&out));
    db
}

#[test]
fn fifty_processes_start_together_on_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("new.db");
    let children: Vec<_> = (0..50)
        .map(|_| {
            multiagents(&db, QUICK_LOAD)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let failures: Vec<String> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .filter(|o| !o.status.success())
        .map(|o| stderr(&o))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of 50 failed: {failures:?}",
        failures.len()
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    assert_eq!(support::count(&conn, "SELECT count(*) FROM runs"), 50);
    assert_eq!(
        support::count(&conn, "SELECT count(*) FROM runs WHERE ended_at_us IS NULL"),
        0
    );
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    // The files built aside were all removed.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| n.starts_with("new.db")),
        "left behind: {names:?}"
    );
}

/// Read commands, each with the arguments it needs.
const READ_COMMANDS: &[&[&str]] = &[
    &["query", "runs"],
    &["query", "events", "--window", "1h"],
    &["dashboard", "--once"],
    &["export", "prometheus"],
    &["report"],
    &["check"],
    &["compare", "--base", "1", "--head", "1"],
];

#[test]
fn read_commands_on_files_we_refuse_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    // Another program's database that happens to use user_version 1.
    let foreign = dir.path().join("foreign.db");
    {
        let conn = rusqlite::Connection::open(&foreign).unwrap();
        conn.execute_batch(
            "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x'); PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    // An empty SQLite database (a header and no schema).
    let blank = dir.path().join("blank.db");
    {
        let conn = rusqlite::Connection::open(&blank).unwrap();
        conn.execute_batch("PRAGMA user_version = 0; VACUUM;")
            .unwrap();
    }
    let dev_null_journal_before = Path::new("/dev/null-journal").exists();
    let cases: &[(&Path, &str)] = &[
        (&empty, "empty file, not a multiagents database"),
        (&foreign, "another program"),
        (Path::new("/dev/null"), "not a regular file"),
    ];
    let before = listing(dir.path());
    for (db, expected) in cases {
        for args in READ_COMMANDS
            .iter()
            .copied()
            .chain([&["snapshot", "copy.db"][..]])
        {
            let out = multiagents(db, args)
                .current_dir(dir.path())
                .output()
                .unwrap();
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?} on {db:?}: {err}");
            assert!(err.contains(expected), "{args:?} on {db:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{args:?} on {db:?}: {err}");
        }
    }
    // A recording command refuses the foreign file too, before switching
    // it to WAL.
    let out = run(&foreign, QUICK_LOAD);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("another program"));
    // The blank SQLite file is readable by nobody but a recorder.
    let out = run(&blank, &["query", "runs"]);
    assert!(
        stderr(&out).contains("empty SQLite database"),
        "{}",
        stderr(&out)
    );
    assert_same(&before, &listing(dir.path()));
    assert_eq!(
        Path::new("/dev/null-journal").exists(),
        dev_null_journal_before,
        "/dev/null-journal was created"
    );
}

#[test]
fn a_recording_command_initialises_an_existing_empty_file() {
    // `mktemp` and friends make 0-byte files: recording into one works.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("made-by-mktemp.db");
    std::fs::write(&db, b"").unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            multiagents(&db, QUICK_LOAD)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = run(&db, &["query", "runs", "--format", "json"]);
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.as_array().map(Vec::len), Some(4));
}

/// Overwrites 4 KiB in the middle of the file, at a page boundary.
fn corrupt_middle(db: &Path) {
    let mut bytes = std::fs::read(db).unwrap();
    let page = 4096;
    let middle = (bytes.len() / 2) / page * page;
    for (i, b) in bytes[middle..middle + page].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(151).wrapping_add(7);
    }
    std::fs::write(db, bytes).unwrap();
}

#[test]
fn check_gives_a_verdict_and_a_damaged_file_is_refused_by_recorders() {
    let dir = tempfile::tempdir().unwrap();
    let db = recorded_database(dir.path(), "sound.db");
    let out = run(&db, &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(": ok"), "{}", stdout(&out));
    let out = run(&db, &["query", "runs", "--format", "json"]);
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        runs.as_array().map(Vec::len),
        Some(1),
        "check recorded a run"
    );

    corrupt_middle(&db);
    let damaged = std::fs::read(&db).unwrap();
    let out = run(&db, &["check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("DAMAGED"), "{}", stdout(&out));
    let json = run(&db, &["check", "--format", "json"]);
    let verdict: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(!verdict["problems"].as_array().unwrap().is_empty());

    let out = run(&db, QUICK_LOAD);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("damaged"), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&db).unwrap(),
        damaged,
        "the damaged file changed"
    );
}

#[test]
fn a_truncated_file_is_damaged_for_check() {
    let dir = tempfile::tempdir().unwrap();
    let db = recorded_database(dir.path(), "cut.db");
    let bytes = std::fs::read(&db).unwrap();
    std::fs::write(&db, &bytes[..bytes.len() / 2]).unwrap();
    let out = run(&db, &["check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("truncated"), "{}", stdout(&out));
}

#[test]
fn after_a_clean_exit_the_database_file_alone_answers_like_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("run.db");
    let out = run(
        &db,
        &[
            "load-test",
            "--duration",
            "1500ms",
            "--rps",
            "400",
            "--mix",
            "simple,parallel,error",
            "--time-scale",
            "0.01",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let alone_dir = dir.path().join("elsewhere");
    std::fs::create_dir(&alone_dir).unwrap();
    let alone = alone_dir.join("run.db");
    std::fs::copy(&db, &alone).unwrap();
    let questions: &[&[&str]] = &[
        &["query", "runs", "--format", "json"],
        &["query", "events", "--run", "1", "--format", "json"],
        &["query", "workers", "--run", "1", "--format", "json"],
        &["query", "errors", "--run", "1", "--format", "json"],
        &["query", "alerts", "--run", "1", "--format", "json"],
        &["query", "metrics", "--run", "1", "--format", "json"],
        &["query", "system", "--run", "1", "--format", "json"],
    ];
    for args in questions {
        let original = run(&db, args);
        let copy = run(&alone, args);
        assert!(original.status.success(), "{args:?}: {}", stderr(&original));
        assert!(copy.status.success(), "{args:?}: {}", stderr(&copy));
        assert_eq!(stdout(&copy), stdout(&original), "{args:?}");
    }
    // Row by row, every table.
    let a = rusqlite::Connection::open(&db).unwrap();
    let b = rusqlite::Connection::open(&alone).unwrap();
    let tables: Vec<String> = a
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for table in tables {
        let sql = format!("SELECT count(*) FROM \"{table}\"");
        assert_eq!(
            support::count(&a, &sql),
            support::count(&b, &sql),
            "{table}"
        );
    }
    let ended = support::count(
        &b,
        "SELECT count(*) FROM runs WHERE ended_at_us IS NOT NULL",
    );
    assert_eq!(ended, 1, "the run's end is in the file alone");
}

#[test]
fn a_full_disk_ends_the_load_test_at_once_with_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("full.db");
    let started = Instant::now();
    let out = multiagents(
        &db,
        &[
            "load-test",
            "--duration",
            "60s",
            "--rps",
            "2000",
            "--mix",
            "noop",
            "--time-scale",
            "0",
        ],
    )
    .env(MAX_PAGE_COUNT_ENV, "300")
    .output()
    .unwrap();
    let took = started.elapsed();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("disk full writing"), "{err}");
    // It stopped because of the failure, not at the end of its minute.
    assert!(took < Duration::from_secs(30), "ran on for {took:?}");
    // What was committed is intact and readable.
    let out = run(&db, &["check"]);
    assert!(out.status.success(), "{}", stdout(&out));
    let conn = rusqlite::Connection::open(&db).unwrap();
    assert!(
        support::count(
            &conn,
            "SELECT count(*) FROM workflows WHERE ended_at_us IS NOT NULL"
        ) > 0
    );
}

/// A database with one finished run in it and room for only `spare` more
/// pages: the next recording soon meets a full disk.
fn nearly_full(db: &Path, spare: u32) -> String {
    let (_store, writer) = Store::open(
        db,
        &multiagents::store::RunInfo {
            command: "setup".into(),
            config_json: "{}".into(),
        },
        multiagents::store::WriterOptions::default(),
    )
    .unwrap();
    writer.blocking_shutdown().unwrap();
    let conn = rusqlite::Connection::open(db).unwrap();
    let pages: u32 = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    (pages + spare).to_string()
}

#[test]
fn a_full_disk_ends_the_demo_at_once_with_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("full.db");
    let limit = nearly_full(&db, 2);
    let started = Instant::now();
    // The full demo runs for minutes (30 s of system monitoring, a 60 s
    // load test): stopping in its first sections can only be the failure.
    let out = multiagents(&db, &["demo", "--full"])
        .env(MAX_PAGE_COUNT_ENV, &limit)
        .output()
        .unwrap();
    let took = started.elapsed();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    // The failure, said once: the demo's own log lines (its flaky workers'
    // failures, its alerts) are timestamped, and none of them is about
    // recording.
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("multiagents:"))
        .collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains("disk full writing"), "{err}");
    for word in ["disk full", "record", "writer", "check failed", "retention"] {
        assert_eq!(
            err.matches(word).count(),
            usize::from(word == "disk full" || word == "writer"),
            "{word}: {err}"
        );
    }
    assert!(
        !stdout(&out).contains("LOAD TEST WITH MONITORING"),
        "{}",
        stdout(&out)
    );
    assert!(took < Duration::from_secs(60), "ran on for {took:?}");
    // What was committed is intact and readable.
    let out = run(&db, &["check"]);
    assert!(out.status.success(), "{}", stdout(&out));
    let conn = rusqlite::Connection::open(&db).unwrap();
    assert!(
        support::count(
            &conn,
            "SELECT count(*) FROM workflows WHERE ended_at_us IS NOT NULL"
        ) > 0
    );
}

#[test]
fn a_bad_page_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let out = multiagents(&db, QUICK_LOAD)
        .env(MAX_PAGE_COUNT_ENV, "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(MAX_PAGE_COUNT_ENV),
        "{}",
        stderr(&out)
    );
}

#[test]
fn snapshot_of_a_live_database_holds_everything_committed_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let mut soak = multiagents(&db, &["soak", "--duration", "30s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(soak.stdout.take().unwrap()).lines();
    let mut durable = Vec::new();
    while durable.len() < 300 {
        match lines.next() {
            Some(Ok(id)) => durable.push(id),
            other => panic!("soak ended early: {other:?}"),
        }
    }
    let snap = dir.path().join("snap.db");
    let out = run(&db, &["snapshot", snap.to_str().unwrap()]);
    // More durable ids may have been printed meanwhile; only those read
    // before the snapshot started are certain to be in it.
    let _ = soak.kill();
    let _ = soak.wait();
    assert!(out.status.success(), "{}", stderr(&out));
    let conn =
        rusqlite::Connection::open_with_flags(&snap, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let mut missing = Vec::new();
    for id in &durable {
        let found = conn
            .query_row(
                "SELECT count(*) FROM workflows WHERE transaction_id = ?1 AND ended_at_us IS NOT NULL",
                [id],
                |r| r.get::<_, i64>(0),
            )
            .unwrap();
        if found != 1 {
            missing.push(id.clone());
        }
    }
    assert!(missing.is_empty(), "missing from the snapshot: {missing:?}");
    // The snapshot registered no run in the source: only soak's.
    let source = rusqlite::Connection::open(&db).unwrap();
    assert_eq!(support::count(&source, "SELECT count(*) FROM runs"), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&snap).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[test]
fn snapshot_refuses_to_overwrite_anything() {
    let dir = tempfile::tempdir().unwrap();
    let db = recorded_database(dir.path(), "src.db");
    let existing = dir.path().join("existing.db");
    std::fs::write(&existing, b"keep me").unwrap();
    let before = listing(dir.path());
    for target in [
        db.to_str().unwrap().to_string(),
        format!("{}-wal", db.display()),
        format!("{}-shm", db.display()),
        format!("{}-journal", db.display()),
        existing.to_str().unwrap().to_string(),
    ] {
        let out = run(&db, &["snapshot", &target]);
        assert_eq!(out.status.code(), Some(2), "{target}: {}", stderr(&out));
        assert!(stderr(&out).contains("refusing"), "{}", stderr(&out));
    }
    assert_same(&before, &listing(dir.path()));
}

#[test]
fn the_wal_is_truncated_when_the_writer_is_idle() {
    let db = support::temp_db();
    let (_store, writer) = support::open(&db.path);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for i in 0..2_000 {
            for r in support::workflow_records(&writer, 3, i * 100) {
                writer.record(r).await.unwrap();
            }
        }
        writer.flush().await.unwrap();
    });
    let wal = PathBuf::from(format!("{}-wal", db.path.display()));
    let deadline = Instant::now() + Duration::from_secs(20);
    // The writer counts the restart just after the checkpoint truncated the
    // file, so the count is awaited too, not read the moment the file is empty.
    while std::fs::metadata(&wal).map_or(0, |m| m.len()) > 0 || writer.stats().wal_restarts == 0 {
        assert!(Instant::now() < deadline, "the WAL was never truncated");
        std::thread::sleep(Duration::from_millis(50));
    }
    writer.blocking_shutdown().unwrap();
}

#[test]
fn a_reader_refuses_a_hot_journal_and_upgrade_recovers_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("test.db");
    {
        let (_store, writer) = support::open(&db);
        writer.blocking_shutdown().unwrap();
    }
    // A process killed inside a rollback-journal transaction leaves a hot
    // journal; copying the files while a transaction is open makes one
    // without killing anything.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("PRAGMA journal_mode = DELETE; PRAGMA cache_size = 1;")
        .unwrap();
    let committed = support::count(&conn, "SELECT count(*) FROM runs");
    conn.execute_batch("BEGIN").unwrap();
    for i in 0..2_000 {
        conn.execute(
            "INSERT INTO runs (started_at_us, command, config_json, version, host) VALUES (?1, 'x', '{}', 'v', 'h')",
            [i],
        )
        .unwrap();
    }
    let hot = dir.path().join("hot.db");
    std::fs::copy(&db, &hot).unwrap();
    std::fs::copy(
        dir.path().join("test.db-journal"),
        dir.path().join("hot.db-journal"),
    )
    .unwrap();
    conn.execute_batch("ROLLBACK").unwrap();
    drop(conn);
    std::fs::remove_file(&db).unwrap();

    let before = listing(dir.path());
    let out = run(&hot, &["query", "runs"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("hot journal"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("multiagents upgrade"),
        "{}",
        stderr(&out)
    );
    assert_same(&before, &listing(dir.path()));

    let out = run(&hot, &["upgrade"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let store = Store::open_existing(&hot).unwrap();
    let reader = store.reader().unwrap();
    let integrity: String = reader
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    assert_eq!(
        support::count(&reader, "SELECT count(*) FROM runs"),
        committed
    );
}

#[test]
fn an_older_file_is_refused_by_readers_and_migrated_by_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(multiagents::sql::migrations::M0001_INITIAL)
            .unwrap();
        conn.execute_batch("PRAGMA user_version = 1;").unwrap();
    }
    let before = listing(dir.path());
    // `check` judges any version (the check does not depend on it).
    for args in READ_COMMANDS.iter().filter(|a| a[0] != "check") {
        let out = run(&db, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("run a recording command or `multiagents upgrade`"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    assert_same(&before, &listing(dir.path()));
    let out = run(&db, &["upgrade"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("migrated from schema version 1"),
        "{}",
        stdout(&out)
    );
    let out = run(&db, &["query", "runs"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&db, &["upgrade"]);
    assert!(stdout(&out).contains("nothing to do"), "{}", stdout(&out));
}

/// `PRAGMA wal_checkpoint(TRUNCATE)` without waiting: it only succeeds
/// (busy = 0) when no reader holds a snapshot in the WAL.
fn truncate_now(conn: &rusqlite::Connection) -> i64 {
    conn.busy_timeout(Duration::ZERO).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn readers_hold_no_transaction_between_refreshes() {
    let dir = tempfile::tempdir().unwrap();
    let db = recorded_database(dir.path(), "live.db");
    let writer = rusqlite::Connection::open(&db).unwrap();
    writer
        .execute_batch("PRAGMA wal_autocheckpoint = 0;")
        .unwrap();
    let mut frame = 0;
    let mut add_frames = || {
        frame += 1;
        writer
            .execute(
                "INSERT INTO workers (name) VALUES (?1)",
                [format!("w{frame}")],
            )
            .unwrap();
    };

    // The dashboard's refresh, in this process, with the store kept open.
    let store = Store::open_existing(&db).unwrap();
    add_frames();
    multiagents::dashboard::collect(
        &store,
        &multiagents::monitor::HealthThresholds::default(),
        multiagents::monitor::RunScope::AllRuns,
        Duration::from_secs(60),
        multiagents::clock::now_us(),
    )
    .unwrap();
    add_frames();
    assert_eq!(truncate_now(&writer), 0, "the dashboard kept a snapshot");

    // A scrape of a running `serve`.
    let mut serve = multiagents(&db, &["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    BufReader::new(serve.stderr.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    let address = banner
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {banner:?}"))
        .to_string();
    add_frames();
    {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }
    add_frames();
    let busy = truncate_now(&writer);
    let _ = serve.kill();
    let _ = serve.wait();
    assert_eq!(busy, 0, "serve kept a snapshot after answering");
    drop(store);
}
