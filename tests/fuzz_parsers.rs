//! Fuzz-style property tests of the parsers that take user input: the YAML
//! configuration, `--window`/`--until`, and error-type extraction.
//!
//! These are the stable-toolchain counterpart of the `cargo fuzz` targets in
//! `fuzz/`. In CI they run a few hundred cases each; `scripts/fuzz.sh` runs
//! the ignored long versions (`PROPTEST_CASES=200000`) and prints how many
//! inputs each target ran without a crash.

use std::sync::atomic::{AtomicU64, Ordering};

use multiagents::config::MonitoringConfig;
use multiagents::window::{parse_time, parse_window};
use multiagents::worker::{MAX_ERROR_TYPE_LEN, error_type};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Keys and values the config generator combines: real keys (so inputs get
/// past the unknown-key check and into validation) and hostile values.
const SECTIONS: &[(&str, &[&str])] = &[
    (
        "logging",
        &[
            "default_logger",
            "level",
            "file_path",
            "max_file_size_mb",
            "backup_count",
            "json_format",
        ],
    ),
    (
        "event_monitoring",
        &[
            "enabled",
            "trace_retention_hours",
            "cleanup_interval_minutes",
            "track_payload_size",
            "detailed_timing",
        ],
    ),
    (
        "worker_monitoring",
        &[
            "enabled",
            "health_check_interval_seconds",
            "performance_window_minutes",
            "error_rate_threshold",
            "slow_execution_threshold_ms",
        ],
    ),
    (
        "metrics_collection",
        &[
            "enabled",
            "collection_interval_seconds",
            "retention_hours",
            "include_system_metrics",
            "custom_metrics",
        ],
    ),
    ("bogus", &["x"]),
];

const VALUES: &[&str] = &[
    "0",
    "-1",
    "1",
    "0.5",
    "1.5",
    "1e300",
    "-1e300",
    ".nan",
    ".inf",
    "-.inf",
    "true",
    "null",
    "~",
    "\"\"",
    "DEBUG",
    "composite",
    "console",
    "file",
    "[]",
    "{}",
    "[1, 2]",
    "18446744073709551616",
    "4294967296",
    "0x10",
    "'a: b'",
    "\"./x.log\"",
    "/",
    "\"\\u0000\"",
    "[{name: x, type: gauge}]",
    "[{name: x, type: gauge}, {name: x, type: counter}]",
    "[{name: '1bad', type: gauge}]",
    "&a 1",
    "*a",
    "!!binary aGk=",
    "|\n  block",
];

fn yaml_document() -> impl Strategy<Value = String> {
    let entry = (0..SECTIONS.len()).prop_flat_map(|s| {
        let (section, keys) = SECTIONS[s];
        (
            Just(section),
            proptest::sample::select(keys.to_vec()),
            proptest::sample::select(VALUES.to_vec()),
        )
    });
    proptest::collection::vec(entry, 0..8).prop_map(|entries| {
        let mut text = String::new();
        for (section, key, value) in entries {
            text.push_str(&format!("{section}:\n  {key}: {value}\n"));
        }
        text
    })
}

fn check_config(text: &str) -> Result<(), TestCaseError> {
    match MonitoringConfig::from_yaml_str(text, "fuzz.yaml") {
        Ok(config) => {
            prop_assert!(config.validate().is_ok());
            let again = MonitoringConfig::from_json(&config.to_json());
            prop_assert!(again.is_ok(), "{:?}", again);
            prop_assert_eq!(again.unwrap(), config);
        }
        Err(e) => {
            let message = e.to_string();
            prop_assert!(message.starts_with("fuzz.yaml"), "{}", message);
        }
    }
    Ok(())
}

fn check_window_and_time(text: &str) -> Result<(), TestCaseError> {
    match parse_window(text) {
        Ok(d) => {
            prop_assert!(!d.is_zero());
            prop_assert!(i64::try_from(d.as_micros()).is_ok());
        }
        Err(e) => {
            let quoted = format!("{text:?}");
            prop_assert!(e.to_string().contains(&quoted), "{}", e);
        }
    }
    if let Err(e) = parse_time(text) {
        let quoted = format!("{text:?}");
        prop_assert!(e.to_string().contains(&quoted), "{}", e);
    }
    Ok(())
}

fn check_error_type(message: &str) -> Result<(), TestCaseError> {
    let t = error_type(message);
    prop_assert!(t == "Error" || message.starts_with(t) || message.contains(t));
    prop_assert!(t.len() <= MAX_ERROR_TYPE_LEN);
    prop_assert!(!t.is_empty() && !t.contains(':') && !t.contains('\n'));
    prop_assert_eq!(t, t.trim());
    if let Some((prefix, _)) = message.split_once(':') {
        let prefix = prefix.trim();
        if !prefix.is_empty() && prefix.len() <= MAX_ERROR_TYPE_LEN && !prefix.contains('\n') {
            prop_assert_eq!(t, prefix);
        }
    }
    Ok(())
}

/// Inputs near the parsers' formats, plus arbitrary text.
fn window_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[-+ ]?[0-9]{0,25}(\\.[0-9]{0,5})?(ns|us|ms|s|m|h|d|w|M|y|x| )?([0-9]{1,3}[a-z]{1,2})?",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,12})?(Z|[+-][0-9]{2}:[0-9]{2})?",
        Just("now".to_string()),
    ]
}

fn error_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ \\t\\n]{0,3}[A-Za-z\\n ]{0,80}:[^\\n]{0,20}",
        "[:\\n ]{0,6}",
    ]
}

/// Runs `check` on `cases` inputs (PROPTEST_CASES overrides) and returns
/// how many ran.
fn run<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    check: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> u64 {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    let ran = AtomicU64::new(0);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |value| {
        ran.fetch_add(1, Ordering::Relaxed);
        check(value)
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    let ran = ran.load(Ordering::Relaxed);
    // Past the harness's capture, so scripts/fuzz.sh can collect the counts.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "fuzz {name}: {ran} inputs, no crash");
    ran
}

fn all_targets(cases: u32) {
    run("config_yaml (grammar)", cases, yaml_document(), |t| {
        check_config(&t)
    });
    run("config_yaml (any text)", cases, any::<String>(), |t| {
        check_config(&t)
    });
    run("window_time", cases, window_text(), |t| {
        check_window_and_time(&t)
    });
    run("error_type", cases, error_text(), |t| check_error_type(&t));
}

#[test]
fn parsers_survive_random_input() {
    all_targets(300);
}

/// The long run: `scripts/fuzz.sh`.
#[test]
#[ignore = "long; run by scripts/fuzz.sh"]
fn parsers_survive_random_input_long() {
    all_targets(200_000);
}
