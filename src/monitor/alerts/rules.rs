//! The alert rules: what an alert is about ([`AlertType`], [`Severity`]),
//! what the rules look at ([`AlertInputs`]), their limits
//! ([`AlertThresholds`]), which of them are switched on ([`AlertRules`]),
//! and which conditions hold for one set of inputs. Pure: no I/O, no state.

pub use crate::config::Severity;

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

/// Which rules are evaluated (from the configuration's switches). A rule
/// that is off never fires; one switched off while firing resolves at the
/// next check, like any condition that no longer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AlertRules {
    /// `high_error_rate` (`alerts.enabled`).
    pub high_error_rate: bool,
    /// `high_latency` (`alerts.enabled`).
    pub high_latency: bool,
    /// `slow_worker` (`worker_monitoring.performance_alerts`).
    pub slow_worker: bool,
    /// `worker_failed` (`worker_monitoring.alert_on_high_error_rate`).
    pub worker_failed: bool,
}

impl AlertRules {
    /// Every rule on.
    pub const ALL: AlertRules = AlertRules {
        high_error_rate: true,
        high_latency: true,
        slow_worker: true,
        worker_failed: true,
    };

    /// Every rule off.
    pub const NONE: AlertRules = AlertRules {
        high_error_rate: false,
        high_latency: false,
        slow_worker: false,
        worker_failed: false,
    };

    /// Whether `rule` is on.
    pub fn allows(&self, rule: AlertType) -> bool {
        match rule {
            AlertType::HighErrorRate => self.high_error_rate,
            AlertType::HighLatency => self.high_latency,
            AlertType::SlowWorker => self.slow_worker,
            AlertType::WorkerFailed => self.worker_failed,
        }
    }

    /// Whether any rule is on.
    pub fn any(&self) -> bool {
        *self != AlertRules::NONE
    }

    /// Whether a rule about workers is on (so worker health must be read).
    pub fn any_worker_rule(&self) -> bool {
        self.slow_worker || self.worker_failed
    }
}

impl Default for AlertRules {
    /// Every rule on, as in the seed.
    fn default() -> Self {
        AlertRules::ALL
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

/// A rule's verdict that an alert condition holds now.
pub(super) struct Condition {
    pub(super) alert_type: AlertType,
    pub(super) subject: String,
    pub(super) message: String,
    pub(super) value: Option<f64>,
    pub(super) threshold: Option<f64>,
    pub(super) issues: Vec<String>,
}

/// The conditions that hold for these inputs, in rule order.
///
/// The seed compares `error_rate > 0.1` although its `error_rate` is a
/// percentage (0–100), so any error rate above 0.1 % fired. Here like is
/// compared with like: the percentage against the fractional threshold
/// × 100, and both value and threshold are reported in percent.
///
/// Only the rules `rules` allows are evaluated.
pub(super) fn conditions(
    thresholds: &AlertThresholds,
    rules: &AlertRules,
    inputs: &AlertInputs,
) -> Vec<Condition> {
    let mut out = all_conditions(thresholds, inputs);
    out.retain(|c| rules.allows(c.alert_type));
    out
}

fn all_conditions(thresholds: &AlertThresholds, inputs: &AlertInputs) -> Vec<Condition> {
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
                message: if worker.issues.is_empty() {
                    format!("Worker {} has failed", worker.name)
                } else {
                    format!(
                        "Worker {} has failed: {}",
                        worker.name,
                        worker.issues.join("; ")
                    )
                },
                value: None,
                threshold: None,
                issues: worker.issues.clone(),
            });
        }
    }
    out
}
