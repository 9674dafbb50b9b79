//! Alerts: rules over the monitors' figures, fired once and resolved (never
//! repeated on every check), logged, stored, and handed to notifiers.
//!
//! The rules are the seed's `MonitoringAlerts.check_alerts` plus a slow-worker
//! rule: high error rate, high latency, slow worker (warnings) and failed
//! worker (critical). Their input is a plain [`AlertInputs`] struct of
//! observations, so the engine depends on no monitor: whoever runs the checks
//! (the orchestrator's health loop, a test) fills it from the event and
//! worker monitors.
//!
//! State is in memory, per process: an [`AlertEngine`] starts with nothing
//! firing. Alerts a previous process left unresolved in the database stay so
//! (`firing_alerts.sql` shows them with their run id) — a new process does
//! not adopt them, because it cannot know whether their condition still
//! holds until it has observed it itself.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::RunScope;
use super::custom::{MetricsError, window_params};
use crate::clock;
use crate::store::{AlertFired, Record, Writer};
use crate::window::TimeWindow;

/// How serious an alert is. Ordered, so notifiers can take "this severity
/// and above".
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

    fn parse(text: &str) -> Option<Severity> {
        match text {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// The alert rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertType {
    /// System-wide event error rate above the threshold.
    HighErrorRate,
    /// Average event latency (dispatch to end) above the threshold.
    HighLatency,
    /// A worker's p95 execution time above the slow-execution threshold.
    SlowWorker,
    /// A worker whose health is `failing`.
    WorkerFailed,
}

impl AlertType {
    /// The name stored in the database (the seed's `type` values).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertType::HighErrorRate => "high_error_rate",
            AlertType::HighLatency => "high_latency",
            AlertType::SlowWorker => "slow_worker",
            AlertType::WorkerFailed => "worker_failed",
        }
    }

    /// The severity this rule fires with: a failed worker is critical, the
    /// others are warnings (as in the seed).
    pub fn severity(self) -> Severity {
        match self {
            AlertType::WorkerFailed => Severity::Critical,
            _ => Severity::Warning,
        }
    }
}

/// Whether an alert is still firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// Its condition held at the last check.
    Firing,
    /// Its condition cleared.
    Resolved,
}

/// Alert thresholds (from `worker_monitoring` in the config).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlertThresholds {
    /// Error rate above which `high_error_rate` fires, as a **fraction**
    /// (0.1 = 10 %), the way the config writes it.
    pub error_rate_threshold: f64,
    /// Average event latency above which `high_latency` fires, ms.
    pub latency_threshold_ms: f64,
    /// Worker p95 execution time above which `slow_worker` fires, ms.
    pub slow_execution_threshold_ms: f64,
}

impl Default for AlertThresholds {
    /// The seed's values: 10 % errors, 5 s average latency, 1 s executions.
    fn default() -> Self {
        AlertThresholds {
            error_rate_threshold: 0.1,
            latency_threshold_ms: 5000.0,
            slow_execution_threshold_ms: 1000.0,
        }
    }
}

/// What one worker looked like at a check (from the worker monitor).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WorkerObservation {
    /// Worker name.
    pub name: String,
    /// Health status: `healthy`, `degraded`, `failing` or `inactive`.
    pub status: String,
    /// p95 execution time over the performance window, ms; `None` when it
    /// ran nothing in the window.
    pub p95_duration_ms: Option<f64>,
    /// The health check's sentences.
    pub issues: Vec<String>,
}

/// Everything the rules look at in one check.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlertInputs {
    /// System-wide event error rate over the alert window, **percent**
    /// (0–100), as `get_event_metrics` reports it.
    pub error_rate_percent: f64,
    /// Average event latency (dispatch to end) over the window, ms.
    pub avg_latency_ms: f64,
    /// Every tracked worker.
    pub workers: Vec<WorkerObservation>,
}

/// One alert, serialized with the seed's keys (`type`, `severity`,
/// `message`, `value`, `threshold`, `worker`, `issues`, `timestamp`) plus
/// its id, status and resolution time.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Alert {
    /// Row id in `alerts`.
    pub id: i64,
    /// Rule name (`high_error_rate`, `high_latency`, `slow_worker`,
    /// `worker_failed`).
    #[serde(rename = "type")]
    pub alert_type: String,
    /// Severity.
    pub severity: Severity,
    /// Human sentence naming the value and the threshold.
    pub message: String,
    /// The measured value, in the threshold's unit.
    pub value: Option<f64>,
    /// The threshold it crossed.
    pub threshold: Option<f64>,
    /// The worker, for worker alerts.
    pub worker: Option<String>,
    /// The worker's health issues, for failed-worker alerts.
    pub issues: Vec<String>,
    /// When it fired, ISO-8601 UTC.
    pub timestamp: String,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// When it resolved, ISO-8601 UTC.
    pub resolved_at: Option<String>,
    /// When it fired, µs since the epoch.
    #[serde(skip)]
    pub fired_at_us: i64,
    /// When it resolved, µs since the epoch.
    #[serde(skip)]
    pub resolved_at_us: Option<i64>,
}

/// A change of alert state found by one check.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertChange {
    /// The condition became true: a new alert.
    Fired(Alert),
    /// The condition of a firing alert became false.
    Resolved(Alert),
}

impl AlertChange {
    /// The alert that changed.
    pub fn alert(&self) -> &Alert {
        match self {
            AlertChange::Fired(a) | AlertChange::Resolved(a) => a,
        }
    }
}

/// Hands out alert row ids; in production [`Writer::next_id`].
pub type AlertIdSource = Arc<dyn Fn() -> i64 + Send + Sync>;

/// A rule's verdict that an alert condition holds now.
struct Condition {
    alert_type: AlertType,
    subject: String,
    message: String,
    value: Option<f64>,
    threshold: Option<f64>,
    issues: Vec<String>,
}

/// The conditions that hold for these inputs, in rule order.
///
/// The seed compares `error_rate > 0.1` although its `error_rate` is a
/// percentage (0–100), so any error rate above 0.1 % fired. Here like is
/// compared with like: the percentage against the fractional threshold
/// × 100, and both value and threshold are reported in percent.
fn conditions(thresholds: &AlertThresholds, inputs: &AlertInputs) -> Vec<Condition> {
    let mut out = Vec::new();
    let error_threshold_percent = thresholds.error_rate_threshold * 100.0;
    if inputs.error_rate_percent > error_threshold_percent {
        out.push(Condition {
            alert_type: AlertType::HighErrorRate,
            subject: String::new(),
            message: format!(
                "Error rate {:.1}% exceeds threshold {:.1}%",
                inputs.error_rate_percent, error_threshold_percent
            ),
            value: Some(inputs.error_rate_percent),
            threshold: Some(error_threshold_percent),
            issues: Vec::new(),
        });
    }
    if inputs.avg_latency_ms > thresholds.latency_threshold_ms {
        out.push(Condition {
            alert_type: AlertType::HighLatency,
            subject: String::new(),
            message: format!(
                "Average latency {:.0}ms exceeds threshold {:.0}ms",
                inputs.avg_latency_ms, thresholds.latency_threshold_ms
            ),
            value: Some(inputs.avg_latency_ms),
            threshold: Some(thresholds.latency_threshold_ms),
            issues: Vec::new(),
        });
    }
    for worker in &inputs.workers {
        if let Some(p95) = worker.p95_duration_ms
            && p95 > thresholds.slow_execution_threshold_ms
        {
            out.push(Condition {
                alert_type: AlertType::SlowWorker,
                subject: worker.name.clone(),
                message: format!(
                    "Worker {} p95 execution time {:.0}ms exceeds threshold {:.0}ms",
                    worker.name, p95, thresholds.slow_execution_threshold_ms
                ),
                value: Some(p95),
                threshold: Some(thresholds.slow_execution_threshold_ms),
                issues: Vec::new(),
            });
        }
        // The health check reports `failing`; the seed tested for `failed`,
        // a status it never produced. Both count.
        if worker.status == "failing" || worker.status == "failed" {
            out.push(Condition {
                alert_type: AlertType::WorkerFailed,
                subject: worker.name.clone(),
                message: format!("Worker {} has failed", worker.name),
                value: None,
                threshold: None,
                issues: worker.issues.clone(),
            });
        }
    }
    out
}

/// The alert state machine: which alerts are firing, and what changed.
///
/// Each alert is keyed by its rule and subject (worker name, or nothing for
/// system-wide rules). It fires once when its condition becomes true, stays
/// quiet while it remains true (its message and value keep those of the
/// moment it fired), resolves when the condition is false — a worker absent
/// from the inputs counts as false — and can fire again later as a new alert
/// with a new id. Pure: no I/O, time comes in as an argument.
pub struct AlertEngine {
    thresholds: AlertThresholds,
    firing: HashMap<(AlertType, String), Alert>,
    ids: AlertIdSource,
}

impl std::fmt::Debug for AlertEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertEngine")
            .field("thresholds", &self.thresholds)
            .field("firing", &self.firing.len())
            .finish()
    }
}

impl AlertEngine {
    /// An engine with nothing firing, taking alert ids from `ids`.
    pub fn new(thresholds: AlertThresholds, ids: AlertIdSource) -> Self {
        AlertEngine {
            thresholds,
            firing: HashMap::new(),
            ids,
        }
    }

    /// The thresholds in force.
    pub fn thresholds(&self) -> &AlertThresholds {
        &self.thresholds
    }

    /// The alerts firing now, oldest first.
    pub fn firing(&self) -> Vec<&Alert> {
        let mut all: Vec<_> = self.firing.values().collect();
        all.sort_by_key(|a| (a.fired_at_us, a.id));
        all
    }

    /// Checks every rule against `inputs` at time `now_us` and returns what
    /// changed: new alerts in rule order, then resolutions ordered by rule
    /// and subject.
    pub fn evaluate(&mut self, inputs: &AlertInputs, now_us: i64) -> Vec<AlertChange> {
        let mut changes = Vec::new();
        let mut holding = std::collections::HashSet::new();
        for c in conditions(&self.thresholds, inputs) {
            let key = (c.alert_type, c.subject.clone());
            holding.insert(key.clone());
            if self.firing.contains_key(&key) {
                continue;
            }
            let alert = Alert {
                id: (self.ids)(),
                alert_type: c.alert_type.as_str().to_string(),
                severity: c.alert_type.severity(),
                message: c.message,
                value: c.value,
                threshold: c.threshold,
                worker: (!c.subject.is_empty()).then_some(c.subject),
                issues: c.issues,
                timestamp: clock::format_iso(now_us),
                status: AlertStatus::Firing,
                resolved_at: None,
                fired_at_us: now_us,
                resolved_at_us: None,
            };
            self.firing.insert(key, alert.clone());
            changes.push(AlertChange::Fired(alert));
        }
        let mut cleared: Vec<_> = self
            .firing
            .keys()
            .filter(|k| !holding.contains(*k))
            .cloned()
            .collect();
        cleared.sort();
        for key in cleared {
            if let Some(mut alert) = self.firing.remove(&key) {
                alert.status = AlertStatus::Resolved;
                alert.resolved_at = Some(clock::format_iso(now_us));
                alert.resolved_at_us = Some(now_us);
                changes.push(AlertChange::Resolved(alert));
            }
        }
        changes
    }
}

/// Somewhere alerts are sent (chat, pager, a script). Called on a blocking
/// thread for every change at or above the severity it was added with.
pub trait AlertNotifier: Send + Sync {
    /// A short name for logs.
    fn name(&self) -> String;

    /// Delivers one change. Failures are returned for the caller to log;
    /// they never stop alerting.
    fn notify(&self, change: &AlertChange) -> Result<(), MetricsError>;
}

/// Writes alerts to the log: the seed's `send_critical_notification`
/// printed critical alerts; here they are `error` events, others `warn`,
/// resolutions `info`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogNotifier;

impl AlertNotifier for LogNotifier {
    fn name(&self) -> String {
        "log".to_string()
    }

    fn notify(&self, change: &AlertChange) -> Result<(), MetricsError> {
        let a = change.alert();
        match change {
            AlertChange::Fired(_) if a.severity == Severity::Critical => {
                tracing::error!(alert_type = %a.alert_type, alert_id = a.id, "CRITICAL ALERT: {}", a.message);
            }
            AlertChange::Fired(_) => {
                tracing::warn!(alert_type = %a.alert_type, alert_id = a.id, "ALERT: {}", a.message);
            }
            AlertChange::Resolved(_) => {
                tracing::info!(alert_type = %a.alert_type, alert_id = a.id, "RESOLVED: {}", a.message);
            }
        }
        Ok(())
    }
}

/// Runs a program for each alert, with the alert as JSON on its stdin.
///
/// The program is an argv (no shell: nothing in an alert can be
/// interpreted as a command). It must exit 0 within the timeout; otherwise
/// it is killed and the failure reported. Only the program itself is
/// killed: children it started in the background are left alone, and we no
/// longer wait for them. stdout is discarded; the start of stderr is quoted
/// in the error.
#[derive(Debug, Clone)]
pub struct CommandNotifier {
    argv: Vec<String>,
    timeout: Duration,
}

/// How much of a notifier's stderr is kept for the error message.
const STDERR_KEEP: u64 = 4096;

impl CommandNotifier {
    /// A notifier running `argv[0]` with arguments `argv[1..]`, killed after
    /// `timeout`.
    pub fn new(argv: Vec<String>, timeout: Duration) -> Self {
        CommandNotifier { argv, timeout }
    }

    fn program(&self) -> String {
        self.argv.first().cloned().unwrap_or_default()
    }

    fn fail(&self, reason: impl Into<String>) -> MetricsError {
        MetricsError::Notifier {
            program: self.program(),
            reason: reason.into(),
        }
    }
}

impl AlertNotifier for CommandNotifier {
    fn name(&self) -> String {
        self.program()
    }

    fn notify(&self, change: &AlertChange) -> Result<(), MetricsError> {
        let Some((program, args)) = self.argv.split_first() else {
            return Err(self.fail("no program given"));
        };
        let json = serde_json::to_vec(change.alert())
            .map_err(|e| self.fail(format!("cannot encode alert: {e}")))?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.fail(format!("cannot start: {e}")))?;
        // Feed stdin and drain stderr on their own threads, so that a
        // program that reads nothing or writes a lot cannot block us past
        // the timeout. Their results come back over channels with a bounded
        // wait: a grandchild that inherited the pipes (`sh -c 'x &'`) may
        // keep them open long after the program itself has gone.
        let (fed_tx, fed_rx) = std::sync::mpsc::channel();
        let stdin = child.stdin.take();
        let _ = std::thread::Builder::new()
            .name("alert-notifier-stdin".into())
            .spawn(move || {
                // Dropping `stdin` at the end closes it: the program sees EOF.
                let fed = match stdin {
                    Some(mut stdin) => stdin.write_all(&json),
                    None => Ok(()),
                };
                let _ = fed_tx.send(fed);
            });
        let (err_tx, err_rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take();
        let _ = std::thread::Builder::new()
            .name("alert-notifier-stderr".into())
            .spawn(move || {
                let mut kept = String::new();
                if let Some(mut stderr) = stderr {
                    let _ = (&mut stderr).take(STDERR_KEEP).read_to_string(&mut kept);
                    let _ = err_tx.send(kept);
                    let _ = std::io::copy(&mut stderr, &mut std::io::sink());
                } else {
                    let _ = err_tx.send(kept);
                }
            });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(self.fail(format!("timed out after {:?}; killed", self.timeout)));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(self.fail(format!("cannot wait for it: {e}")));
                }
            }
        };
        let status = status?;
        let grace = Duration::from_millis(500);
        let stderr = err_rx.recv_timeout(grace).unwrap_or_default();
        if !status.success() {
            return Err(self.fail(format!("exited with {status}: {}", stderr.trim())));
        }
        // A program that exits 0 without reading its input got no alert.
        match fed_rx.recv_timeout(grace) {
            Ok(Err(e)) => Err(self.fail(format!("could not write the alert to its stdin: {e}"))),
            _ => Ok(()),
        }
    }
}

/// The seed's `MonitoringAlerts`: the engine plus what happens to each
/// change — a log event (`warn` when fired, `info` when resolved), a row in
/// `alerts` through the writer, and the notifiers.
pub struct MonitoringAlerts {
    engine: AlertEngine,
    writer: Writer,
    notifiers: Vec<(Severity, Arc<dyn AlertNotifier>)>,
}

impl std::fmt::Debug for MonitoringAlerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitoringAlerts")
            .field("engine", &self.engine)
            .field("notifiers", &self.notifiers.len())
            .finish()
    }
}

impl MonitoringAlerts {
    /// Alerts with these thresholds, recorded through `writer` (which also
    /// hands out their ids), with no notifiers.
    pub fn new(thresholds: AlertThresholds, writer: Writer) -> Self {
        let ids = writer.clone();
        MonitoringAlerts {
            engine: AlertEngine::new(thresholds, Arc::new(move || ids.next_id())),
            writer,
            notifiers: Vec::new(),
        }
    }

    /// Sends every change of severity `min_severity` or above to `notifier`.
    /// The seed notified critical alerts only: `Severity::Critical`.
    pub fn add_notifier(&mut self, notifier: Arc<dyn AlertNotifier>, min_severity: Severity) {
        self.notifiers.push((min_severity, notifier));
    }

    /// The state machine.
    pub fn engine(&self) -> &AlertEngine {
        &self.engine
    }

    /// The seed's `check_alerts`: evaluates the rules at `now_us`, then logs,
    /// records and notifies every change, and returns the changes.
    ///
    /// Notifier failures are logged, not returned; an error means the
    /// writer refused the record.
    pub async fn check_alerts(
        &mut self,
        inputs: &AlertInputs,
        now_us: i64,
    ) -> Result<Vec<AlertChange>, MetricsError> {
        let changes = self.engine.evaluate(inputs, now_us);
        for change in &changes {
            let a = change.alert();
            match change {
                AlertChange::Fired(_) => {
                    tracing::warn!(
                        alert_id = a.id,
                        alert_type = %a.alert_type,
                        severity = a.severity.as_str(),
                        worker = a.worker.as_deref().unwrap_or(""),
                        value = a.value,
                        threshold = a.threshold,
                        "Alert triggered: {}",
                        a.message
                    );
                    self.writer
                        .record(Record::AlertFired(fired_record(a)))
                        .await?;
                }
                AlertChange::Resolved(_) => {
                    tracing::info!(
                        alert_id = a.id,
                        alert_type = %a.alert_type,
                        worker = a.worker.as_deref().unwrap_or(""),
                        "Alert resolved: {}",
                        a.message
                    );
                    self.writer
                        .record(Record::AlertResolved {
                            id: a.id,
                            resolved_at_us: a.resolved_at_us.unwrap_or(now_us),
                        })
                        .await?;
                }
            }
        }
        self.notify(&changes).await;
        Ok(changes)
    }

    async fn notify(&self, changes: &[AlertChange]) {
        let mut pending = Vec::new();
        for change in changes {
            for (min, notifier) in &self.notifiers {
                if change.alert().severity < *min {
                    continue;
                }
                let notifier = Arc::clone(notifier);
                let change = change.clone();
                pending.push(tokio::task::spawn_blocking(move || {
                    let result = notifier.notify(&change);
                    (notifier.name(), change.alert().id, result)
                }));
            }
        }
        for task in pending {
            match task.await {
                Ok((_, _, Ok(()))) => {}
                Ok((name, alert_id, Err(e))) => {
                    tracing::warn!(notifier = %name, alert_id, error = %e, "alert notification failed");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "alert notifier panicked");
                }
            }
        }
    }
}

/// The `alerts` row of a new alert; NaN values are stored as NULL.
fn fired_record(a: &Alert) -> AlertFired {
    let details = serde_json::json!({ "worker": a.worker, "issues": a.issues });
    AlertFired {
        id: a.id,
        alert_type: a.alert_type.clone(),
        subject: a.worker.clone().unwrap_or_default(),
        severity: a.severity.as_str().to_string(),
        message: a.message.clone(),
        value: a.value.filter(|v| v.is_finite()),
        threshold: a.threshold.filter(|v| v.is_finite()),
        fired_at_us: a.fired_at_us,
        details_json: details.to_string(),
    }
}

fn alert_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Alert> {
    let severity_text: String = row.get(3)?;
    let severity = Severity::parse(&severity_text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            3,
            rusqlite::types::Type::Text,
            format!("unknown severity {severity_text:?}").into(),
        )
    })?;
    let subject: String = row.get(2)?;
    let details_json: String = row.get(9)?;
    // Details are for display: text we cannot read shows no issues rather
    // than hiding the alert.
    let issues = serde_json::from_str::<serde_json::Value>(&details_json)
        .ok()
        .and_then(|d| serde_json::from_value::<Vec<String>>(d.get("issues")?.clone()).ok())
        .unwrap_or_default();
    let fired_at_us: i64 = row.get(7)?;
    let resolved_at_us: Option<i64> = row.get(8)?;
    Ok(Alert {
        id: row.get(0)?,
        alert_type: row.get(1)?,
        severity,
        message: row.get(4)?,
        value: row.get(5)?,
        threshold: row.get(6)?,
        worker: (!subject.is_empty()).then_some(subject),
        issues,
        timestamp: clock::format_iso(fired_at_us),
        status: if resolved_at_us.is_some() {
            AlertStatus::Resolved
        } else {
            AlertStatus::Firing
        },
        resolved_at: resolved_at_us.map(clock::format_iso),
        fired_at_us,
        resolved_at_us,
    })
}

/// The seed's `alert_history`: alerts that fired in `window` in the runs of
/// `scope`, newest first (`queries/alert_history.sql`).
pub fn alert_history(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
) -> Result<Vec<Alert>, MetricsError> {
    let mut stmt = conn.prepare_cached(include_str!("../../queries/alert_history.sql"))?;
    let rows = stmt.query_map(window_params!(window, scope), alert_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Alerts not yet resolved, newest first, of the runs in `scope`
/// (`queries/firing_alerts.sql`).
pub fn firing_alerts(conn: &Connection, scope: RunScope) -> Result<Vec<Alert>, MetricsError> {
    let mut stmt = conn.prepare_cached(include_str!("../../queries/firing_alerts.sql"))?;
    let rows = stmt.query_map(
        rusqlite::named_params! {":run_id": scope.run_id()},
        alert_from_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    fn engine() -> AlertEngine {
        let next = Arc::new(AtomicI64::new(1));
        AlertEngine::new(
            AlertThresholds::default(),
            Arc::new(move || next.fetch_add(1, Ordering::Relaxed)),
        )
    }

    fn worker(name: &str, status: &str, p95: Option<f64>) -> WorkerObservation {
        WorkerObservation {
            name: name.to_string(),
            status: status.to_string(),
            p95_duration_ms: p95,
            issues: vec![format!("{name} issue")],
        }
    }

    fn quiet() -> AlertInputs {
        AlertInputs {
            error_rate_percent: 1.0,
            avg_latency_ms: 10.0,
            workers: vec![worker("w", "healthy", Some(5.0))],
        }
    }

    fn fired(changes: &[AlertChange]) -> Vec<(String, Option<String>)> {
        changes
            .iter()
            .filter_map(|c| match c {
                AlertChange::Fired(a) => Some((a.alert_type.clone(), a.worker.clone())),
                AlertChange::Resolved(_) => None,
            })
            .collect()
    }

    fn resolved(changes: &[AlertChange]) -> Vec<(String, Option<String>)> {
        changes
            .iter()
            .filter_map(|c| match c {
                AlertChange::Resolved(a) => Some((a.alert_type.clone(), a.worker.clone())),
                AlertChange::Fired(_) => None,
            })
            .collect()
    }

    /// Drives one rule through fire, no repeat, resolve, fire again.
    fn lifecycle(bad: AlertInputs, alert_type: &str, worker: Option<&str>, severity: Severity) {
        let mut e = engine();
        let key = (alert_type.to_string(), worker.map(str::to_string));
        assert!(
            e.evaluate(&quiet(), 1).is_empty(),
            "quiet inputs fire nothing"
        );

        let first = e.evaluate(&bad, 2);
        assert_eq!(fired(&first), vec![key.clone()]);
        let AlertChange::Fired(a) = &first[0] else {
            panic!("expected a firing")
        };
        assert_eq!(a.severity, severity);
        assert_eq!(a.status, AlertStatus::Firing);
        assert_eq!(a.fired_at_us, 2);
        let first_id = a.id;

        assert!(e.evaluate(&bad, 3).is_empty(), "no repeat while true");
        assert!(e.evaluate(&bad, 4).is_empty(), "no repeat while true");
        assert_eq!(e.firing().len(), 1);

        let cleared = e.evaluate(&quiet(), 5);
        assert_eq!(resolved(&cleared), vec![key.clone()]);
        assert!(fired(&cleared).is_empty());
        let AlertChange::Resolved(r) = &cleared[0] else {
            panic!("expected a resolution")
        };
        assert_eq!(r.id, first_id, "the resolution names the alert that fired");
        assert_eq!(r.resolved_at_us, Some(5));
        assert_eq!(r.status, AlertStatus::Resolved);
        assert!(e.firing().is_empty());
        assert!(e.evaluate(&quiet(), 6).is_empty(), "resolves once");

        let again = e.evaluate(&bad, 7);
        assert_eq!(fired(&again), vec![key]);
        assert_ne!(again[0].alert().id, first_id, "a new firing is a new alert");
    }

    #[test]
    fn high_error_rate_fires_once_resolves_and_fires_again() {
        let bad = AlertInputs {
            error_rate_percent: 12.5,
            ..quiet()
        };
        lifecycle(bad, "high_error_rate", None, Severity::Warning);
    }

    #[test]
    fn high_latency_fires_once_resolves_and_fires_again() {
        let bad = AlertInputs {
            avg_latency_ms: 5000.5,
            ..quiet()
        };
        lifecycle(bad, "high_latency", None, Severity::Warning);
    }

    #[test]
    fn slow_worker_fires_once_resolves_and_fires_again() {
        let bad = AlertInputs {
            workers: vec![worker("w", "healthy", Some(1500.0))],
            ..quiet()
        };
        lifecycle(bad, "slow_worker", Some("w"), Severity::Warning);
    }

    #[test]
    fn failed_worker_fires_once_resolves_and_fires_again() {
        let bad = AlertInputs {
            workers: vec![worker("w", "failing", Some(5.0))],
            ..quiet()
        };
        lifecycle(bad, "worker_failed", Some("w"), Severity::Critical);
    }

    /// Regression: the seed compared a percentage with a fraction
    /// (`error_rate > 0.1`), so a 0.5 % error rate fired a "10 %" alert.
    #[test]
    fn error_rate_percent_is_compared_with_the_threshold_in_percent() {
        let mut e = engine();
        let low = AlertInputs {
            error_rate_percent: 0.5,
            ..quiet()
        };
        assert!(e.evaluate(&low, 1).is_empty());
        let at = AlertInputs {
            error_rate_percent: 10.0,
            ..quiet()
        };
        assert!(e.evaluate(&at, 2).is_empty(), "strictly above fires");
        let high = AlertInputs {
            error_rate_percent: 25.0,
            ..quiet()
        };
        let changes = e.evaluate(&high, 3);
        let a = changes[0].alert();
        assert_eq!(a.value, Some(25.0));
        assert_eq!(a.threshold, Some(10.0));
        assert_eq!(a.message, "Error rate 25.0% exceeds threshold 10.0%");
    }

    #[test]
    fn thresholds_are_strict_and_come_from_the_struct() {
        let mut e = AlertEngine::new(
            AlertThresholds {
                error_rate_threshold: 0.2,
                latency_threshold_ms: 100.0,
                slow_execution_threshold_ms: 50.0,
            },
            Arc::new(|| 1),
        );
        let at = AlertInputs {
            error_rate_percent: 20.0,
            avg_latency_ms: 100.0,
            workers: vec![worker("w", "degraded", Some(50.0))],
        };
        assert!(e.evaluate(&at, 1).is_empty());
        let above = AlertInputs {
            error_rate_percent: 20.1,
            avg_latency_ms: 100.1,
            workers: vec![worker("w", "degraded", Some(50.1))],
        };
        let kinds: Vec<_> = fired(&e.evaluate(&above, 2))
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        assert_eq!(kinds, ["high_error_rate", "high_latency", "slow_worker"]);
    }

    #[test]
    fn workers_are_separate_alerts_and_an_absent_worker_resolves() {
        let mut e = engine();
        let both = AlertInputs {
            workers: vec![
                worker("a", "failing", None),
                worker("b", "failing", Some(2000.0)),
            ],
            ..quiet()
        };
        let changes = e.evaluate(&both, 1);
        assert_eq!(
            fired(&changes),
            vec![
                ("worker_failed".to_string(), Some("a".to_string())),
                ("slow_worker".to_string(), Some("b".to_string())),
                ("worker_failed".to_string(), Some("b".to_string())),
            ]
        );
        assert_eq!(changes[0].alert().issues, vec!["a issue".to_string()]);
        let only_b = AlertInputs {
            workers: vec![worker("b", "failing", Some(2000.0))],
            ..quiet()
        };
        let changes = e.evaluate(&only_b, 2);
        assert_eq!(
            resolved(&changes),
            vec![("worker_failed".to_string(), Some("a".to_string()))]
        );
        assert!(fired(&changes).is_empty());
    }

    #[test]
    fn an_inactive_worker_with_no_executions_is_not_slow() {
        let mut e = engine();
        let inputs = AlertInputs {
            workers: vec![worker("idle", "inactive", None)],
            ..quiet()
        };
        assert!(e.evaluate(&inputs, 1).is_empty());
    }

    #[test]
    fn nan_figures_fire_nothing() {
        let mut e = engine();
        let inputs = AlertInputs {
            error_rate_percent: f64::NAN,
            avg_latency_ms: f64::NAN,
            workers: vec![worker("w", "healthy", Some(f64::NAN))],
        };
        assert!(e.evaluate(&inputs, 1).is_empty());
    }

    #[test]
    fn alerts_serialize_with_the_seed_keys() {
        let mut e = engine();
        let changes = e.evaluate(
            &AlertInputs {
                workers: vec![worker("w", "failing", None)],
                ..quiet()
            },
            1_700_000_000_000_000,
        );
        let json = serde_json::to_value(changes[0].alert()).unwrap();
        for key in [
            "type",
            "severity",
            "message",
            "value",
            "threshold",
            "worker",
            "issues",
            "timestamp",
        ] {
            assert!(json.get(key).is_some(), "missing {key}: {json}");
        }
        assert_eq!(json["type"], "worker_failed");
        assert_eq!(json["severity"], "critical");
        assert_eq!(json["worker"], "w");
        assert_eq!(json["issues"][0], "w issue");
        assert_eq!(json["timestamp"], "2023-11-14T22:13:20.000000Z");
        assert_eq!(json["status"], "firing");
    }
}
