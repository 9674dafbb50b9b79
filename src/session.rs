//! A monitored run: the store, its writer, an orchestrator that records
//! through it, and the background jobs the configuration asks for — system
//! sampling, health re-evaluation with alerting, and retention — started
//! together and shut down together.
//!
//! This is what `demo`, `load-test` and embedding programs use; tests can
//! still assemble the parts by hand.

use crate::transport::RemoteWorkers;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock;
use crate::config::MonitoringConfig;
use crate::interrupt::Interrupt;
use crate::monitor::alerts::{
    AlertChange, AlertInputs, AlertRules, AlertThresholds, MonitoringAlerts, WorkerObservation,
    notifier_from_config,
};
use crate::monitor::custom::{CustomMetrics, MetricRegistry};
use crate::monitor::system::{self, MetricsCollector, active_workflows_from};
use crate::monitor::{
    EventMonitor, HealthStatus, HealthThresholds, HealthTracker, MonitorError, RunScope,
    WorkerMonitor,
};
use crate::orchestrator::{Orchestrator, OrchestratorOptions};
use crate::schedule::{self, Next, Schedule};
use crate::store::retention;
use crate::store::{
    MetricType, RunEnd, RunInfo, RunStatus, Store, StoreError, Writer, WriterOptions,
};
use crate::window::TimeWindow;
use crate::worker::WorkerRegistry;

/// The window the seed's alert check looks at: `get_event_metrics(time_window_minutes=5)`.
pub const ALERT_WINDOW: Duration = Duration::from_secs(5 * 60);

/// How long an interrupted session waits, by default, for workflows in
/// flight to finish before stopping them (`--grace`).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// After the grace period, how long stopped workflows get to record their
/// cancelled end; whatever is left then is closed by the run's close.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// The error recorded on workflows stopped by an interrupt.
pub const INTERRUPTED: &str = "interrupted";

/// How a session ended, for the summary a command prints.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ShutdownSummary {
    /// The run.
    pub run_id: i64,
    /// `completed` or `interrupted`.
    pub status: RunStatus,
    /// Why it ended ("ended normally", "interrupted by SIGINT").
    pub reason: String,
    /// Workflows in flight when the stop was asked for (interrupted only).
    pub in_flight_at_stop: u64,
    /// Of those, how many finished on their own within the grace period.
    pub finished_in_grace: u64,
    /// Of those, how many were still running when the grace period ended
    /// and were stopped: recorded `cancelled` ("interrupted"), unless one
    /// ended on its own at that very moment.
    pub cancelled: u64,
}

/// A recording run with its background jobs.
///
/// Start one on a database file with the workers your workflows use,
/// register workflows on its [`orchestrator`](Session::orchestrator), run
/// them, ask its monitors, then shut it down: that closes the run and
/// leaves the file complete for `multiagents query`, `report` and friends.
///
/// ```
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use multiagents::config::MonitoringConfig;
/// use multiagents::session::Session;
/// use multiagents::store::{RunInfo, WorkflowState};
/// use multiagents::window::TimeWindow;
/// use multiagents::worker::{Context, WorkerRegistry};
/// use multiagents::workflow::WorkflowBuilder;
/// use serde_json::json;
///
/// let mut workers = WorkerRegistry::new();
/// workers.register("greet", |ctx: Context| async move {
///     let name = ctx.get_str("name").unwrap_or("nobody").to_string();
///     Ok(json!({ "greeting": format!("hello {name}") }))
/// });
/// let dir = tempfile::tempdir()?;
/// let db = dir.path().join("run.db");
/// let run = RunInfo::from_env("{}".into());
/// let session = Session::start(&db, MonitoringConfig::default(), workers, run).await?;
///
/// let hello = WorkflowBuilder::new("hello").step("greet", "greet").build()?;
/// session.orchestrator().register_workflow(hello)?;
/// let id = session
///     .orchestrator()
///     .execute_workflow("hello", json!({ "name": "Ada" }))
///     .await?;
/// let status = session.orchestrator().wait(&id).await?;
/// assert_eq!(status.state, WorkflowState::Completed);
///
/// let metrics = session
///     .event_monitor()
///     .get_event_metrics(TimeWindow::last_minutes(1.0))?;
/// assert_eq!(metrics.total_events, 1);
/// session.shutdown().await?;
/// # Ok(())
/// # }
/// ```
pub struct Session {
    config: MonitoringConfig,
    store: Store,
    writer: Writer,
    orchestrator: Orchestrator,
    collector: MetricsCollector,
    custom: CustomMetrics,
    alerts: Arc<tokio::sync::Mutex<MonitoringAlerts>>,
    alert_changes: tokio::sync::broadcast::Sender<AlertChange>,
    health: Arc<Mutex<HealthTracker>>,
    /// The latest moment a health and alert check evaluated (µs).
    latest_check_us: Arc<AtomicI64>,
    stop: watch::Sender<bool>,
    jobs: Vec<JoinHandle<()>>,
    interrupt: Interrupt,
    grace: Duration,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("db", &self.store.path())
            .field("run_id", &self.writer.run_id())
            .finish()
    }
}

/// Alert thresholds from the configuration.
pub fn alert_thresholds(config: &MonitoringConfig) -> AlertThresholds {
    AlertThresholds {
        error_rate_threshold: config.alerts.error_rate_threshold,
        latency_threshold_ms: config.alerts.latency_threshold_ms,
        slow_execution_threshold_ms: config.worker_monitoring.slow_execution_threshold_ms,
    }
}

/// Which alert rules the configuration switches on: none without
/// `alerts.enabled`; the worker rules also need `worker_monitoring.enabled`
/// and their own switch (`alert_on_high_error_rate` for `worker_failed`,
/// `performance_alerts` for `slow_worker`).
pub fn alert_rules(config: &MonitoringConfig) -> AlertRules {
    let alerts = config.alerts.enabled;
    let workers = alerts && config.worker_monitoring.enabled;
    AlertRules {
        high_error_rate: alerts,
        high_latency: alerts,
        slow_worker: workers && config.worker_monitoring.performance_alerts,
        worker_failed: workers && config.worker_monitoring.alert_on_high_error_rate,
    }
}

fn declared_metrics(config: &MonitoringConfig) -> Vec<(String, MetricType)> {
    config
        .metrics_collection
        .custom_metrics
        .iter()
        .map(|m| (m.name.clone(), m.metric_type))
        .collect()
}

impl Session {
    /// Opens `db`, records a new run, builds an orchestrator over `workers`
    /// and starts the background jobs the configuration enables.
    pub async fn start(
        db: &Path,
        config: MonitoringConfig,
        workers: WorkerRegistry,
        run: RunInfo,
    ) -> Result<Session, MonitorError> {
        Self::start_with(db, config, workers, run, WriterOptions::default()).await
    }

    /// [`Session::start`] with explicit writer options.
    pub async fn start_with(
        db: &Path,
        config: MonitoringConfig,
        workers: WorkerRegistry,
        run: RunInfo,
        writer_options: WriterOptions,
    ) -> Result<Session, MonitorError> {
        Self::start_remote(db, config, workers, run, writer_options, None).await
    }

    /// [`Session::start_with`] whose steps run on worker hosts through
    /// `remote` (for the workers it serves; see [`crate::transport`]). The
    /// hosts it hears from are recorded in the run (`run_hosts`).
    pub async fn start_remote(
        db: &Path,
        config: MonitoringConfig,
        workers: WorkerRegistry,
        run: RunInfo,
        writer_options: WriterOptions,
        remote: Option<Arc<dyn RemoteWorkers>>,
    ) -> Result<Session, MonitorError> {
        let (store, writer) = Store::open(db, &run, writer_options)?;
        if let Some(remote) = &remote {
            remote.record_into(writer.clone());
        }
        let orchestrator = Orchestrator::build(
            workers,
            Some(store.clone()),
            Some(writer.clone()),
            OrchestratorOptions {
                record_events: config.event_monitoring.enabled,
                track_payload_size: config.event_monitoring.track_payload_size,
                detailed_timing: config.event_monitoring.detailed_timing,
                remote,
                ..OrchestratorOptions::default()
            },
        );
        let active = active_workflows_from(orchestrator.active_workflows_counter());
        let collector = if config.records_system_samples() {
            // On-demand samples are kept like the background ones.
            MetricsCollector::recording(store.clone(), active, writer.clone())?
        } else {
            MetricsCollector::new(store.clone(), active)?
        }
        .with_scope(RunScope::Run(writer.run_id()));
        let registry = Arc::new(MetricRegistry::from_declared(declared_metrics(&config))?);
        let custom = CustomMetrics::new(writer.clone(), registry)
            .recording(config.metrics_collection.enabled);
        let mut alerts = MonitoringAlerts::with_rules(
            alert_thresholds(&config),
            alert_rules(&config),
            writer.clone(),
        );
        for notifier in &config.alerts.notifiers {
            alerts.add_notifier_routed(
                notifier_from_config(notifier),
                notifier.min_severity,
                notifier.send_resolved,
            );
        }
        let alert_changes = alerts.change_feed();
        let alerts = Arc::new(tokio::sync::Mutex::new(alerts));
        let stop = watch::Sender::new(false);
        let mut session = Session {
            config,
            store,
            writer,
            orchestrator,
            collector,
            custom,
            alerts,
            alert_changes,
            health: Arc::new(Mutex::new(HealthTracker::new())),
            latest_check_us: Arc::new(AtomicI64::new(i64::MIN)),
            stop,
            jobs: Vec::new(),
            interrupt: Interrupt::new(),
            grace: DEFAULT_GRACE,
        };
        session.start_jobs();
        Ok(session)
    }

    /// Puts the background jobs the configuration enables on one schedule,
    /// each first due at once: system sampling, the health and alert
    /// check, and retention. Each round is a plain tick with the time it
    /// was due ([`Session::tick`] runs one by hand).
    fn start_jobs(&mut self) {
        let config = &self.config;
        let now_us = clock::now_us();
        let mut jobs = Schedule::new();
        if config.records_system_samples() {
            let every = system::sampling_interval(config.collection_interval());
            jobs = jobs.every(Job::Sample, every, now_us);
        }
        if config.runs_periodic_checks() {
            jobs = jobs.every(Job::Check, config.health_check_interval(), now_us);
        }
        jobs = jobs.every(Job::Retention, config.cleanup_interval(), now_us);
        let ticks = Arc::new(Ticks {
            collector: self.collector.clone(),
            writer: self.writer.clone(),
            checker: self.checker(),
            config: self.config.clone(),
        });
        self.jobs.push(schedule::spawn(
            jobs,
            self.stop.subscribe(),
            move |job, now_us| {
                let ticks = Arc::clone(&ticks);
                async move { ticks.tick(job, now_us).await }
            },
        ));
    }

    /// Runs one round of background job `job` as if it were due at
    /// `now_us`: what the schedule does on its own, for tests (and
    /// programs) that choose the time instead of waiting for it. Whether
    /// the job would carry on is returned.
    pub async fn tick(&self, job: Job, now_us: i64) -> Next {
        Ticks {
            collector: self.collector.clone(),
            writer: self.writer.clone(),
            checker: self.checker(),
            config: self.config.clone(),
        }
        .tick(job, now_us)
        .await
    }

    fn checker(&self) -> Checker {
        Checker {
            events: self.event_monitor(),
            workers: self.worker_monitor(),
            alerts: Arc::clone(&self.alerts),
            health: Arc::clone(&self.health),
            track_health: self.config.worker_monitoring.enabled,
            latest_us: Arc::clone(&self.latest_check_us),
            rules: alert_rules(&self.config),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &MonitoringConfig {
        &self.config
    }

    /// The store (readers).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The writer.
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// This run's id.
    pub fn run_id(&self) -> i64 {
        self.writer.run_id()
    }

    /// The orchestrator, recording into this session's store.
    pub fn orchestrator(&self) -> &Orchestrator {
        &self.orchestrator
    }

    /// Event questions about this run.
    pub fn event_monitor(&self) -> EventMonitor {
        EventMonitor::new(self.store.clone()).with_scope(RunScope::Run(self.run_id()))
    }

    /// Worker questions about this run, judged by the configured thresholds.
    pub fn worker_monitor(&self) -> WorkerMonitor {
        WorkerMonitor::new(self.store.clone())
            .with_scope(RunScope::Run(self.run_id()))
            .with_thresholds(HealthThresholds::from_config(&self.config))
    }

    /// System samples: take one now, or summarize a window.
    pub fn metrics_collector(&self) -> &MetricsCollector {
        &self.collector
    }

    /// Custom metrics, recorded through this session's writer.
    pub fn custom_metrics(&self) -> &CustomMetrics {
        &self.custom
    }

    /// Every later alert change, whether the background check or
    /// [`Session::check_alerts`] found it.
    pub fn subscribe_alerts(&self) -> tokio::sync::broadcast::Receiver<AlertChange> {
        self.alert_changes.subscribe()
    }

    /// Re-evaluates health and alert rules now (the background job does the
    /// same every `health_check_interval_seconds`), returning alert changes:
    /// none from the rules the configuration switches off.
    pub async fn check_alerts(&self) -> Result<Vec<AlertChange>, MonitorError> {
        self.checker().check(clock::now_us()).await
    }

    /// Asks this session's work to stop (a signal arrived): whoever starts
    /// workflows stops starting them, and [`Session::shutdown_with`] closes
    /// the run as interrupted. `reason` says why ("interrupted by SIGINT").
    pub fn interrupt(&self, reason: impl Into<String>) {
        self.interrupt.trigger(reason);
    }

    /// Why the writer stopped, if it failed: nothing more can be recorded,
    /// new workflows are refused, and [`Session::shutdown_with`] returns
    /// this reason as its error.
    pub fn failure(&self) -> Option<String> {
        self.writer.failure()
    }

    /// Completes at the writer's first failure (never, if it does not fail),
    /// with the one message to report ("disk full writing …"): code that
    /// starts work selects on it beside [`Interrupt::triggered`] to stop at
    /// once instead of running on without a recording.
    pub async fn failed(&self) -> String {
        self.writer.failed().await
    }

    /// The stop request this session watches, for code that starts work.
    pub fn interrupter(&self) -> &Interrupt {
        &self.interrupt
    }

    /// Watches `interrupt` instead of the session's own request, so that a
    /// signal handler installed before the session started reaches it.
    pub fn set_interrupter(&mut self, interrupt: Interrupt) {
        self.interrupt = interrupt;
    }

    /// How long workflows in flight get to finish after an interrupt
    /// ([`DEFAULT_GRACE`] unless set).
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// Sets the grace period ([`Session::grace`]).
    pub fn set_grace(&mut self, grace: Duration) {
        self.grace = grace;
    }

    /// [`Session::shutdown_with`] with this session's grace period.
    pub async fn shutdown(self) -> Result<(), MonitorError> {
        let grace = self.grace;
        self.shutdown_with(grace).await.map(|_| ())
    }

    /// Stops the background jobs, commits everything and closes the run;
    /// its firing alerts resolve with the reason (nobody is left to watch
    /// their conditions, and a later reader must not see them firing
    /// forever).
    ///
    /// Not interrupted: the run ends `completed`; workflows still running
    /// are left as they are in the file. Interrupted
    /// ([`Session::interrupt`]): workflows in flight get up to `grace` to
    /// finish, those still running are then stopped and recorded
    /// `cancelled` with the error "interrupted", and the run ends
    /// `interrupted` with the interrupt's reason.
    ///
    /// After a writer failure ([`Session::failure`]) nothing more can be
    /// recorded: no grace period is waited, workflows still running are
    /// stopped at once, and the failure is the error returned. What was
    /// committed before it stays in the file; the run is left open, to be
    /// closed as crashed by the next process that opens the file.
    pub async fn shutdown_with(mut self, grace: Duration) -> Result<ShutdownSummary, MonitorError> {
        self.stop.send_replace(true);
        for job in self.jobs.drain(..) {
            let _ = job.await;
        }
        if let Some(reason) = self.writer.failure() {
            self.orchestrator.interrupt_all(&reason);
            return Err(StoreError::WriterStopped(reason).into());
        }
        let end = match self.interrupt.reason() {
            Some(reason) => RunEnd::interrupted(reason),
            None => RunEnd::completed(),
        };
        let mut summary = ShutdownSummary {
            run_id: self.run_id(),
            status: end.status,
            reason: end.reason.clone(),
            in_flight_at_stop: 0,
            finished_in_grace: 0,
            cancelled: 0,
        };
        if end.status == RunStatus::Interrupted {
            let in_flight = self.orchestrator.active_workflows().max(0) as u64;
            self.wait_idle(grace).await;
            let left = self.orchestrator.active_workflows().max(0) as u64;
            summary.in_flight_at_stop = in_flight;
            summary.finished_in_grace = in_flight.saturating_sub(left);
            if left > 0 {
                summary.cancelled = self.orchestrator.interrupt_all(INTERRUPTED) as u64;
                tracing::info!(
                    cancelled = summary.cancelled,
                    "grace period over: stopped the workflows still running"
                );
                self.wait_idle(STOP_WAIT).await;
            }
        }
        // Logged, recorded and notified like any resolution, so a receiver
        // is not left believing an alert still fires.
        self.alerts
            .lock()
            .await
            .resolve_all(clock::now_us())
            .await?;
        if let Some(remote) = self.orchestrator.remote() {
            remote.record_hosts().await;
        }
        self.writer.close(end).await?;
        Ok(summary)
    }

    /// Waits until no workflow is in flight, or `limit` has passed.
    async fn wait_idle(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.orchestrator.active_workflows() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A session's background jobs, each a tick on the session's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Take a system sample and record it
    /// (`metrics_collection.collection_interval_seconds`).
    Sample,
    /// Re-evaluate worker health and the alert rules
    /// (`worker_monitoring.health_check_interval_seconds`).
    Check,
    /// Delete rows past the retention horizons
    /// (`event_monitoring.cleanup_interval_minutes`).
    Retention,
}

/// What the ticks need, shared by the schedule's tasks.
struct Ticks {
    collector: MetricsCollector,
    writer: Writer,
    checker: Checker,
    config: MonitoringConfig,
}

impl Ticks {
    async fn tick(&self, job: Job, now_us: i64) -> Next {
        match job {
            Job::Sample => system::scheduled_tick(&self.collector, &self.writer, now_us).await,
            Job::Check => match self.checker.check(now_us).await {
                Ok(_) => Next::Again,
                // A failed writer ends the checks quietly: nothing they
                // find could be recorded, and the failure is reported
                // once, by whoever watches the writer.
                Err(_) if self.writer.failure().is_some() => Next::Stop,
                Err(e) => {
                    tracing::warn!(error = %e, "health and alert check failed");
                    Next::Again
                }
            },
            Job::Retention => retention::scheduled_tick(&self.writer, &self.config, now_us).await,
        }
    }
}

/// The health and alert evaluation, shared by the background job and
/// on-demand checks.
struct Checker {
    events: EventMonitor,
    workers: WorkerMonitor,
    alerts: Arc<tokio::sync::Mutex<MonitoringAlerts>>,
    health: Arc<Mutex<HealthTracker>>,
    /// `worker_monitoring.enabled`: evaluate and log worker health.
    track_health: bool,
    /// The latest moment a check evaluated (µs), shared by all checks.
    latest_us: Arc<AtomicI64>,
    rules: AlertRules,
}

impl Checker {
    async fn check(&self, now_us: i64) -> Result<Vec<AlertChange>, MonitorError> {
        let read_health = self.track_health || self.rules.any_worker_rule();
        if !read_health && !self.rules.any() {
            return Ok(Vec::new());
        }
        let events = self.events.clone();
        let workers = self.workers.clone();
        // Two indexed queries; off the async threads all the same.
        let (metrics, health) = tokio::task::spawn_blocking(move || {
            let metrics = events.get_event_metrics(TimeWindow::ending_at(now_us, ALERT_WINDOW))?;
            let health = if read_health {
                workers.get_all_workers_health_at(now_us)?
            } else {
                BTreeMap::new()
            };
            Ok::<_, MonitorError>((metrics, health))
        })
        .await
        .map_err(|e| MonitorError::Task(e.to_string()))??;
        let mut alerts = self.alerts.lock().await;
        // Checks overlap (the schedule's and on-demand ones): one about an
        // earlier moment that finishes after a later one must not undo it,
        // e.g. resolve from an older, emptier window what the later fired.
        if self.latest_us.fetch_max(now_us, Ordering::SeqCst) > now_us {
            return Ok(Vec::new());
        }
        let statuses: BTreeMap<String, HealthStatus> = health
            .iter()
            .map(|(name, h)| (name.clone(), h.status))
            .collect();
        if self.track_health {
            let transitions = self
                .health
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .tick(&statuses);
            for t in transitions {
                tracing::info!(worker = %t.worker, from = ?t.from, to = ?t.to, "worker health changed");
            }
        }
        if !self.rules.any() {
            return Ok(Vec::new());
        }
        let inputs = AlertInputs {
            error_rate_percent: metrics.error_rate,
            avg_latency_ms: metrics.avg_latency_ms,
            workers: health
                .into_values()
                .map(|h| WorkerObservation {
                    p95_duration_ms: (h.total_executions > 0).then_some(h.p95_duration_ms),
                    name: h.worker,
                    status: h.status.as_str().to_string(),
                    issues: h.issues,
                })
                .collect(),
        };
        alerts.check_alerts(&inputs, now_us).await
    }
}
