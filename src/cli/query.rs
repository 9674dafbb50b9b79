//! `multiagents query …`: monitoring questions answered from the database,
//! live or long after the run.
//!
//! Every windowed question is anchored at `--until` (default: the end of the
//! run given with `--run`, else now), so the same command on a copied
//! database gives the same answer days later. With `--run` and no
//! `--window`, the window is the whole run.

use std::time::Duration;

use clap::{Args, Subcommand};
use multiagents::clock;
use multiagents::monitor::coverage::{self, Provenance, Source};
use multiagents::monitor::{self, EventMonitor, RunScope, WorkerMonitor, alerts, custom, system};
use multiagents::runs::{self, ResolvedRun, RunSelector};
use multiagents::session::health_thresholds;
use multiagents::store::Store;
use multiagents::window::{self, TimeWindow};

use super::output::{self, Format, or_dash};
use super::{Globals, Outcome};

/// Arguments of `multiagents query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Table for people, JSON for programs.
    #[arg(long, value_enum, global = true, default_value_t = Format::Table)]
    format: Format,
    /// Length of the window, e.g. 30s, 5m, 2h (default: 5m, or the whole run
    /// with --run). Range: 1ms to 36500d.
    #[arg(long, global = true, allow_hyphen_values = true, value_parser = window::parse_window_option)]
    window: Option<Duration>,
    /// End of the window: a time like 2026-11-29T05:00:00Z, `now`, or `run-end`.
    #[arg(long, global = true, allow_hyphen_values = true, value_parser = parse_until)]
    until: Option<Until>,
    /// Only this run: `latest` or a run id (see `query runs`).
    #[arg(long, global = true, allow_hyphen_values = true)]
    run: Option<RunSelector>,
    #[command(subcommand)]
    question: Question,
}

/// Where a window ends.
#[derive(Debug, Clone, Copy)]
enum Until {
    /// At the end of the selected (or latest) run.
    RunEnd,
    /// At this time, µs.
    At(i64),
}

fn parse_until(text: &str) -> Result<Until, String> {
    if text.trim().eq_ignore_ascii_case("run-end") {
        return Ok(Until::RunEnd);
    }
    window::parse_time(text)
        .map(Until::At)
        .map_err(|e| e.to_string())
}

#[derive(Debug, Subcommand)]
enum Question {
    /// Event metrics: totals by type and status, success and error rates, latency, throughput.
    Events,
    /// Every lifecycle stage of one transaction, in order.
    Trace {
        /// The transaction id.
        transaction_id: String,
    },
    /// Error patterns grouped by error type.
    Errors {
        /// Only this worker's errors.
        #[arg(long)]
        worker: Option<String>,
    },
    /// Performance summary of every worker.
    Workers,
    /// Performance of one worker.
    Worker {
        /// The worker's name.
        name: String,
    },
    /// Health of every worker, judged by the configured thresholds at the window's end.
    Health,
    /// System resource figures over the window.
    System,
    /// Custom metrics: counter totals, latest gauges, histograms, hourly order value.
    Metrics,
    /// Alerts fired in the window, and those still firing.
    Alerts,
    /// The recorded runs, newest first.
    Runs {
        /// How many runs to list. Range: 1 to 1000000.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
        limit: i64,
    },
}

/// The window and run a question is asked about.
struct Scope {
    window: TimeWindow,
    run: Option<ResolvedRun>,
}

impl Scope {
    fn monitor_scope(&self) -> RunScope {
        self.run
            .map_or(RunScope::AllRuns, |r| RunScope::Run(r.run_id))
    }

    /// The window and run, for tables.
    fn describe(&self) -> String {
        match self.run {
            Some(r) => format!("{}, run {}", describe(self.window), r.run_id),
            None => format!("{}, every run", describe(self.window)),
        }
    }

    /// The JSON envelope of an answer: which run (null for every run) and
    /// which window it covers, then the answer's own keys.
    fn answer<'a, T: serde::Serialize>(
        &self,
        body: &'a T,
        provenance: Provenance,
    ) -> Answer<'a, T> {
        Answer {
            run_id: self.run.map(|r| r.run_id),
            window: WindowInfo::of(self.window),
            provenance,
            body,
        }
    }
}

/// A windowed answer as JSON: `run_id` (null for every run), `window`,
/// where it comes from (`source`: raw, rollups or raw+rollups, the part of
/// the window read from each, approximate fields, notes on what retention
/// removed), and the answer's keys flattened beside them.
#[derive(serde::Serialize)]
struct Answer<'a, T: serde::Serialize> {
    run_id: Option<i64>,
    window: WindowInfo,
    #[serde(flatten)]
    provenance: Provenance,
    #[serde(flatten)]
    body: &'a T,
}

/// The window an answer covers, `[start, end)`.
#[derive(serde::Serialize)]
struct WindowInfo {
    start: String,
    end: String,
    start_us: i64,
    end_us: i64,
}

impl WindowInfo {
    fn of(window: TimeWindow) -> Self {
        WindowInfo {
            start: clock::format_iso(window.start_us.max(0)),
            end: clock::format_iso(window.end_us),
            start_us: window.start_us,
            end_us: window.end_us,
        }
    }
}

/// Default window when neither `--window` nor `--run` says otherwise: the
/// seed's `time_window_minutes=5`.
const DEFAULT_WINDOW: Duration = Duration::from_secs(5 * 60);

fn resolve_scope(conn: &rusqlite::Connection, args: &QueryArgs) -> anyhow::Result<Scope> {
    let run = match args.run {
        Some(selector) => Some(runs::resolve_run(conn, selector)?),
        None => None,
    };
    let until = match args.until {
        Some(Until::At(t)) => t,
        Some(Until::RunEnd) => match run {
            Some(r) => r.ended_at_us + 1,
            None => runs::resolve_run(conn, RunSelector::Latest)?.ended_at_us + 1,
        },
        // One past the end, so that the run's last event is inside the
        // half-open window.
        None => run.map_or_else(clock::now_us, |r| r.ended_at_us + 1),
    };
    let window = match (args.window, run) {
        (Some(length), _) => TimeWindow::ending_at(until, length),
        (None, Some(r)) => TimeWindow {
            start_us: r.started_at_us.min(until),
            end_us: until,
        },
        (None, None) => TimeWindow::ending_at(until, DEFAULT_WINDOW),
    };
    Ok(Scope { window, run })
}

fn ms(v: f64) -> String {
    format!("{v:.1}")
}

fn pct(v: f64) -> String {
    format!("{v:.1}%")
}

/// Runs `multiagents query`.
pub async fn run(globals: &Globals, args: QueryArgs) -> anyhow::Result<Outcome> {
    let store = Store::open_existing(&globals.db)?;
    // Queries take milliseconds; they run on this thread, which the
    // command owns.
    let conn = store.reader()?;
    if let Question::Runs { limit } = args.question {
        let list = runs::list_runs(&conn, limit)?;
        return render(args.format, &list, || {
            let mut table = output::table(&[
                "run",
                "status",
                "started",
                "ended",
                "workflows",
                "unfinished",
                "version",
                "host",
                "command",
            ]);
            for r in &list {
                table.add_row(vec![
                    r.run_id.to_string(),
                    match &r.end_reason {
                        Some(why) if r.status != multiagents::store::RunStatus::Completed => {
                            format!("{} ({why})", r.status)
                        }
                        _ => r.status.to_string(),
                    },
                    r.started_at.clone(),
                    or_dash(r.ended_at.as_deref()),
                    r.workflows.to_string(),
                    r.unfinished.to_string(),
                    r.version.clone(),
                    r.host.clone(),
                    r.command.clone(),
                ]);
            }
            let mut text = table.to_string();
            // Retention is never silent: say where a count comes from.
            for r in list.iter().filter(|r| !r.notes.is_empty()) {
                text.push_str(&format!(
                    "\nRun {}: workflows from {}. {}.",
                    r.run_id,
                    match r.source {
                        Source::Raw => "raw rows",
                        Source::Rollups => "the rollups",
                        Source::Mixed => "raw rows and rollups",
                    },
                    r.notes.join("; ")
                ));
            }
            text
        });
    }
    let scope = resolve_scope(&conn, &args)?;
    let window = scope.window;
    let marks = coverage::watermarks(&conn, scope.monitor_scope())?;
    let events = EventMonitor::new(store.clone()).with_scope(scope.monitor_scope());
    let workers = WorkerMonitor::new(store.clone())
        .with_scope(scope.monitor_scope())
        .with_thresholds(health_thresholds(&globals.config));
    match &args.question {
        Question::Runs { .. } => Ok(Outcome::Ok),
        Question::Events => {
            let m = events.get_event_metrics(window)?;
            render_answer(
                args.format,
                &scope.answer(
                    &m,
                    marks.provenance(window, monitor::event::APPROXIMATE_EVENT_FIELDS),
                ),
                || {
                    let mut table = output::table(&["metric", "value"]);
                    table.add_row(vec!["window".into(), scope.describe()]);
                    table.add_row(vec!["total_events".into(), m.total_events.to_string()]);
                    for (t, n) in &m.events_by_type {
                        table.add_row(vec![format!("events_by_type.{t}"), n.to_string()]);
                    }
                    for (s, n) in &m.events_by_status {
                        table.add_row(vec![format!("events_by_status.{s}"), n.to_string()]);
                    }
                    table.add_row(vec!["success_rate".into(), pct(m.success_rate)]);
                    table.add_row(vec!["error_rate".into(), pct(m.error_rate)]);
                    table.add_row(vec!["avg_latency_ms".into(), ms(m.avg_latency_ms)]);
                    table.add_row(vec!["p95_latency_ms".into(), ms(m.p95_latency_ms)]);
                    table.add_row(vec![
                        "throughput_per_minute".into(),
                        format!("{:.1}", m.throughput_per_minute),
                    ]);
                    table.add_row(vec![
                        "peak_throughput".into(),
                        m.peak_throughput.to_string(),
                    ]);
                    table.to_string()
                },
            )
        }
        Question::Trace { transaction_id } => {
            let trace = events.get_transaction_trace(transaction_id)?;
            render(args.format, &trace, || {
                let mut table =
                    output::table(&["timestamp", "event_type", "stage", "worker", "step"]);
                for s in &trace {
                    table.add_row(vec![
                        s.timestamp.clone(),
                        s.event_type.clone(),
                        s.stage.clone(),
                        or_dash(s.worker.as_deref()),
                        or_dash(s.step.as_deref()),
                    ]);
                }
                table.to_string()
            })
        }
        Question::Errors { worker } => {
            if let Some(w) = worker {
                // An unknown name is an error, not an empty answer.
                monitor::worker::worker_id(&conn, w)?;
            }
            let patterns = ErrorsReport {
                error_patterns: events.get_error_patterns(window, worker.as_deref())?,
            };
            render_answer(
                args.format,
                &scope.answer(&patterns, marks.raw_only_provenance(window, "errors")),
                || {
                    let mut table = output::table(&[
                        "error_type",
                        "count",
                        "workers",
                        "first_seen",
                        "last_seen",
                        "example",
                    ]);
                    let heading = format!("Errors over {}\n", scope.describe());
                    for p in &patterns.error_patterns {
                        table.add_row(vec![
                            p.error_type.clone(),
                            p.count.to_string(),
                            p.workers.join(", "),
                            p.first_seen.clone(),
                            p.last_seen.clone(),
                            or_dash(p.example.as_deref()),
                        ]);
                    }
                    format!("{heading}{table}")
                },
            )
        }
        Question::Workers => {
            let summary = workers.get_worker_performance_summary(window)?;
            render_answer(
                args.format,
                &scope.answer(
                    &summary,
                    marks.provenance(window, monitor::worker::APPROXIMATE_WORKER_FIELDS),
                ),
                || {
                    let a = &summary.aggregated_metrics;
                    let mut text = format!(
                        "Executions: {}   Mean of worker success rates: {}   Mean duration (all executions): {} ms   ({})\n",
                        a.total_commands,
                        pct(a.average_success_rate),
                        ms(a.average_duration_ms),
                        scope.describe()
                    );
                    let mut table = output::table(&[
                        "worker",
                        "executions",
                        "success",
                        "errors",
                        "failed",
                        "timeout",
                        "avg ms",
                        "p50 ms",
                        "p95 ms",
                        "p99 ms",
                    ]);
                    for p in summary.workers.values() {
                        table.add_row(vec![
                            p.worker.clone(),
                            p.total_executions.to_string(),
                            pct(p.success_rate),
                            pct(p.error_rate),
                            p.failed_executions.to_string(),
                            p.timeout_executions.to_string(),
                            ms(p.avg_duration_ms),
                            ms(p.p50_duration_ms),
                            ms(p.p95_duration_ms),
                            ms(p.p99_duration_ms),
                        ]);
                    }
                    text.push_str(&table.to_string());
                    if !summary.problem_workers.is_empty() {
                        text.push_str("\nProblem workers:\n");
                        for p in &summary.problem_workers {
                            text.push_str(&format!(
                                "  {} ({}): {}\n",
                                p.worker,
                                p.status,
                                p.issues.join("; ")
                            ));
                        }
                    }
                    text
                },
            )
        }
        Question::Worker { name } => {
            let p = workers.get_worker_performance(name, window)?;
            render_answer(
                args.format,
                &scope.answer(
                    &p,
                    marks.provenance(window, monitor::worker::APPROXIMATE_WORKER_FIELDS),
                ),
                || {
                    let mut table = output::table(&["metric", "value"]);
                    for (k, v) in [
                        ("worker", p.worker.clone()),
                        ("window", scope.describe()),
                        ("total_executions", p.total_executions.to_string()),
                        ("success_rate", pct(p.success_rate)),
                        ("error_rate", pct(p.error_rate)),
                        ("failed_executions", p.failed_executions.to_string()),
                        ("timeout_executions", p.timeout_executions.to_string()),
                        ("avg_duration_ms", ms(p.avg_duration_ms)),
                        ("p50_duration_ms", ms(p.p50_duration_ms)),
                        ("p95_duration_ms", ms(p.p95_duration_ms)),
                        ("p99_duration_ms", ms(p.p99_duration_ms)),
                    ] {
                        table.add_row(vec![k.to_string(), v]);
                    }
                    table.to_string()
                },
            )
        }
        Question::Health => {
            // Health is judged over the performance window that ends at the
            // window's end: `--window` when given, else the configured
            // `performance_window_minutes`.
            let workers = match args.window {
                Some(length) => {
                    let mut thresholds = *workers.thresholds();
                    thresholds.window = length;
                    workers.with_thresholds(thresholds)
                }
                None => workers,
            };
            let health_window = TimeWindow::ending_at(window.end_us, workers.thresholds().window);
            let health = HealthReport {
                workers: workers.get_all_workers_health_at(window.end_us)?,
            };
            let answer = Answer {
                run_id: scope.run.map(|r| r.run_id),
                window: WindowInfo::of(health_window),
                provenance: marks
                    .provenance(health_window, monitor::worker::APPROXIMATE_WORKER_FIELDS),
                body: &health,
            };
            render_answer(args.format, &answer, || {
                let mut table = output::table(&[
                    "worker",
                    "status",
                    "executions",
                    "error rate",
                    "p95 ms",
                    "issues",
                ]);
                for h in health.workers.values() {
                    table.add_row(vec![
                        h.worker.clone(),
                        h.status.to_string(),
                        h.total_executions.to_string(),
                        pct(h.error_rate),
                        ms(h.p95_duration_ms),
                        h.issues.join("; "),
                    ]);
                }
                format!(
                    "Health over {}{}\n{table}",
                    describe(health_window),
                    scope.run.map_or_else(
                        || ", every run".to_string(),
                        |r| format!(", run {}", r.run_id)
                    )
                )
            })
        }
        Question::System => {
            let m = system::system_metrics(&conn, window, scope.monitor_scope())?;
            render_answer(
                args.format,
                &scope.answer(&m, marks.metrics_provenance(window)),
                || {
                    let mut table = output::table(&["metric", "value"]);
                    for (k, v) in [
                        ("window", scope.describe()),
                        ("sample_count", m.sample_count.to_string()),
                        ("avg_cpu_usage", pct(m.avg_cpu_usage)),
                        ("peak_cpu_usage", pct(m.peak_cpu_usage)),
                        ("avg_memory_usage", pct(m.avg_memory_usage)),
                        ("peak_memory_usage", pct(m.peak_memory_usage)),
                        ("avg_system_load", format!("{:.2}", m.avg_system_load)),
                        ("avg_process_cpu_percent", pct(m.avg_process_cpu_percent)),
                        (
                            "peak_process_rss_bytes",
                            m.peak_process_rss_bytes.to_string(),
                        ),
                        (
                            "peak_active_connections",
                            m.peak_active_connections.to_string(),
                        ),
                        ("peak_active_workflows", m.peak_active_workflows.to_string()),
                    ] {
                        table.add_row(vec![k.to_string(), v]);
                    }
                    table.to_string()
                },
            )
        }
        Question::Metrics => {
            let report = CustomMetricsReport {
                counters: custom::counter_totals(&conn, window, scope.monitor_scope())?,
                gauges: custom::latest_gauges(&conn, window, scope.monitor_scope())?,
                histograms: custom::histogram_summaries(&conn, window, scope.monitor_scope())?,
                order_value_hourly: custom::hourly_rollups(
                    &conn,
                    custom::ORDER_VALUE_METRIC,
                    window,
                    scope.monitor_scope(),
                )?,
            };
            render_answer(
                args.format,
                &scope.answer(&report, marks.metrics_provenance(window)),
                || {
                    let mut table = output::table(&["metric", "type", "labels", "value"]);
                    for c in &report.counters {
                        table.add_row(vec![
                            c.name.clone(),
                            "counter".into(),
                            labels(&c.labels),
                            format!("{}", c.total),
                        ]);
                    }
                    for g in &report.gauges {
                        table.add_row(vec![
                            g.name.clone(),
                            "gauge".into(),
                            labels(&g.labels),
                            format!("{}", g.value),
                        ]);
                    }
                    for h in &report.histograms {
                        table.add_row(vec![
                            h.name.clone(),
                            "histogram".into(),
                            labels(&h.labels),
                            format!(
                                "count {} sum {} min {} max {} p95 {}",
                                h.count, h.sum, h.min, h.max, h.p95
                            ),
                        ]);
                    }
                    let mut text = format!("Custom metrics over {}\n{table}", scope.describe());
                    if !report.order_value_hourly.is_empty() {
                        let mut hourly = output::table(&[
                            "hour",
                            "total_orders",
                            "total_value",
                            "min_value",
                            "max_value",
                        ]);
                        for (hour, r) in &report.order_value_hourly {
                            hourly.add_row(vec![
                                hour.clone(),
                                r.total_orders.to_string(),
                                format!("{:.2}", r.total_value),
                                format!("{:.2}", r.min_value),
                                format!("{:.2}", r.max_value),
                            ]);
                        }
                        text.push_str("\nOrder value by hour:\n");
                        text.push_str(&hourly.to_string());
                    }
                    text
                },
            )
        }
        Question::Alerts => {
            let report = AlertsReport {
                history: alerts::alert_history(&conn, window, scope.monitor_scope())?,
                firing: alerts::firing_alerts(&conn, scope.monitor_scope())?,
            };
            render_answer(
                args.format,
                &scope.answer(&report, marks.metrics_provenance(window)),
                || {
                    let mut table = output::table(&[
                        "fired", "type", "severity", "status", "message", "resolved",
                    ]);
                    for a in &report.history {
                        table.add_row(vec![
                            a.timestamp.clone(),
                            a.alert_type.clone(),
                            a.severity.as_str().to_string(),
                            format!("{:?}", a.status).to_lowercase(),
                            a.message.clone(),
                            or_dash(a.resolved_at.as_deref()),
                        ]);
                    }
                    format!(
                        "Alerts fired in {}\n{table}\nFiring now: {}",
                        scope.describe(),
                        report.firing.len()
                    )
                },
            )
        }
    }
}

/// `multiagents query metrics` as one document.
#[derive(serde::Serialize)]
struct CustomMetricsReport {
    counters: Vec<custom::CounterTotal>,
    gauges: Vec<custom::GaugeValue>,
    histograms: Vec<custom::HistogramSummary>,
    order_value_hourly: std::collections::BTreeMap<String, custom::HourlyRollup>,
}

/// `multiagents query errors` as one document.
#[derive(serde::Serialize)]
struct ErrorsReport {
    error_patterns: Vec<monitor::ErrorPattern>,
}

/// `multiagents query health` as one document: each worker's health by name.
#[derive(serde::Serialize)]
struct HealthReport {
    workers: std::collections::BTreeMap<String, monitor::WorkerHealth>,
}

/// `multiagents query alerts` as one document.
#[derive(serde::Serialize)]
struct AlertsReport {
    history: Vec<alerts::Alert>,
    firing: Vec<alerts::Alert>,
}

fn labels(labels: &custom::Labels) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn describe(window: TimeWindow) -> String {
    format!(
        "{} .. {}",
        clock::format_iso(window.start_us.max(0)),
        clock::format_iso(window.end_us)
    )
}

/// Prints an answer as JSON, or the table the closure draws followed by a
/// line on where it comes from when retention removed part of it.
fn render_answer<T: serde::Serialize>(
    format: Format,
    answer: &Answer<'_, T>,
    table: impl FnOnce() -> String,
) -> anyhow::Result<Outcome> {
    render(format, answer, || {
        let mut text = table();
        if let Some(line) = answer.provenance.describe() {
            text.push('\n');
            text.push_str(&line);
        }
        text
    })
}

/// Prints `value` as JSON, or the table the closure draws.
fn render<T: serde::Serialize>(
    format: Format,
    value: &T,
    table: impl FnOnce() -> String,
) -> anyhow::Result<Outcome> {
    match format {
        Format::Json => output::print_json(value)?,
        Format::Table => output::print(&table())?,
    }
    Ok(Outcome::Ok)
}
