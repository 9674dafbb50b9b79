//! The Prometheus text exposition (format 0.0.4), built with the
//! `prometheus-client` crate from what the database holds — so it can be
//! asked from another process while a run writes the file.
//!
//! # Units
//!
//! Every rate is a **fraction 0–1** (`multiagents_success_rate`,
//! `multiagents_error_rate`, `multiagents_worker_success_rate`, …) and
//! every duration is in **seconds**, as Prometheus recommends. The seed
//! divided `success_rate` by 100 but exported `error_rate` as a percentage;
//! here both are divided, so `1 - success_rate - error_rate` is the share
//! of cancelled events. CPU and memory use are ratios 0–1 as well. This is
//! the one exception to the percent-and-milliseconds convention of every
//! other output (`docs/figures.md`).
//!
//! # Windows: what each figure covers
//!
//! - **Counters and the duration histogram** (`multiagents_events_total`,
//!   `multiagents_worker_executions_total`,
//!   `multiagents_worker_duration_seconds`) are totals since the start of the
//!   retained data, from the per-minute rollups — of every run in the file,
//!   or with `--run` of that run only (rollup rows carry their run, so two
//!   runs writing at once never mix). They only grow while runs write, and
//!   they outlive the raw events (rollups are kept for 30 days; when
//!   retention drops an old minute the counter goes down, which Prometheus
//!   treats as a counter reset).
//! - **Rates, averages and health** use the window (`--window`, 5 minutes
//!   by default, as the seed's `time_window_minutes=5`) ending now; with a
//!   run, ending at the run's end — for a run without an end (still going,
//!   or crashed) at its latest record of any kind, as `query --run` and
//!   `report` do — so an export of a past or dead run shows what it looked
//!   like at its end. Per-worker gauges are present
//!   only for workers with executions in the window (an absent series, not
//!   a misleading 0).
//! - **System gauges** are the latest sample in the window (absent without
//!   one); **firing alerts** are those not yet resolved; **custom counters**
//!   are totals and **custom gauges** the latest value, over all retained
//!   observations. All of them come from every run, or with `--run` from
//!   that run's rows only (by their `run_id`), so two runs writing one file
//!   at once never mix. Custom histograms have no fixed buckets and are not
//!   exported.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rusqlite::Connection;

use super::ExportError;
use crate::clock;
use crate::monitor::custom::{counter_totals, latest_gauges};
use crate::monitor::system::system_samples_series;
use crate::monitor::totals::{self, Source};
use crate::monitor::{ALL_TIME, HealthStatus, HealthThresholds, RunScope, evaluate_health_all};
use crate::runs::{ResolvedRun, RunSelector, resolve_run};
use crate::store::Store;
use crate::window::TimeWindow;

/// The `Content-Type` of the exposition: Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The rate window the seed uses: five minutes.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(5 * 60);

/// Prefix of exported custom metrics, so they never collide with ours.
pub const CUSTOM_PREFIX: &str = "multiagents_custom_";

/// What to export.
#[derive(Debug, Clone, Copy)]
pub struct ExportOptions {
    /// The window of rates, averages and health.
    pub window: Duration,
    /// One run, or every run (`None`).
    pub run: Option<RunSelector>,
    /// How health is judged (from configuration).
    pub thresholds: HealthThresholds,
    /// "Now", µs: the end of the window when no run is selected (a run's
    /// window ends at its end or latest record).
    pub now_us: i64,
}

impl ExportOptions {
    /// Every run, a five-minute window ending now, default thresholds.
    pub fn now() -> Self {
        ExportOptions {
            window: DEFAULT_WINDOW,
            run: None,
            thresholds: HealthThresholds::default(),
            now_us: clock::now_us(),
        }
    }
}

type Labels = Vec<(String, String)>;
type FloatCounter = Counter<f64, AtomicU64>;
type FloatGauge = Gauge<f64, AtomicU64>;

fn labels<const N: usize>(pairs: [(&str, &str); N]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Per-worker duration histograms whose bucket counts come from the
/// database rather than from `observe` calls.
#[derive(Debug, Default)]
struct WorkerHistograms {
    series: BTreeMap<String, HistogramSeries>,
}

/// One worker's histogram: (sum in seconds, count, non-cumulative
/// (upper bound, count) buckets).
type HistogramSeries = (f64, u64, Vec<(f64, u64)>);

impl EncodeMetric for WorkerHistograms {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (worker, (sum, count, buckets)) in &self.series {
            let label_set = [("worker", worker.as_str())];
            let mut e = encoder.encode_family(&label_set)?;
            e.encode_histogram::<NoLabelSet>(*sum, *count, buckets, None)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// The scope, windows and source one export covers.
struct Plan {
    scope: RunScope,
    /// Rates, averages, health, system gauges.
    rate_window: TimeWindow,
    /// Counters and histograms.
    total_window: TimeWindow,
    source: Source,
    health_at_us: i64,
}

fn plan(conn: &Connection, options: &ExportOptions) -> Result<Plan, ExportError> {
    match options.run {
        None => Ok(Plan {
            scope: RunScope::AllRuns,
            rate_window: TimeWindow::ending_at(options.now_us, options.window),
            total_window: ALL_TIME,
            source: Source::Rollups { run_id: None },
            health_at_us: options.now_us,
        }),
        Some(selector) => {
            let run: ResolvedRun = resolve_run(conn, selector)?;
            // At the run's end, or for a run without one (still going, or
            // crashed) at its latest record of any kind: the anchor of
            // `query --run`, `report` and `dashboard --run`, so a dead run
            // shows what it did, not an empty window after it. +1: the
            // window is half-open and the run's last record may carry its
            // end time.
            let end = run.ended_at_us + 1;
            Ok(Plan {
                scope: RunScope::Run(run.run_id),
                rate_window: TimeWindow::ending_at(end, options.window),
                // The run's own rollup rows, at any time: exact counts and
                // buckets, and still there after retention deleted its raw
                // events.
                total_window: ALL_TIME,
                source: Source::Rollups {
                    run_id: Some(run.run_id),
                },
                health_at_us: end,
            })
        }
    }
}

/// Builds the registry of every metric described in the module docs.
pub fn registry(conn: &Connection, options: &ExportOptions) -> Result<Registry, ExportError> {
    let plan = plan(conn, options)?;
    let mut registry = Registry::default();

    // Counters and the histogram: totals.
    let totals = totals::worker_totals(conn, plan.total_window, plan.source)?;
    let events_total = Family::<Labels, Counter>::default();
    let worker_executions = Family::<Labels, Counter>::default();
    let mut histograms = WorkerHistograms::default();
    for t in &totals {
        for (status, n) in [
            ("completed", t.completed),
            ("failed", t.failed),
            ("timeout", t.timeout),
            ("cancelled", t.cancelled),
        ] {
            events_total
                .get_or_create(&labels([("type", &t.event_type), ("status", status)]))
                .inc_by(n);
        }
        worker_executions
            .get_or_create(&labels([("worker", &t.worker)]))
            .inc_by(t.total());
        let entry = histograms
            .series
            .entry(t.worker.clone())
            .or_insert_with(|| (0.0, 0, Vec::new()));
        entry.0 += t.duration_sum_us as f64 / 1e6;
        entry.1 += t.total();
    }
    let mut buckets: BTreeMap<String, BTreeMap<i64, u64>> = BTreeMap::new();
    for b in totals::worker_histograms(conn, plan.total_window, plan.source)? {
        *buckets
            .entry(b.worker)
            .or_default()
            .entry(b.le_ms)
            .or_default() += b.count;
    }
    for (worker, entry) in histograms.series.iter_mut() {
        let counts = buckets.get(worker);
        let get = |le: i64| counts.and_then(|c| c.get(&le)).copied().unwrap_or(0);
        entry.2 = crate::store::histogram::HISTOGRAM_BOUNDS_MS
            .iter()
            .map(|&le| (le as f64 / 1000.0, get(le)))
            .chain([(f64::INFINITY, get(-1))])
            .collect();
    }
    registry.register(
        "multiagents_events",
        "Events (commands and compensations) that reached a terminal stage, by type and status, over the retained data",
        events_total,
    );
    registry.register(
        "multiagents_worker_executions",
        "Terminal executions of each worker over the retained data",
        worker_executions,
    );
    registry.register(
        "multiagents_worker_duration_seconds",
        "Worker execution time (processing to finished), over the retained data",
        histograms,
    );

    // Rates and averages over the window.
    let em = crate::monitor::event::event_metrics(conn, plan.rate_window, plan.scope)?;
    let gauge = |registry: &mut Registry, name: &str, help: &str, v: f64| {
        let g = FloatGauge::default();
        g.set(v);
        registry.register(name, help, g);
    };
    gauge(
        &mut registry,
        "multiagents_window_seconds",
        "Length of the window the rates, averages and health are computed over",
        plan.rate_window.length_us() as f64 / 1e6,
    );
    gauge(
        &mut registry,
        "multiagents_window_events",
        "Events that reached a terminal stage in the window",
        em.total_events as f64,
    );
    gauge(
        &mut registry,
        "multiagents_success_rate",
        "Completed events in the window as a fraction 0-1 of terminal events",
        em.success_rate / 100.0,
    );
    gauge(
        &mut registry,
        "multiagents_error_rate",
        "Failed and timed-out events in the window as a fraction 0-1 of terminal events",
        em.error_rate / 100.0,
    );
    gauge(
        &mut registry,
        "multiagents_avg_latency_seconds",
        "Mean dispatch-to-terminal time of the events in the window",
        em.avg_latency_ms / 1000.0,
    );
    gauge(
        &mut registry,
        "multiagents_p95_latency_seconds",
        "95th percentile (nearest rank) of dispatch-to-terminal time in the window",
        em.p95_latency_ms / 1000.0,
    );

    // Per-worker figures over the window, and health at its end.
    let w_success = Family::<Labels, FloatGauge>::default();
    let w_error = Family::<Labels, FloatGauge>::default();
    let w_avg = Family::<Labels, FloatGauge>::default();
    let w_p95 = Family::<Labels, FloatGauge>::default();
    let w_health = Family::<Labels, FloatGauge>::default();
    let mut thresholds = options.thresholds;
    thresholds.window = options.window;
    let names = crate::monitor::worker::tracked_workers(conn, ALL_TIME, plan.scope)?;
    let healths = evaluate_health_all(conn, &names, plan.health_at_us, &thresholds, plan.scope)?;
    for (name, health) in names.into_iter().zip(healths) {
        for status in [
            HealthStatus::Healthy,
            HealthStatus::Degraded,
            HealthStatus::Failing,
            HealthStatus::Inactive,
        ] {
            w_health
                .get_or_create(&labels([("worker", &name), ("status", status.as_str())]))
                .set(if status == health.status { 1.0 } else { 0.0 });
        }
        let perf = crate::monitor::performance::worker_performance(
            conn,
            &name,
            plan.rate_window,
            plan.scope,
        )?;
        if perf.total_executions == 0 {
            continue;
        }
        let l = labels([("worker", &name)]);
        w_success.get_or_create(&l).set(perf.success_rate / 100.0);
        w_error.get_or_create(&l).set(perf.error_rate / 100.0);
        w_avg.get_or_create(&l).set(perf.avg_duration_ms / 1000.0);
        w_p95.get_or_create(&l).set(perf.p95_duration_ms / 1000.0);
    }
    registry.register(
        "multiagents_worker_success_rate",
        "Completed executions of the worker in the window, fraction 0-1",
        w_success,
    );
    registry.register(
        "multiagents_worker_error_rate",
        "Failed and timed-out executions of the worker in the window, fraction 0-1",
        w_error,
    );
    registry.register(
        "multiagents_worker_avg_duration_seconds",
        "Mean execution time of the worker in the window",
        w_avg,
    );
    registry.register(
        "multiagents_worker_p95_duration_seconds",
        "95th percentile (nearest rank) of the worker's execution time in the window",
        w_p95,
    );
    registry.register(
        "multiagents_worker_health",
        "1 for the worker's current health status (healthy, degraded, failing, inactive), 0 for the others",
        w_health,
    );

    // System gauges: the latest sample in the window.
    if let Some(s) = system_samples_series(conn, plan.rate_window, plan.scope)?.last() {
        gauge(
            &mut registry,
            "multiagents_system_cpu_usage_ratio",
            "Whole-machine CPU use at the latest sample, 0-1",
            s.cpu_usage_percent / 100.0,
        );
        gauge(
            &mut registry,
            "multiagents_system_memory_usage_ratio",
            "Whole-machine memory use at the latest sample, 0-1",
            s.memory_usage_percent / 100.0,
        );
        gauge(
            &mut registry,
            "multiagents_system_memory_used_bytes",
            "Whole-machine memory in use at the latest sample",
            s.memory_used_bytes as f64,
        );
        let load = Family::<Labels, FloatGauge>::default();
        for (period, v) in [
            ("1m", s.load_avg_1m),
            ("5m", s.load_avg_5m),
            ("15m", s.load_avg_15m),
        ] {
            load.get_or_create(&labels([("period", period)])).set(v);
        }
        registry.register(
            "multiagents_system_load_average",
            "Load average at the latest sample",
            load,
        );
        gauge(
            &mut registry,
            "multiagents_process_cpu_ratio",
            "CPU use of the recording process at the latest sample, in cores",
            s.process_cpu_percent / 100.0,
        );
        gauge(
            &mut registry,
            "multiagents_process_resident_memory_bytes",
            "Resident memory of the recording process at the latest sample",
            s.process_rss_bytes as f64,
        );
        gauge(
            &mut registry,
            "multiagents_active_connections",
            "Database connections in use by the recording process at the latest sample",
            s.active_connections as f64,
        );
        gauge(
            &mut registry,
            "multiagents_system_sample_timestamp_seconds",
            "When the latest system sample was taken, Unix time",
            s.sampled_at_us as f64 / 1e6,
        );
    }

    // In flight: from the workflows themselves, not the latest sample, so
    // that the workflows of a run whose process died never count.
    gauge(
        &mut registry,
        "multiagents_active_workflows",
        "Workflows in flight (started, not ended) in runs still recording",
        crate::monitor::outcomes::active_workflow_count(conn, plan.scope, plan.health_at_us)?
            as f64,
    );

    // Alerts still firing, by severity (every severity present, 0 when none).
    let firing = Family::<Labels, FloatGauge>::default();
    let mut by_severity: BTreeMap<&str, u64> =
        [("info", 0), ("warning", 0), ("critical", 0)].into();
    for alert in crate::monitor::alerts::firing_alerts(conn, plan.scope)? {
        *by_severity.entry(alert.severity.as_str()).or_default() += 1;
    }
    for (severity, n) in by_severity {
        firing
            .get_or_create(&labels([("severity", severity)]))
            .set(n as f64);
    }
    registry.register(
        "multiagents_alerts_firing",
        "Alerts fired and not yet resolved, by severity",
        firing,
    );

    // Custom metrics.
    // Every retained observation of the scope (its run_id selects a run).
    let custom_window = ALL_TIME;
    let mut counters: BTreeMap<String, Family<Labels, FloatCounter>> = BTreeMap::new();
    for c in counter_totals(conn, custom_window, plan.scope)? {
        let name = c.name.strip_suffix("_total").unwrap_or(&c.name).to_string();
        let l: Labels = c.labels.into_iter().collect();
        counters
            .entry(name)
            .or_default()
            .get_or_create(&l)
            .inc_by(c.total);
    }
    for (name, family) in counters {
        registry.register(
            format!("{CUSTOM_PREFIX}{name}"),
            format!("Custom counter {name}: total of its increments"),
            family,
        );
    }
    let mut gauges: BTreeMap<String, Family<Labels, FloatGauge>> = BTreeMap::new();
    for g in latest_gauges(conn, custom_window, plan.scope)? {
        let l: Labels = g.labels.into_iter().collect();
        gauges
            .entry(g.name)
            .or_default()
            .get_or_create(&l)
            .set(g.value);
    }
    for (name, family) in gauges {
        registry.register(
            format!("{CUSTOM_PREFIX}{name}"),
            format!("Custom gauge {name}: its latest value"),
            family,
        );
    }
    Ok(registry)
}

/// Encodes a registry in the Prometheus text format 0.0.4.
pub fn encode(registry: &Registry) -> Result<String, ExportError> {
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, registry)
        .map_err(|e| ExportError::Render(format!("prometheus text encoding: {e}")))?;
    Ok(out)
}

/// The exposition text of one database: [`registry`] then [`encode`], on a
/// pooled reader.
pub fn export(store: &Store, options: &ExportOptions) -> Result<String, ExportError> {
    let conn = store.reader()?;
    encode(&registry(&conn, options)?)
}
