//! Bad input corpus: the built binary against broken configurations,
//! databases and command-line values, and the runtime against hostile
//! workers and inputs.
//!
//! Every CLI case expects a non-zero exit, a short stderr naming the problem,
//! no panic, and every file that existed before byte-identical afterwards
//! (and no new files, except SQLite's `-wal`/`-shm` beside a database a
//! reader opened). To add a case, add a row to [`cases`]: a name, a setup
//! that prepares files in a temp dir and returns the arguments, and a
//! substring stderr must contain.

mod support;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use multiagents::orchestrator::Orchestrator;
use multiagents::store::WorkflowState;
use multiagents::worker::{Context, WorkerRegistry};
use multiagents::workflow::WorkflowBuilder;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_multiagents");

/// One bad input.
struct Case {
    name: &'static str,
    /// Prepares files in the case's directory; returns the arguments.
    setup: fn(&Path) -> Vec<OsString>,
    /// What stderr must say (case-sensitive substring).
    stderr: &'static str,
}

fn args(list: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    list.iter().map(|a| a.as_ref().to_os_string()).collect()
}

/// `--config <dir>/config.yaml query runs` with `text` as the file.
fn with_config(dir: &Path, text: &[u8]) -> Vec<OsString> {
    let config = dir.join("config.yaml");
    std::fs::write(&config, text).unwrap();
    query_runs_with_config(dir, &config)
}

fn query_runs_with_config(dir: &Path, config: &Path) -> Vec<OsString> {
    let db = dir.join("absent.db");
    args(&[&"--db", &db, &"--config", &config, &"query", &"runs"])
}

/// A real, cleanly closed multiagents database (WAL checkpointed away).
fn real_database(dir: &Path) -> PathBuf {
    let path = dir.join("real.db");
    let (_store, writer) = support::open(&path);
    writer.blocking_shutdown().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;")
        .unwrap();
    path
}

fn query_runs(db: &Path) -> Vec<OsString> {
    args(&[&"--db", &db, &"query", &"runs"])
}

fn cleanup(db: &Path) -> Vec<OsString> {
    args(&[&"--db", &db, &"cleanup"])
}

fn cases() -> Vec<Case> {
    vec![
        // --- configuration files (passed with --config to `query runs`) ---
        Case {
            name: "empty config",
            setup: |d| with_config(d, b""),
            stderr: "empty configuration",
        },
        Case {
            name: "config of comments only",
            setup: |d| with_config(d, b"# nothing here\n"),
            stderr: "empty configuration",
        },
        Case {
            name: "config not YAML",
            setup: |d| with_config(d, b"logging: [unclosed\n  : : :\n"),
            stderr: "config.yaml",
        },
        Case {
            name: "config is a list",
            setup: |d| with_config(d, b"- logging\n- event_monitoring\n"),
            stderr: "(top level)",
        },
        Case {
            name: "config wrong type (string for number)",
            setup: |d| with_config(d, b"event_monitoring:\n  trace_retention_hours: two\n"),
            stderr: "event_monitoring.trace_retention_hours",
        },
        Case {
            name: "config wrong type (number for bool)",
            setup: |d| with_config(d, b"event_monitoring:\n  enabled: 3\n"),
            stderr: "event_monitoring.enabled",
        },
        Case {
            name: "config wrong type (scalar for section)",
            setup: |d| with_config(d, b"worker_monitoring: 5\n"),
            stderr: "worker_monitoring",
        },
        Case {
            name: "config unknown top-level key",
            setup: |d| with_config(d, b"bogus_section:\n  x: 1\n"),
            stderr: "bogus_section",
        },
        Case {
            name: "config misspelt key",
            setup: |d| with_config(d, b"worker_monitoring:\n  error_rate_treshold: 0.2\n"),
            stderr: "error_rate_treshold",
        },
        Case {
            name: "config negative interval",
            setup: |d| {
                with_config(
                    d,
                    b"worker_monitoring:\n  health_check_interval_seconds: -5\n",
                )
            },
            stderr: "worker_monitoring.health_check_interval_seconds",
        },
        Case {
            name: "config zero interval",
            setup: |d| {
                with_config(
                    d,
                    b"metrics_collection:\n  collection_interval_seconds: 0\n",
                )
            },
            stderr: "metrics_collection.collection_interval_seconds",
        },
        Case {
            name: "config zero cleanup interval",
            setup: |d| with_config(d, b"event_monitoring:\n  cleanup_interval_minutes: 0\n"),
            stderr: "event_monitoring.cleanup_interval_minutes",
        },
        Case {
            name: "config threshold above 1",
            setup: |d| with_config(d, b"worker_monitoring:\n  error_rate_threshold: 1.5\n"),
            stderr: "must be between 0 and 1",
        },
        Case {
            name: "config threshold below 0",
            setup: |d| with_config(d, b"worker_monitoring:\n  error_rate_threshold: -0.1\n"),
            stderr: "worker_monitoring.error_rate_threshold",
        },
        Case {
            name: "config threshold NaN",
            setup: |d| with_config(d, b"worker_monitoring:\n  error_rate_threshold: .nan\n"),
            stderr: "worker_monitoring.error_rate_threshold",
        },
        Case {
            name: "config huge retention",
            setup: |d| with_config(d, b"event_monitoring:\n  trace_retention_hours: 1e300\n"),
            stderr: "event_monitoring.trace_retention_hours",
        },
        Case {
            name: "config infinite interval",
            setup: |d| with_config(d, b"metrics_collection:\n  retention_hours: .inf\n"),
            stderr: "metrics_collection.retention_hours",
        },
        Case {
            name: "config integer overflow",
            setup: |d| {
                with_config(
                    d,
                    b"logging:\n  max_file_size_mb: 99999999999999999999999\n",
                )
            },
            stderr: "logging.max_file_size_mb",
        },
        Case {
            name: "config file size overflows bytes",
            setup: |d| with_config(d, b"logging:\n  max_file_size_mb: 18446744073709551615\n"),
            stderr: "logging.max_file_size_mb",
        },
        Case {
            name: "config unknown log level",
            setup: |d| with_config(d, b"logging:\n  level: LOUD\n"),
            stderr: "logging.level",
        },
        Case {
            name: "config unknown logger kind",
            setup: |d| with_config(d, b"logging:\n  default_logger: carrier_pigeon\n"),
            stderr: "logging.default_logger",
        },
        Case {
            name: "config unknown custom metric type",
            setup: |d| {
                with_config(
                    d,
                    b"metrics_collection:\n  custom_metrics:\n    - name: x\n      type: summary\n",
                )
            },
            stderr: "custom_metrics",
        },
        Case {
            name: "config duplicate custom metric",
            setup: |d| {
                with_config(
                    d,
                    b"metrics_collection:\n  custom_metrics:\n    - name: x\n      type: gauge\n    - name: x\n      type: gauge\n",
                )
            },
            stderr: "custom_metrics",
        },
        Case {
            name: "config not UTF-8",
            setup: |d| with_config(d, b"logging:\n  level: \xff\xfe\xfa\n"),
            stderr: "not valid UTF-8",
        },
        Case {
            name: "config is a directory",
            setup: |d| {
                let config = d.join("config.d");
                std::fs::create_dir(&config).unwrap();
                query_runs_with_config(d, &config)
            },
            stderr: "is a directory",
        },
        Case {
            name: "config missing",
            setup: |d| query_runs_with_config(d, &d.join("nope.yaml")),
            stderr: "cannot read configuration file",
        },
        // --- database paths ---
        Case {
            name: "db of random bytes",
            setup: |d| {
                let db = d.join("junk.db");
                let junk: Vec<u8> = (0..8192u32)
                    .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
                    .collect();
                std::fs::write(&db, junk).unwrap();
                query_runs(&db)
            },
            stderr: "not a SQLite database",
        },
        Case {
            name: "db is a text file",
            setup: |d| {
                let db = d.join("notes.txt");
                std::fs::write(&db, "logging:\n  level: info\n").unwrap();
                cleanup(&db)
            },
            stderr: "not a SQLite database",
        },
        Case {
            name: "db with a SQLite header and garbage",
            setup: |d| {
                let db = d.join("header.db");
                let mut bytes = b"SQLite format 3\0".to_vec();
                bytes.extend((0..4080u32).map(|i| (i * 7 + 3) as u8));
                std::fs::write(&db, bytes).unwrap();
                query_runs(&db)
            },
            stderr: "not a SQLite database",
        },
        Case {
            name: "db truncated",
            setup: |d| {
                let db = real_database(d);
                let bytes = std::fs::read(&db).unwrap();
                std::fs::write(&db, &bytes[..bytes.len() / 2]).unwrap();
                query_runs(&db)
            },
            stderr: "not a SQLite database",
        },
        Case {
            name: "db truncated, cleanup",
            setup: |d| {
                let db = real_database(d);
                let bytes = std::fs::read(&db).unwrap();
                std::fs::write(&db, &bytes[..4096]).unwrap();
                cleanup(&db)
            },
            stderr: "not a SQLite database",
        },
        Case {
            name: "db of a newer schema",
            setup: |d| {
                let db = d.join("newer.db");
                let conn = rusqlite::Connection::open(&db).unwrap();
                conn.execute_batch("CREATE TABLE t (x); PRAGMA user_version = 99;")
                    .unwrap();
                query_runs(&db)
            },
            stderr: "schema version 99 is newer",
        },
        Case {
            name: "db of another program",
            setup: |d| {
                let db = d.join("other.db");
                let conn = rusqlite::Connection::open(&db).unwrap();
                conn.execute_batch(
                    "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x');",
                )
                .unwrap();
                query_runs(&db)
            },
            stderr: "another program",
        },
        Case {
            name: "db read-only, cleanup writes",
            setup: |d| {
                let db = real_database(d);
                let mut perms = std::fs::metadata(&db).unwrap().permissions();
                perms.set_readonly(true);
                std::fs::set_permissions(&db, perms).unwrap();
                cleanup(&db)
            },
            stderr: "read-only",
        },
        Case {
            name: "db is a directory",
            setup: |d| {
                let db = d.join("dir.db");
                std::fs::create_dir(&db).unwrap();
                query_runs(&db)
            },
            stderr: "is a directory",
        },
        Case {
            name: "db is a directory, cleanup",
            setup: |d| {
                let db = d.join("dir.db");
                std::fs::create_dir(&db).unwrap();
                cleanup(&db)
            },
            stderr: "is a directory",
        },
        Case {
            name: "db in a missing directory",
            setup: |d| query_runs(&d.join("no/such/dir/x.db")),
            stderr: "no such database",
        },
        Case {
            name: "db in a missing directory, cleanup",
            setup: |d| cleanup(&d.join("no/such/dir/x.db")),
            stderr: "no such database",
        },
        Case {
            name: "db missing for a reader",
            setup: |d| query_runs(&d.join("missing.db")),
            stderr: "no such database",
        },
        Case {
            name: "db missing but its WAL exists",
            setup: |d| {
                std::fs::write(d.join("lost.db-wal"), b"some wal bytes").unwrap();
                query_runs(&d.join("lost.db"))
            },
            stderr: "write-ahead log",
        },
        Case {
            name: "db missing but its WAL exists, cleanup",
            setup: |d| {
                std::fs::write(d.join("lost.db-wal"), b"some wal bytes").unwrap();
                cleanup(&d.join("lost.db"))
            },
            stderr: "write-ahead log",
        },
        Case {
            name: "db is an empty file, query",
            setup: |d| {
                let db = d.join("empty.db");
                std::fs::write(&db, b"").unwrap();
                query_runs(&db)
            },
            stderr: "empty file, not a multiagents database",
        },
        Case {
            name: "db is an empty file, dashboard",
            setup: |d| {
                let db = d.join("empty.db");
                std::fs::write(&db, b"").unwrap();
                args(&[&"--db", &db, &"dashboard", &"--once"])
            },
            stderr: "empty file, not a multiagents database",
        },
        Case {
            name: "db is an empty file, check",
            setup: |d| {
                let db = d.join("empty.db");
                std::fs::write(&db, b"").unwrap();
                args(&[&"--db", &db, &"check"])
            },
            stderr: "empty file, not a multiagents database",
        },
        Case {
            name: "db is /dev/null",
            setup: |_| query_runs(Path::new("/dev/null")),
            stderr: "not a regular file",
        },
        Case {
            name: "db is /dev/null, load-test",
            setup: |_| args(&[&"--db", &"/dev/null", &"load-test", &"--duration", &"1s"]),
            stderr: "not a regular file",
        },
        Case {
            name: "db of another program with user_version 1",
            setup: |d| {
                let db = d.join("other.db");
                let conn = rusqlite::Connection::open(&db).unwrap();
                conn.execute_batch(
                    "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x'); PRAGMA user_version = 1;",
                )
                .unwrap();
                query_runs(&db)
            },
            stderr: "another program",
        },
        Case {
            name: "db of another program with user_version 1, load-test",
            setup: |d| {
                let db = d.join("other.db");
                let conn = rusqlite::Connection::open(&db).unwrap();
                conn.execute_batch(
                    "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x'); PRAGMA user_version = 1;",
                )
                .unwrap();
                args(&[&"--db", &db, &"load-test", &"--duration", &"1s"])
            },
            stderr: "another program",
        },
        Case {
            name: "db corrupted in the middle, load-test",
            setup: |d| {
                let db = real_database(d);
                let mut bytes = std::fs::read(&db).unwrap();
                let middle = (bytes.len() / 2) / 4096 * 4096;
                for (i, b) in bytes[middle..middle + 4096].iter_mut().enumerate() {
                    *b = (i as u8).wrapping_mul(151).wrapping_add(7);
                }
                std::fs::write(&db, bytes).unwrap();
                args(&[&"--db", &db, &"load-test", &"--duration", &"1s"])
            },
            stderr: "the database is damaged",
        },
        Case {
            name: "db an empty SQLite database, query",
            setup: |d| {
                let db = d.join("blank.db");
                let conn = rusqlite::Connection::open(&db).unwrap();
                conn.execute_batch("PRAGMA user_version = 0; VACUUM;")
                    .unwrap();
                query_runs(&db)
            },
            stderr: "empty SQLite database",
        },
        Case {
            name: "db of an older schema, query",
            setup: |d| {
                let db = d.join("old.db");
                let conn = rusqlite::Connection::open(&db).unwrap();
                conn.execute_batch(multiagents::sql::migrations::M0001_INITIAL)
                    .unwrap();
                conn.execute_batch("PRAGMA user_version = 1;").unwrap();
                query_runs(&db)
            },
            stderr: "`multiagents upgrade`",
        },
        Case {
            name: "snapshot onto the database itself",
            setup: |d| {
                let db = real_database(d);
                args(&[&"--db", &db, &"snapshot", &db])
            },
            stderr: "refusing",
        },
        Case {
            name: "snapshot onto an existing file",
            setup: |d| {
                let db = real_database(d);
                let out = d.join("keep.txt");
                std::fs::write(&out, "mine").unwrap();
                args(&[&"--db", &db, &"snapshot", &out])
            },
            stderr: "already exists",
        },
        Case {
            name: "snapshot onto the database's -shm (absent)",
            setup: |d| {
                let db = real_database(d);
                args(&[&"--db", &db, &"snapshot", &d.join("real.db-shm")])
            },
            stderr: "-shm file of the database",
        },
        Case {
            name: "snapshot onto a FIFO",
            setup: |d| {
                let db = real_database(d);
                let fifo = d.join("pipe.db");
                let made = std::process::Command::new("mkfifo")
                    .arg(&fifo)
                    .status()
                    .unwrap();
                assert!(made.success());
                args(&[&"--db", &db, &"snapshot", &fifo])
            },
            stderr: "is a FIFO",
        },
        Case {
            name: "snapshot onto a dangling symlink",
            setup: |d| {
                let db = real_database(d);
                std::os::unix::fs::symlink(d.join("nowhere.db"), d.join("link.db")).unwrap();
                args(&[&"--db", &db, &"snapshot", &d.join("link.db")])
            },
            stderr: "is a symbolic link",
        },
        Case {
            name: "snapshot of a missing database",
            setup: |d| args(&[&"--db", &d.join("none.db"), &"snapshot", &d.join("out.db")]),
            stderr: "no such database",
        },
        Case {
            name: "upgrade of a missing database",
            setup: |d| args(&[&"--db", &d.join("none.db"), &"upgrade"]),
            stderr: "no such database",
        },
        Case {
            name: "check of a foreign database",
            setup: |d| {
                let db = d.join("other.db");
                let conn = rusqlite::Connection::open(&db).unwrap();
                conn.execute_batch("CREATE TABLE notes (body TEXT);")
                    .unwrap();
                args(&[&"--db", &db, &"check"])
            },
            stderr: "another program",
        },
        // --- command-line values ---
        Case {
            name: "cleanup --older-than with a bad unit",
            setup: |d| {
                args(&[
                    &"--db",
                    &real_database(d),
                    &"cleanup",
                    &"--older-than",
                    &"5x",
                ])
            },
            stderr: "invalid window \"5x\"",
        },
        Case {
            name: "cleanup --older-than=-1m",
            setup: |d| args(&[&"--db", &real_database(d), &"cleanup", &"--older-than=-1m"]),
            stderr: "must be positive",
        },
        Case {
            name: "cleanup --older-than -1m (looks like a flag)",
            setup: |d| {
                args(&[
                    &"--db",
                    &real_database(d),
                    &"cleanup",
                    &"--older-than",
                    &"-1m",
                ])
            },
            stderr: "invalid window \"-1m\": must be positive",
        },
        Case {
            name: "cleanup --older-than 0s",
            setup: |d| {
                args(&[
                    &"--db",
                    &real_database(d),
                    &"cleanup",
                    &"--older-than",
                    &"0s",
                ])
            },
            stderr: "must be positive",
        },
        Case {
            name: "cleanup --older-than without a unit",
            setup: |d| {
                args(&[
                    &"--db",
                    &real_database(d),
                    &"cleanup",
                    &"--older-than",
                    &"5",
                ])
            },
            stderr: "invalid window",
        },
        Case {
            name: "cleanup --older-than overflowing",
            setup: |d| {
                args(&[
                    &"--db",
                    &real_database(d),
                    &"cleanup",
                    &"--older-than",
                    &"99999999999999999999h",
                ])
            },
            stderr: "invalid window",
        },
        Case {
            name: "--log-level loud",
            setup: |d| {
                args(&[
                    &"--db",
                    &real_database(d),
                    &"--log-level",
                    &"loud",
                    &"query",
                    &"runs",
                ])
            },
            stderr: "unknown log level",
        },
        Case {
            name: "unknown subcommand",
            setup: |d| args(&[&"--db", &real_database(d), &"frobnicate"]),
            stderr: "frobnicate",
        },
        Case {
            name: "unknown query",
            setup: |d| args(&[&"--db", &real_database(d), &"query", &"nonsense"]),
            stderr: "nonsense",
        },
        Case {
            name: "no subcommand",
            setup: |d| args(&[&"--db", &real_database(d)]),
            stderr: "Usage",
        },
        Case {
            name: "query runs --limit abc",
            setup: |d| {
                args(&[
                    &"--db",
                    &real_database(d),
                    &"query",
                    &"runs",
                    &"--limit",
                    &"abc",
                ])
            },
            stderr: "--limit",
        },
        Case {
            name: "query runs --format xml",
            setup: |d| {
                args(&[
                    &"--db",
                    &real_database(d),
                    &"query",
                    &"runs",
                    &"--format",
                    &"xml",
                ])
            },
            stderr: "xml",
        },
        Case {
            name: "soak --concurrency 0",
            setup: |d| args(&[&"--db", &d.join("s.db"), &"soak", &"--concurrency", &"0"]),
            stderr: "--concurrency",
        },
        Case {
            name: "query events --window 5x",
            setup: |d| {
                args(&[
                    &"--db",
                    &real_database(d),
                    &"query",
                    &"events",
                    &"--window",
                    &"5x",
                ])
            },
            stderr: "invalid window \"5x\"",
        },
        Case {
            name: "query events --window -1m",
            setup: |d| {
                args(&[
                    &"--db",
                    &real_database(d),
                    &"query",
                    &"events",
                    &"--window",
                    &"-1m",
                ])
            },
            stderr: "must be positive",
        },
        Case {
            name: "query events --window 0s",
            setup: |d| {
                args(&[
                    &"--db",
                    &real_database(d),
                    &"query",
                    &"events",
                    &"--window",
                    &"0s",
                ])
            },
            stderr: "must be positive",
        },
        Case {
            name: "query events --until yesterday-ish",
            setup: |d| {
                args(&[
                    &"--db",
                    &real_database(d),
                    &"query",
                    &"events",
                    &"--until",
                    &"yesterday-ish",
                ])
            },
            stderr: "invalid time",
        },
        Case {
            name: "query worker nobody",
            setup: |d| args(&[&"--db", &real_database(d), &"query", &"worker", &"nobody"]),
            stderr: "unknown worker",
        },
        Case {
            name: "query errors --worker nobody",
            setup: |d| {
                args(&[
                    &"--db",
                    &real_database(d),
                    &"query",
                    &"errors",
                    &"--worker",
                    &"nobody",
                ])
            },
            stderr: "unknown worker",
        },
        Case {
            name: "query trace not-a-tx",
            setup: |d| args(&[&"--db", &real_database(d), &"query", &"trace", &"not-a-tx"]),
            stderr: "unknown transaction",
        },
        Case {
            name: "query events --run 999",
            setup: |d| {
                args(&[
                    &"--db",
                    &real_database(d),
                    &"query",
                    &"events",
                    &"--run",
                    &"999",
                ])
            },
            stderr: "unknown run id 999",
        },
        Case {
            name: "query events --run -3",
            setup: |d| {
                args(&[
                    &"--db",
                    &real_database(d),
                    &"query",
                    &"events",
                    &"--run",
                    &"-3",
                ])
            },
            stderr: "invalid run",
        },
        Case {
            name: "report --run 999",
            setup: |d| args(&[&"--db", &real_database(d), &"report", &"--run", &"999"]),
            stderr: "unknown run id 999",
        },
        Case {
            name: "compare with an unknown run",
            setup: |d| {
                args(&[
                    &"--db",
                    &real_database(d),
                    &"compare",
                    &"--base",
                    &"1",
                    &"--head",
                    &"999",
                ])
            },
            stderr: "unknown run id 999",
        },
        Case {
            name: "dashboard --refresh 0s",
            setup: |d| {
                args(&[
                    &"--db",
                    &real_database(d),
                    &"dashboard",
                    &"--once",
                    &"--refresh",
                    &"0s",
                ])
            },
            stderr: "must be positive",
        },
        Case {
            name: "load-test --rps 0",
            setup: |d| args(&[&"--db", &d.join("fresh.db"), &"load-test", &"--rps", &"0"]),
            stderr: "--rps",
        },
        Case {
            name: "load-test --concurrency 0",
            setup: |d| {
                args(&[
                    &"--db",
                    &d.join("fresh.db"),
                    &"load-test",
                    &"--concurrency",
                    &"0",
                ])
            },
            stderr: "--concurrency",
        },
        Case {
            name: "load-test --mix bogus",
            setup: |d| {
                args(&[
                    &"--db",
                    &d.join("fresh.db"),
                    &"load-test",
                    &"--mix",
                    &"bogus",
                ])
            },
            stderr: "bogus",
        },
        Case {
            name: "load-test --duration 5x",
            setup: |d| {
                args(&[
                    &"--db",
                    &d.join("fresh.db"),
                    &"load-test",
                    &"--duration",
                    &"5x",
                ])
            },
            stderr: "invalid window",
        },
        Case {
            name: "load-test --grace 5x",
            setup: |d| {
                args(&[
                    &"--db",
                    &d.join("fresh.db"),
                    &"load-test",
                    &"--grace",
                    &"5x",
                ])
            },
            stderr: "invalid window",
        },
        Case {
            name: "demo --grace=-1s",
            setup: |d| args(&[&"--db", &d.join("fresh.db"), &"demo", &"--grace=-1s"]),
            stderr: "must be positive",
        },
        Case {
            name: "load-test on a file whose run ids are used up",
            setup: |d| {
                let db = real_database(d);
                let conn = rusqlite::Connection::open(&db).unwrap();
                conn.execute(
                    "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'runs'",
                    [multiagents::store::lifecycle::MAX_RUN_ID],
                )
                .unwrap();
                drop(conn);
                args(&[&"--db", &db, &"load-test", &"--duration", &"1s"])
            },
            stderr: "maximum number of runs",
        },
        Case {
            name: "serve on a public address without --allow-remote",
            setup: |d| {
                args(&[
                    &"--db",
                    &d.join("fresh.db"),
                    &"serve",
                    &"--listen",
                    &"0.0.0.0:9464",
                ])
            },
            stderr: "--allow-remote",
        },
        // --- numeric options outside their documented ranges (issue 10.10) ---
        Case {
            name: "load-test --rps 1e-19 (used to panic in the scheduler)",
            setup: |d| {
                args(&[
                    &"--db",
                    &d.join("fresh.db"),
                    &"load-test",
                    &"--rps",
                    &"1e-19",
                ])
            },
            stderr: "must be from 0.001 to 1000000",
        },
        Case {
            name: "load-test --time-scale 1e300 (used to panic per workflow)",
            setup: |d| {
                args(&[
                    &"--db",
                    &d.join("fresh.db"),
                    &"load-test",
                    &"--time-scale",
                    &"1e300",
                ])
            },
            stderr: "must be from 0 to 1000",
        },
        Case {
            name: "load-test --rps NaN",
            setup: |d| args(&[&"--db", &d.join("fresh.db"), &"load-test", &"--rps", &"NaN"]),
            stderr: "--rps",
        },
        Case {
            name: "load-test --duration 400y",
            setup: |d| {
                args(&[
                    &"--db",
                    &d.join("fresh.db"),
                    &"load-test",
                    &"--duration",
                    &"400y",
                ])
            },
            stderr: "1ms to 30d",
        },
        Case {
            name: "load-test --drain-timeout beyond a Duration",
            setup: |d| {
                args(&[
                    &"--db",
                    &d.join("fresh.db"),
                    &"load-test",
                    &"--drain-timeout",
                    &"18446744073709551615s",
                ])
            },
            stderr: "--drain-timeout",
        },
        Case {
            name: "dashboard --refresh 1ns",
            setup: |d| {
                let db = real_database(d);
                args(&[&"--db", &db, &"dashboard", &"--once", &"--refresh", &"1ns"])
            },
            stderr: "100ms to 1h",
        },
        Case {
            name: "query runs --limit 0",
            setup: |d| query_runs_limit(d, "0"),
            stderr: "--limit",
        },
        Case {
            name: "query runs --limit -1 (no limit in SQLite)",
            setup: |d| query_runs_limit(d, "-1"),
            stderr: "--limit",
        },
        Case {
            name: "query runs --limit beyond i64",
            setup: |d| query_runs_limit(d, "99999999999999999999"),
            stderr: "--limit",
        },
        Case {
            name: "compare --threshold inf",
            setup: |d| {
                let db = real_database(d);
                args(&[
                    &"--db",
                    &db,
                    &"compare",
                    &"--base",
                    &"1",
                    &"--head",
                    &"1",
                    &"--threshold",
                    &"inf",
                ])
            },
            stderr: "must be from 0.001 to 100",
        },
        Case {
            name: "compare --p95-floor-ms NaN",
            setup: |d| {
                let db = real_database(d);
                args(&[
                    &"--db",
                    &db,
                    &"compare",
                    &"--base",
                    &"1",
                    &"--head",
                    &"1",
                    &"--p95-floor-ms",
                    &"NaN",
                ])
            },
            stderr: "--p95-floor-ms",
        },
        Case {
            name: "bench --producers 0 (a division by zero)",
            setup: |d| {
                args(&[
                    &"bench",
                    &"--quick",
                    &"--producers",
                    &"0",
                    &"--json-out",
                    &d.join("b.json"),
                ])
            },
            stderr: "--producers",
        },
        Case {
            name: "serve --refresh 0s",
            setup: |d| {
                let db = real_database(d);
                args(&[&"--db", &db, &"serve", &"--refresh", &"0s"])
            },
            stderr: "--refresh",
        },
        // --- output paths (issue 10.1): nothing we write over is lost ---
        Case {
            name: "logging.file_path is the database",
            setup: |d| {
                let db = real_database(d);
                let config = d.join("config.yaml");
                std::fs::write(
                    &config,
                    "logging:\n  default_logger: file\n  file_path: real.db\n",
                )
                .unwrap();
                args(&[&"--db", &db, &"--config", &config, &"query", &"runs"])
            },
            stderr: "logging.file_path: real.db is the database of this command",
        },
        Case {
            name: "logging.file_path is another SQLite database",
            setup: |d| {
                let db = real_database(d);
                let other = d.join("other.db");
                rusqlite::Connection::open(&other)
                    .unwrap()
                    .execute_batch("CREATE TABLE t(x);")
                    .unwrap();
                let config = d.join("config.yaml");
                std::fs::write(
                    &config,
                    "logging:\n  default_logger: composite\n  file_path: other.db\n",
                )
                .unwrap();
                args(&[&"--db", &db, &"--config", &config, &"query", &"runs"])
            },
            stderr: "is a SQLite database",
        },
        Case {
            name: "report --out the database itself",
            setup: |d| report_out(d, &d.join("real.db"), true),
            stderr: "is the database of this command",
        },
        Case {
            name: "report --out ./the database (another spelling)",
            setup: |d| report_out(d, Path::new("./real.db"), true),
            stderr: "is the database of this command",
        },
        Case {
            name: "report --out a hard link to the database",
            setup: |d| {
                let db = real_database(d);
                std::fs::hard_link(&db, d.join("alias")).unwrap();
                args(&[
                    &"--db",
                    &db,
                    &"report",
                    &"--out",
                    &d.join("alias"),
                    &"--force",
                ])
            },
            stderr: "is the database of this command",
        },
        Case {
            name: "report --out the database's -wal (absent)",
            setup: |d| report_out(d, &d.join("real.db-wal"), true),
            stderr: "-wal file of the database",
        },
        Case {
            name: "report --out the database's -shm (present)",
            setup: |d| {
                std::fs::write(d.join("real.db-shm"), b"not really shared memory").unwrap();
                report_out(d, &d.join("real.db-shm"), true)
            },
            stderr: "-shm file of the database",
        },
        Case {
            name: "report --out another SQLite database, even with --force",
            setup: |d| {
                let other = d.join("other.db");
                let conn = rusqlite::Connection::open(&other).unwrap();
                conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
                    .unwrap();
                drop(conn);
                report_out(d, &other, true)
            },
            stderr: "is a SQLite database",
        },
        Case {
            name: "report --out a symlink to a file",
            setup: |d| {
                std::fs::write(d.join("target.txt"), b"precious").unwrap();
                std::os::unix::fs::symlink(d.join("target.txt"), d.join("link.txt")).unwrap();
                report_out(d, &d.join("link.txt"), true)
            },
            stderr: "is a symbolic link",
        },
        Case {
            name: "report --out a FIFO",
            setup: |d| {
                let fifo = d.join("pipe");
                let made = std::process::Command::new("mkfifo")
                    .arg(&fifo)
                    .status()
                    .unwrap();
                assert!(made.success());
                report_out(d, &fifo, true)
            },
            stderr: "is a FIFO",
        },
        Case {
            name: "report --out a directory",
            setup: |d| {
                std::fs::create_dir(d.join("reports")).unwrap();
                report_out(d, &d.join("reports"), true)
            },
            stderr: "is a directory",
        },
        Case {
            name: "report --out a device",
            setup: |d| report_out(d, Path::new("/dev/null"), true),
            stderr: "is a device",
        },
        Case {
            name: "report --out a read-only file, even with --force",
            setup: |d| {
                let path = d.join("frozen.txt");
                std::fs::write(&path, b"keep me").unwrap();
                let mut perms = std::fs::metadata(&path).unwrap().permissions();
                perms.set_readonly(true);
                std::fs::set_permissions(&path, perms).unwrap();
                report_out(d, &path, true)
            },
            stderr: "is read-only",
        },
        Case {
            name: "report --out an existing file without --force",
            setup: |d| {
                std::fs::write(d.join("old.txt"), b"yesterday's report").unwrap();
                report_out(d, &d.join("old.txt"), false)
            },
            stderr: "already exists; pass --force",
        },
        Case {
            name: "report --force without --out",
            setup: |d| {
                let db = real_database(d);
                args(&[&"--db", &db, &"report", &"--force"])
            },
            stderr: "--out",
        },
        Case {
            name: "export prometheus --out the database",
            setup: |d| {
                let db = real_database(d);
                args(&[
                    &"--db",
                    &db,
                    &"export",
                    &"prometheus",
                    &"--out",
                    &db,
                    &"--force",
                ])
            },
            stderr: "is the database of this command",
        },
        Case {
            name: "export prometheus --out an existing file without --force",
            setup: |d| {
                let db = real_database(d);
                std::fs::write(d.join("metrics.prom"), b"# old scrape").unwrap();
                args(&[
                    &"--db",
                    &db,
                    &"export",
                    &"prometheus",
                    &"--out",
                    &d.join("metrics.prom"),
                ])
            },
            stderr: "already exists; pass --force",
        },
        Case {
            name: "bench --json-out a SQLite database",
            setup: |d| {
                let db = real_database(d);
                args(&[
                    &"bench",
                    &"--quick",
                    &"--only",
                    &"commits",
                    &"--json-out",
                    &db,
                    &"--force",
                ])
            },
            stderr: "is a SQLite database",
        },
        Case {
            name: "bench --json-out a file that is not earlier results",
            setup: |d| {
                std::fs::write(d.join("notes.json"), b"{\"mine\": true}").unwrap();
                args(&[
                    &"bench",
                    &"--quick",
                    &"--only",
                    &"commits",
                    &"--json-out",
                    &d.join("notes.json"),
                ])
            },
            stderr: "already exists; pass --force",
        },
    ]
}

/// `query runs --limit <limit>` on a real database.
fn query_runs_limit(dir: &Path, limit: &str) -> Vec<OsString> {
    let db = real_database(dir);
    args(&[&"--db", &db, &"query", &"runs", &format!("--limit={limit}")])
}

/// `--db real.db report --out <out>` (with `--force` if asked), on a real
/// multiagents database in `dir`.
fn report_out(dir: &Path, out: &Path, force: bool) -> Vec<OsString> {
    let db = real_database(dir);
    let mut list = args(&[&"--db", &db, &"report", &"--out", &out]);
    if force {
        list.push("--force".into());
    }
    list
}

/// Every regular file under `dir` with its bytes and permissions, every
/// directory, every symlink with its target, every other entry by kind
/// (never opened: reading a FIFO would block).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut found = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let kind = meta.file_type();
            if kind.is_dir() {
                found.insert(path.clone(), None);
                pending.push(path);
            } else if kind.is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                let mut bytes = b"symlink to ".to_vec();
                bytes.extend_from_slice(target.as_os_str().as_encoded_bytes());
                found.insert(path, Some(bytes));
            } else if kind.is_file() {
                let mut bytes = std::fs::read(&path).unwrap();
                bytes.extend_from_slice(
                    format!("\nmode {:o}", meta.permissions().mode()).as_bytes(),
                );
                found.insert(path, Some(bytes));
            } else {
                found.insert(path, Some(format!("special {kind:?}").into_bytes()));
            }
        }
    }
    found
}

fn is_sqlite_sidecar(path: &Path) -> bool {
    let name = path.to_string_lossy();
    name.ends_with("-wal") || name.ends_with("-shm")
}

#[test]
fn bad_command_line_input_fails_cleanly_and_touches_nothing() {
    let cases = cases();
    assert!(cases.len() >= 30, "the corpus shrank: {}", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let dir = tempfile::tempdir().unwrap();
        let args = (case.setup)(dir.path());
        let before = snapshot(dir.path());
        // The working directory is the case's dir, so a stray default file
        // (multiagents.db, logs/) would show up in the snapshot.
        let output = std::process::Command::new(BIN)
            .args(&args)
            .current_dir(dir.path())
            .env_remove("MULTIAGENTS_DB")
            .env_remove("MULTIAGENTS_CONFIG")
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let mut problems = Vec::new();
        if output.status.success() {
            problems.push(format!(
                "exited 0; stdout: {}",
                String::from_utf8_lossy(&output.stdout)
            ));
        }
        if !stderr.contains(case.stderr) {
            problems.push(format!("stderr lacks {:?}", case.stderr));
        }
        if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
            problems.push("panicked".to_string());
        }
        if stderr.lines().count() > 8 || stderr.len() > 1_000 {
            problems.push("stderr is not short".to_string());
        }
        let after = snapshot(dir.path());
        for (path, bytes) in &before {
            match after.get(path) {
                None => problems.push(format!("{} was deleted", path.display())),
                Some(now) if now != bytes => {
                    problems.push(format!("{} changed", path.display()));
                }
                Some(_) => {}
            }
        }
        for path in after.keys().filter(|p| !before.contains_key(*p)) {
            if !is_sqlite_sidecar(path) {
                problems.push(format!("{} was created", path.display()));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n    stderr: {stderr}",
                case.name,
                problems.join("; ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

// --- runtime: hostile workers and inputs, through the library ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_never_returns_is_stopped_at_its_timeout() {
    let db = support::temp_db();
    let (store, writer) = support::open(&db.path);
    let mut workers = WorkerRegistry::new();
    workers.register("hang", |_ctx: Context| std::future::pending());
    workers.register("noop", |_ctx: Context| async { Ok(json!({})) });
    let orch = Orchestrator::with_store(workers, store, writer);
    orch.register_workflow(
        WorkflowBuilder::new("hangs")
            .step("before", "noop")
            .step("forever", "hang")
            .timeout(Duration::from_millis(20))
            .step("never_reached", "noop")
            .build()
            .unwrap(),
    )
    .unwrap();
    let tx = orch.execute_workflow("hangs", json!({})).await.unwrap();
    let status = orch.wait(&tx).await.unwrap();
    assert_eq!(status.state, WorkflowState::Failed);
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    let rows: Vec<(String, String)> = conn
        .prepare(
            "SELECT step, status FROM executions WHERE transaction_id = ?1 ORDER BY execution_id",
        )
        .unwrap()
        .query_map([&tx], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [
            ("before".to_string(), "completed".to_string()),
            ("forever".to_string(), "timeout".to_string())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_megabyte_input_runs_and_only_its_size_is_stored() {
    const SIZE: usize = 10 * 1024 * 1024;
    let db = support::temp_db();
    let (store, writer) = support::open(&db.path);
    let mut workers = WorkerRegistry::new();
    workers.register("measure", |ctx: Context| async move {
        let len = ctx.get_str("blob").map_or(0, str::len);
        Ok(json!({ "len": len }))
    });
    let orch = Orchestrator::with_store(workers, store, writer.clone());
    orch.register_workflow(
        WorkflowBuilder::new("big")
            .step("one", "measure")
            .step("two", "measure")
            .build()
            .unwrap(),
    )
    .unwrap();
    let tx = orch
        .execute_workflow("big", json!({ "blob": "x".repeat(SIZE) }))
        .await
        .unwrap();
    let status = orch.wait(&tx).await.unwrap();
    assert_eq!(status.state, WorkflowState::Completed);
    assert_eq!(status.step_results["two"]["len"], SIZE);
    writer.shutdown().await.unwrap();
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    let input: i64 = conn
        .query_row(
            "SELECT input_size_bytes FROM workflows WHERE transaction_id = ?1",
            [&tx],
            |r| r.get(0),
        )
        .unwrap();
    assert!(input > SIZE as i64, "input size {input}");
    let smallest_payload: i64 = conn
        .query_row(
            "SELECT min(payload_size_bytes) FROM events e JOIN workflows w ON w.id = e.workflow_id WHERE w.transaction_id = ?1",
            [&tx],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        smallest_payload > SIZE as i64,
        "payload size {smallest_payload}"
    );
    // Sizes, not payloads: the file stays far smaller than the input.
    let file_bytes: i64 = conn
        .query_row(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        file_bytes < (SIZE / 10) as i64,
        "database holds {file_bytes} bytes"
    );
}
