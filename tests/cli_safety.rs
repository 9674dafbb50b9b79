//! The command line as a user (or a hostile script) meets it: private log
//! files, output files written whole, and every numeric option of every
//! command refusing what is out of its documented range without a panic.

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_multiagents");

fn multiagents(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("MULTIAGENTS_DB")
        .env_remove("MULTIAGENTS_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A real, closed multiagents database in `dir`.
fn database(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("m.db");
    let (_store, writer) = support::open(&path);
    writer.blocking_shutdown().unwrap();
    path
}

#[test]
fn log_files_and_their_new_directories_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "logging:\n  default_logger: file\n  level: debug\n  file_path: logs/deep/m.log\n",
    )
    .unwrap();
    let out = multiagents(
        dir.path(),
        &[
            "--db",
            db.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "query",
            "runs",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = dir.path().join("logs/deep/m.log");
    assert_eq!(mode(&log), 0o600, "log file");
    assert_eq!(mode(&dir.path().join("logs/deep")), 0o700, "log directory");
    assert_eq!(mode(&dir.path().join("logs")), 0o700, "its parent");
}

#[test]
fn export_prometheus_out_writes_a_whole_private_file_and_force_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let prom = dir.path().join("multiagents.prom");
    let export = |extra: &[&str]| {
        let mut args = vec![
            "--db",
            db.to_str().unwrap(),
            "export",
            "prometheus",
            "--out",
            prom.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        multiagents(dir.path(), &args)
    };
    let out = export(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "the exposition went to the file");
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(text.contains("# TYPE"), "{text}");
    assert_eq!(mode(&prom), 0o600);

    std::fs::write(&prom, "# previous scrape\n").unwrap();
    let out = export(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(&prom).unwrap(), b"# previous scrape\n");
    let out = export(&["--force"]);
    assert!(out.status.success());
    assert!(std::fs::read_to_string(&prom).unwrap().contains("# TYPE"));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("m.db"))
        .collect();
    assert_eq!(names, ["multiagents.prom"], "no temporary file left");
}

/// The binary at the ends of the documented ranges: it runs, exits 0 and
/// never panics (the parser-level property test is in src/cli/option_ranges.rs).
#[test]
fn the_extremes_of_every_range_run_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let db = db.to_str().unwrap();
    let runs: &[&[&str]] = &[
        // Slowest rate, longest sleeps: one start, reported unfinished.
        &[
            "load-test",
            "--rps",
            "0.001",
            "--duration",
            "50ms",
            "--time-scale",
            "1000",
            "--drain-timeout",
            "1ms",
            "--mix",
            "simple",
            "--seed",
            "18446744073709551615",
        ],
        // Fastest rate, most slots, shortest everything.
        &[
            "load-test",
            "--rps",
            "1000000",
            "--duration",
            "1ms",
            "--concurrency",
            "1000000",
            "--time-scale",
            "0",
            "--mix",
            "noop",
            "--drain-timeout",
            "30d",
            "--seed",
            "0",
        ],
        &["query", "events", "--window", "36500d"],
        &["query", "events", "--window", "1ms"],
        &["query", "runs", "--limit", "1000000"],
        &["query", "runs", "--limit", "1"],
        &["query", "events", "--run", "9223372036854775807"],
        &[
            "dashboard",
            "--once",
            "--window",
            "36500d",
            "--refresh",
            "1h",
        ],
        &["export", "prometheus", "--window", "36500d"],
        &["export", "prometheus", "--window", "1ms"],
        &[
            "compare",
            "--base",
            "1",
            "--head",
            "latest",
            "--threshold",
            "100",
            "--p95-floor-ms",
            "3600000",
        ],
        &[
            "compare",
            "--base",
            "1",
            "--head",
            "latest",
            "--threshold",
            "0.001",
            "--p95-floor-ms",
            "0",
        ],
        &["report", "--run", "1"],
        &["cleanup", "--older-than", "36500d"],
        &["cleanup", "--older-than", "1ms"],
    ];
    for args in runs {
        let mut argv = vec!["--db", db];
        argv.extend_from_slice(args);
        let out = multiagents(dir.path(), &argv);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        // A run id nobody has is a clean error; everything else works.
        if args.contains(&"9223372036854775807") {
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        } else {
            assert!(out.status.success(), "{args:?}: {stderr}");
        }
    }
}
