//! `multiagents demo`: the seed's monitoring demonstrations, in order, on a
//! real database, printed the way the seed prints them.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{DemoSettings, register_demo_workflows};
use crate::clock;
use crate::config::MonitoringConfig;
use crate::dashboard;
use crate::loadtest::{LoadTestError, LoadTestOptions, load_test_workers, run_load_test};
use crate::monitor::RunScope;
use crate::monitor::alerts::{AlertChange, Severity};
use crate::orchestrator::OrchestratorError;
use crate::session::{Session, SessionError, health_thresholds};
use crate::store::{RunInfo, WorkflowState};
use crate::window::TimeWindow;

/// How the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Database to record into.
    pub db: PathBuf,
    /// Monitoring configuration (its sampling interval is shortened so that
    /// a short demo still has samples to show).
    pub config: MonitoringConfig,
    /// Seed of the workers' randomness: the same seed gives the same run.
    pub seed: u64,
    /// The seed's full durations (30 s of system monitoring, a 60 s load
    /// test, real worker timings) instead of the quick ones.
    pub full: bool,
    /// The command line, recorded in the run.
    pub command: String,
}

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The session failed.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The orchestrator refused something.
    #[error(transparent)]
    Orchestrator(#[from] OrchestratorError),
    /// A monitoring question failed.
    #[error(transparent)]
    Monitor(#[from] crate::monitor::MonitorError),
    /// Metrics or alerts failed.
    #[error(transparent)]
    Metrics(#[from] crate::monitor::custom::MetricsError),
    /// The dashboard snapshot failed.
    #[error(transparent)]
    Snapshot(#[from] dashboard::SnapshotError),
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
    started: usize,
    alerts_fired: usize,
}

fn header(out: &mut (dyn Write + Send), title: &str, width: usize) -> std::io::Result<()> {
    writeln!(out, "\n{title}")?;
    writeln!(out, "{}", "=".repeat(width))
}

impl Demo<'_> {
    fn pause(&self, seconds: f64) -> Duration {
        Duration::from_secs_f64((seconds * self.scale).max(0.01))
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
        let changes = self.session.check_alerts().await?;
        for change in &changes {
            if let AlertChange::Fired(alert) = change {
                self.alerts_fired += 1;
                let icon = if alert.severity == Severity::Critical {
                    "🚨 CRITICAL ALERT"
                } else {
                    "⚠️  ALERT"
                };
                writeln!(self.out, "{icon}: {}", alert.message)?;
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
            &health_thresholds(self.session.config()),
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
        let mut print_error = None;
        let report = run_load_test(&self.session, &options, |p| {
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
        self.started += report.total_requests as usize;
        writeln!(self.out, "\n📊 Load Test Results:")?;
        writeln!(self.out, "Total Requests: {}", report.total_requests)?;
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
    // A short demo must still collect samples to show.
    config.metrics_collection.collection_interval_seconds = if options.full { 1.0 } else { 0.5 };
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
    let mut session = Session::start(&options.db, config, workers, run).await?;
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
    let mut demo = Demo {
        session,
        out,
        scale,
        full: options.full,
        started: 0,
        alerts_fired: 0,
    };
    let sections = async {
        demo.event_tracking().await?;
        demo.worker_performance().await?;
        demo.error_monitoring().await?;
        demo.system_monitoring().await?;
        demo.dashboard_snapshot().await?;
        demo.load_test(settings).await?;
        Ok::<(), DemoError>(())
    };
    // An interrupt drops the sections where they are: nothing new starts.
    let outcome = tokio::select! {
        outcome = sections => outcome,
        () = interrupt.triggered() => Ok(()),
    };
    let mut summary = DemoSummary {
        run_id: demo.session.run_id(),
        workflows: demo.started,
        alerts_fired: demo.alerts_fired,
        interrupted: None,
    };
    // Shut down even after a failure, so the run is closed and everything
    // recorded is committed.
    let shutdown = demo.session.shutdown_with(grace).await;
    outcome?;
    let closed = shutdown?;
    if interrupt.is_triggered() {
        summary.interrupted = Some(closed);
    }
    Ok(summary)
}
