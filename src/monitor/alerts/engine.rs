//! The alert state machine: fire once, stay quiet while the condition
//! holds, resolve when it clears.

use std::collections::HashMap;
use std::sync::Arc;

use super::rules::{AlertInputs, AlertRules, AlertThresholds, AlertType, Severity, conditions};
use crate::clock;

/// Whether an alert is still firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// Its condition held at the last check.
    Firing,
    /// Its condition cleared.
    Resolved,
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

/// Hands out alert row ids; in production [`Writer::next_id`](crate::store::Writer::next_id).
pub type AlertIdSource = Arc<dyn Fn() -> i64 + Send + Sync>;

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
    rules: AlertRules,
    firing: HashMap<(AlertType, String), Alert>,
    ids: AlertIdSource,
}

impl std::fmt::Debug for AlertEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertEngine")
            .field("thresholds", &self.thresholds)
            .field("rules", &self.rules)
            .field("firing", &self.firing.len())
            .finish()
    }
}

impl AlertEngine {
    /// An engine with every rule on and nothing firing, taking alert ids
    /// from `ids`.
    pub fn new(thresholds: AlertThresholds, ids: AlertIdSource) -> Self {
        Self::with_rules(thresholds, AlertRules::ALL, ids)
    }

    /// An engine evaluating only the rules `rules` allows.
    pub fn with_rules(thresholds: AlertThresholds, rules: AlertRules, ids: AlertIdSource) -> Self {
        AlertEngine {
            thresholds,
            rules,
            firing: HashMap::new(),
            ids,
        }
    }

    /// The thresholds in force.
    pub fn thresholds(&self) -> &AlertThresholds {
        &self.thresholds
    }

    /// The rules in force.
    pub fn rules(&self) -> &AlertRules {
        &self.rules
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
        for c in conditions(&self.thresholds, &self.rules, inputs) {
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
        changes.extend(self.resolve_where(now_us, |key| !holding.contains(key)));
        changes
    }

    /// Resolves every firing alert at `now_us`: when nobody will watch their
    /// conditions any more (the run ends). Ordered by rule and subject.
    pub fn resolve_all(&mut self, now_us: i64) -> Vec<AlertChange> {
        self.resolve_where(now_us, |_| true)
    }

    fn resolve_where(
        &mut self,
        now_us: i64,
        clears: impl Fn(&(AlertType, String)) -> bool,
    ) -> Vec<AlertChange> {
        let mut cleared: Vec<_> = self.firing.keys().filter(|k| clears(k)).cloned().collect();
        cleared.sort();
        let mut changes = Vec::new();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::alerts::rules::WorkerObservation;
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
