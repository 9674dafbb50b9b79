//! `multiagents demo`: the seed's monitoring demonstrations, in order, on a
//! real database, printed the way the seed prints them.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use tokio::sync::broadcast;

use crate::clock;
use crate::config::MonitoringConfig;
use crate::dashboard;
use crate::loadtest::{LoadTestError, LoadTestOptions, load_test_workers, run_load_test};
use crate::monitor::alerts::{AlertChange, Severity};
use crate::monitor::custom::{get_business_metrics, histogram_summaries, latest_gauges};
use crate::monitor::{HealthThresholds, RunScope};
use crate::orchestrator::OrchestratorError;
use crate::session::Session;
use crate::store::{RunInfo, WorkflowState};
use crate::window::TimeWindow;
use crate::workload::{DemoSettings, register_demo_workflows};

/// How the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Database to record into.
    pub db: PathBuf,
    /// Monitoring configuration. In quick mode its health-check and
    /// sampling intervals are scaled by 0.1 like every other pause, and the
    /// demo prints the intervals it uses.
    pub config: MonitoringConfig,
    /// Seed of the workers' randomness: the same seed gives the same run.
    pub seed: u64,
    /// The seed's full durations (30 s of system monitoring, a 60 s load
    /// test, real worker timings) instead of the quick ones.
    pub full: bool,
    /// The command line, recorded in the run.
    pub command: String,
    /// Worker hosts that run the steps (`--redis`); `None`: this process.
    pub remote: Option<std::sync::Arc<dyn crate::transport::RemoteWorkers>>,
}

/// The workers the demo's workflows use, which `--redis` needs hosts for.
pub fn demo_worker_names() -> Vec<String> {
    load_test_workers(DemoSettings::default()).names()
}

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The orchestrator refused something.
    #[error(transparent)]
    Orchestrator(#[from] OrchestratorError),
    /// The session, a monitoring question, metrics, alerts or the
    /// dashboard snapshot failed.
    #[error(transparent)]
    Monitor(#[from] crate::monitor::MonitorError),
    /// The load test failed.
    #[error(transparent)]
    LoadTest(#[from] LoadTestError),
    /// Writing the output failed (a closed pipe, say).
    #[error("writing the demo's output: {0}")]
    Output(#[from] std::io::Error),
}

/// What the demo did, for the closing lines and for tests.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DemoSummary {
    /// The run it recorded.
    pub run_id: i64,
    /// Workflows it started.
    pub workflows: usize,
    /// Alerts that fired.
    pub alerts_fired: usize,
    /// Set when a stop was asked for (a signal) before the demo finished:
    /// how the run was closed.
    pub interrupted: Option<crate::session::ShutdownSummary>,
}

struct Demo<'a> {
    session: Session,
    out: &'a mut (dyn Write + Send),
    scale: f64,
    full: bool,
    seed: u64,
    started: usize,
    alerts_fired: usize,
    /// Alert changes found by the session's checks, background or not.
    alerts: broadcast::Receiver<AlertChange>,
}

fn header(out: &mut (dyn Write + Send), title: &str, width: usize) -> std::io::Result<()> {
    writeln!(out, "\n{title}")?;
    writeln!(out, "{}", "=".repeat(width))
}

/// Mixed into the seed for the order values, so they are a different
/// stream from the workers' randomness.
const ORDER_STREAM: u64 = 0x6f72_6465_7273;

/// One printed line per alert change, as the seed's `handle_alert` and
/// `send_critical_notification` print them.
fn describe(change: &AlertChange) -> String {
    let a = change.alert();
    match change {
        AlertChange::Fired(_) if a.severity == Severity::Critical => {
            format!("🚨 CRITICAL ALERT: {}", a.message)
        }
        AlertChange::Fired(_) => format!("⚠️  ALERT ({}): {}", a.alert_type, a.message),
        AlertChange::Resolved(_) => format!("✅ RESOLVED ({}): {}", a.alert_type, a.message),
    }
}

impl Demo<'_> {
    fn pause(&self, seconds: f64) -> Duration {
        Duration::from_secs_f64((seconds * self.scale).max(0.01))
    }

    /// Prints the alert changes found since the last call; returns how many
    /// alerts fired among them.
    fn print_alert_changes(&mut self) -> Result<usize, DemoError> {
        let mut fired = 0;
        loop {
            match self.alerts.try_recv() {
                Ok(change) => {
                    if matches!(change, AlertChange::Fired(_)) {
                        fired += 1;
                    }
                    writeln!(self.out, "{}", describe(&change))?;
                }
                Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                    writeln!(
                        self.out,
                        "({missed} alert changes not shown: see `multiagents query alerts`)"
                    )?;
                }
                Err(_) => break,
            }
        }
        self.alerts_fired += fired;
        Ok(fired)
    }

    async fn start(
        &mut self,
        workflow: &str,
        input: serde_json::Value,
    ) -> Result<String, DemoError> {
        self.started += 1;
        Ok(self
            .session
            .orchestrator()
            .execute_workflow(workflow, input)
            .await?)
    }

    async fn wait_all(&self, ids: &[String]) -> Result<Vec<WorkflowState>, DemoError> {
        let mut states = Vec::with_capacity(ids.len());
        for id in ids {
            states.push(self.session.orchestrator().wait(id).await?.state);
        }
        Ok(states)
    }

    async fn event_tracking(&mut self) -> Result<(), DemoError> {
        header(self.out, "🔍 EVENT LIFECYCLE TRACKING DEMO", 50)?;
        let id = self
            .start("simple_monitoring", json!({"data": "monitoring_test"}))
            .await?;
        let events = self.session.event_monitor();
        loop {
            let status = self.session.orchestrator().get_status(&id)?;
            let metrics = events.get_event_metrics(TimeWindow::last_minutes(1.0))?;
            writeln!(
                self.out,
                "State: {} | Step: {} | Events: {} | Latency: {:.1}ms",
                status.state,
                status.current_step.as_deref().unwrap_or("-"),
                metrics.total_events,
                metrics.avg_latency_ms
            )?;
            if status.state.is_terminal() {
                break;
            }
            tokio::time::sleep(self.pause(0.5)).await;
        }
        writeln!(self.out, "\n📊 Event Trace:")?;
        for stage in events.get_transaction_trace(&id)? {
            let who = match (&stage.worker, &stage.step) {
                (Some(w), Some(s)) => format!(" ({s} on {w})"),
                _ => String::new(),
            };
            writeln!(
                self.out,
                "  {}: {} -> {}{who}",
                stage.timestamp, stage.event_type, stage.stage
            )?;
        }
        Ok(())
    }

    async fn worker_performance(&mut self) -> Result<(), DemoError> {
        header(self.out, "⚡ WORKER PERFORMANCE DEMO", 50)?;
        let mut ids = Vec::new();
        for i in 0..10 {
            ids.push(
                self.start("simple_monitoring", json!({"data": format!("test_{i}")}))
                    .await?,
            );
        }
        let states = self.wait_all(&ids).await?;
        let completed = states
            .iter()
            .filter(|s| **s == WorkflowState::Completed)
            .count();
        self.session
            .custom_metrics()
            .set_gauge(
                "workflow_completion_rate",
                &Default::default(),
                completed as f64 / states.len().max(1) as f64,
            )
            .await?;
        writeln!(self.out, "\n📈 Worker Performance Analysis:")?;
        let workers = self.session.worker_monitor();
        for worker in ["fast_processor", "slow_processor", "flaky_processor"] {
            let perf = workers.get_worker_performance(worker, TimeWindow::last_minutes(5.0))?;
            writeln!(self.out, "\n{worker}:")?;
            writeln!(self.out, "  Executions: {}", perf.total_executions)?;
            writeln!(self.out, "  Success Rate: {:.1}%", perf.success_rate)?;
            writeln!(self.out, "  Avg Duration: {:.1}ms", perf.avg_duration_ms)?;
            writeln!(self.out, "  P95 Duration: {:.1}ms", perf.p95_duration_ms)?;
            writeln!(self.out, "  Error Rate: {:.1}%", perf.error_rate)?;
            for _ in 0..perf.total_executions.min(1) {
                self.session
                    .custom_metrics()
                    .observe_histogram(
                        "average_step_duration",
                        &Default::default(),
                        perf.avg_duration_ms,
                    )
                    .await?;
            }
            let health = workers.check_worker_health(worker)?;
            writeln!(self.out, "  Health: {}", health.status)?;
            if !health.issues.is_empty() {
                writeln!(self.out, "  Issues: {}", health.issues.join(", "))?;
            }
        }
        writeln!(
            self.out,
            "\nWorkflows completed: {completed} of {} (recorded as gauge workflow_completion_rate)",
            states.len()
        )?;
        self.custom_metrics(completed).await
    }

    /// The seed's "Custom Metrics": each completed workflow of the
    /// performance demo is an order whose value is tracked with
    /// `track_order_value`; then the hourly business figures and the
    /// declared metrics are read back from the file.
    async fn custom_metrics(&mut self, orders: usize) -> Result<(), DemoError> {
        writeln!(self.out, "\n💰 Custom Metrics:")?;
        let custom = self.session.custom_metrics().clone();
        if !custom.is_recording() {
            writeln!(
                self.out,
                "  not recorded: metrics_collection.enabled is false in the configuration"
            )?;
            return Ok(());
        }
        // Order values from the demo's seed, so a run is reproducible.
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ ORDER_STREAM);
        for _ in 0..orders {
            let value = (rng.random_range(5.0..250.0_f64) * 100.0).round() / 100.0;
            custom.track_order_value(value).await?;
        }
        // What is printed is read back from the file, so it must be there.
        self.session
            .writer()
            .flush()
            .await
            .map_err(crate::monitor::MonitorError::from)?;
        let scope = RunScope::Run(self.session.run_id());
        let conn = self
            .session
            .store()
            .reader()
            .map_err(crate::monitor::MonitorError::from)?;
        let now = clock::now_us();
        for (hour, m) in get_business_metrics(&conn, 1, now, scope)? {
            writeln!(
                self.out,
                "  Orders in hour {hour}: {} | Total: {:.2} | Min: {:.2} | Max: {:.2}",
                m.total_orders, m.total_value, m.min_value, m.max_value
            )?;
        }
        let window = TimeWindow::last_minutes(60.0);
        for gauge in latest_gauges(&conn, window, scope)? {
            writeln!(self.out, "  Gauge {}: {:.3}", gauge.name, gauge.value)?;
        }
        for h in histogram_summaries(&conn, window, scope)? {
            if h.name == crate::monitor::custom::ORDER_VALUE_METRIC {
                continue;
            }
            writeln!(
                self.out,
                "  Histogram {}: {} observations, mean {:.1}, max {:.1}",
                h.name,
                h.count,
                h.sum / h.count.max(1) as f64,
                h.max
            )?;
        }
        Ok(())
    }

    async fn error_monitoring(&mut self) -> Result<(), DemoError> {
        header(self.out, "🚨 ERROR MONITORING DEMO", 50)?;
        let mut ids = Vec::new();
        for i in 0..20 {
            match self
                .start(
                    "error_monitoring",
                    json!({"data": format!("error_test_{i}")}),
                )
                .await
            {
                Ok(id) => ids.push(id),
                Err(e) => writeln!(self.out, "Workflow {i} failed to start: {e}")?,
            }
        }
        let states = self.wait_all(&ids).await?;
        let failed = states
            .iter()
            .filter(|s| **s != WorkflowState::Completed)
            .count();
        writeln!(self.out, "\n📊 Error Analysis:")?;
        let metrics = self
            .session
            .event_monitor()
            .get_event_metrics(TimeWindow::last_minutes(5.0))?;
        writeln!(self.out, "Total Events: {}", metrics.total_events)?;
        writeln!(self.out, "Error Rate: {:.1}%", metrics.error_rate)?;
        writeln!(self.out, "Success Rate: {:.1}%", metrics.success_rate)?;
        writeln!(self.out, "Workflows failed: {failed} of {}", states.len())?;
        let flaky = self
            .session
            .worker_monitor()
            .get_worker_performance("flaky_processor", TimeWindow::last_minutes(5.0))?;
        writeln!(self.out, "\nFlaky Processor:")?;
        writeln!(self.out, "  Error Rate: {:.1}%", flaky.error_rate)?;
        writeln!(self.out, "  Failed Executions: {}", flaky.failed_executions)?;
        let patterns = self
            .session
            .event_monitor()
            .get_error_patterns(TimeWindow::last_minutes(5.0), None)?;
        if !patterns.is_empty() {
            writeln!(self.out, "\nError Patterns:")?;
            for p in &patterns {
                writeln!(self.out, "  {}: {} occurrences", p.error_type, p.count)?;
            }
        }
        // The alert rules run on the health-check interval in the
        // background; wait for up to three checks to see what they find.
        let interval = self.session.config().health_check_interval();
        writeln!(
            self.out,
            "\n🔔 Alerts (checked every {:.1} s):",
            interval.as_secs_f64()
        )?;
        let deadline = Instant::now() + interval.saturating_mul(3);
        let mut fired = self.print_alert_changes()?;
        while fired == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            fired += self.print_alert_changes()?;
        }
        if fired == 0 {
            let config = self.session.config();
            if config.alerts.enabled {
                // Say how far from the thresholds the figures are: later
                // sections may still cross them, and alerts fired by the
                // background checks are printed where they happen.
                let flaky = self
                    .session
                    .worker_monitor()
                    .check_worker_health("flaky_processor")?;
                writeln!(
                    self.out,
                    "No alert fired yet: event error rate {:.1}% (alert above {:.1}%), \
                     flaky_processor error rate {:.1}% over the last {:.0} min (alert above {:.1}%).",
                    metrics.error_rate,
                    config.alerts.error_rate_threshold * 100.0,
                    flaky.error_rate,
                    config.performance_window().as_secs_f64() / 60.0,
                    config.worker_monitoring.error_rate_threshold * 100.0
                )?;
            } else {
                writeln!(
                    self.out,
                    "No alert fired: alerts.enabled is false in the configuration."
                )?;
            }
        }
        Ok(())
    }

    async fn system_monitoring(&mut self) -> Result<(), DemoError> {
        header(self.out, "💻 SYSTEM RESOURCE MONITORING DEMO", 50)?;
        let collector = self.session.metrics_collector().clone();
        let baseline = collector.get_system_metrics(TimeWindow::last_minutes(1.0))?;
        writeln!(self.out, "Baseline CPU: {:.1}%", baseline.avg_cpu_usage)?;
        writeln!(
            self.out,
            "Baseline Memory: {:.1}%",
            baseline.avg_memory_usage
        )?;
        writeln!(self.out, "\n🔥 Generating CPU load...")?;
        // The seed's 10,000 iterations take about a millisecond here: too
        // little to see. Five million keep both cores busy for a moment.
        let complexity = if self.full { 20_000_000 } else { 5_000_000 };
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(
                self.start(
                    "cpu_intensive_monitoring",
                    json!({"data": format!("cpu_test_{i}"), "complexity": complexity}),
                )
                .await?,
            );
        }
        let (watch_for, every) = if self.full { (30.0, 2.0) } else { (3.0, 0.5) };
        let started = Instant::now();
        while started.elapsed().as_secs_f64() < watch_for {
            let now = collector.collect_system_metrics().await?;
            writeln!(
                self.out,
                "CPU: {:.1}% | Memory: {:.1}% | Active Connections: {} | Active Workflows: {}",
                now.cpu_usage_percent,
                now.memory_usage_percent,
                now.active_connections,
                now.active_workflows
            )?;
            self.print_alert_changes()?;
            tokio::time::sleep(Duration::from_secs_f64(every)).await;
        }
        self.wait_all(&ids).await?;
        let last = collector.get_system_metrics(TimeWindow::last_minutes(2.0))?;
        writeln!(self.out, "\nPeak CPU: {:.1}%", last.peak_cpu_usage)?;
        writeln!(self.out, "Peak Memory: {:.1}%", last.peak_memory_usage)?;
        writeln!(self.out, "Avg Load: {:.2}", last.avg_system_load)?;
        Ok(())
    }

    async fn dashboard_snapshot(&mut self) -> Result<(), DemoError> {
        header(self.out, "📊 REAL-TIME MONITORING DASHBOARD (snapshot)", 60)?;
        // Something in flight, so that the active-workflows panel has rows.
        let mut ids = Vec::new();
        for i in 0..3 {
            ids.push(
                self.start(
                    "parallel_monitoring",
                    json!({"data": format!("dashboard_{i}")}),
                )
                .await?,
            );
        }
        tokio::time::sleep(self.pause(0.3)).await;
        let snap = dashboard::collect(
            self.session.store(),
            &HealthThresholds::from_config(self.session.config()),
            RunScope::Run(self.session.run_id()),
            Duration::from_secs(60),
            clock::now_us(),
        )?;
        write!(self.out, "{}", dashboard::render_text(&snap))?;
        self.wait_all(&ids).await?;
        Ok(())
    }
}

impl Demo<'_> {
    async fn load_test(&mut self, settings: DemoSettings) -> Result<(), DemoError> {
        header(self.out, "🏋️ LOAD TEST WITH MONITORING", 50)?;
        // The seed: 60 s, 5 workflows every half second (10 a second).
        let options = LoadTestOptions {
            duration: Duration::from_secs(if self.full { 60 } else { 5 }),
            rps: 10.0,
            concurrency: 100,
            settings,
            ..LoadTestOptions::default()
        };
        let every = Duration::from_secs(if self.full { 5 } else { 1 });
        let mut last_print: Option<Instant> = None;
        let out = &mut *self.out;
        let alerts = &mut self.alerts;
        let mut fired = 0;
        let mut print_error = None;
        let report = run_load_test(&self.session, &options, |p| {
            // Alerts as the background checks find them.
            while let Ok(change) = alerts.try_recv() {
                fired += usize::from(matches!(change, AlertChange::Fired(_)));
                if let Err(e) = writeln!(out, "{}", describe(&change)) {
                    print_error.get_or_insert(e);
                }
            }
            if last_print.is_some_and(|t| t.elapsed() < every) {
                return;
            }
            last_print = Some(Instant::now());
            let (events, latency) = p
                .recent_events
                .as_ref()
                .map_or((0, 0.0), |m| (m.total_events, m.avg_latency_ms));
            if let Err(e) = writeln!(
                out,
                "Requests: {} | Events: {} | Success: {:.1}% | Latency: {:.1}ms",
                p.started, events, p.success_rate, latency
            ) {
                print_error.get_or_insert(e);
            }
        })
        .await?;
        if let Some(e) = print_error {
            return Err(e.into());
        }
        self.alerts_fired += fired;
        self.started += report.started as usize;
        writeln!(self.out, "\n📊 Load Test Results:")?;
        writeln!(self.out, "Total Requests: {}", report.started)?;
        writeln!(self.out, "Duration: {:.0}s", report.load_phase_s)?;
        writeln!(
            self.out,
            "Average RPS: {:.1} (target {:.1})",
            report.achieved_rps, report.target_rps
        )?;
        writeln!(self.out, "Final Success Rate: {:.1}%", report.success_rate)?;
        writeln!(
            self.out,
            "Peak Throughput: {}/min",
            report.peak_throughput_per_minute
        )?;
        writeln!(
            self.out,
            "Workflow latency: p50 {:.1}ms, p95 {:.1}ms, p99 {:.1}ms",
            report.latency.p50_ms, report.latency.p95_ms, report.latency.p99_ms
        )?;
        for shortfall in &report.target_missed {
            writeln!(self.out, "Target missed: {}", shortfall.describe())?;
        }
        Ok(())
    }
}

/// Runs the demonstrations, printing to `out`.
pub async fn run_demo(
    options: DemoOptions,
    out: &mut (dyn Write + Send),
) -> Result<DemoSummary, DemoError> {
    run_demo_with(
        options,
        out,
        crate::interrupt::Interrupt::new(),
        crate::session::DEFAULT_GRACE,
    )
    .await
}

/// [`run_demo`] that stops early when `interrupt` is triggered: no new
/// workflows, those in flight get `grace`, the rest are recorded
/// `cancelled` ("interrupted"), and the run is closed as interrupted
/// ([`DemoSummary::interrupted`] says how).
pub async fn run_demo_with(
    options: DemoOptions,
    out: &mut (dyn Write + Send),
    interrupt: crate::interrupt::Interrupt,
    grace: Duration,
) -> Result<DemoSummary, DemoError> {
    let scale = if options.full { 1.0 } else { 0.1 };
    let mut config = options.config;
    let configured = (
        config.worker_monitoring.health_check_interval_seconds,
        config.metrics_collection.collection_interval_seconds,
    );
    // The quick demo scales every pause, and so the background checks and
    // samples, which would otherwise barely run in its half minute.
    config.worker_monitoring.health_check_interval_seconds *= scale;
    config.metrics_collection.collection_interval_seconds *= scale;
    let settings = DemoSettings {
        seed: options.seed,
        time_scale: scale,
        ..DemoSettings::default()
    };
    let workers = load_test_workers(settings);
    let run = RunInfo {
        command: options.command,
        config_json: config.to_json().to_string(),
    };
    let mut session = Session::start_remote(
        &options.db,
        config,
        workers,
        run,
        crate::store::WriterOptions::default(),
        options.remote,
    )
    .await?;
    session.set_interrupter(interrupt.clone());
    session.set_grace(grace);
    register_demo_workflows(session.orchestrator())?;
    writeln!(out, "🚀 MultiAgents monitoring demonstration")?;
    writeln!(
        out,
        "Database: {} (run {}), seed {}, {} timings",
        options.db.display(),
        session.run_id(),
        options.seed,
        if options.full { "full" } else { "quick (x0.1)" }
    )?;
    let health = session.config().health_check_interval().as_secs_f64();
    let sampling = session.config().collection_interval().as_secs_f64();
    if options.full {
        writeln!(
            out,
            "Health and alert checks every {health:.1} s, system samples every {sampling:.1} s"
        )?;
    } else {
        writeln!(
            out,
            "Health and alert checks every {health:.1} s, system samples every {sampling:.2} s \
             (the configuration's {} s and {} s, x0.1)",
            configured.0, configured.1
        )?;
    }
    let alerts = session.subscribe_alerts();
    let writer = session.writer().clone();
    let mut demo = Demo {
        session,
        out,
        scale,
        full: options.full,
        seed: options.seed,
        started: 0,
        alerts_fired: 0,
        alerts,
    };
    let sections = async {
        demo.event_tracking().await?;
        demo.worker_performance().await?;
        demo.error_monitoring().await?;
        demo.system_monitoring().await?;
        demo.print_alert_changes()?;
        demo.dashboard_snapshot().await?;
        demo.print_alert_changes()?;
        demo.load_test(settings).await?;
        demo.print_alert_changes()?;
        Ok::<(), DemoError>(())
    };
    // An interrupt drops the sections where they are: nothing new starts.
    // So does the writer's first failure: nothing more could be recorded,
    // and its reason is the one error the demo ends with.
    let outcome = tokio::select! {
        outcome = sections => outcome,
        () = interrupt.triggered() => Ok(()),
        reason = writer.failed() => Err(DemoError::Monitor(
            crate::store::StoreError::WriterStopped(reason).into(),
        )),
    };
    let Demo {
        session,
        out,
        started,
        mut alerts_fired,
        alerts: mut changes,
        ..
    } = demo;
    let run_id = session.run_id();
    // Shut down even after a failure, so the run is closed and everything
    // recorded is committed. Alerts still firing resolve now.
    let shutdown = session.shutdown_with(grace).await;
    let mut resolved_at_end = Vec::new();
    while let Ok(change) = changes.try_recv() {
        if matches!(change, AlertChange::Fired(_)) {
            alerts_fired += 1;
        }
        resolved_at_end.push(describe(&change));
    }
    if outcome.is_ok() && !resolved_at_end.is_empty() {
        writeln!(out, "\n🔔 Alerts resolved as the run ended:")?;
        for line in &resolved_at_end {
            writeln!(out, "{line}")?;
        }
    }
    let mut summary = DemoSummary {
        run_id,
        workflows: started,
        alerts_fired,
        interrupted: None,
    };
    outcome?;
    let closed = shutdown?;
    if interrupt.is_triggered() {
        summary.interrupted = Some(closed);
    }
    Ok(summary)
}
