//! `init_logging` end to end: composite output writes JSON lines to the file,
//! and a second initialisation is refused. Its own test binary, because the
//! global subscriber can be installed once per process.

use multiagents::config::{LogLevel, LoggerKind, LoggingConfig};
use multiagents::logging::{LoggingError, init_logging};

#[test]
fn composite_logging_writes_json_lines_and_refuses_a_second_init() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("logs").join("run.log");
    let config = LoggingConfig {
        default_logger: LoggerKind::Composite,
        level: LogLevel::Error,
        file_path: path.clone(),
        ..LoggingConfig::default()
    };
    // The override (as from --log-level) beats the configured `error`.
    let guard = init_logging(&config, Some(LogLevel::Info)).expect("first init");
    assert_eq!(guard.file_path(), Some(path.as_path()));
    tracing::info!(workflow = "simple_monitoring", "workflow started");
    tracing::debug!("below the level: not written");

    let second = init_logging(&config, None).expect_err("second init refused");
    assert!(
        matches!(second, LoggingError::AlreadyInitialized(_)),
        "{second}"
    );

    drop(guard);
    let text = std::fs::read_to_string(&path).expect("log file");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0]["fields"]["message"], "workflow started");
    assert_eq!(lines[0]["fields"]["workflow"], "simple_monitoring");
}
