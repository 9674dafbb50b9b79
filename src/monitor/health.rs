//! Worker health: `healthy`, `degraded`, `failing` or `inactive`, from a
//! worker's recent executions and a set of thresholds, evaluated at a given
//! time so that tests (and offline analysis) use a fixed clock.
//!
//! The rules, checked in this order:
//! 1. **inactive** — no execution of the worker ended within `inactivity`
//!    before the evaluation time (or none ever did). A worker in the middle
//!    of one very long execution also reads as inactive: in-flight events are
//!    not indexed per worker, and looking for them would cost every ingest.
//! 2. **failing** — its error rate over the performance window is above
//!    `error_rate_threshold`.
//! 3. **degraded** — its error rate is above half the threshold, or its p95
//!    duration is above `slow_execution_threshold_ms`. p95 rather than the
//!    mean: the mean hides a slow tail and one outlier moves it; p95 says
//!    "more than one execution in twenty is slow".
//! 4. otherwise **healthy** (including a window without executions when the
//!    worker was active recently).
//!
//! Error rates are percentages (0–100) and the configured threshold is a
//! fraction (0.2 means 20 %). The Python original compared the percentage
//! with the fraction in places, which flags nearly every worker; here the
//! threshold is multiplied by 100 before comparing.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rusqlite::Connection;
use serde::Serialize;

use super::coverage;
use super::error::MonitorError;
use super::performance::{WorkerPerformance, sketch_worker_performances, worker_performance};
use super::scope::RunScope;
use super::sketch::{self, Precision};
use crate::clock;
use crate::config::MonitoringConfig;
use crate::window::TimeWindow;

/// A worker's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Active, errors and durations within thresholds.
    Healthy,
    /// Active but erring above half the threshold, or slow.
    Degraded,
    /// Erring above the threshold.
    Failing,
    /// Nothing ended recently.
    Inactive,
}

impl HealthStatus {
    /// The name shown to users and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Failing => "failing",
            HealthStatus::Inactive => "inactive",
        }
    }
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The limits health is judged by (the seed's `worker_monitoring` section).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HealthThresholds {
    /// Error rate above which a worker is failing, as a fraction (0.2 = 20 %).
    pub error_rate_threshold: f64,
    /// p95 duration above which a worker is degraded, milliseconds.
    pub slow_execution_threshold_ms: f64,
    /// How long without an ended execution makes a worker inactive: three
    /// health-check intervals, so that one quiet interval is not an alarm.
    pub inactivity: Duration,
    /// The window performance is measured over (`performance_window_minutes`).
    pub window: Duration,
}

impl HealthThresholds {
    /// Thresholds from the configuration's values:
    /// `inactivity = 3 × health_check_interval`.
    pub fn new(
        error_rate_threshold: f64,
        slow_execution_threshold_ms: f64,
        health_check_interval: Duration,
        performance_window: Duration,
    ) -> Self {
        HealthThresholds {
            error_rate_threshold,
            slow_execution_threshold_ms,
            inactivity: health_check_interval.saturating_mul(3),
            window: performance_window,
        }
    }

    /// The thresholds of a configuration: its `worker_monitoring` limits,
    /// health-check interval and performance window.
    pub fn from_config(config: &MonitoringConfig) -> Self {
        HealthThresholds::new(
            config.worker_monitoring.error_rate_threshold,
            config.worker_monitoring.slow_execution_threshold_ms,
            config.health_check_interval(),
            config.performance_window(),
        )
    }

    /// The error-rate threshold as a percentage, the unit rates are in.
    pub fn error_rate_percent(&self) -> f64 {
        self.error_rate_threshold * 100.0
    }
}

impl Default for HealthThresholds {
    /// The seed's configuration: 20 % errors, 1000 ms, checks every 10 s
    /// (so 30 s of inactivity), a 30-minute window.
    fn default() -> Self {
        HealthThresholds::new(
            0.2,
            1000.0,
            Duration::from_secs(10),
            Duration::from_secs(30 * 60),
        )
    }
}

/// `check_worker_health`: a worker's status, why, and the figures it was
/// judged on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerHealth {
    /// The worker.
    pub worker: String,
    /// Its status.
    pub status: HealthStatus,
    /// Sentences naming each value and the threshold it crossed; empty when
    /// healthy.
    pub issues: Vec<String>,
    /// When it was evaluated, ISO-8601.
    pub evaluated_at: String,
    /// When it was evaluated, microseconds.
    pub evaluated_at_us: i64,
    /// Executions in the performance window.
    pub total_executions: u64,
    /// Error rate in the window, percent.
    pub error_rate: f64,
    /// p95 duration in the window, milliseconds.
    pub p95_duration_ms: f64,
    /// When its last execution ended (at or before the evaluation), if ever.
    pub last_execution_at_us: Option<i64>,
}

/// Applies the rules of this module to a worker's performance over the
/// window that ends at `at_us`. Pure: no database, no clock.
pub fn classify(
    perf: &WorkerPerformance,
    at_us: i64,
    thresholds: &HealthThresholds,
) -> (HealthStatus, Vec<String>) {
    let inactivity_us = i64::try_from(thresholds.inactivity.as_micros()).unwrap_or(i64::MAX);
    match perf.last_execution_at_us {
        None => {
            return (
                HealthStatus::Inactive,
                vec!["no execution has ever ended".to_string()],
            );
        }
        Some(last) if at_us.saturating_sub(last) > inactivity_us => {
            return (
                HealthStatus::Inactive,
                vec![format!(
                    "no execution ended in the last {:.1} s (the last one {:.1} s ago)",
                    inactivity_us as f64 / 1e6,
                    at_us.saturating_sub(last) as f64 / 1e6
                )],
            );
        }
        Some(_) => {}
    }
    judge_performance(perf, thresholds)
}

/// Rules 2–4 of this module (failing, degraded, healthy) applied to a
/// window's figures, without the inactivity rule: for the problem workers of
/// a performance summary, where every worker has executions.
pub fn judge_performance(
    perf: &WorkerPerformance,
    thresholds: &HealthThresholds,
) -> (HealthStatus, Vec<String>) {
    let mut issues = Vec::new();
    let mut status = HealthStatus::Healthy;
    let limit = thresholds.error_rate_percent();
    if perf.error_rate > limit {
        status = HealthStatus::Failing;
        issues.push(format!(
            "error rate {:.1}% exceeds the {:.1}% threshold",
            perf.error_rate, limit
        ));
    } else if perf.error_rate > limit / 2.0 {
        status = HealthStatus::Degraded;
        issues.push(format!(
            "error rate {:.1}% exceeds half the {:.1}% threshold",
            perf.error_rate, limit
        ));
    }
    if perf.total_executions > 0 && perf.p95_duration_ms > thresholds.slow_execution_threshold_ms {
        if status == HealthStatus::Healthy {
            status = HealthStatus::Degraded;
        }
        issues.push(format!(
            "p95 duration {:.1} ms exceeds the {:.1} ms slow-execution threshold",
            perf.p95_duration_ms, thresholds.slow_execution_threshold_ms
        ));
    }
    (status, issues)
}

/// Evaluates one worker's health at `at_us` over the window
/// `[at_us - thresholds.window, at_us)`, for the runs in `scope`.
///
/// An unknown worker is [`MonitorError::UnknownWorker`].
pub fn evaluate_health(
    conn: &Connection,
    worker: &str,
    at_us: i64,
    thresholds: &HealthThresholds,
    scope: RunScope,
) -> Result<WorkerHealth, MonitorError> {
    let window = TimeWindow::ending_at(at_us, thresholds.window);
    let perf = worker_performance(conn, worker, window, scope)?;
    Ok(judged(worker, &perf, at_us, thresholds))
}

/// [`evaluate_health`] of each of `workers`, in that order, with the same
/// answers: a window long enough for the sketches is one query for every
/// worker (one merge of the window's sketch rows instead of one per
/// worker, which made the health of ten workers the slowest part of a
/// day's report); a worker without executions in it, or a short window,
/// is asked one worker at a time as before.
pub fn evaluate_health_all(
    conn: &Connection,
    workers: &[String],
    at_us: i64,
    thresholds: &HealthThresholds,
    scope: RunScope,
) -> Result<Vec<WorkerHealth>, MonitorError> {
    let window = TimeWindow::ending_at(at_us, thresholds.window);
    let marks = coverage::watermarks(conn, scope)?;
    let mut found: HashMap<String, WorkerPerformance> = HashMap::new();
    if workers.len() > 1
        && let Some(span) = sketch::sketch_span(window, &marks, Precision::Auto)
    {
        for perf in sketch_worker_performances(conn, window, span, scope, None)? {
            found.insert(perf.worker.clone(), perf);
        }
    }
    workers
        .iter()
        .map(|name| {
            let perf = match found.remove(name) {
                Some(perf) => perf,
                None => worker_performance(conn, name, window, scope)?,
            };
            Ok(judged(name, &perf, at_us, thresholds))
        })
        .collect()
}

/// A worker's health at `at_us` from its performance over the window.
fn judged(
    worker: &str,
    perf: &WorkerPerformance,
    at_us: i64,
    thresholds: &HealthThresholds,
) -> WorkerHealth {
    let (status, issues) = classify(perf, at_us, thresholds);
    WorkerHealth {
        worker: worker.to_string(),
        status,
        issues,
        evaluated_at: clock::format_iso(at_us),
        evaluated_at_us: at_us,
        total_executions: perf.total_executions,
        error_rate: perf.error_rate,
        p95_duration_ms: perf.p95_duration_ms,
        last_execution_at_us: perf.last_execution_at_us,
    }
}

/// A worker's status changed between two health evaluations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// The worker.
    pub worker: String,
    /// Its previous status; `None` the first time it is seen, so a worker
    /// that is already failing when monitoring starts is reported.
    pub from: Option<HealthStatus>,
    /// Its status now.
    pub to: HealthStatus,
}

/// Remembers each worker's last status and reports changes, for the
/// background health check that re-evaluates every
/// `health_check_interval_seconds`. The loop around it is the caller's; this
/// is the pure part tests drive without sleeping.
#[derive(Debug, Clone, Default)]
pub struct HealthTracker {
    last: HashMap<String, HealthStatus>,
}

impl HealthTracker {
    /// A tracker that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one round of statuses and returns the workers whose status
    /// differs from the previous round (or that are new), in name order.
    /// Workers absent from this round keep their last status: a round may
    /// cover only some workers.
    pub fn tick(&mut self, statuses: &BTreeMap<String, HealthStatus>) -> Vec<Transition> {
        let mut transitions = Vec::new();
        for (worker, &to) in statuses {
            let from = self.last.insert(worker.clone(), to);
            if from != Some(to) {
                transitions.push(Transition {
                    worker: worker.clone(),
                    from,
                    to,
                });
            }
        }
        transitions
    }

    /// The last status seen for `worker`.
    pub fn status(&self, worker: &str) -> Option<HealthStatus> {
        self.last.get(worker).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000_000;

    fn perf(total: u64, error_rate: f64, p95_ms: f64, last: Option<i64>) -> WorkerPerformance {
        WorkerPerformance {
            worker: "w".into(),
            total_executions: total,
            error_rate,
            p95_duration_ms: p95_ms,
            last_execution_at_us: last,
            ..WorkerPerformance::empty("w")
        }
    }

    #[test]
    fn defaults_match_the_seed_config() {
        let t = HealthThresholds::default();
        assert_eq!(t.error_rate_threshold, 0.2);
        assert_eq!(t.slow_execution_threshold_ms, 1000.0);
        assert_eq!(t.inactivity, Duration::from_secs(30));
        assert_eq!(t.window, Duration::from_secs(1800));
    }

    #[test]
    fn each_status_at_a_fixed_clock() {
        let t = HealthThresholds::default();
        let recent = Some(NOW - 1_000_000);
        assert_eq!(
            classify(&perf(10, 0.0, 50.0, recent), NOW, &t),
            (HealthStatus::Healthy, vec![])
        );
        let (s, issues) = classify(&perf(10, 31.0, 50.0, recent), NOW, &t);
        assert_eq!(s, HealthStatus::Failing);
        assert_eq!(issues, ["error rate 31.0% exceeds the 20.0% threshold"]);
        let (s, issues) = classify(&perf(10, 12.0, 50.0, recent), NOW, &t);
        assert_eq!(s, HealthStatus::Degraded);
        assert_eq!(
            issues,
            ["error rate 12.0% exceeds half the 20.0% threshold"]
        );
        let (s, issues) = classify(&perf(10, 0.0, 1500.0, recent), NOW, &t);
        assert_eq!(s, HealthStatus::Degraded);
        assert_eq!(
            issues,
            ["p95 duration 1500.0 ms exceeds the 1000.0 ms slow-execution threshold"]
        );
        let (s, _) = classify(&perf(10, 0.0, 50.0, Some(NOW - 31_000_000)), NOW, &t);
        assert_eq!(s, HealthStatus::Inactive);
        let (s, _) = classify(&perf(0, 0.0, 0.0, None), NOW, &t);
        assert_eq!(s, HealthStatus::Inactive);
    }

    #[test]
    fn a_percentage_is_compared_with_the_threshold_times_100() {
        // 0.5 % errors is far below a 0.2 (20 %) threshold; comparing the
        // percentage with the fraction, as the seed did, would call it failing.
        let t = HealthThresholds::default();
        let (s, _) = classify(&perf(200, 0.5, 10.0, Some(NOW)), NOW, &t);
        assert_eq!(s, HealthStatus::Healthy);
    }

    #[test]
    fn exactly_the_inactivity_limit_is_still_active() {
        let t = HealthThresholds::default();
        let (s, _) = classify(&perf(1, 0.0, 1.0, Some(NOW - 30_000_000)), NOW, &t);
        assert_eq!(s, HealthStatus::Healthy);
    }

    #[test]
    fn the_tracker_reports_changes_only() {
        let mut tracker = HealthTracker::new();
        let round = |pairs: &[(&str, HealthStatus)]| {
            pairs
                .iter()
                .map(|(w, s)| (w.to_string(), *s))
                .collect::<BTreeMap<_, _>>()
        };
        let first = tracker.tick(&round(&[
            ("a", HealthStatus::Healthy),
            ("b", HealthStatus::Failing),
        ]));
        assert_eq!(first.len(), 2);
        assert_eq!(first[1].from, None);
        assert!(
            tracker
                .tick(&round(&[
                    ("a", HealthStatus::Healthy),
                    ("b", HealthStatus::Failing)
                ]))
                .is_empty()
        );
        let changed = tracker.tick(&round(&[("a", HealthStatus::Degraded)]));
        assert_eq!(
            changed,
            [Transition {
                worker: "a".into(),
                from: Some(HealthStatus::Healthy),
                to: HealthStatus::Degraded
            }]
        );
        assert_eq!(tracker.status("b"), Some(HealthStatus::Failing));
    }
}
