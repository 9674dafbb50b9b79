//! A run's report: what one recorded run did, in one [`RunReport`] value
//! that renders as aligned text tables ([`render_text`]), one JSON document
//! (serde), or one self-contained HTML page with charts
//! ([`super::html::render_html`]).
//!
//! Scope: every section is exactly the run's own rows — workflows, events,
//! workers, error patterns, throughput and duration histograms by the run's
//! id range; system samples and alerts by their `run_id` — so a second run
//! writing the same file at the same time never shows up. Health is evaluated
//! at the run's end (for a run that is still going or crashed: its latest
//! record of any kind), the end `query --run` uses too.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use rusqlite::Connection;
use serde::Serialize;

use super::ExportError;
use crate::clock;
use crate::monitor::alerts::{Alert, alert_history};
use crate::monitor::coverage::{Provenance, watermarks};
use crate::monitor::event::event_metrics_with;
use crate::monitor::outcomes::{RAW_ONLY_OUTCOME_FIELDS, workflow_outcomes};
use crate::monitor::series::{Series, SeriesSource, series};
use crate::monitor::sketch::Precision;
use crate::monitor::system::{SystemMetrics, system_metrics, system_samples_series};
use crate::monitor::totals::{self, MinuteThroughput, Source};
use crate::monitor::worker::worker_performance_summary_with;
use crate::monitor::{
    ErrorPattern, EventMetrics, HealthStatus, HealthThresholds, RunScope, WorkerPerformance,
    evaluate_health_all,
};
use crate::runs::{RunSelector, resolve_run, run_details};
use crate::store::RunStatus;
use crate::window::TimeWindow;

/// The run a report is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportRun {
    /// Its id.
    pub run_id: i64,
    /// When it started, ISO-8601.
    pub started_at: String,
    /// When it ended, or its last activity (or now) if it did not end cleanly.
    pub ended_at: String,
    /// Whether it never recorded a clean end.
    pub unfinished: bool,
    /// running, completed, interrupted or crashed — as `query runs` shows
    /// it: a run whose process died and that no later process has closed
    /// yet is crashed.
    pub status: RunStatus,
    /// How it ended, in words (normally, the signal, the crash and how it
    /// was detected); `None` for a run still running.
    pub end_reason: Option<String>,
    /// Wall-clock length of the report's window, seconds.
    pub duration_seconds: f64,
    /// Its command line.
    pub command: String,
    /// multiagents version that recorded it.
    pub version: String,
    /// Host it ran on.
    pub host: String,
    /// The report's window, µs: `[start_us, end_us)`.
    pub window: TimeWindow,
}

/// Workflows of the run by outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkflowSection {
    /// Every workflow of the run.
    pub total: u64,
    /// By outcome (terminal state, or `unfinished`).
    pub by_outcome: BTreeMap<String, u64>,
    /// By workflow name, then outcome.
    pub by_workflow: BTreeMap<String, BTreeMap<String, u64>>,
    /// Latency (created → ended) of the workflows that ended, by workflow
    /// name, then of all of them together (`all`).
    pub latency: BTreeMap<String, WorkflowLatency>,
}

/// How long the workflows of one name took, created → ended (what a
/// caller of `execute_workflow` waited), over those that ended in the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkflowLatency {
    /// Workflows that ended.
    pub ended: u64,
    /// Mean, milliseconds.
    pub avg_latency_ms: f64,
    /// Nearest-rank median, milliseconds.
    pub p50_latency_ms: f64,
    /// Nearest-rank 95th percentile, milliseconds.
    pub p95_latency_ms: f64,
    /// Nearest-rank 99th percentile, milliseconds.
    pub p99_latency_ms: f64,
    /// Longest, milliseconds.
    pub max_latency_ms: f64,
}

/// The key of all workflows together in [`WorkflowSection::latency`].
pub const ALL_WORKFLOWS: &str = "all";

/// One worker's line in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerReport {
    /// Performance over the whole run (counts, rates in percent, durations
    /// in milliseconds, p50/p95/p99).
    #[serde(flatten)]
    pub performance: WorkerPerformance,
    /// Health evaluated at the run's end.
    pub health: HealthStatus,
    /// Why, when not healthy.
    pub health_issues: Vec<String>,
}

/// Alerts that fired during the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertSection {
    /// How many fired.
    pub fired: u64,
    /// Of those, how many were resolved (at any time since).
    pub resolved: u64,
    /// Each alert, newest first.
    pub alerts: Vec<Alert>,
}

/// One point of the CPU and memory series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SystemPoint {
    /// When, µs.
    pub at_us: i64,
    /// Whole-machine CPU use, percent.
    pub cpu_usage_percent: f64,
    /// Whole-machine memory use, percent.
    pub memory_usage_percent: f64,
    /// Resident memory of the recording process, bytes.
    pub process_rss_bytes: i64,
}

/// A worker's duration histogram over the run (non-cumulative buckets).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DurationBucket {
    /// Upper bound, ms (inclusive); `None` is +Inf.
    pub le_ms: Option<i64>,
    /// Executions in the bucket.
    pub count: u64,
}

/// Everything `multiagents report` says about one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// The run.
    pub run: ReportRun,
    /// Its workflows by outcome.
    pub workflows: WorkflowSection,
    /// Its events (commands and compensations) over the run: counts by
    /// type and status, rates in percent, latency in milliseconds.
    pub events: EventMetrics,
    /// Each worker with executions in the run, by name.
    pub workers: Vec<WorkerReport>,
    /// Errors grouped by type, most frequent first.
    pub error_patterns: Vec<ErrorPattern>,
    /// Alerts fired during the run.
    pub alerts: AlertSection,
    /// Averages and peaks of the system samples over the run.
    pub system: SystemMetrics,
    /// The system samples over the run, oldest first.
    pub system_series: Vec<SystemPoint>,
    /// Events that ended per calendar minute, oldest first (kept for
    /// programs reading it; [`RunReport::series`] is what the text and
    /// HTML forms show).
    pub throughput: Vec<MinuteThroughput>,
    /// The run over time, in buckets counted from its start and sized to
    /// its span (one second up to 10 minutes): executions and workflows
    /// ended, their rates per second, errors, the error rate and the
    /// p50/p95 event latency of each bucket, with the series' own
    /// provenance ([`crate::monitor::series`]).
    pub series: Series,
    /// Each worker's duration histogram, by name.
    pub duration_histograms: BTreeMap<String, Vec<DurationBucket>>,
    /// Where the figures come from: `source` is `raw`, or `rollups` /
    /// `raw+rollups` when retention deleted part of the run's raw rows
    /// (which part came from where, which fields are estimates, and notes
    /// on what no rollup keeps: error patterns, unfinished workflows,
    /// samples, custom metrics, alerts).
    pub provenance: Provenance,
    /// When the report was made, ISO-8601.
    pub generated_at: String,
}

/// Builds the report of `selector`'s run, judging health by `thresholds`;
/// `now_us` is when the report is made (`generated_at`); the window ends
/// where the run ended, or for a run without an end at its latest record.
pub fn build_report(
    conn: &Connection,
    selector: RunSelector,
    thresholds: &HealthThresholds,
    now_us: i64,
) -> Result<RunReport, ExportError> {
    build_report_with(conn, selector, thresholds, now_us, Precision::Auto)
}

/// [`build_report`], reading a long run's whole minutes from the rollups
/// and sketches under [`Precision::Auto`], or every raw row under
/// [`Precision::Exact`] (`report --exact`).
pub fn build_report_with(
    conn: &Connection,
    selector: RunSelector,
    thresholds: &HealthThresholds,
    now_us: i64,
    precision: Precision,
) -> Result<RunReport, ExportError> {
    let resolved = resolve_run(conn, selector)?;
    // One past the run's end — for a run without an end (killed, or still
    // going) one past its latest record of any kind — exactly the window
    // `query --run` uses, so the report and the queries agree.
    let end_us = resolved.ended_at_us + 1;
    let window = TimeWindow {
        start_us: resolved.started_at_us,
        end_us,
    };
    let scope = RunScope::Run(resolved.run_id);
    let (first, last) = (resolved.first_id, resolved.last_id);
    // The run's descriptive fields (one row: `query runs` would also count
    // every workflow of every run, seconds on a day of recording).
    let info = run_details(conn, resolved.run_id)?;
    // The run is always there; the fallback only keeps a race with a
    // concurrent `cleanup` from failing the report.
    let listed_status = if resolved.unfinished {
        RunStatus::Running
    } else {
        RunStatus::Completed
    };
    let run = ReportRun {
        run_id: resolved.run_id,
        started_at: clock::format_iso(resolved.started_at_us),
        ended_at: clock::format_iso(end_us - 1),
        unfinished: resolved.unfinished,
        status: info.as_ref().map_or(listed_status, |r| r.status),
        end_reason: info.as_ref().and_then(|r| r.end_reason.clone()),
        duration_seconds: window.length_us() as f64 / 1e6,
        command: info.as_ref().map(|r| r.command.clone()).unwrap_or_default(),
        version: info.as_ref().map(|r| r.version.clone()).unwrap_or_default(),
        host: info.map(|r| r.host).unwrap_or_default(),
        window,
    };

    let marks = watermarks(conn, scope)?;
    let mut approximate: Vec<&'static str> = Vec::new();
    approximate.extend(crate::monitor::event::APPROXIMATE_EVENT_FIELDS);
    approximate.extend(crate::monitor::performance::APPROXIMATE_WORKER_FIELDS);
    // Long runs read their whole minutes from the rollups and sketches,
    // as the queries do (Precision::Auto).
    let mut provenance =
        crate::monitor::sketch::provenance(&marks, window, precision, &approximate);
    provenance.notes.extend(
        marks
            .raw_only_provenance(window, "unfinished workflows")
            .notes,
    );
    provenance
        .notes
        .extend(marks.metrics_provenance(window).notes);

    let mut workflows = WorkflowSection {
        total: 0,
        by_outcome: BTreeMap::new(),
        by_workflow: BTreeMap::new(),
        latency: BTreeMap::new(),
    };
    // Long runs: whole minutes from the rollups, the edges from raw rows
    // (the same parts as the queries'); unfinished workflows exist only as
    // raw rows, counted at the window's end.
    let parts = crate::monitor::sketch::parts(window, &marks, precision);
    let unfinished_at_end = TimeWindow {
        start_us: end_us,
        end_us,
    };
    let mut outcome_counts: Vec<totals::WorkflowOutcome> =
        totals::workflow_outcome_counts(conn, unfinished_at_end, first, last)?
            .into_iter()
            .filter(|o| o.outcome == "unfinished")
            .collect();
    for part in &parts.raw {
        outcome_counts.extend(
            totals::workflow_outcome_counts(conn, *part, first, last)?
                .into_iter()
                .filter(|o| o.outcome != "unfinished"),
        );
    }
    if let Some(rolled) = parts.rollups {
        outcome_counts.extend(crate::monitor::outcomes::outcome_counts_from_rollups(
            conn, rolled, scope,
        )?);
    }
    for o in outcome_counts {
        workflows.total += o.count;
        *workflows.by_outcome.entry(o.outcome.clone()).or_default() += o.count;
        *workflows
            .by_workflow
            .entry(o.workflow_name)
            .or_default()
            .entry(o.outcome)
            .or_default() += o.count;
    }

    // Latency by workflow from the workflows' own rows (raw where there
    // are raw rows; a part retention deleted adds to the counts and the
    // mean, not to the percentiles — the provenance says so).
    let outcomes = workflow_outcomes(conn, window, scope)?;
    if marks.split(window).rollups.is_some() {
        provenance.notes.push(format!(
            "workflow latency {} cover the raw rows retention kept",
            RAW_ONLY_OUTCOME_FIELDS.join(", ")
        ));
    }
    for o in outcomes {
        workflows.latency.insert(
            o.workflow_name.unwrap_or_else(|| ALL_WORKFLOWS.to_string()),
            WorkflowLatency {
                ended: o.total,
                avg_latency_ms: o.avg_latency_ms,
                p50_latency_ms: o.p50_latency_ms,
                p95_latency_ms: o.p95_latency_ms,
                p99_latency_ms: o.p99_latency_ms,
                max_latency_ms: o.max_latency_ms,
            },
        );
    }
    // The one series the dashboard and `query series` draw, over the
    // report's window; `--exact` asks for the raw rows.
    let series = series(
        conn,
        window,
        scope,
        match precision {
            Precision::Exact => SeriesSource::Raw,
            Precision::Auto => SeriesSource::Auto,
        },
    )?;

    let events = event_metrics_with(conn, window, scope, precision)?;
    let summary = worker_performance_summary_with(conn, window, scope, thresholds, precision)?;
    let names: Vec<String> = summary.workers.keys().cloned().collect();
    // At one past the run's end, as `query health --run`, `/health` and the
    // Prometheus export judge it: the run's last execution is inside the
    // window that ends there.
    let healths = evaluate_health_all(conn, &names, end_us, thresholds, scope)?;
    let mut workers = Vec::new();
    for ((_, performance), health) in summary.workers.into_iter().zip(healths) {
        workers.push(WorkerReport {
            performance,
            health: health.status,
            health_issues: health.issues,
        });
    }
    let error_patterns =
        crate::monitor::event::error_patterns_with(conn, window, scope, None, precision)?;
    let alert_list = alert_history(conn, window, scope)?;
    let alerts = AlertSection {
        fired: alert_list.len() as u64,
        resolved: alert_list
            .iter()
            .filter(|a| a.resolved_at_us.is_some())
            .count() as u64,
        alerts: alert_list,
    };
    let system = system_metrics(conn, window, scope)?;
    let system_series = system_samples_series(conn, window, scope)?
        .into_iter()
        .map(|s| SystemPoint {
            at_us: s.sampled_at_us,
            cpu_usage_percent: s.cpu_usage_percent,
            memory_usage_percent: s.memory_usage_percent,
            process_rss_bytes: s.process_rss_bytes,
        })
        .collect();
    // Per minute and per bucket: the rollups for the whole minutes of a
    // long run (and for the part whose raw events retention deleted), the
    // raw events for the rest.
    let mut throughput = Vec::new();
    let mut raw: BTreeMap<String, BTreeMap<i64, u64>> = BTreeMap::new();
    if let Some(rolled) = parts.rollups {
        throughput.extend(crate::monitor::rollups::throughput_per_minute_from_rollups(
            conn, rolled, scope,
        )?);
        for b in totals::worker_histograms(
            conn,
            rolled,
            Source::Rollups {
                run_id: Some(resolved.run_id),
            },
        )? {
            *raw.entry(b.worker).or_default().entry(b.le_ms).or_default() += b.count;
        }
    }
    for &part in &parts.raw {
        throughput.extend(totals::throughput_per_minute(conn, part, first, last)?);
        for b in totals::worker_histograms(conn, part, Source::Events { first, last })? {
            *raw.entry(b.worker).or_default().entry(b.le_ms).or_default() += b.count;
        }
    }
    throughput.sort_by_key(|t| t.minute_us);
    let mut duration_histograms: BTreeMap<String, Vec<DurationBucket>> = BTreeMap::new();
    for (worker, counts) in raw {
        let get = |le: i64| counts.get(&le).copied().unwrap_or(0);
        let buckets = crate::store::histogram::HISTOGRAM_BOUNDS_MS
            .iter()
            .map(|&le| DurationBucket {
                le_ms: Some(le),
                count: get(le),
            })
            .chain([DurationBucket {
                le_ms: None,
                count: get(-1),
            }])
            .collect();
        duration_histograms.insert(worker, buckets);
    }
    Ok(RunReport {
        run,
        workflows,
        events,
        workers,
        error_patterns,
        alerts,
        system,
        system_series,
        throughput,
        series,
        duration_histograms,
        provenance,
        generated_at: clock::format_iso(now_us),
    })
}

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_header(header.iter().copied());
    table
}

fn pct(v: f64) -> String {
    format!("{v:.1}%")
}

fn ms(v: f64) -> String {
    format!("{v:.1}")
}

/// The p50/p95/p99 cells of a workflow's row (`-` when none ended).
fn latency_cells(latency: Option<&WorkflowLatency>) -> [String; 3] {
    match latency {
        Some(l) => [
            ms(l.p50_latency_ms),
            ms(l.p95_latency_ms),
            ms(l.p99_latency_ms),
        ],
        None => ["-".to_string(), "-".to_string(), "-".to_string()],
    }
}

/// A bucket's start as time since the run's start: `12 s`, `4 min`,
/// `2 h 30 min`.
pub fn offset_label(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 600.0 {
        format!("{} s", (s * 10.0).round() / 10.0)
    } else if s < 3.0 * 3600.0 {
        let min = s / 60.0;
        if (min - min.round()).abs() < 1e-9 {
            format!("{} min", min.round())
        } else {
            format!("{min:.1} min")
        }
    } else {
        let whole = (s / 60.0).round() as i64;
        format!("{} h {:02} min", whole / 60, whole % 60)
    }
}

/// A width in seconds for people: `1 s`, `10 s`, `5 min`, `2 h`.
pub fn width_label(seconds: f64) -> String {
    if seconds < 60.0 {
        format!("{seconds} s")
    } else if seconds < 3600.0 {
        format!("{} min", seconds / 60.0)
    } else {
        format!("{} h", seconds / 3600.0)
    }
}

/// The heading of the series section: how many buckets of what width.
pub fn over_time_heading(series: &Series) -> String {
    format!(
        "Over time: {} buckets of {} from the run's start",
        series.buckets.len(),
        width_label(series.bucket_s)
    )
}

/// The report as aligned text tables, one section after another.
pub fn render_text(report: &RunReport) -> String {
    let mut out = String::new();
    let r = &report.run;
    let _ = writeln!(
        out,
        "Run {} — {} → {}{} ({:.1} s)\nstatus: {}{}\ncommand: {}\nversion {} on {}",
        r.run_id,
        r.started_at,
        r.ended_at,
        if r.unfinished {
            " (did not end cleanly)"
        } else {
            ""
        },
        r.duration_seconds,
        r.status,
        r.end_reason
            .as_deref()
            .map_or_else(String::new, |why| format!(
                " ({})",
                crate::terminal::escape(why)
            )),
        // The recorded command line is one value: a newline in it stays visible.
        crate::terminal::escape(&r.command),
        r.version,
        r.host
    );
    if let Some(line) = report.provenance.describe() {
        let _ = writeln!(out, "{line}");
    }

    let _ = writeln!(out, "\nWorkflows ({} in all)", report.workflows.total);
    let outcomes: Vec<&String> = {
        let mut v: Vec<&String> = report.workflows.by_outcome.keys().collect();
        v.sort();
        v
    };
    let mut header = vec!["workflow"];
    header.extend(outcomes.iter().map(|s| s.as_str()));
    header.extend(["total", "p50 ms", "p95 ms", "p99 ms"]);
    let mut t = table(&header);
    for (name, by) in &report.workflows.by_workflow {
        let mut row = vec![name.clone()];
        row.extend(
            outcomes
                .iter()
                .map(|o| by.get(*o).copied().unwrap_or(0).to_string()),
        );
        row.push(by.values().sum::<u64>().to_string());
        row.extend(latency_cells(report.workflows.latency.get(name)));
        t.add_row(row);
    }
    let _ = writeln!(out, "{t}");

    let e = &report.events;
    let _ = writeln!(
        out,
        "\nEvents: {} ended; success {}, errors {}; latency avg {} ms, p95 {} ms; peak {} per minute",
        e.total_events,
        pct(e.success_rate),
        pct(e.error_rate),
        ms(e.avg_latency_ms),
        ms(e.p95_latency_ms),
        e.peak_throughput
    );

    let _ = writeln!(out, "\nWorkers (health at the run's end)");
    let mut t = table(&[
        "worker",
        "executions",
        "success",
        "errors",
        "timeouts",
        "avg ms",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "health",
    ]);
    for w in &report.workers {
        let p = &w.performance;
        t.add_row(vec![
            p.worker.clone(),
            p.total_executions.to_string(),
            pct(p.success_rate),
            pct(p.error_rate),
            p.timeout_executions.to_string(),
            ms(p.avg_duration_ms),
            ms(p.p50_duration_ms),
            ms(p.p95_duration_ms),
            ms(p.p99_duration_ms),
            w.health.to_string(),
        ]);
    }
    let _ = writeln!(out, "{t}");

    let _ = writeln!(out, "\nError patterns");
    if report.error_patterns.is_empty() {
        let _ = writeln!(out, "(none)");
    } else {
        let mut t = table(&["error type", "count", "workers", "last seen", "example"]);
        for p in &report.error_patterns {
            t.add_row(vec![
                p.error_type.clone(),
                p.count.to_string(),
                p.workers.join(", "),
                p.last_seen.clone(),
                p.example.clone().unwrap_or_default(),
            ]);
        }
        let _ = writeln!(out, "{t}");
    }

    let a = &report.alerts;
    let _ = writeln!(out, "\nAlerts: {} fired, {} resolved", a.fired, a.resolved);
    if !a.alerts.is_empty() {
        let mut t = table(&[
            "fired", "type", "severity", "subject", "resolved", "message",
        ]);
        for alert in &a.alerts {
            t.add_row(vec![
                alert.timestamp.clone(),
                alert.alert_type.clone(),
                alert.severity.as_str().to_string(),
                alert.worker.clone().unwrap_or_default(),
                alert.resolved_at.clone().unwrap_or_else(|| "-".into()),
                alert.message.clone(),
            ]);
        }
        let _ = writeln!(out, "{t}");
    }

    let s = &report.system;
    let _ = writeln!(out, "\nSystem ({} samples)", s.sample_count);
    let mut t = table(&["figure", "average", "peak"]);
    t.add_row(vec![
        "CPU (machine)".to_string(),
        pct(s.avg_cpu_usage),
        pct(s.peak_cpu_usage),
    ]);
    t.add_row(vec![
        "memory (machine)".to_string(),
        pct(s.avg_memory_usage),
        pct(s.peak_memory_usage),
    ]);
    t.add_row(vec![
        "load (1 min)".to_string(),
        format!("{:.2}", s.avg_system_load),
        "-".to_string(),
    ]);
    t.add_row(vec![
        "process CPU".to_string(),
        pct(s.avg_process_cpu_percent),
        pct(s.peak_process_cpu_percent),
    ]);
    t.add_row(vec![
        "process RSS".to_string(),
        "-".to_string(),
        format!("{:.1} MiB", s.peak_process_rss_bytes as f64 / 1048576.0),
    ]);
    t.add_row(vec![
        "active workflows".to_string(),
        "-".to_string(),
        s.peak_active_workflows.to_string(),
    ]);
    t.add_row(vec![
        "active connections".to_string(),
        "-".to_string(),
        s.peak_active_connections.to_string(),
    ]);
    let _ = writeln!(out, "{t}");

    let _ = writeln!(out, "\n{}", over_time_heading(&report.series));
    if let Some(line) = report.series.provenance.describe() {
        let _ = writeln!(out, "{line}");
    }
    let mut t = table(&[
        "from",
        "executions",
        "per s",
        "errors",
        "error %",
        "p50 ms",
        "p95 ms",
        "workflows",
    ]);
    let run_start = report.run.window.start_us;
    for b in &report.series.buckets {
        let latency = |v: Option<f64>| v.map_or_else(|| "-".to_string(), ms);
        t.add_row(vec![
            offset_label((b.start_us - run_start) as f64 / 1e6),
            b.executions.to_string(),
            format!("{:.2}", b.executions_per_s),
            b.errors.to_string(),
            pct(b.error_rate),
            latency(b.p50_latency_ms),
            latency(b.p95_latency_ms),
            b.workflows_ended.to_string(),
        ]);
    }
    let _ = write!(out, "{t}");
    out
}
