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

mod engine;
mod history;
mod notify;
mod rules;

use std::sync::Arc;

pub use engine::{Alert, AlertChange, AlertEngine, AlertIdSource, AlertStatus};
pub use history::{alert_history, firing_alerts};
pub use notify::{
    AlertNotifier, CommandNotifier, LogNotifier, WebhookNotifier, notifier_from_config,
};
pub use rules::{AlertInputs, AlertRules, AlertThresholds, AlertType, Severity, WorkerObservation};

use crate::monitor::error::MonitorError;
use crate::store::{Record, Writer};
use history::fired_record;

/// The seed's `MonitoringAlerts`: the engine plus what happens to each
/// change — a log event (`warn` when fired, `info` when resolved), a row in
/// `alerts` through the writer, and the notifiers.
pub struct MonitoringAlerts {
    engine: AlertEngine,
    writer: Writer,
    notifiers: Vec<Route>,
    changes: tokio::sync::broadcast::Sender<AlertChange>,
}

/// Which changes go to a notifier.
struct Route {
    min_severity: Severity,
    send_resolved: bool,
    notifier: Arc<dyn AlertNotifier>,
}

/// How many changes a slow [`MonitoringAlerts::subscribe`] receiver may
/// fall behind before it misses some (it is told how many).
const CHANGES_BUFFER: usize = 256;

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
        Self::with_rules(thresholds, AlertRules::ALL, writer)
    }

    /// Alerts evaluating only the rules `rules` allows.
    pub fn with_rules(thresholds: AlertThresholds, rules: AlertRules, writer: Writer) -> Self {
        let ids = writer.clone();
        MonitoringAlerts {
            engine: AlertEngine::with_rules(thresholds, rules, Arc::new(move || ids.next_id())),
            writer,
            notifiers: Vec::new(),
            changes: tokio::sync::broadcast::channel(CHANGES_BUFFER).0,
        }
    }

    /// Sends every change (firing and resolution) of severity
    /// `min_severity` or above to `notifier`. The seed notified critical
    /// alerts only: `Severity::Critical`.
    pub fn add_notifier(&mut self, notifier: Arc<dyn AlertNotifier>, min_severity: Severity) {
        self.add_notifier_routed(notifier, min_severity, true);
    }

    /// [`MonitoringAlerts::add_notifier`], sending resolutions only when
    /// `send_resolved` (Alertmanager's option of that name).
    pub fn add_notifier_routed(
        &mut self,
        notifier: Arc<dyn AlertNotifier>,
        min_severity: Severity,
        send_resolved: bool,
    ) {
        self.notifiers.push(Route {
            min_severity,
            send_resolved,
            notifier,
        });
    }

    /// Every later change, as it is found (after it is logged and handed to
    /// the writer): how a program shows alerts that the background check
    /// fires.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<AlertChange> {
        self.changes.subscribe()
    }

    /// The sender behind [`MonitoringAlerts::subscribe`], so that an owner
    /// can hand out receivers without waiting for a check in progress.
    pub(crate) fn change_feed(&self) -> tokio::sync::broadcast::Sender<AlertChange> {
        self.changes.clone()
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
    ) -> Result<Vec<AlertChange>, MonitorError> {
        let changes = self.engine.evaluate(inputs, now_us);
        self.deliver(&changes, now_us).await?;
        Ok(changes)
    }

    /// Resolves every firing alert at `now_us` — logged, recorded and
    /// notified like any resolution — because nobody will watch their
    /// conditions any more (the run ends), and returns the resolutions.
    pub async fn resolve_all(&mut self, now_us: i64) -> Result<Vec<AlertChange>, MonitorError> {
        let changes = self.engine.resolve_all(now_us);
        self.deliver(&changes, now_us).await?;
        Ok(changes)
    }

    /// Logs, records, broadcasts and notifies `changes`.
    async fn deliver(&self, changes: &[AlertChange], now_us: i64) -> Result<(), MonitorError> {
        for change in changes {
            let a = change.alert();
            match change {
                AlertChange::Fired(_) => {
                    // Critical alerts at `error`, the others at `warn`: a log
                    // filtered to errors still shows what needs action now.
                    if a.severity == Severity::Critical {
                        tracing::error!(
                            alert_id = a.id,
                            alert_type = %a.alert_type,
                            severity = a.severity.as_str(),
                            worker = a.worker.as_deref().unwrap_or(""),
                            value = a.value,
                            threshold = a.threshold,
                            "Alert triggered: {}",
                            a.message
                        );
                    } else {
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
                    }
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
        for change in changes {
            // No receiver is fine: nobody is watching.
            let _ = self.changes.send(change.clone());
        }
        self.notify(changes).await;
        Ok(())
    }

    async fn notify(&self, changes: &[AlertChange]) {
        let mut pending = Vec::new();
        for change in changes {
            for route in &self.notifiers {
                if change.alert().severity < route.min_severity
                    || (matches!(change, AlertChange::Resolved(_)) && !route.send_resolved)
                {
                    continue;
                }
                let notifier = Arc::clone(&route.notifier);
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
