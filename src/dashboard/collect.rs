//! Filling a [`DashboardSnapshot`] from the database: the same monitors the
//! `query` commands use, read by any process while another one writes.
//!
//! Every statement runs on its own (autocommit) on a pooled reader and is
//! reset when read: no read transaction is open between two refreshes, so
//! a dashboard never keeps the writer from checkpointing the WAL.

use std::time::Duration;

use rusqlite::Connection;

use super::snapshot::{
    ActiveRow, AlertRow, DashboardSnapshot, EventPanel, SystemPanel, Trend, TrendPoint, WorkerRow,
};
use crate::clock;
use crate::monitor::alerts::firing_alerts;
use crate::monitor::outcomes::active_workflow_count;
use crate::monitor::series::{SeriesSource, series};
use crate::monitor::system::system_samples_series;
use crate::monitor::{EventMonitor, HealthThresholds, MonitorError, RunScope, WorkerMonitor};
use crate::runs::{RunSelector, resolve_run};
use crate::sql;
use crate::store::{Store, StoreError};
use crate::window::TimeWindow;

/// Active workflows listed by name (the panel scrolls through them); the
/// panel's title shows the count of all.
pub const ACTIVE_ROWS: i64 = 200;

/// For every run: how many of the newest runs are looked at to find when
/// recording into the window began.
const RUNS_LOOKED_AT: usize = 16;

/// When recording into `span` began: the start of the scope's run, or for
/// every run the earliest start of the newest runs that recorded into the
/// window; `None` when no run did.
pub(crate) fn recording_start(
    conn: &Connection,
    scope: RunScope,
    span: TimeWindow,
) -> Result<Option<i64>, MonitorError> {
    let resolve = |selector| match resolve_run(conn, selector) {
        Ok(run) => Ok(Some(run)),
        Err(StoreError::Missing(_)) => Ok(None),
        Err(e) => Err(MonitorError::from(e)),
    };
    match scope {
        RunScope::Run(id) => Ok(resolve(RunSelector::Id(id))?.map(|r| r.started_at_us)),
        RunScope::AllRuns => {
            let mut earliest: Option<i64> = None;
            let mut selector = RunSelector::Latest;
            for _ in 0..RUNS_LOOKED_AT {
                let Some(run) = resolve(selector)? else { break };
                // Runs are newest first: one that ended before the window
                // opened, and every older one, recorded nothing into it.
                if run.ended_at_us < span.start_us {
                    break;
                }
                earliest = Some(earliest.map_or(run.started_at_us, |e| e.min(run.started_at_us)));
                if run.started_at_us <= span.start_us || run.run_id <= 1 {
                    break;
                }
                selector = RunSelector::Id(run.run_id - 1);
            }
            Ok(earliest)
        }
    }
}

/// The part of `span` that elapsed: from the later of its start and the
/// start of recording, to its end (the dashboard's "now"). Rates are
/// divided by this, not by the whole window: 5 s into a run, a 1-minute
/// window has 5 s of events.
pub fn elapsed_part(span: TimeWindow, recording_start_us: Option<i64>) -> TimeWindow {
    let start_us = recording_start_us
        .map_or(span.start_us, |r| r.max(span.start_us))
        .min(span.end_us);
    TimeWindow {
        start_us,
        end_us: span.end_us,
    }
}

/// Takes a snapshot of the window of length `window` ending at `now_us`.
pub fn collect(
    store: &Store,
    thresholds: &HealthThresholds,
    scope: RunScope,
    window: Duration,
    now_us: i64,
) -> Result<DashboardSnapshot, MonitorError> {
    let span = TimeWindow::ending_at(now_us, window);
    let elapsed = {
        let conn = store.reader()?;
        elapsed_part(span, recording_start(&conn, scope, span)?)
    };
    let elapsed_seconds = elapsed.length_us() as f64 / 1e6;
    let m = EventMonitor::new(store.clone())
        .with_scope(scope)
        .get_event_metrics(span)?;
    let workers_monitor = WorkerMonitor::new(store.clone())
        .with_scope(scope)
        .with_thresholds(*thresholds);
    let summary = workers_monitor.get_worker_performance_summary(span)?;
    let health = workers_monitor.get_all_workers_health_at(now_us)?;
    let workers = health
        .values()
        .map(|h| {
            let perf = summary.workers.get(&h.worker);
            WorkerRow {
                name: h.worker.clone(),
                commands: perf.map_or(0, |p| p.total_executions as i64),
                success_rate: perf.map_or(0.0, |p| p.success_rate),
                avg_duration_ms: perf.map_or(0.0, |p| p.avg_duration_ms),
                p95_duration_ms: perf.map_or(0.0, |p| p.p95_duration_ms),
                health: h.status.to_string(),
                issues: h.issues.clone(),
            }
        })
        .collect();
    let conn = store.reader()?;
    // Events and workers may come partly from the rollups; samples and
    // alerts have none, so their notes say what retention emptied.
    let marks = crate::monitor::coverage::watermarks(&conn, scope)?;
    let mut approximate: Vec<&'static str> = Vec::new();
    approximate.extend(crate::monitor::event::APPROXIMATE_EVENT_FIELDS);
    approximate.extend(crate::monitor::performance::APPROXIMATE_WORKER_FIELDS);
    let mut provenance = marks.provenance(span, &approximate);
    provenance
        .notes
        .extend(marks.metrics_provenance(span).notes);
    let samples = system_samples_series(&conn, elapsed, scope)?;
    let trend = series(&conn, elapsed, scope, SeriesSource::Auto)?;
    let latest = samples.last().cloned().unwrap_or_default();
    let (run_first, run_last) = scope.id_bounds();
    // Workflows of a run whose process died are not in flight.
    let crashed = crate::store::lifecycle::dead_open_runs_json(&conn)?;
    let active = conn
        .prepare_cached(sql::queries::ACTIVE_WORKFLOWS)?
        .query_map(
            rusqlite::named_params! {":window_end": now_us, ":run_first": run_first, ":run_last": run_last, ":limit": ACTIVE_ROWS, ":crashed_runs": crashed},
            |r| {
                Ok(ActiveRow {
                    transaction_id: r.get(0)?,
                    workflow: r.get(1)?,
                    age_seconds: (now_us - r.get::<_, i64>(3)?) as f64 / 1e6,
                    current_step: r.get::<_, Option<String>>(4)?.unwrap_or_else(|| "-".into()),
                })
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let active_total = active_workflow_count(&conn, scope, now_us)?;
    let alerts = firing_alerts(&conn, scope)?
        .into_iter()
        .map(|a| AlertRow {
            severity: a.severity.as_str().to_string(),
            alert_type: a.alert_type,
            message: a.message,
            fired_at: a.timestamp,
        })
        .collect();
    Ok(DashboardSnapshot {
        generated_at: clock::format_iso(now_us),
        database: store.path().display().to_string(),
        window_minutes: span.minutes(),
        elapsed_seconds,
        events: EventPanel {
            total: m.total_events as i64,
            success_rate: m.success_rate,
            error_rate: m.error_rate,
            throughput_per_minute: if elapsed_seconds > 0.0 {
                m.total_events as f64 * 60.0 / elapsed_seconds
            } else {
                0.0
            },
            avg_latency_ms: m.avg_latency_ms,
            p95_latency_ms: m.p95_latency_ms,
        },
        trend: Trend {
            bucket_s: trend.bucket_s,
            points: trend
                .buckets
                .iter()
                .map(|b| TrendPoint {
                    offset_s: (b.start_us - elapsed.start_us) as f64 / 1e6,
                    throughput_per_s: b.executions_per_s,
                    p95_latency_ms: b.p95_latency_ms,
                    error_rate: b.error_rate,
                })
                .collect(),
        },
        workers,
        system: SystemPanel {
            cpu_usage_percent: latest.cpu_usage_percent,
            memory_usage_percent: latest.memory_usage_percent,
            load_avg_1m: latest.load_avg_1m,
            active_connections: latest.active_connections,
            cpu_series: samples.iter().map(|s| s.cpu_usage_percent).collect(),
            memory_series: samples.iter().map(|s| s.memory_usage_percent).collect(),
            samples: samples.len(),
            sample_offsets_s: samples
                .iter()
                .map(|s| (s.sampled_at_us - elapsed.start_us) as f64 / 1e6)
                .collect(),
        },
        active,
        active_total,
        alerts,
        provenance,
    })
}
