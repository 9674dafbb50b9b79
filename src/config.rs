//! Monitoring configuration: the seed's YAML file, the same structure built in
//! code, and validation that names the file, the key and the reason.
//!
//! The YAML layout is the seed's (`examples/monitoring_config.yaml` parses
//! unchanged). Every field has a default, so a file only needs the keys it
//! wants to change. Unknown keys are rejected rather than ignored, because a
//! misspelt key that is silently ignored leaves the user believing a setting
//! is in force when it is not.
//!
//! Durations and intervals are plain numbers in the unit named by the key
//! (`_hours`, `_minutes`, `_seconds`, `_ms`), as in the seed. They are `f64`
//! so that fractional values (`health_check_interval_seconds: 0.5`, handy in
//! tests) work; the [`Duration`] accessors convert them.
//!
//! The [`Duration`] accessors never panic, even on values set in code and
//! never validated: such values are *clamped* — NaN, zero or negative becomes
//! 1 ms (so a ticker never gets a zero period), positive but below 1 ns
//! becomes 1 ns, and anything above [`MAX_DURATION`] becomes `MAX_DURATION`.
//! Validated configurations are never clamped.
//!
//! Rates: thresholds in this file are *fractions* (`0.2` means 20 %), while
//! the monitors print rates as percentages (0–100). Code comparing the two
//! must convert one side; see [`AlertsConfig::error_rate_threshold`].

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod key_path;

/// The longest duration any key may express: 100 years.
///
/// Retention windows are subtracted from "now" in integer microseconds by the
/// store; capping them far below `i64::MAX` microseconds keeps that arithmetic
/// safe, and no real deployment needs a longer interval. Values above this are
/// a typo (or an attempt at "forever") and are rejected with this limit named.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Source name used for errors from [`MonitoringConfig::validate`] when the
/// configuration was built in code rather than read from a file.
pub const IN_MEMORY_SOURCE: &str = "<in-memory config>";

/// Source name used for errors from [`MonitoringConfig::from_json`].
pub const JSON_SOURCE: &str = "<json config>";

/// Key shown when an error concerns the document as a whole (for example a
/// YAML list where a mapping was expected).
const ROOT_KEY: &str = "(top level)";

/// Why a configuration could not be read or was rejected.
///
/// Every variant's message is one line that starts with the source (file name
/// or a `<…>` marker for in-memory input) so the user knows which file to fix;
/// parse and validation errors also name the dotted key path
/// (`worker_monitoring.error_rate_threshold`).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (missing, unreadable, …).
    #[error("{source_name}: cannot read configuration file: {error}")]
    Read {
        /// The path as given by the user.
        source_name: String,
        /// The underlying I/O error.
        #[source]
        error: std::io::Error,
    },
    /// The path names a directory, not a file.
    #[error("{source_name}: is a directory, expected a YAML configuration file")]
    IsDirectory {
        /// The path as given by the user.
        source_name: String,
    },
    /// The file is not UTF-8 text (YAML must be).
    #[error(
        "{source_name}: not valid UTF-8 (first invalid byte at offset {valid_up_to}); \
         the configuration must be a UTF-8 YAML file"
    )]
    NotUtf8 {
        /// The path as given by the user.
        source_name: String,
        /// Byte offset of the first invalid byte.
        valid_up_to: usize,
    },
    /// The input holds no YAML document at all (empty, only comments, or
    /// only `null`).
    ///
    /// This is an error rather than "all defaults" on purpose: an empty file
    /// is far more often a truncated or wrongly generated file than a wish for
    /// defaults, and the defaults are available by not passing a file.
    #[error(
        "{source_name}: empty configuration: no YAML document found \
         (omit the configuration file to use the defaults)"
    )]
    Empty {
        /// The file name or `<…>` marker.
        source_name: String,
    },
    /// The YAML could not be parsed into the configuration structure: a
    /// syntax error, an unknown key, a value of the wrong type, an unknown
    /// enum value. `reason` is the YAML library's message, which includes the
    /// line and column.
    #[error("{source_name}: {key}: {reason}")]
    Parse {
        /// The file name or `<…>` marker.
        source_name: String,
        /// Dotted key path of the offending node (`(top level)` when the
        /// whole document is at fault).
        key: String,
        /// The parser's message (with line and column).
        reason: String,
    },
    /// A value parsed but is out of range (zero interval, threshold above 1,
    /// duplicate metric name, …).
    #[error("{source_name}: {key}: {reason}")]
    Invalid {
        /// The file name or `<…>` marker.
        source_name: String,
        /// Dotted key path of the offending value.
        key: String,
        /// What is wrong, with the value found.
        reason: String,
    },
}

impl ConfigError {
    /// The dotted key path the error is about, when it is about one key.
    ///
    /// Lets callers (and tests) match on the key without parsing the message.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Parse { key, .. } | ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Enumerations
// ---------------------------------------------------------------------------

/// Where log output goes (`logging.default_logger`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoggerKind {
    /// Human-readable lines on stderr. The default, because a library should
    /// not create files in the working directory unless asked to.
    #[default]
    Console,
    /// Lines (JSON by default) in `logging.file_path`, rotated by size.
    File,
    /// Both console and file; what the seed's examples use.
    Composite,
}

/// Minimum severity that is logged (`logging.level`).
///
/// Parsed case-insensitively so the seed's Python-style `"DEBUG"` works;
/// Python's `WARNING` and `CRITICAL` are accepted as `warn` and `error`.
/// Serialized in lowercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum LogLevel {
    /// Everything, including per-record internals.
    Trace,
    /// Verbose diagnostics (the seed's demo level).
    Debug,
    /// Normal operation messages. The default.
    #[default]
    Info,
    /// Something unexpected that the program recovered from.
    Warn,
    /// Failures.
    Error,
}

impl LogLevel {
    /// The accepted spellings, for error messages.
    const EXPECTED: &'static str = "trace, debug, info, warn, error (any case)";

    /// Lowercase name, as used in `RUST_LOG`-style filter directives.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }

    /// The matching `tracing` level.
    pub fn to_tracing(self) -> tracing::Level {
        match self {
            LogLevel::Trace => tracing::Level::TRACE,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Error => tracing::Level::ERROR,
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error from parsing a [`LogLevel`] (e.g. a `--log-level` flag).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown log level `{0}`, expected one of {expected}", expected = LogLevel::EXPECTED)]
pub struct ParseLogLevelError(pub String);

impl FromStr for LogLevel {
    type Err = ParseLogLevelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "trace" => Ok(LogLevel::Trace),
            "debug" => Ok(LogLevel::Debug),
            "info" => Ok(LogLevel::Info),
            "warn" | "warning" => Ok(LogLevel::Warn),
            "error" | "critical" => Ok(LogLevel::Error),
            _ => Err(ParseLogLevelError(s.to_owned())),
        }
    }
}

impl Serialize for LogLevel {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Kind of a custom metric (`metrics_collection.custom_metrics[].type`),
/// also what the store records with each observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    /// Monotonically increasing count; totals are sums of increments.
    Counter,
    /// Value that goes up and down (e.g. `workflow_completion_rate`); the
    /// latest one counts.
    Gauge,
    /// Distribution of observations (e.g. `average_step_duration`).
    Histogram,
}

impl MetricType {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
        }
    }
}

/// How serious an alert is (`alerts.notifiers[].min_severity`, and what
/// each alert carries). Ordered, so notifiers can take "this severity and
/// above".
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// For information only.
    Info,
    /// Needs attention.
    Warning,
    /// Needs action now.
    Critical,
}

impl Severity {
    /// The name stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// The severity named `text` (as stored), if any.
    pub fn parse(text: &str) -> Option<Severity> {
        match text {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Sections
// ---------------------------------------------------------------------------

/// The whole configuration: the seed's four sections plus `alerts`.
///
/// Build it from YAML ([`MonitoringConfig::load`],
/// [`MonitoringConfig::from_yaml_str`]), from the seed's programmatic JSON
/// form ([`MonitoringConfig::from_json`]), or in code from
/// `MonitoringConfig::default()` and the public fields — then call
/// [`MonitoringConfig::validate`], since code can set any value.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitoringConfig {
    /// Log output (console, file, both) and level.
    pub logging: LoggingConfig,
    /// Event lifecycle recording and its retention.
    pub event_monitoring: EventMonitoringConfig,
    /// Worker execution tracking, health checks and worker alerts.
    pub worker_monitoring: WorkerMonitoringConfig,
    /// System sampling and custom metrics.
    pub metrics_collection: MetricsCollectionConfig,
    /// System-wide alert thresholds (the seed's `MonitoringAlerts`).
    pub alerts: AlertsConfig,
    /// Where the database lives (not in the seed, whose store was Redis).
    pub storage: StorageConfig,
}

/// `storage:` — the SQLite file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// The database file. Default: none, so the command line's `--db`
    /// (default `multiagents.db`) decides; `--db` and `MULTIAGENTS_DB` win
    /// over this key.
    pub database_path: Option<PathBuf>,
}

/// `logging:` — where log lines go and how much is logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// Console, file or both. Default: `console` (see [`LoggerKind`]).
    pub default_logger: LoggerKind,
    /// Minimum level. Default: `info` (the seed's programmatic config; its
    /// YAML uses `DEBUG` "for demo").
    pub level: LogLevel,
    /// Log file for `file`/`composite`. Default: `./logs/multiagents.log`.
    /// Its directory is created when logging starts.
    #[serde(serialize_with = "serialize_path_lossy")]
    pub file_path: PathBuf,
    /// Rotate the file when it would exceed this many MiB (1 MiB = 1,048,576
    /// bytes). Must be at least 1. Default: 100 (the seed's value).
    pub max_file_size_mb: u64,
    /// Rotated files kept besides the live file (`name.1` newest …
    /// `name.N` oldest). `0` keeps none: on rotation the old content is
    /// discarded. Default: 3 (the seed's value).
    pub backup_count: u32,
    /// File lines as JSON objects (`true`) or plain text (`false`). The
    /// console is always human-readable. Default: `true` (the seed's value).
    pub json_format: bool,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            default_logger: LoggerKind::Console,
            level: LogLevel::Info,
            file_path: PathBuf::from("./logs/multiagents.log"),
            max_file_size_mb: 100,
            backup_count: 3,
            json_format: true,
        }
    }
}

impl LoggingConfig {
    /// `max_file_size_mb` in bytes, saturating (validation rejects values
    /// whose byte count overflows, so saturation only affects unvalidated
    /// configs).
    pub fn max_file_size_bytes(&self) -> u64 {
        self.max_file_size_mb.saturating_mul(BYTES_PER_MIB)
    }
}

const BYTES_PER_MIB: u64 = 1024 * 1024;

/// `event_monitoring:` — recording of every event's lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventMonitoringConfig {
    /// Record events at all. With `false` the orchestrator writes no
    /// `events` rows (no lifecycle, no traces, no per-worker executions —
    /// they are the same rows); workflows (transactions, their state and
    /// error) are still recorded, since status and `wait` answer from them.
    /// Worker monitoring and alerts are computed from the events, so
    /// `false` is refused unless `worker_monitoring.enabled` and
    /// `alerts.enabled` are `false` too. Default: `true`.
    pub enabled: bool,
    /// Raw event rows older than this are deleted by retention (rollups
    /// outlive them). Hours, > 0. Default: 2 (the seed's YAML).
    pub trace_retention_hours: f64,
    /// How often the retention job runs. Minutes, > 0. Default: 30 (seed).
    pub cleanup_interval_minutes: f64,
    /// Record each event's payload size (its input context) and result
    /// size in bytes, and each workflow's input size. With `false` they are
    /// stored as 0 (input) and NULL (result), and the JSON encoding that
    /// measures them is skipped. Default: `true` (seed).
    pub track_payload_size: bool,
    /// Record the intermediate stages of every event — `picked_up` and
    /// `processing` — besides dispatch and the end, so per-stage latency
    /// can be computed and traces show every stage. With `false` those two
    /// columns are NULL and traces show dispatch and end only; an
    /// execution's duration (the worker's own time) is still recorded.
    /// Default: `true` (seed).
    pub detailed_timing: bool,
    /// The seed's programmatic switch for per-event detail: `false` records
    /// each event's outcome only, which turns off both `detailed_timing` and
    /// `track_payload_size`. When read from YAML or JSON, those two then
    /// default to `false`, and setting either to `true` beside it is
    /// refused as a contradiction (also for values set in code, by
    /// [`MonitoringConfig::validate`]). Default: `true`.
    pub detailed_event_tracking: bool,
}

impl Default for EventMonitoringConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            trace_retention_hours: 2.0,
            cleanup_interval_minutes: 30.0,
            track_payload_size: true,
            detailed_timing: true,
            detailed_event_tracking: true,
        }
    }
}

impl EventMonitoringConfig {
    /// `trace_retention_hours` as a [`Duration`] (clamped).
    pub fn trace_retention(&self) -> Duration {
        clamped_duration(self.trace_retention_hours, Unit::Hours)
    }

    /// `cleanup_interval_minutes` as a [`Duration`] (clamped).
    pub fn cleanup_interval(&self) -> Duration {
        clamped_duration(self.cleanup_interval_minutes, Unit::Minutes)
    }
}

/// `worker_monitoring:` — per-worker performance, health and alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerMonitoringConfig {
    /// Evaluate every worker's health in the background (health changes
    /// are logged) and raise the worker alerts (`worker_failed`,
    /// `slow_worker`). Executions are recorded either way: they are the
    /// events of `event_monitoring`. Default: `true`.
    pub enabled: bool,
    /// How often every worker's health and the alert rules are evaluated.
    /// A worker with no execution ended in three intervals is `inactive`.
    /// Seconds, > 0. Default: 10 (seed).
    pub health_check_interval_seconds: f64,
    /// Window over which health and performance are computed. Minutes, > 0.
    /// Default: 30 (seed).
    pub performance_window_minutes: f64,
    /// Raise the critical `worker_failed` alert when a worker's error rate
    /// over the window exceeds `error_rate_threshold` (its health is then
    /// `failing`). Needs `enabled` and `alerts.enabled`. Default: `true`
    /// (seed).
    pub alert_on_high_error_rate: bool,
    /// A worker whose error rate over the window is above this *fraction*
    /// (0..=1; `0.2` = 20 %) is unhealthy. Monitors report rates as
    /// percentages, so compare `rate_percent / 100.0 > threshold`.
    /// Default: 0.2 (seed).
    pub error_rate_threshold: f64,
    /// An execution slower than this is "slow". Milliseconds, > 0.
    /// Default: 1000 (seed).
    pub slow_execution_threshold_ms: f64,
    /// Raise the `slow_worker` warning when a worker's p95 execution time
    /// over the window exceeds `slow_execution_threshold_ms` (the seed's
    /// programmatic `performance_alerts`). Independent of
    /// `alert_on_high_error_rate`. Needs `enabled` and `alerts.enabled`.
    /// Default: `true`.
    pub performance_alerts: bool,
}

impl Default for WorkerMonitoringConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            health_check_interval_seconds: 10.0,
            performance_window_minutes: 30.0,
            alert_on_high_error_rate: true,
            error_rate_threshold: 0.2,
            slow_execution_threshold_ms: 1000.0,
            performance_alerts: true,
        }
    }
}

impl WorkerMonitoringConfig {
    /// `health_check_interval_seconds` as a [`Duration`] (clamped).
    pub fn health_check_interval(&self) -> Duration {
        clamped_duration(self.health_check_interval_seconds, Unit::Seconds)
    }

    /// `performance_window_minutes` as a [`Duration`] (clamped).
    pub fn performance_window(&self) -> Duration {
        clamped_duration(self.performance_window_minutes, Unit::Minutes)
    }

    /// `slow_execution_threshold_ms` as a [`Duration`] (clamped).
    pub fn slow_execution_threshold(&self) -> Duration {
        clamped_duration(self.slow_execution_threshold_ms, Unit::Milliseconds)
    }
}

/// `metrics_collection:` — periodic system samples and custom metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsCollectionConfig {
    /// Collect metrics at all: with `false` no system samples are taken in
    /// the background or stored on demand, and custom-metric calls are
    /// checked but record nothing. Default: `true`.
    pub enabled: bool,
    /// Time between background system samples. Seconds, > 0; below
    /// 0.2 s it is raised to 0.2 s, the shortest interval over which CPU
    /// use can be measured. Default: 15 (seed).
    pub collection_interval_seconds: f64,
    /// Samples and custom-metric rows older than this are deleted. Hours,
    /// > 0. Default: 4 (seed).
    pub retention_hours: f64,
    /// Record system samples (machine CPU, memory and load, this process's
    /// CPU and memory, connections and workflows in flight), in the
    /// background and from on-demand `collect_system_metrics` calls. With
    /// `false` only custom metrics are recorded. Default: `true` (seed).
    pub include_system_metrics: bool,
    /// Custom metrics declared up front with their type (names must be
    /// unique and valid Prometheus metric names); recording one with
    /// another type is refused. Default: none.
    pub custom_metrics: Vec<CustomMetricConfig>,
}

impl Default for MetricsCollectionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            collection_interval_seconds: 15.0,
            retention_hours: 4.0,
            include_system_metrics: true,
            custom_metrics: Vec::new(),
        }
    }
}

impl MetricsCollectionConfig {
    /// `collection_interval_seconds` as a [`Duration`] (clamped).
    pub fn collection_interval(&self) -> Duration {
        clamped_duration(self.collection_interval_seconds, Unit::Seconds)
    }

    /// `retention_hours` as a [`Duration`] (clamped).
    pub fn retention(&self) -> Duration {
        clamped_duration(self.retention_hours, Unit::Hours)
    }
}

/// One entry of `metrics_collection.custom_metrics`.
///
/// Both keys are required: a metric without a name or kind cannot be
/// recorded or exported, so there is no meaningful default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomMetricConfig {
    /// Metric name, e.g. `workflow_completion_rate`; must match
    /// `[a-zA-Z_:][a-zA-Z0-9_:]*` so it can be exported to Prometheus as is.
    pub name: String,
    /// Counter, gauge or histogram (YAML key `type`).
    #[serde(rename = "type")]
    pub metric_type: MetricType,
    /// Upper bounds of a histogram's buckets in the Prometheus exposition,
    /// in the metric's own unit, strictly increasing and finite (`+Inf` is
    /// always added). Only for `type: histogram`. Default: Prometheus's
    /// default buckets (0.005 … 10), [`DEFAULT_HISTOGRAM_BUCKETS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<Vec<f64>>,
}

/// The buckets of a custom histogram without `buckets`: the Prometheus
/// client libraries' default (seconds-sized, 5 ms to 10 s).
pub const DEFAULT_HISTOGRAM_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl CustomMetricConfig {
    /// The bucket upper bounds to export this histogram with: its
    /// `buckets`, or [`DEFAULT_HISTOGRAM_BUCKETS`].
    pub fn histogram_buckets(&self) -> &[f64] {
        self.buckets.as_deref().unwrap_or(DEFAULT_HISTOGRAM_BUCKETS)
    }
}

/// `alerts:` — thresholds of the system-wide alert rules (the seed's
/// `MonitoringAlerts.check_alerts`). Not in the seed's YAML; added so the
/// seed's hard-coded thresholds can be changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Evaluate the alert rules at all, every
    /// `worker_monitoring.health_check_interval_seconds`: with `false` no
    /// alert fires, is stored or is notified. Default: `true`.
    pub enabled: bool,
    /// Alert when the event error rate over the window is above this
    /// *fraction* (0..=1). Default: 0.1.
    ///
    /// The seed writes `if event_metrics['error_rate'] > 0.1` although its
    /// `error_rate` is a percentage, so it fires at 0.1 % — a unit mix-up.
    /// We compare like with like: `error_rate_percent / 100.0 > 0.1`, i.e.
    /// the alert fires above 10 %, which is what the seed's comment
    /// (`# >10% error rate`) intends.
    pub error_rate_threshold: f64,
    /// Alert when the average dispatch-to-terminal latency is above this.
    /// Milliseconds, > 0. Default: 5000 (the seed's "> 5 s").
    pub latency_threshold_ms: f64,
    /// Where alerts are sent besides the log and the database, like
    /// Alertmanager's receivers. Default: none.
    pub notifiers: Vec<NotifierConfig>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            error_rate_threshold: 0.1,
            latency_threshold_ms: 5000.0,
            notifiers: Vec::new(),
        }
    }
}

/// The kind of an alert notifier (`alerts.notifiers[].type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifierKind {
    /// A line in the log: `error` for critical alerts, `warn` for others,
    /// `info` for resolutions (the seed's `send_critical_notification`
    /// printed them).
    Log,
    /// A program (`argv`, no shell) run with the alert as JSON on its stdin;
    /// it must exit 0 within `timeout_seconds`.
    Command,
    /// An HTTP POST of the alert as JSON to `url`; a connection failure, a
    /// timeout, a 429 or a 5xx answer is retried `retries` times with
    /// growing pauses, any other non-2xx answer is a failure at once.
    Webhook,
}

impl NotifierKind {
    fn as_str(self) -> &'static str {
        match self {
            NotifierKind::Log => "log",
            NotifierKind::Command => "command",
            NotifierKind::Webhook => "webhook",
        }
    }
}

/// One entry of `alerts.notifiers`: where alerts of `min_severity` and above
/// are sent. Keys that do not apply to the `type` are refused rather than
/// ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifierConfig {
    /// `log`, `command` or `webhook` (YAML key `type`).
    #[serde(rename = "type")]
    pub kind: NotifierKind,
    /// The least severe alert sent: `info`, `warning` or `critical`.
    /// Default: `critical`, as the seed notified critical alerts only.
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
    /// Also send resolutions (the alert with `status: resolved`), as
    /// Alertmanager's `send_resolved`. Default: `true`.
    #[serde(default = "default_true")]
    pub send_resolved: bool,
    /// `command` only: the program and its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<String>,
    /// `webhook` only: the `http://` or `https://` URL to POST to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `command` and `webhook`: how long one attempt may take. Seconds,
    /// > 0. Default: 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<f64>,
    /// `webhook` only: further attempts after a failed one (0–10).
    /// Default: 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
}

/// Default of `timeout_seconds` for notifiers.
pub const DEFAULT_NOTIFIER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of `retries` for webhooks.
pub const DEFAULT_WEBHOOK_RETRIES: u32 = 3;
/// Most `retries` a webhook may have: with growing pauses, more would hold
/// an alert back for minutes.
pub const MAX_WEBHOOK_RETRIES: u32 = 10;

fn default_min_severity() -> Severity {
    Severity::Critical
}

fn default_true() -> bool {
    true
}

impl NotifierConfig {
    /// A notifier of `kind` with the defaults and nothing else set.
    pub fn new(kind: NotifierKind) -> Self {
        NotifierConfig {
            kind,
            min_severity: default_min_severity(),
            send_resolved: true,
            argv: Vec::new(),
            url: None,
            timeout_seconds: None,
            retries: None,
        }
    }

    /// `timeout_seconds` as a [`Duration`] (clamped), or the default.
    pub fn timeout(&self) -> Duration {
        self.timeout_seconds.map_or(DEFAULT_NOTIFIER_TIMEOUT, |t| {
            clamped_duration(t, Unit::Seconds)
        })
    }

    /// `retries`, or the default.
    pub fn retries(&self) -> u32 {
        self.retries
            .unwrap_or(DEFAULT_WEBHOOK_RETRIES)
            .min(MAX_WEBHOOK_RETRIES)
    }

    /// The URL without what may be a secret (path, query, user info): for
    /// logs and for the configuration stored with each run.
    pub fn redacted_url(&self) -> Option<String> {
        self.url.as_deref().map(redact_url)
    }

    fn validate(&self, key: &str) -> Result<(), (String, String)> {
        let kind = self.kind.as_str();
        let only = |field: &str, for_kind: &str| {
            (
                format!("{key}.{field}"),
                format!("applies to type {for_kind} only, not {kind}"),
            )
        };
        if self.kind != NotifierKind::Command && !self.argv.is_empty() {
            return Err(only("argv", "command"));
        }
        if self.kind != NotifierKind::Webhook {
            if self.url.is_some() {
                return Err(only("url", "webhook"));
            }
            if self.retries.is_some() {
                return Err(only("retries", "webhook"));
            }
        }
        if self.kind == NotifierKind::Log && self.timeout_seconds.is_some() {
            return Err(only("timeout_seconds", "command and webhook"));
        }
        if let Some(t) = self.timeout_seconds {
            checked_duration(t, Unit::Seconds)
                .map_err(|reason| (format!("{key}.timeout_seconds"), reason))?;
        }
        match self.kind {
            NotifierKind::Log => {}
            NotifierKind::Command => {
                if self.argv.first().is_none_or(|p| p.is_empty()) {
                    return Err((
                        format!("{key}.argv"),
                        "a command notifier needs argv: the program and its arguments, \
                         e.g. [\"/usr/local/bin/page-oncall\", \"--team\", \"ops\"]"
                            .to_owned(),
                    ));
                }
            }
            NotifierKind::Webhook => {
                let url = self.url.as_deref().unwrap_or("");
                if !is_plausible_http_url(url) {
                    return Err((
                        format!("{key}.url"),
                        if url.is_empty() {
                            "a webhook notifier needs url: the http:// or https:// address \
                             to POST alerts to"
                                .to_owned()
                        } else {
                            format!(
                                "must be an http:// or https:// URL with a host, got {:?}",
                                redact_url(url)
                            )
                        },
                    ));
                }
                if let Some(n) = self.retries
                    && n > MAX_WEBHOOK_RETRIES
                {
                    return Err((
                        format!("{key}.retries"),
                        format!("must be at most {MAX_WEBHOOK_RETRIES}, got {n}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `http://host…` or `https://host…` with a non-empty host and no spaces or
/// control characters. The HTTP client checks the rest when sending.
fn is_plausible_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(rest) => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            let host = authority.rsplit('@').next().unwrap_or("");
            !host.is_empty()
                && !host.starts_with(':')
                && !url.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

/// `scheme://host[:port]` of a URL, the rest replaced by `/…` (webhook URLs
/// often carry their secret in the path or query, as Slack's do).
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<not a URL>".to_owned();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    if rest.len() > authority.len() || host.len() < authority.len() {
        format!("{scheme}://{host}/…")
    } else {
        format!("{scheme}://{host}")
    }
}

impl AlertsConfig {
    /// `latency_threshold_ms` as a [`Duration`] (clamped).
    pub fn latency_threshold(&self) -> Duration {
        clamped_duration(self.latency_threshold_ms, Unit::Milliseconds)
    }
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

impl MonitoringConfig {
    /// Read and validate a YAML configuration file.
    ///
    /// The file is read as bytes first so that a non-UTF-8 file gets its own
    /// clear error instead of a confusing parse error. Errors name `path` as
    /// given.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let source_name = path.display().to_string();
        // Check for a directory before reading: reading one fails with an
        // OS-specific message ("Is a directory") that is less clear.
        if path.is_dir() {
            return Err(ConfigError::IsDirectory { source_name });
        }
        let bytes = std::fs::read(path).map_err(|error| ConfigError::Read {
            source_name: source_name.clone(),
            error,
        })?;
        let text = std::str::from_utf8(&bytes).map_err(|e| ConfigError::NotUtf8 {
            source_name: source_name.clone(),
            valid_up_to: e.valid_up_to(),
        })?;
        Self::from_yaml_str(text, &source_name)
    }

    /// Parse and validate YAML text. `source_name` (usually the file path)
    /// prefixes every error message.
    pub fn from_yaml_str(text: &str, source_name: &str) -> Result<Self, ConfigError> {
        // `Option` so that an input with no document (empty, comments only,
        // `null`) is told apart from a document that sets nothing.
        let parsed: Option<Self> = key_path::from_str_with_path(text)
            .map_err(|(err, key)| parse_error(source_name, &err, key))?;
        let mut config = parsed.ok_or_else(|| ConfigError::Empty {
            source_name: source_name.to_owned(),
        })?;
        config.apply_detail_switch(text, source_name)?;
        config.validate_as(source_name)?;
        Ok(config)
    }

    /// `event_monitoring.detailed_event_tracking: false` turns off the two
    /// detail keys it covers unless the text sets them; a text that sets
    /// one to `true` beside it contradicts itself and is refused.
    ///
    /// Needs the text because only the text tells "left out" (follow the
    /// switch) from "set to the default" (a contradiction).
    fn apply_detail_switch(&mut self, text: &str, source_name: &str) -> Result<(), ConfigError> {
        if self.event_monitoring.detailed_event_tracking {
            return Ok(());
        }
        // Which detail keys the text sets; it parsed as a whole already, so
        // this lenient second reading (unknown keys ignored) succeeds too.
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Explicit {
            event_monitoring: ExplicitEvents,
        }
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct ExplicitEvents {
            detailed_timing: Option<bool>,
            track_payload_size: Option<bool>,
        }
        let explicit = serde_saphyr::from_str::<Option<Explicit>>(text)
            .ok()
            .flatten()
            .unwrap_or_default()
            .event_monitoring;
        let events = &mut self.event_monitoring;
        for (key, set, value) in [
            (
                "event_monitoring.detailed_timing",
                explicit.detailed_timing,
                &mut events.detailed_timing,
            ),
            (
                "event_monitoring.track_payload_size",
                explicit.track_payload_size,
                &mut events.track_payload_size,
            ),
        ] {
            match set {
                Some(true) => return Err(detail_contradiction(source_name, key)),
                Some(false) => {}
                None => *value = false,
            }
        }
        Ok(())
    }

    /// Build from the seed's programmatic form (a JSON object with the same
    /// sections as the YAML), then validate.
    ///
    /// JSON is valid YAML, so the value goes through the YAML path and gets
    /// the same key-path error messages.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, ConfigError> {
        let text = serde_json::to_string_pretty(value).map_err(|e| ConfigError::Parse {
            source_name: JSON_SOURCE.to_owned(),
            key: ROOT_KEY.to_owned(),
            reason: e.to_string(),
        })?;
        Self::from_yaml_str(&text, JSON_SOURCE)
    }

    /// Check every value's range; for configurations built in code.
    ///
    /// Loading functions call this already. Errors carry
    /// [`IN_MEMORY_SOURCE`] as their source.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_as(IN_MEMORY_SOURCE)
    }

    /// The configuration as JSON, for storing in the `runs` table.
    ///
    /// Includes every field (defaults too), so a stored run says exactly
    /// what it ran with — except the path and query of webhook URLs, which
    /// are redacted. Non-finite numbers (only possible in unvalidated
    /// configs) become `null`.
    pub fn to_json(&self) -> serde_json::Value {
        // Serialization of these plain structs cannot fail: paths are
        // serialized lossily and maps have string keys. Keep a visible
        // marker rather than panicking should that ever change.
        let mut stored = self.clone();
        // A webhook URL often is the secret (Slack's are): keep the host.
        for notifier in &mut stored.alerts.notifiers {
            notifier.url = notifier.redacted_url();
        }
        serde_json::to_value(stored)
            .unwrap_or_else(|e| serde_json::json!({ "serialization_error": e.to_string() }))
    }

    /// How often worker health is checked.
    pub fn health_check_interval(&self) -> Duration {
        self.worker_monitoring.health_check_interval()
    }

    /// How often system metrics are sampled.
    pub fn collection_interval(&self) -> Duration {
        self.metrics_collection.collection_interval()
    }

    /// How often the retention job runs.
    pub fn cleanup_interval(&self) -> Duration {
        self.event_monitoring.cleanup_interval()
    }

    /// Age after which raw event/execution rows are deleted.
    pub fn trace_retention(&self) -> Duration {
        self.event_monitoring.trace_retention()
    }

    /// Age after which system samples and custom-metric rows are deleted.
    pub fn metrics_retention(&self) -> Duration {
        self.metrics_collection.retention()
    }

    /// Window for worker performance and health.
    pub fn performance_window(&self) -> Duration {
        self.worker_monitoring.performance_window()
    }

    /// Duration above which an execution counts as slow.
    pub fn slow_execution_threshold(&self) -> Duration {
        self.worker_monitoring.slow_execution_threshold()
    }

    /// Average latency above which the high-latency alert fires.
    pub fn latency_threshold(&self) -> Duration {
        self.alerts.latency_threshold()
    }

    /// Whether system samples are recorded (background and on demand):
    /// `metrics_collection.enabled` and `include_system_metrics`.
    pub fn records_system_samples(&self) -> bool {
        self.metrics_collection.enabled && self.metrics_collection.include_system_metrics
    }

    /// Whether the periodic check (worker health, alert rules) runs: it is
    /// needed by either worker monitoring or alerts.
    pub fn runs_periodic_checks(&self) -> bool {
        self.worker_monitoring.enabled || self.alerts.enabled
    }

    fn validate_as(&self, source_name: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            source_name: source_name.to_owned(),
            key: key.to_owned(),
            reason,
        };
        let check_duration = |key: &str, value: f64, unit: Unit| {
            checked_duration(value, unit)
                .map(|_| ())
                .map_err(|reason| invalid(key, reason))
        };
        let check_fraction = |key: &str, value: f64| {
            if value.is_finite() && (0.0..=1.0).contains(&value) {
                Ok(())
            } else {
                Err(invalid(
                    key,
                    format!(
                        "must be between 0 and 1 (a fraction: 0.2 means 20 %), got {}",
                        fmt_num(value)
                    ),
                ))
            }
        };

        let logging = &self.logging;
        if logging.file_path.as_os_str().is_empty() {
            return Err(invalid("logging.file_path", "must not be empty".to_owned()));
        }
        if logging.file_path.file_name().is_none() {
            return Err(invalid(
                "logging.file_path",
                format!(
                    "must name a file, got {:?}",
                    logging.file_path.display().to_string()
                ),
            ));
        }
        if logging.max_file_size_mb == 0 {
            return Err(invalid(
                "logging.max_file_size_mb",
                "must be at least 1, got 0".to_owned(),
            ));
        }
        if logging
            .max_file_size_mb
            .checked_mul(BYTES_PER_MIB)
            .is_none()
        {
            return Err(invalid(
                "logging.max_file_size_mb",
                format!(
                    "too large: {} MiB does not fit in a 64-bit byte count",
                    logging.max_file_size_mb
                ),
            ));
        }

        let events = &self.event_monitoring;
        check_duration(
            "event_monitoring.trace_retention_hours",
            events.trace_retention_hours,
            Unit::Hours,
        )?;
        check_duration(
            "event_monitoring.cleanup_interval_minutes",
            events.cleanup_interval_minutes,
            Unit::Minutes,
        )?;

        if !events.detailed_event_tracking {
            if events.detailed_timing {
                return Err(detail_contradiction(
                    source_name,
                    "event_monitoring.detailed_timing",
                ));
            }
            if events.track_payload_size {
                return Err(detail_contradiction(
                    source_name,
                    "event_monitoring.track_payload_size",
                ));
            }
        }
        if !events.enabled {
            let readers: Vec<&str> = [
                ("worker_monitoring.enabled", self.worker_monitoring.enabled),
                ("alerts.enabled", self.alerts.enabled),
            ]
            .into_iter()
            .filter_map(|(key, on)| on.then_some(key))
            .collect();
            if !readers.is_empty() {
                return Err(invalid(
                    "event_monitoring.enabled",
                    format!(
                        "false leaves worker monitoring and alerts nothing to read (both are \
                         computed from the recorded events); also set {} to false",
                        readers.join(" and ")
                    ),
                ));
            }
        }

        let workers = &self.worker_monitoring;
        check_duration(
            "worker_monitoring.health_check_interval_seconds",
            workers.health_check_interval_seconds,
            Unit::Seconds,
        )?;
        check_duration(
            "worker_monitoring.performance_window_minutes",
            workers.performance_window_minutes,
            Unit::Minutes,
        )?;
        check_fraction(
            "worker_monitoring.error_rate_threshold",
            workers.error_rate_threshold,
        )?;
        check_duration(
            "worker_monitoring.slow_execution_threshold_ms",
            workers.slow_execution_threshold_ms,
            Unit::Milliseconds,
        )?;

        let metrics = &self.metrics_collection;
        check_duration(
            "metrics_collection.collection_interval_seconds",
            metrics.collection_interval_seconds,
            Unit::Seconds,
        )?;
        check_duration(
            "metrics_collection.retention_hours",
            metrics.retention_hours,
            Unit::Hours,
        )?;
        let mut seen = HashSet::new();
        for (index, metric) in metrics.custom_metrics.iter().enumerate() {
            let key = format!("metrics_collection.custom_metrics[{index}].name");
            if !is_valid_metric_name(&metric.name) {
                return Err(invalid(
                    &key,
                    format!(
                        "invalid metric name {:?}: use letters, digits, '_' and ':', \
                         not starting with a digit",
                        metric.name
                    ),
                ));
            }
            if !seen.insert(metric.name.as_str()) {
                return Err(invalid(
                    &key,
                    format!("duplicate metric name {:?}", metric.name),
                ));
            }
            if let Some(buckets) = &metric.buckets {
                let key = format!("metrics_collection.custom_metrics[{index}].buckets");
                if metric.metric_type != MetricType::Histogram {
                    return Err(invalid(
                        &key,
                        "buckets are only for type: histogram".to_owned(),
                    ));
                }
                if buckets.is_empty()
                    || buckets.iter().any(|b| !b.is_finite())
                    || buckets.windows(2).any(|w| w[0] >= w[1])
                {
                    return Err(invalid(
                        &key,
                        format!(
                            "{buckets:?}: give at least one finite bound, strictly increasing \
                             (+Inf is always added)"
                        ),
                    ));
                }
            }
        }

        check_fraction(
            "alerts.error_rate_threshold",
            self.alerts.error_rate_threshold,
        )?;
        check_duration(
            "alerts.latency_threshold_ms",
            self.alerts.latency_threshold_ms,
            Unit::Milliseconds,
        )?;
        for (index, notifier) in self.alerts.notifiers.iter().enumerate() {
            notifier
                .validate(&format!("alerts.notifiers[{index}]"))
                .map_err(|(key, reason)| invalid(&key, reason))?;
        }
        Ok(())
    }
}

/// The error for a detail key set to `true` beside
/// `detailed_event_tracking: false`.
fn detail_contradiction(source_name: &str, key: &str) -> ConfigError {
    ConfigError::Invalid {
        source_name: source_name.to_owned(),
        key: key.to_owned(),
        reason: "true contradicts event_monitoring.detailed_event_tracking: false, which \
                 turns off detailed_timing and track_payload_size; remove one of the two"
            .to_owned(),
    }
}

// ---------------------------------------------------------------------------
// Numbers and durations
// ---------------------------------------------------------------------------

/// The unit a numeric key is written in.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Milliseconds,
    Seconds,
    Minutes,
    Hours,
}

impl Unit {
    fn seconds(self) -> f64 {
        match self {
            Unit::Milliseconds => 0.001,
            Unit::Seconds => 1.0,
            Unit::Minutes => 60.0,
            Unit::Hours => 3600.0,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Unit::Milliseconds => "milliseconds",
            Unit::Seconds => "seconds",
            Unit::Minutes => "minutes",
            Unit::Hours => "hours",
        }
    }
}

/// Convert `value` (in `unit`) to a positive [`Duration`] no longer than
/// [`MAX_DURATION`], or say why not.
fn checked_duration(value: f64, unit: Unit) -> Result<Duration, String> {
    if !value.is_finite() {
        return Err(format!("must be a finite number, got {}", fmt_num(value)));
    }
    if value <= 0.0 {
        return Err(format!("must be greater than 0, got {}", fmt_num(value)));
    }
    let max_in_unit = MAX_DURATION.as_secs_f64() / unit.seconds();
    if value > max_in_unit {
        return Err(format!(
            "too large: at most {} {} (100 years), got {}",
            fmt_num(max_in_unit),
            unit.name(),
            fmt_num(value)
        ));
    }
    match Duration::try_from_secs_f64(value * unit.seconds()) {
        Ok(d) if !d.is_zero() => Ok(d),
        // Positive but below one nanosecond: would act as a zero interval.
        Ok(_) => Err(format!("too small: rounds to zero, got {}", fmt_num(value))),
        Err(e) => Err(format!(
            "not a valid duration ({e}), got {}",
            fmt_num(value)
        )),
    }
}

/// Accessor conversion that never panics: values that validation would
/// reject are clamped into the valid range, as described in the module docs.
fn clamped_duration(value: f64, unit: Unit) -> Duration {
    match checked_duration(value, unit) {
        Ok(d) => d,
        Err(_) if value.is_finite() && value > 0.0 => {
            if value * unit.seconds() > 1.0 {
                MAX_DURATION
            } else {
                Duration::from_nanos(1)
            }
        }
        Err(_) if value == f64::INFINITY => MAX_DURATION,
        Err(_) => Duration::from_millis(1),
    }
}

/// Show a number as the user would write it: plain for ordinary values,
/// scientific for very large or very small ones (so `1e300` is not printed
/// as 301 digits).
fn fmt_num(value: f64) -> String {
    let magnitude = value.abs();
    if value.is_finite() && magnitude != 0.0 && !(1e-6..1e15).contains(&magnitude) {
        format!("{value:e}")
    } else {
        format!("{value}")
    }
}

/// Prometheus metric name rule: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn serialize_path_lossy<S: Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&path.to_string_lossy())
}

// ---------------------------------------------------------------------------
// Parse errors
// ---------------------------------------------------------------------------

/// Turn a serde-saphyr error into a [`ConfigError::Parse`] naming the
/// dotted key path serde was reading when it failed (see [`key_path`]), or
/// the top level when the error concerns the document as a whole.
fn parse_error(source_name: &str, err: &serde_saphyr::Error, key: Option<String>) -> ConfigError {
    ConfigError::Parse {
        source_name: source_name.to_owned(),
        key: key.unwrap_or_else(|| ROOT_KEY.to_owned()),
        reason: err.without_snippet().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_YAML: &str = include_str!("../examples/monitoring_config.yaml");

    /// Parse `yaml` as `bad.yaml`, expect an error, and check that its
    /// one-line message names the file and contains every `needle`.
    fn rejects(yaml: &str, needles: &[&str]) -> ConfigError {
        let err = MonitoringConfig::from_yaml_str(yaml, "bad.yaml")
            .expect_err("configuration should be rejected");
        let msg = err.to_string();
        assert!(msg.starts_with("bad.yaml: "), "no file name in: {msg}");
        assert!(!msg.contains('\n'), "not one line: {msg}");
        for needle in needles {
            assert!(msg.contains(needle), "{needle:?} missing from: {msg}");
        }
        err
    }

    #[test]
    fn seed_example_parses_unchanged() {
        let config = MonitoringConfig::from_yaml_str(SEED_YAML, "examples/monitoring_config.yaml")
            .expect("seed config parses");
        assert_eq!(config.logging.level, LogLevel::Debug);
        assert_eq!(config.logging.default_logger, LoggerKind::Composite);
        assert_eq!(
            config.logging.file_path,
            PathBuf::from("./logs/monitoring_demo.log")
        );
        assert_eq!(config.logging.max_file_size_mb, 100);
        assert_eq!(config.logging.backup_count, 3);
        assert_eq!(config.worker_monitoring.error_rate_threshold, 0.2);
        assert_eq!(config.health_check_interval(), Duration::from_secs(10));
        assert_eq!(config.collection_interval(), Duration::from_secs(15));
        assert_eq!(config.cleanup_interval(), Duration::from_secs(30 * 60));
        assert_eq!(config.trace_retention(), Duration::from_secs(2 * 3600));
        assert_eq!(config.metrics_retention(), Duration::from_secs(4 * 3600));
        assert_eq!(
            config.metrics_collection.custom_metrics,
            vec![
                CustomMetricConfig {
                    name: "workflow_completion_rate".into(),
                    metric_type: MetricType::Gauge,
                    buckets: None,
                },
                CustomMetricConfig {
                    name: "average_step_duration".into(),
                    metric_type: MetricType::Histogram,
                    buckets: None,
                },
            ]
        );
        // Keys the seed's YAML leaves out keep their defaults.
        assert_eq!(config.alerts, AlertsConfig::default());
    }

    #[test]
    fn seed_example_loads_from_disk() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/monitoring_config.yaml");
        let config = MonitoringConfig::load(&path).expect("loads");
        assert_eq!(config.logging.level, LogLevel::Debug);
    }

    #[test]
    fn defaults_are_valid_and_match_the_seed() {
        let config = MonitoringConfig::default();
        config.validate().expect("defaults are valid");
        assert_eq!(config.worker_monitoring.error_rate_threshold, 0.2);
        assert_eq!(config.alerts.error_rate_threshold, 0.1);
        assert_eq!(config.latency_threshold(), Duration::from_secs(5));
        assert_eq!(config.slow_execution_threshold(), Duration::from_secs(1));
        assert_eq!(config.performance_window(), Duration::from_secs(30 * 60));
    }

    #[test]
    fn programmatic_json_form_from_the_seed() {
        let value = serde_json::json!({
            "logging": {
                "default_logger": "composite",
                "level": "INFO",
                "file_path": "./logs/custom_monitoring.log"
            },
            "event_monitoring": {
                "enabled": true,
                "trace_retention_hours": 6,
                "detailed_event_tracking": true
            },
            "worker_monitoring": {
                "enabled": true,
                "performance_alerts": true,
                "health_check_interval_seconds": 5
            }
        });
        let config = MonitoringConfig::from_json(&value).expect("seed's programmatic config");
        assert_eq!(config.logging.level, LogLevel::Info);
        assert_eq!(config.trace_retention(), Duration::from_secs(6 * 3600));
        assert_eq!(config.health_check_interval(), Duration::from_secs(5));
    }

    #[test]
    fn json_round_trip_keeps_every_value() {
        let config = MonitoringConfig::from_yaml_str(SEED_YAML, "seed").expect("parses");
        let json = config.to_json();
        assert_eq!(json["logging"]["level"], "debug");
        assert_eq!(
            json["metrics_collection"]["custom_metrics"][1]["type"],
            "histogram"
        );
        let back = MonitoringConfig::from_json(&json).expect("round trip");
        assert_eq!(back, config);
    }

    #[test]
    fn json_errors_name_the_key_path() {
        let value = serde_json::json!({"worker_monitoring": {"error_rate_threshold": "high"}});
        let err = MonitoringConfig::from_json(&value).expect_err("rejected");
        assert_eq!(
            err.key(),
            Some("worker_monitoring.error_rate_threshold"),
            "{err}"
        );
        assert!(err.to_string().starts_with(JSON_SOURCE), "{err}");
    }

    #[test]
    fn log_level_accepts_any_case_and_python_names() {
        for (text, level) in [
            ("DEBUG", LogLevel::Debug),
            ("debug", LogLevel::Debug),
            ("Info", LogLevel::Info),
            ("WARNING", LogLevel::Warn),
            ("warn", LogLevel::Warn),
            ("CRITICAL", LogLevel::Error),
            ("trace", LogLevel::Trace),
        ] {
            assert_eq!(text.parse::<LogLevel>(), Ok(level), "{text}");
        }
    }

    #[test]
    fn validate_catches_values_set_in_code() {
        let mut config = MonitoringConfig::default();
        config.alerts.error_rate_threshold = 10.0;
        let err = config.validate().expect_err("10 is not a fraction");
        assert_eq!(
            err.to_string(),
            "<in-memory config>: alerts.error_rate_threshold: must be between 0 and 1 \
             (a fraction: 0.2 means 20 %), got 10"
        );
    }

    #[test]
    fn accessors_never_panic_on_unvalidated_values() {
        let mut config = MonitoringConfig::default();
        config.worker_monitoring.health_check_interval_seconds = f64::NAN;
        config.metrics_collection.collection_interval_seconds = -3.0;
        config.event_monitoring.trace_retention_hours = 1e300;
        config.event_monitoring.cleanup_interval_minutes = f64::INFINITY;
        assert_eq!(config.health_check_interval(), Duration::from_millis(1));
        assert_eq!(config.collection_interval(), Duration::from_millis(1));
        assert_eq!(config.trace_retention(), MAX_DURATION);
        assert_eq!(config.cleanup_interval(), MAX_DURATION);
    }

    #[test]
    fn detailed_event_tracking_false_turns_off_the_details_left_out() {
        let config = MonitoringConfig::from_json(&serde_json::json!({
            "event_monitoring": {"detailed_event_tracking": false}
        }))
        .expect("valid");
        assert!(!config.event_monitoring.detailed_timing);
        assert!(!config.event_monitoring.track_payload_size);
        // Set to false explicitly beside it: fine.
        MonitoringConfig::from_yaml_str(
            "event_monitoring:\n  detailed_event_tracking: false\n  detailed_timing: false\n",
            "ok.yaml",
        )
        .expect("consistent");
        // True alone leaves the detail keys as written.
        let config = MonitoringConfig::from_yaml_str(
            "event_monitoring:\n  detailed_event_tracking: true\n  detailed_timing: false\n",
            "ok.yaml",
        )
        .expect("valid");
        assert!(!config.event_monitoring.detailed_timing);
        assert!(config.event_monitoring.track_payload_size);
    }

    #[test]
    fn a_detail_key_contradicting_detailed_event_tracking_is_refused() {
        let err = rejects(
            "event_monitoring:\n  detailed_event_tracking: false\n  track_payload_size: true\n",
            &["event_monitoring.track_payload_size", "contradicts"],
        );
        assert!(matches!(err, ConfigError::Invalid { .. }));
        rejects(
            "event_monitoring:\n  detailed_timing: true\n  detailed_event_tracking: false\n",
            &["event_monitoring.detailed_timing", "contradicts"],
        );
        // In code, where "left out" cannot be told from "set".
        let mut config = MonitoringConfig::default();
        config.event_monitoring.detailed_event_tracking = false;
        let err = config.validate().expect_err("contradiction");
        assert_eq!(err.key(), Some("event_monitoring.detailed_timing"));
        config.event_monitoring.detailed_timing = false;
        config.event_monitoring.track_payload_size = false;
        config.validate().expect("consistent");
    }

    #[test]
    fn events_off_needs_worker_monitoring_and_alerts_off() {
        let err = rejects(
            "event_monitoring:\n  enabled: false\n",
            &[
                "event_monitoring.enabled",
                "worker_monitoring.enabled and alerts.enabled",
            ],
        );
        assert!(matches!(err, ConfigError::Invalid { .. }));
        rejects(
            "event_monitoring:\n  enabled: false\nworker_monitoring:\n  enabled: false\n",
            &[
                "event_monitoring.enabled",
                "also set alerts.enabled to false",
            ],
        );
        MonitoringConfig::from_yaml_str(
            "event_monitoring:\n  enabled: false\nworker_monitoring:\n  enabled: false\nalerts:\n  enabled: false\n",
            "ok.yaml",
        )
        .expect("nothing reads the events");
    }

    #[test]
    fn notifiers_parse_with_their_defaults() {
        let config = MonitoringConfig::from_yaml_str(
            "alerts:\n  notifiers:\n    - type: log\n    - type: command\n      argv: [notify-send, alert]\n      min_severity: warning\n    - type: webhook\n      url: https://hooks.example.com/T0/B1/xyz?token=abc\n      retries: 5\n      send_resolved: false\n",
            "ok.yaml",
        )
        .expect("valid");
        let n = &config.alerts.notifiers;
        assert_eq!(n[0].kind, NotifierKind::Log);
        assert_eq!(n[0].min_severity, Severity::Critical, "the seed's default");
        assert_eq!(n[1].argv, ["notify-send", "alert"]);
        assert_eq!(n[1].min_severity, Severity::Warning);
        assert_eq!(n[1].timeout(), DEFAULT_NOTIFIER_TIMEOUT);
        assert_eq!(n[2].retries(), 5);
        assert!(!n[2].send_resolved);
        assert_eq!(
            n[2].redacted_url().as_deref(),
            Some("https://hooks.example.com/…")
        );
        let stored = config.to_json().to_string();
        assert!(
            !stored.contains("token=abc") && !stored.contains("xyz"),
            "{stored}"
        );
    }

    #[test]
    fn notifier_mistakes_are_refused_by_key() {
        rejects(
            "alerts:\n  notifiers:\n    - type: webhook\n",
            &["alerts.notifiers[0].url", "needs url"],
        );
        rejects(
            "alerts:\n  notifiers:\n    - type: webhook\n      url: ftp://x/y\n",
            &["alerts.notifiers[0].url", "http:// or https://"],
        );
        rejects(
            "alerts:\n  notifiers:\n    - type: log\n    - type: command\n",
            &["alerts.notifiers[1].argv", "needs argv"],
        );
        rejects(
            "alerts:\n  notifiers:\n    - type: log\n      url: http://x\n",
            &["alerts.notifiers[0].url", "webhook only"],
        );
        rejects(
            "alerts:\n  notifiers:\n    - type: log\n      timeout_seconds: 3\n",
            &["alerts.notifiers[0].timeout_seconds", "only"],
        );
        rejects(
            "alerts:\n  notifiers:\n    - type: command\n      argv: [x]\n      retries: 2\n",
            &["alerts.notifiers[0].retries", "webhook only"],
        );
        rejects(
            "alerts:\n  notifiers:\n    - type: webhook\n      url: http://x\n      retries: 11\n",
            &["alerts.notifiers[0].retries", "at most 10"],
        );
        rejects(
            "alerts:\n  notifiers:\n    - type: webhook\n      url: http://x\n      timeout_seconds: 0\n",
            &["alerts.notifiers[0].timeout_seconds", "greater than 0"],
        );
        rejects(
            "alerts:\n  notifiers:\n    - type: pager\n",
            &["alerts.notifiers[0].type", "pager"],
        );
        rejects(
            "alerts:\n  notifiers:\n    - type: log\n      min_severity: loud\n",
            &["alerts.notifiers[0].min_severity", "loud"],
        );
        rejects(
            "alerts:\n  notifiers:\n    - type: log\n      channel: ops\n",
            &["alerts.notifiers[0].channel", "unknown field"],
        );
    }

    // ---- bad configurations -------------------------------------------

    #[test]
    fn empty_file_is_an_error() {
        rejects("", &["empty configuration"]);
        rejects("# only a comment\n\n", &["empty configuration"]);
        rejects("~\n", &["empty configuration"]);
    }

    #[test]
    fn not_yaml_is_rejected() {
        let err = rejects("logging: [unclosed\n", &["logging"]);
        assert!(matches!(err, ConfigError::Parse { .. }), "{err}");
        rejects("{ logging: ", &["line 1"]);
    }

    #[test]
    fn top_level_scalar_is_rejected() {
        let err = rejects("just some words\n", &["(top level)", "mapping"]);
        assert_eq!(err.key(), Some(ROOT_KEY));
    }

    #[test]
    fn wrong_type_names_key_and_line() {
        let err = rejects(
            "worker_monitoring:\n  enabled: true\n  health_check_interval_seconds: often\n",
            &["worker_monitoring.health_check_interval_seconds", "line 3"],
        );
        assert!(matches!(err, ConfigError::Parse { .. }));
        rejects("logging:\n  json_format: maybe\n", &["logging.json_format"]);
        rejects("logging: 5\n", &["logging:", "mapping"]);
    }

    #[test]
    fn unknown_top_level_key_is_rejected() {
        let err = rejects(
            "logging:\n  level: info\nevent_monitorng:\n  enabled: true\n",
            &["event_monitorng", "unknown field"],
        );
        assert_eq!(err.key(), Some("event_monitorng"));
    }

    #[test]
    fn unknown_nested_key_is_rejected() {
        let err = rejects(
            "worker_monitoring:\n  enabled: true\n  error_rate_treshold: 0.3\n",
            &[
                "worker_monitoring.error_rate_treshold",
                "unknown field",
                "line 3",
            ],
        );
        assert_eq!(err.key(), Some("worker_monitoring.error_rate_treshold"));
        // Inside a list item too.
        rejects(
            "metrics_collection:\n  custom_metrics:\n    - name: a\n      type: gauge\n      unit: ms\n",
            &["metrics_collection.custom_metrics[0].unit", "unknown field"],
        );
    }

    #[test]
    fn zero_interval_is_rejected() {
        let err = rejects(
            "metrics_collection:\n  collection_interval_seconds: 0\n",
            &[
                "bad.yaml: metrics_collection.collection_interval_seconds: ",
                "must be greater than 0, got 0",
            ],
        );
        assert!(matches!(err, ConfigError::Invalid { .. }));
        rejects(
            "logging:\n  max_file_size_mb: 0\n",
            &["logging.max_file_size_mb", "at least 1"],
        );
    }

    #[test]
    fn negative_interval_is_rejected() {
        rejects(
            "event_monitoring:\n  cleanup_interval_minutes: -5\n",
            &[
                "event_monitoring.cleanup_interval_minutes",
                "must be greater than 0, got -5",
            ],
        );
        // Unsigned fields fail in the parser, still naming the key.
        rejects("logging:\n  backup_count: -1\n", &["logging.backup_count"]);
    }

    #[test]
    fn threshold_above_one_is_rejected() {
        let err = rejects("worker_monitoring:\n  error_rate_threshold: 1.5\n", &[]);
        assert_eq!(
            err.to_string(),
            "bad.yaml: worker_monitoring.error_rate_threshold: must be between 0 and 1 \
             (a fraction: 0.2 means 20 %), got 1.5"
        );
        // A percentage written by mistake.
        rejects(
            "alerts:\n  error_rate_threshold: 10\n",
            &["alerts.error_rate_threshold", "got 10"],
        );
    }

    #[test]
    fn threshold_below_zero_or_nan_is_rejected() {
        rejects(
            "worker_monitoring:\n  error_rate_threshold: -0.1\n",
            &[
                "worker_monitoring.error_rate_threshold",
                "between 0 and 1",
                "got -0.1",
            ],
        );
        rejects(
            "alerts:\n  error_rate_threshold: .nan\n",
            &["alerts.error_rate_threshold", "got NaN"],
        );
        // The bounds themselves are allowed.
        MonitoringConfig::from_yaml_str("alerts:\n  error_rate_threshold: 1\n", "ok.yaml")
            .expect("1 is a valid fraction");
        MonitoringConfig::from_yaml_str("alerts:\n  error_rate_threshold: 0\n", "ok.yaml")
            .expect("0 is a valid fraction");
    }

    #[test]
    fn unknown_log_level_is_rejected() {
        rejects(
            "logging:\n  level: LOUD\n",
            &[
                "logging.level",
                "unknown log level `LOUD`",
                "trace, debug, info, warn, error",
            ],
        );
        rejects(
            "logging:\n  default_logger: syslog\n",
            &["logging.default_logger", "syslog"],
        );
    }

    #[test]
    fn unknown_metric_type_is_rejected() {
        rejects(
            "metrics_collection:\n  custom_metrics:\n    - name: ok\n      type: gauge\n    - name: x\n      type: summary\n",
            &[
                "metrics_collection.custom_metrics[1].type",
                "summary",
                "counter, gauge, histogram",
            ],
        );
        rejects(
            "metrics_collection:\n  custom_metrics:\n    - name: only_a_name\n",
            &[
                "metrics_collection.custom_metrics[0]",
                "missing field `type`",
            ],
        );
    }

    #[test]
    fn histogram_buckets_are_checked_and_defaulted() {
        let config = MonitoringConfig::from_yaml_str(
            "metrics_collection:\n  custom_metrics:\n    - {name: h, type: histogram, buckets: [1, 10, 100]}\n    - {name: d, type: histogram}\n",
            "test",
        )
        .unwrap();
        let metrics = &config.metrics_collection.custom_metrics;
        assert_eq!(metrics[0].histogram_buckets(), &[1.0, 10.0, 100.0]);
        assert_eq!(metrics[1].histogram_buckets(), DEFAULT_HISTOGRAM_BUCKETS);
        rejects(
            "metrics_collection:\n  custom_metrics:\n    - {name: h, type: histogram, buckets: [10, 1]}\n",
            &[
                "metrics_collection.custom_metrics[0].buckets",
                "strictly increasing",
            ],
        );
        rejects(
            "metrics_collection:\n  custom_metrics:\n    - {name: h, type: histogram, buckets: []}\n",
            &["metrics_collection.custom_metrics[0].buckets"],
        );
        rejects(
            "metrics_collection:\n  custom_metrics:\n    - {name: g, type: gauge, buckets: [1]}\n",
            &[
                "metrics_collection.custom_metrics[0].buckets",
                "only for type: histogram",
            ],
        );
    }

    #[test]
    fn bad_or_duplicate_metric_names_are_rejected() {
        rejects(
            "metrics_collection:\n  custom_metrics:\n    - {name: a, type: gauge}\n    - {name: a, type: counter}\n",
            &["metrics_collection.custom_metrics[1].name", "duplicate"],
        );
        rejects(
            "metrics_collection:\n  custom_metrics:\n    - {name: 'order value', type: gauge}\n",
            &[
                "metrics_collection.custom_metrics[0].name",
                "invalid metric name",
            ],
        );
    }

    #[test]
    fn huge_numbers_are_rejected() {
        // Finite, but overflows a Duration when converted.
        rejects(
            "worker_monitoring:\n  health_check_interval_seconds: 1e300\n",
            &[
                "worker_monitoring.health_check_interval_seconds",
                "too large",
                "got 1e300",
            ],
        );
        // Fits a Duration, but beyond the 100-year cap.
        rejects(
            "event_monitoring:\n  trace_retention_hours: 10000000\n",
            &[
                "event_monitoring.trace_retention_hours",
                "too large",
                "876000 hours",
            ],
        );
        // Beyond f64 range: the parser refuses it.
        rejects(
            "alerts:\n  latency_threshold_ms: 1e400\n",
            &["alerts.latency_threshold_ms"],
        );
        // Beyond u64: the parser refuses it.
        rejects(
            "logging:\n  max_file_size_mb: 99999999999999999999999\n",
            &["logging.max_file_size_mb"],
        );
        // Fits u64 MiB but not u64 bytes.
        rejects(
            "logging:\n  max_file_size_mb: 18446744073709551615\n",
            &["logging.max_file_size_mb", "too large"],
        );
        rejects(
            "metrics_collection:\n  retention_hours: .inf\n",
            &["metrics_collection.retention_hours", "finite"],
        );
    }

    #[test]
    fn tiny_interval_that_rounds_to_zero_is_rejected() {
        rejects(
            "metrics_collection:\n  collection_interval_seconds: 1e-300\n",
            &[
                "metrics_collection.collection_interval_seconds",
                "rounds to zero",
            ],
        );
    }

    #[test]
    fn bad_log_file_path_is_rejected() {
        rejects(
            "logging:\n  file_path: ''\n",
            &["logging.file_path", "must not be empty"],
        );
        rejects(
            "logging:\n  file_path: logs/..\n",
            &["logging.file_path", "must name a file"],
        );
    }

    #[test]
    fn non_utf8_file_is_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("latin1.yaml");
        std::fs::write(&path, b"logging:\n  file_path: caf\xe9.log\n").expect("write");
        let err = MonitoringConfig::load(&path).expect_err("not UTF-8");
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                ConfigError::NotUtf8 {
                    valid_up_to: 25,
                    ..
                }
            ),
            "{msg}"
        );
        assert!(msg.starts_with(&path.display().to_string()), "{msg}");
        assert!(msg.contains("not valid UTF-8"), "{msg}");
    }

    #[test]
    fn directory_is_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = MonitoringConfig::load(dir.path()).expect_err("a directory");
        let msg = err.to_string();
        assert!(matches!(err, ConfigError::IsDirectory { .. }), "{msg}");
        assert!(msg.contains("is a directory"), "{msg}");
        assert!(msg.starts_with(&dir.path().display().to_string()), "{msg}");
    }

    #[test]
    fn missing_file_is_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nope.yaml");
        let err = MonitoringConfig::load(&path).expect_err("missing");
        let msg = err.to_string();
        assert!(matches!(err, ConfigError::Read { .. }), "{msg}");
        assert!(
            msg.contains("nope.yaml: cannot read configuration file"),
            "{msg}"
        );
    }

    #[test]
    fn empty_file_on_disk_is_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("empty.yaml");
        std::fs::write(&path, b"").expect("write");
        let err = MonitoringConfig::load(&path).expect_err("empty");
        assert!(matches!(err, ConfigError::Empty { .. }), "{err}");
    }
}
