//! Computing each question's answer: the figures from the monitors, with
//! the run, window and provenance around them. Nothing here prints.

use std::collections::BTreeMap;
use std::time::Duration;

use multiagents::monitor::coverage::{self, Provenance, Watermarks};
use multiagents::monitor::sketch::Precision;
use multiagents::monitor::{
    self, EventMetrics, EventMonitor, HealthThresholds, TraceStage, WorkerMonitor,
    WorkerPerformance, WorkerPerformanceSummary, alerts, custom, hosts, series, system,
};
use multiagents::runs::{self, RunSummary};
use multiagents::store::Store;
use multiagents::window::TimeWindow;

use super::ScopeArgs;
use super::scope::{Answer, Scope};
use crate::cli::Globals;

/// `multiagents query runs`: the most recent `limit` runs.
pub(super) fn runs(conn: &rusqlite::Connection, limit: i64) -> anyhow::Result<Vec<RunSummary>> {
    Ok(runs::list_runs(conn, limit)?)
}

/// `multiagents query trace ID`: every stage of one transaction, of any run
/// at any time (not windowed).
pub(super) fn trace(store: &Store, transaction_id: &str) -> anyhow::Result<Vec<TraceStage>> {
    Ok(EventMonitor::new(store.clone()).get_transaction_trace(transaction_id)?)
}

/// A windowed question's context: the database, the resolved run and
/// window, what retention removed from them, and how health is judged.
pub(super) struct Asked<'a> {
    store: &'a Store,
    conn: &'a rusqlite::Connection,
    scope: Scope,
    marks: Watermarks,
    thresholds: HealthThresholds,
    precision: Precision,
}

/// `multiagents query metrics` as one document.
#[derive(serde::Serialize)]
pub(super) struct CustomMetricsReport {
    pub(super) counters: Vec<custom::CounterTotal>,
    pub(super) gauges: Vec<custom::GaugeValue>,
    pub(super) histograms: Vec<custom::HistogramSummary>,
    pub(super) order_value_hourly: BTreeMap<String, custom::HourlyRollup>,
}

/// `multiagents query errors` as one document.
#[derive(serde::Serialize)]
pub(super) struct ErrorsReport {
    pub(super) error_patterns: Vec<monitor::ErrorPattern>,
}

/// `multiagents query health` as one document: each worker's health by name.
#[derive(serde::Serialize)]
pub(super) struct HealthReport {
    pub(super) workers: BTreeMap<String, monitor::WorkerHealth>,
}

/// `multiagents query alerts` as one document.
#[derive(serde::Serialize)]
pub(super) struct AlertsReport {
    pub(super) history: Vec<alerts::Alert>,
    pub(super) firing: Vec<alerts::Alert>,
}

/// `multiagents query series` as one document (the window and provenance
/// are the envelope's).
#[derive(serde::Serialize)]
pub(super) struct SeriesReport {
    /// Start of the first bucket, µs.
    pub(super) start_us: i64,
    /// End of what the buckets count (from the rollups: the end of the
    /// window's last minute).
    pub(super) end_us: i64,
    /// Width of every bucket, µs.
    pub(super) bucket_us: i64,
    /// Width of every bucket, seconds.
    pub(super) bucket_s: f64,
    /// Every bucket of the window, oldest first.
    pub(super) buckets: Vec<series::SeriesBucket>,
    /// The series as computed, for CSV.
    #[serde(skip)]
    pub(super) series: series::Series,
}

impl<'a> Asked<'a> {
    /// Resolves the run and window of `args` and reads the retention
    /// watermarks of that run.
    pub(super) fn new(
        store: &'a Store,
        conn: &'a rusqlite::Connection,
        globals: &Globals,
        args: &ScopeArgs,
        precision: Precision,
    ) -> anyhow::Result<Self> {
        let scope = Scope::resolve(conn, args.run, args.until, args.window)?;
        let marks = coverage::watermarks(conn, scope.monitor_scope())?;
        Ok(Asked {
            store,
            conn,
            scope,
            marks,
            thresholds: HealthThresholds::from_config(&globals.config),
            precision,
        })
    }

    fn window(&self) -> TimeWindow {
        self.scope.window
    }

    fn events_monitor(&self) -> EventMonitor {
        EventMonitor::new(self.store.clone())
            .with_scope(self.scope.monitor_scope())
            .with_precision(self.precision)
    }

    fn workers_monitor(&self) -> WorkerMonitor {
        WorkerMonitor::new(self.store.clone())
            .with_scope(self.scope.monitor_scope())
            .with_thresholds(self.thresholds)
            .with_precision(self.precision)
    }

    /// How an answer about event or worker figures over `w` was made.
    fn provenance(&self, w: TimeWindow, approximate: &[&'static str]) -> Provenance {
        monitor::sketch::provenance(&self.marks, w, self.precision, approximate)
    }

    /// `query events`: event metrics over the window.
    pub(super) fn events(&self) -> anyhow::Result<Answer<EventMetrics>> {
        let w = self.window();
        let m = self.events_monitor().get_event_metrics(w)?;
        let provenance = self.provenance(w, monitor::event::APPROXIMATE_EVENT_FIELDS);
        Ok(self.scope.answer(w, provenance, m))
    }

    /// `query series`: throughput, errors and latency per bucket over the
    /// window; `--exact` reads raw rows whatever the span.
    pub(super) fn series(&self) -> anyhow::Result<Answer<SeriesReport>> {
        let w = self.window();
        let source = match self.precision {
            Precision::Exact => series::SeriesSource::Raw,
            _ => series::SeriesSource::Auto,
        };
        let s = series::series(self.conn, w, self.scope.monitor_scope(), source)?;
        let report = SeriesReport {
            start_us: s.start_us,
            end_us: s.end_us,
            bucket_us: s.bucket_us,
            bucket_s: s.bucket_s,
            buckets: s.buckets.clone(),
            series: s.clone(),
        };
        Ok(self.scope.answer(w, s.provenance, report))
    }

    /// `query errors [--worker NAME]`: error patterns over the window.
    pub(super) fn errors(&self, worker: Option<&str>) -> anyhow::Result<Answer<ErrorsReport>> {
        if let Some(w) = worker {
            // An unknown name is an error, not an empty answer.
            monitor::performance::worker_id(self.conn, w)?;
        }
        let w = self.window();
        let report = ErrorsReport {
            error_patterns: self.events_monitor().get_error_patterns(w, worker)?,
        };
        // Long windows read their whole minutes from the error rollups
        // (exact, and kept after retention); short ones only raw rows.
        let uses_rollups = monitor::sketch::sketch_span(w, &self.marks, self.precision).is_some();
        let provenance = if uses_rollups {
            self.provenance(w, &[])
        } else {
            self.marks.raw_only_provenance(w, "errors")
        };
        Ok(self.scope.answer(w, provenance, report))
    }

    /// `query workers`: every worker's performance over the window.
    pub(super) fn workers(&self) -> anyhow::Result<Answer<WorkerPerformanceSummary>> {
        let w = self.window();
        let summary = self.workers_monitor().get_worker_performance_summary(w)?;
        let provenance = self.provenance(w, monitor::performance::APPROXIMATE_WORKER_FIELDS);
        Ok(self.scope.answer(w, provenance, summary))
    }

    /// `query worker NAME`: one worker's performance over the window.
    pub(super) fn worker(&self, name: &str) -> anyhow::Result<Answer<WorkerPerformance>> {
        let w = self.window();
        let p = self.workers_monitor().get_worker_performance(name, w)?;
        let provenance = self.provenance(w, monitor::performance::APPROXIMATE_WORKER_FIELDS);
        Ok(self.scope.answer(w, provenance, p))
    }

    /// `query health`: every worker's health at the window's end, judged
    /// over the performance window that ends there — `--window` when given
    /// (`length`), else the configured `performance_window_minutes`.
    pub(super) fn health(&self, length: Option<Duration>) -> anyhow::Result<Answer<HealthReport>> {
        let mut thresholds = self.thresholds;
        if let Some(length) = length {
            thresholds.window = length;
        }
        let end_us = self.window().end_us;
        let health_window = TimeWindow::ending_at(end_us, thresholds.window);
        let report = HealthReport {
            workers: self
                .workers_monitor()
                .with_thresholds(thresholds)
                .get_all_workers_health_at(end_us)?,
        };
        // Health reads its window as the monitors do by default (long
        // health windows from sketches), --exact or not.
        let provenance = monitor::sketch::provenance(
            &self.marks,
            health_window,
            Precision::Auto,
            monitor::performance::APPROXIMATE_WORKER_FIELDS,
        );
        Ok(self.scope.answer(health_window, provenance, report))
    }

    /// `query system`: system resource figures over the window.
    pub(super) fn system(&self) -> anyhow::Result<Answer<system::SystemMetrics>> {
        let w = self.window();
        let m = system::system_metrics(self.conn, w, self.scope.monitor_scope())?;
        Ok(self.scope.answer(w, self.marks.metrics_provenance(w), m))
    }

    /// `query metrics`: custom metrics over the window.
    pub(super) fn metrics(&self) -> anyhow::Result<Answer<CustomMetricsReport>> {
        let (w, run) = (self.window(), self.scope.monitor_scope());
        let report = CustomMetricsReport {
            counters: custom::counter_totals(self.conn, w, run)?,
            gauges: custom::latest_gauges(self.conn, w, run)?,
            histograms: custom::histogram_summaries(self.conn, w, run)?,
            order_value_hourly: custom::hourly_rollups(
                self.conn,
                custom::ORDER_VALUE_METRIC,
                w,
                run,
            )?,
        };
        Ok(self
            .scope
            .answer(w, self.marks.metrics_provenance(w), report))
    }

    /// `query alerts`: alerts fired in the window, and those firing now.
    pub(super) fn alerts(&self) -> anyhow::Result<Answer<AlertsReport>> {
        let (w, run) = (self.window(), self.scope.monitor_scope());
        let report = AlertsReport {
            history: alerts::alert_history(self.conn, w, run)?,
            firing: alerts::firing_alerts(self.conn, run)?,
        };
        Ok(self
            .scope
            .answer(w, self.marks.metrics_provenance(w), report))
    }

    /// `query hosts`: every worker host's executions over the window and
    /// what the runs last heard from it. Raw rows only (the rollups keep no
    /// host): a window retention emptied says which part it lost.
    pub(super) fn hosts(&self) -> anyhow::Result<Answer<hosts::HostsSummary>> {
        let w = self.window();
        let summary = hosts::host_activity(self.conn, w, self.scope.monitor_scope())?;
        let provenance = self.marks.raw_only_provenance(w, "executions per host");
        Ok(self.scope.answer(w, provenance, summary))
    }
}
