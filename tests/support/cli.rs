//! Running the real `multiagents` binary from a test: only with the `cli`
//! feature, the one that builds the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// `multiagents --db DB`, ready for a subcommand.
pub fn multiagents(db: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_multiagents"));
    cmd.arg("--db").arg(db);
    cmd
}

/// The command's stdout, after asserting it exited 0 (both streams shown
/// when it did not).
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The stdout of `multiagents --db DB ARGS…`, which must succeed.
pub fn stdout(db: &Path, args: &[&str]) -> String {
    ok(multiagents(db)
        .args(args)
        .output()
        .expect("run multiagents"))
}

/// `multiagents --db DB ARGS… --format json`, parsed.
pub fn json_answer(db: &Path, args: &[&str]) -> Value {
    let out = multiagents(db)
        .args(args)
        .args(["--format", "json"])
        .output()
        .expect("run multiagents");
    serde_json::from_str(&ok(out)).expect("one JSON document")
}

/// A configuration that samples, checks health and evaluates alerts often,
/// so that a few seconds of recording leave rows of every kind.
pub fn fast_config(dir: &Path) -> PathBuf {
    let path = dir.join("fast.yaml");
    std::fs::write(
        &path,
        "worker_monitoring:\n  health_check_interval_seconds: 0.3\n  error_rate_threshold: 0.05\n\
         metrics_collection:\n  collection_interval_seconds: 0.2\n",
    )
    .expect("write the configuration");
    path
}

/// A load test of the seed's simple and error workflows at 30/s, 100×
/// faster than the seed's timings, reporting in JSON.
pub fn load_test(db: &Path, config: &Path, duration: &str) -> Command {
    let mut cmd = multiagents(db);
    cmd.arg("--config").arg(config).args([
        "load-test",
        "--duration",
        duration,
        "--rps",
        "30",
        "--mix",
        "simple,error",
        "--time-scale",
        "0.01",
        "--format",
        "json",
    ]);
    cmd
}
