//! Drawing each question's answer for people: one renderer per question,
//! taking the computed answer and returning the text. A windowed answer's
//! table is followed by a line on where it comes from when retention
//! removed part of it.

use multiagents::monitor::coverage::Source;
use multiagents::monitor::hosts::HostsSummary;
use multiagents::monitor::system::SystemMetrics;
use multiagents::monitor::{
    EventMetrics, TraceStage, WorkerPerformance, WorkerPerformanceSummary, custom,
};
use multiagents::runs::RunSummary;
use multiagents::store::RunStatus;

use super::answers::{AlertsReport, CustomMetricsReport, ErrorsReport, HealthReport, SeriesReport};
use super::scope::Answer;
use crate::cli::output::{self, or_dash};

fn ms(v: f64) -> String {
    format!("{v:.1}")
}

fn pct(v: f64) -> String {
    format!("{v:.1}%")
}

fn labels(labels: &custom::Labels) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `text`, then the answer's provenance line if it is not simply raw rows.
fn with_source<T: serde::Serialize>(answer: &Answer<T>, mut text: String) -> String {
    if let Some(line) = answer.provenance.describe() {
        text.push('\n');
        text.push_str(&line);
    }
    text
}

/// A metric/value table.
fn metric_table<'a>(rows: impl IntoIterator<Item = (&'a str, String)>) -> String {
    let mut table = output::table(&["metric", "value"]);
    for (k, v) in rows {
        table.add_row(vec![k.to_string(), v]);
    }
    table.to_string()
}

/// `query runs`: one row per run, then a note for each run retention
/// touched.
pub(super) fn runs(list: &[RunSummary]) -> String {
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
    for r in list {
        table.add_row(vec![
            r.run_id.to_string(),
            match &r.end_reason {
                Some(why) if r.status != RunStatus::Completed => format!("{} ({why})", r.status),
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
    // Runs copied by `merge`: the file each came from.
    for r in list {
        if let Some(path) = &r.merged_from {
            text.push_str(&format!("\nRun {}: merged from {path}.", r.run_id));
        }
    }
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
}

/// `query events`.
pub(super) fn events(a: &Answer<EventMetrics>) -> String {
    let m = &a.body;
    let mut table = output::table(&["metric", "value"]);
    table.add_row(vec!["window".into(), a.scope.clone()]);
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
    with_source(a, table.to_string())
}

/// `query series`: one row per bucket, after a line on the window, the
/// bucket width and the source (always named: raw rows are exact, rollups
/// approximate their percentiles).
pub(super) fn series(a: &Answer<SeriesReport>) -> String {
    let r = &a.body;
    let source = match a.provenance.source {
        Source::Raw => "raw rows (exact)",
        Source::Rollups => "per-minute rollups (percentiles approximate)",
        Source::Mixed => "raw rows and rollups",
    };
    let mut text = format!(
        "{}: {} buckets of {} s from {}, source: {source}\n",
        a.scope,
        r.buckets.len(),
        r.bucket_s,
        multiagents::clock::format_iso(r.start_us)
    );
    let mut table = output::table(&[
        "t (s)",
        "start",
        "workflows",
        "wf/s",
        "executions",
        "exec/s",
        "errors",
        "error rate",
        "p50 ms",
        "p95 ms",
    ]);
    for b in &r.buckets {
        table.add_row(vec![
            format!("{}", b.offset_s),
            b.start.clone(),
            b.workflows_ended.to_string(),
            format!("{:.1}", b.workflows_per_s),
            b.executions.to_string(),
            format!("{:.1}", b.executions_per_s),
            b.errors.to_string(),
            pct(b.error_rate),
            b.p50_latency_ms.map_or_else(|| "-".to_string(), ms),
            b.p95_latency_ms.map_or_else(|| "-".to_string(), ms),
        ]);
    }
    text.push_str(&table.to_string());
    with_source(a, text)
}

/// `query trace ID`.
pub(super) fn trace(trace: &[TraceStage]) -> String {
    let mut table = output::table(&["timestamp", "event_type", "stage", "worker", "step"]);
    for s in trace {
        table.add_row(vec![
            s.timestamp.clone(),
            s.event_type.clone(),
            s.stage.clone(),
            or_dash(s.worker.as_deref()),
            or_dash(s.step.as_deref()),
        ]);
    }
    table.to_string()
}

/// `query errors`.
pub(super) fn errors(a: &Answer<ErrorsReport>) -> String {
    let mut table = output::table(&[
        "error_type",
        "count",
        "workers",
        "first_seen",
        "last_seen",
        "example",
    ]);
    for p in &a.body.error_patterns {
        table.add_row(vec![
            p.error_type.clone(),
            p.count.to_string(),
            p.workers.join(", "),
            p.first_seen.clone(),
            p.last_seen.clone(),
            or_dash(p.example.as_deref()),
        ]);
    }
    with_source(a, format!("Errors over {}\n{table}", a.scope))
}

/// `query workers`.
pub(super) fn workers(a: &Answer<WorkerPerformanceSummary>) -> String {
    let summary = &a.body;
    let agg = &summary.aggregated_metrics;
    let mut text = format!(
        "Executions: {}   Mean of worker success rates: {}   Mean duration (all executions): {} ms   ({})\n",
        agg.total_commands,
        pct(agg.average_success_rate),
        ms(agg.average_duration_ms),
        a.scope
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
    with_source(a, text)
}

/// `query worker NAME`.
pub(super) fn worker(a: &Answer<WorkerPerformance>) -> String {
    let p = &a.body;
    let text = metric_table([
        ("worker", p.worker.clone()),
        ("window", a.scope.clone()),
        ("total_executions", p.total_executions.to_string()),
        ("success_rate", pct(p.success_rate)),
        ("error_rate", pct(p.error_rate)),
        ("failed_executions", p.failed_executions.to_string()),
        ("timeout_executions", p.timeout_executions.to_string()),
        ("avg_duration_ms", ms(p.avg_duration_ms)),
        ("p50_duration_ms", ms(p.p50_duration_ms)),
        ("p95_duration_ms", ms(p.p95_duration_ms)),
        ("p99_duration_ms", ms(p.p99_duration_ms)),
    ]);
    with_source(a, text)
}

/// `query health`.
pub(super) fn health(a: &Answer<HealthReport>) -> String {
    let mut table = output::table(&[
        "worker",
        "status",
        "executions",
        "error rate",
        "p95 ms",
        "issues",
    ]);
    for h in a.body.workers.values() {
        table.add_row(vec![
            h.worker.clone(),
            h.status.to_string(),
            h.total_executions.to_string(),
            pct(h.error_rate),
            ms(h.p95_duration_ms),
            h.issues.join("; "),
        ]);
    }
    with_source(a, format!("Health over {}\n{table}", a.scope))
}

/// `query system`.
pub(super) fn system(a: &Answer<SystemMetrics>) -> String {
    let m = &a.body;
    let text = metric_table([
        ("window", a.scope.clone()),
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
    ]);
    with_source(a, text)
}

/// `query metrics`: the custom metrics, then the order value by hour.
pub(super) fn metrics(a: &Answer<CustomMetricsReport>) -> String {
    let report = &a.body;
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
    let mut text = format!("Custom metrics over {}\n{table}", a.scope);
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
    with_source(a, text)
}

/// `query alerts`: the alerts fired in the window, and how many fire now.
pub(super) fn alerts(a: &Answer<AlertsReport>) -> String {
    let mut table = output::table(&["fired", "type", "severity", "status", "message", "resolved"]);
    for alert in &a.body.history {
        table.add_row(vec![
            alert.timestamp.clone(),
            alert.alert_type.clone(),
            alert.severity.as_str().to_string(),
            format!("{:?}", alert.status).to_lowercase(),
            alert.message.clone(),
            or_dash(alert.resolved_at.as_deref()),
        ]);
    }
    with_source(
        a,
        format!(
            "Alerts fired in {}\n{table}\nFiring now: {}",
            a.scope,
            a.body.firing.len()
        ),
    )
}

/// `query hosts`: one row per worker host, then the executions run in
/// process and the total (which `query workers` shows too).
pub(super) fn hosts(a: &Answer<HostsSummary>) -> String {
    let summary = &a.body;
    let mut table = output::table(&[
        "host",
        "workers",
        "conc.",
        "executions",
        "failed",
        "timeout",
        "errors",
        "p50 ms",
        "p95 ms",
        "first seen",
        "last heartbeat",
        "reclaimed",
        "duplicates",
    ]);
    for h in &summary.hosts {
        table.add_row(vec![
            h.host.clone(),
            h.workers.as_ref().map_or("-".to_string(), |w| w.join(", ")),
            or_dash(h.concurrency),
            h.total_executions.to_string(),
            h.failed_executions.to_string(),
            h.timeout_executions.to_string(),
            pct(h.error_rate),
            or_dash(h.p50_duration_ms.map(ms)),
            or_dash(h.p95_duration_ms.map(ms)),
            or_dash(h.first_seen.as_deref()),
            match (&h.last_heartbeat, h.last_heartbeat_age_s) {
                (Some(at), Some(age)) => format!("{at} ({} ago)", age_text(age)),
                _ => "-".to_string(),
            },
            or_dash(h.reclaimed),
            or_dash(h.duplicates),
        ]);
    }
    let mut text = format!("Worker hosts over {}\n", a.scope);
    if summary.hosts.is_empty() {
        text.push_str("No worker host ran a step or sent a heartbeat in this window.\n");
    } else {
        text.push_str(&table.to_string());
        text.push('\n');
    }
    if let Some(p) = &summary.in_process {
        text.push_str(&format!(
            "In process (no host): {} executions, {} failed, {} timeout, {} errors, mean {} ms\n",
            p.total_executions,
            p.failed_executions,
            p.timeout_executions,
            pct(p.error_rate),
            ms(p.avg_duration_ms)
        ));
    }
    text.push_str(&format!(
        "Executions: {} (hosts and in process together, as query workers counts them)",
        summary.total_executions
    ));
    with_source(a, text)
}

/// An age in seconds, in the largest unit that keeps it short.
fn age_text(seconds: f64) -> String {
    if seconds < 60.0 {
        format!("{seconds:.1} s")
    } else if seconds < 3_600.0 {
        format!("{:.1} min", seconds / 60.0)
    } else if seconds < 86_400.0 {
        format!("{:.1} h", seconds / 3_600.0)
    } else {
        format!("{:.1} d", seconds / 86_400.0)
    }
}
