//! The Prometheus text exposition (format 0.0.4), built with the
//! `prometheus-client` crate from what the database holds — so it can be
//! asked from another process while a run writes the file — and, when the
//! export runs inside the recording process ([`Live`]), from that
//! process's writer and orchestrator too.
//!
//! # Names and units
//!
//! Names follow the Prometheus naming guide: counters end in `_total`,
//! durations are `_seconds`, sizes `_bytes`, and every fraction 0–1 ends in
//! `_ratio` (`multiagents_success_ratio`, `multiagents_error_ratio`,
//! `multiagents_system_cpu_usage_ratio`, …) — one convention for every rate.
//! Both success and error ratios are divided by the same total, so
//! `1 - success_ratio - error_ratio` is the share of cancelled events. The
//! process's CPU use is `multiagents_process_cpu_usage_cores` (1 = one core
//! busy; it exceeds 1 on several cores), not a ratio. This is the one
//! exception to the percent-and-milliseconds convention of every other
//! output (`docs/figures.md`). README's "Metric names" lists the names
//! renamed from earlier versions.
//!
//! # Windows: what each figure covers
//!
//! - **Counters and the worker duration histogram**
//!   (`multiagents_events_total`, `multiagents_worker_executions_total`,
//!   `multiagents_worker_duration_seconds`, `multiagents_workflows_total`)
//!   are totals since the start of the retained data, from the per-minute
//!   rollups — of every run in the file, or with `--run` of that run only
//!   (rollup rows carry their run, so two runs writing at once never mix).
//!   They only grow while runs write, and they outlive the raw events
//!   (rollups are kept for 30 days; when retention drops an old minute the
//!   counter goes down, which Prometheus treats as a counter reset).
//! - **The workflow duration histogram**
//!   (`multiagents_workflow_duration_seconds`) has no rollups: it counts
//!   the retained raw workflows that ended, so after retention its `_count`
//!   is below `multiagents_workflows_total`.
//! - **Rates, averages and health** use the window (`--window`, 5 minutes
//!   by default, as the seed's `time_window_minutes=5`) ending now; with a
//!   run, ending at the run's end — for a run without an end (still going,
//!   or crashed) at its latest record of any kind, as `query --run` and
//!   `report` do — so an export of a past or dead run shows what it looked
//!   like at its end. Per-worker gauges are present
//!   only for workers with executions in the window (an absent series, not
//!   a misleading 0).
//! - **System gauges** are the latest sample in the window (absent without
//!   one), with the sample's time as its own gauge
//!   (`multiagents_system_sample_timestamp_seconds`) so staleness is
//!   visible; **in-flight workflows** (`multiagents_active_workflows`) are
//!   counted from the workflows themselves, never from a sample, leaving out
//!   runs whose process died; **firing alerts** are those not yet resolved;
//!   **custom counters** are totals, **custom gauges** the latest value and
//!   **custom histograms** cumulative buckets (bounds from
//!   `metrics_collection.custom_metrics[].buckets`) over all retained
//!   observations. All of them come from every run, or with `--run` from
//!   that run's rows only (by their `run_id`), so two runs writing one file
//!   at once never mix.
//! - **The file**: `multiagents_database_size_bytes` and
//!   `multiagents_database_wal_size_bytes` at the moment of the export.
//! - **The recording process** ([`Live`]): the writer's queue depth,
//!   producer waits, commit times, rows written and the orchestrator's
//!   in-flight workflows exist only in that process's memory. They are
//!   exported only when the export runs there;
//!   `multiagents_writer_stats_available` says whether they are present.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
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
use crate::config::{MetricType as CustomType, MonitoringConfig};
use crate::monitor::custom::{counter_totals, histogram_buckets, latest_gauges};
use crate::monitor::system::system_samples_series;
use crate::monitor::totals::{self, Source};
use crate::monitor::{ALL_TIME, HealthStatus, HealthThresholds, RunScope, evaluate_health_all};
use crate::runs::{ResolvedRun, RunSelector, resolve_run};
use crate::store::{COMMIT_BOUNDS_US, Store, Writer};
use crate::window::TimeWindow;

/// The `Content-Type` of the exposition: Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The rate window the seed uses: five minutes.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(5 * 60);

/// Prefix of exported custom metrics, so they never collide with ours.
pub const CUSTOM_PREFIX: &str = "multiagents_custom_";

/// What only the recording process knows: its writer (queue, waits,
/// commits, rows written) and its orchestrator's count of workflows in
/// flight. Present when the export runs inside that process.
#[derive(Debug, Clone)]
pub struct Live {
    writer: Writer,
    in_flight: Arc<AtomicI64>,
}

impl Live {
    /// The figures of `writer`, and in-flight workflows from `in_flight`
    /// (the orchestrator's counter,
    /// [`Orchestrator::active_workflows_counter`](crate::orchestrator::Orchestrator::active_workflows_counter)).
    pub fn new(writer: Writer, in_flight: Arc<AtomicI64>) -> Self {
        Live { writer, in_flight }
    }

    /// The recording process of `session`: its writer and orchestrator.
    pub fn of_session(session: &crate::session::Session) -> Self {
        Live::new(
            session.writer().clone(),
            session.orchestrator().active_workflows_counter(),
        )
    }

    /// Workflows in flight in the recording process now.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The run the recording process writes.
    pub fn run_id(&self) -> i64 {
        self.writer.run_id()
    }
}

/// What to export.
#[derive(Debug, Clone)]
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
    /// Bucket upper bounds of each custom histogram, by metric name
    /// ([`custom_buckets`]); a histogram not listed gets
    /// [`DEFAULT_HISTOGRAM_BUCKETS`](crate::config::DEFAULT_HISTOGRAM_BUCKETS).
    pub custom_buckets: BTreeMap<String, Vec<f64>>,
    /// The recording process, when the export runs in it.
    pub live: Option<Live>,
}

impl ExportOptions {
    /// Every run, a five-minute window ending now, default thresholds and
    /// buckets, no recording process.
    pub fn now() -> Self {
        ExportOptions {
            window: DEFAULT_WINDOW,
            run: None,
            thresholds: HealthThresholds::default(),
            now_us: clock::now_us(),
            custom_buckets: BTreeMap::new(),
            live: None,
        }
    }

    /// [`ExportOptions::now`] with the thresholds and histogram buckets of
    /// `config`.
    pub fn from_config(config: &MonitoringConfig) -> Self {
        ExportOptions {
            thresholds: HealthThresholds::from_config(config),
            custom_buckets: custom_buckets(config),
            ..ExportOptions::now()
        }
    }
}

/// The bucket bounds of every custom histogram `config` declares.
pub fn custom_buckets(config: &MonitoringConfig) -> BTreeMap<String, Vec<f64>> {
    config
        .metrics_collection
        .custom_metrics
        .iter()
        .filter(|m| m.metric_type == CustomType::Histogram)
        .map(|m| (m.name.clone(), m.histogram_buckets().to_vec()))
        .collect()
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

/// Histograms whose bucket counts come from the database (or the writer's
/// counters) rather than from `observe` calls.
#[derive(Debug, Default)]
struct Histograms {
    series: BTreeMap<Labels, HistogramSeries>,
}

/// One histogram: sum, count, and non-cumulative (upper bound, count)
/// buckets ending with +Inf.
#[derive(Debug, Default)]
struct HistogramSeries {
    sum: f64,
    count: u64,
    buckets: Vec<(f64, u64)>,
}

impl EncodeMetric for Histograms {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (label_set, h) in &self.series {
            let mut e = encoder.encode_family(label_set)?;
            e.encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// Non-cumulative buckets over the store's fixed bounds
/// ([`HISTOGRAM_BOUNDS_MS`](crate::store::histogram::HISTOGRAM_BOUNDS_MS),
/// `-1` = +Inf), in seconds.
fn fixed_buckets(counts: Option<&BTreeMap<i64, u64>>) -> Vec<(f64, u64)> {
    let get = |le: i64| counts.and_then(|c| c.get(&le)).copied().unwrap_or(0);
    crate::store::histogram::HISTOGRAM_BOUNDS_MS
        .iter()
        .map(|&le| (le as f64 / 1000.0, get(le)))
        .chain([(f64::INFINITY, get(-1))])
        .collect()
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

fn gauge(registry: &mut Registry, name: &str, help: &str, v: f64) {
    let g = FloatGauge::default();
    g.set(v);
    registry.register(name, help, g);
}

/// A counter whose value is known (the encoder adds `_total` to `name`).
fn counter(registry: &mut Registry, name: &str, help: &str, v: f64) {
    let c = FloatCounter::default();
    c.inc_by(v);
    registry.register(name, help, c);
}

/// Builds the registry of every metric described in the module docs.
pub fn registry(conn: &Connection, options: &ExportOptions) -> Result<Registry, ExportError> {
    let plan = plan(conn, options)?;
    let mut registry = Registry::default();

    let info = Family::<Labels, FloatGauge>::default();
    info.get_or_create(&labels([("version", env!("CARGO_PKG_VERSION"))]))
        .set(1.0);
    registry.register(
        "multiagents_build_info",
        "Always 1; the version of multiagents that made this exposition is its label",
        info,
    );

    register_worker_totals(&mut registry, conn, &plan)?;
    register_workflow_totals(&mut registry, conn, &plan)?;
    register_window(&mut registry, conn, &plan, options)?;
    register_system(&mut registry, conn, &plan)?;
    register_custom(&mut registry, conn, &plan, options)?;
    register_file(&mut registry, conn);
    register_live(&mut registry, options.live.as_ref());
    Ok(registry)
}

/// Counters and the worker duration histogram: totals from the rollups.
fn register_worker_totals(
    registry: &mut Registry,
    conn: &Connection,
    plan: &Plan,
) -> Result<(), ExportError> {
    let totals = totals::worker_totals(conn, plan.total_window, plan.source)?;
    let events_total = Family::<Labels, Counter>::default();
    let worker_executions = Family::<Labels, Counter>::default();
    let mut histograms = Histograms::default();
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
            .entry(labels([("worker", &t.worker)]))
            .or_default();
        entry.sum += t.duration_sum_us as f64 / 1e6;
        entry.count += t.total();
    }
    let mut buckets: BTreeMap<String, BTreeMap<i64, u64>> = BTreeMap::new();
    for b in totals::worker_histograms(conn, plan.total_window, plan.source)? {
        *buckets
            .entry(b.worker)
            .or_default()
            .entry(b.le_ms)
            .or_default() += b.count;
    }
    for (label_set, entry) in histograms.series.iter_mut() {
        entry.buckets = fixed_buckets(buckets.get(&label_set[0].1));
    }
    registry.register(
        "multiagents_events",
        "Events (commands and compensations) that reached a terminal stage, by type and status, over the retained rollups",
        events_total,
    );
    registry.register(
        "multiagents_worker_executions",
        "Terminal executions of each worker over the retained rollups",
        worker_executions,
    );
    registry.register(
        "multiagents_worker_duration_seconds",
        "Worker execution time (processing to finished) over the retained rollups",
        histograms,
    );
    Ok(())
}

/// Per-workflow counters by outcome (rollups) and the workflow duration
/// histogram (raw workflows).
fn register_workflow_totals(
    registry: &mut Registry,
    conn: &Connection,
    plan: &Plan,
) -> Result<(), ExportError> {
    let workflows = Family::<Labels, Counter>::default();
    let mut names: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for o in
        crate::monitor::outcomes::outcome_counts_from_rollups(conn, plan.total_window, plan.scope)?
    {
        *names
            .entry(o.workflow_name)
            .or_default()
            .entry(o.outcome)
            .or_default() += o.count;
    }
    for (name, outcomes) in &names {
        // Every outcome of a name present, 0 when none: a ratio of two
        // series never lacks its numerator.
        for outcome in ["completed", "failed", "compensated", "cancelled"] {
            workflows
                .get_or_create(&labels([("workflow", name), ("outcome", outcome)]))
                .inc_by(outcomes.get(outcome).copied().unwrap_or(0));
        }
    }
    registry.register(
        "multiagents_workflows",
        "Workflows that ended, by name and outcome (completed, failed, compensated, cancelled), over the retained rollups",
        workflows,
    );

    let (first, last) = plan.scope.id_bounds();
    let mut histograms = Histograms::default();
    let mut buckets: BTreeMap<String, BTreeMap<i64, u64>> = BTreeMap::new();
    for b in totals::workflow_duration_histogram(conn, plan.total_window, first, last)? {
        let entry = histograms
            .series
            .entry(labels([("workflow", &b.workflow_name)]))
            .or_default();
        entry.sum += b.duration_sum_us as f64 / 1e6;
        entry.count += b.count;
        *buckets
            .entry(b.workflow_name)
            .or_default()
            .entry(b.le_ms)
            .or_default() += b.count;
    }
    for (label_set, entry) in histograms.series.iter_mut() {
        entry.buckets = fixed_buckets(buckets.get(&label_set[0].1));
    }
    registry.register(
        "multiagents_workflow_duration_seconds",
        "Workflow duration (created to ended) of the retained raw workflows that ended; retention deletes raw workflows, so its count can be below multiagents_workflows_total",
        histograms,
    );
    Ok(())
}

/// Rates and averages over the window; per-worker figures over it, and
/// health at its end.
fn register_window(
    registry: &mut Registry,
    conn: &Connection,
    plan: &Plan,
    options: &ExportOptions,
) -> Result<(), ExportError> {
    let em = crate::monitor::event::event_metrics(conn, plan.rate_window, plan.scope)?;
    gauge(
        registry,
        "multiagents_window_seconds",
        "Length of the window the ratios, averages and health are computed over",
        plan.rate_window.length_us() as f64 / 1e6,
    );
    gauge(
        registry,
        "multiagents_window_events",
        "Events that reached a terminal stage in the window",
        em.total_events as f64,
    );
    gauge(
        registry,
        "multiagents_success_ratio",
        "Completed events in the window as a fraction 0-1 of terminal events",
        em.success_rate / 100.0,
    );
    gauge(
        registry,
        "multiagents_error_ratio",
        "Failed and timed-out events in the window as a fraction 0-1 of terminal events",
        em.error_rate / 100.0,
    );
    gauge(
        registry,
        "multiagents_avg_latency_seconds",
        "Mean dispatch-to-terminal time of the events in the window",
        em.avg_latency_ms / 1000.0,
    );
    gauge(
        registry,
        "multiagents_p95_latency_seconds",
        "95th percentile (nearest rank) of dispatch-to-terminal time in the window",
        em.p95_latency_ms / 1000.0,
    );

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
        "multiagents_worker_success_ratio",
        "Completed executions of the worker in the window, fraction 0-1",
        w_success,
    );
    registry.register(
        "multiagents_worker_error_ratio",
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

    // In flight: from the workflows themselves, not the latest sample, so
    // that the workflows of a run that ended or whose process died never
    // count.
    gauge(
        registry,
        "multiagents_active_workflows",
        "Workflows in flight (started, not ended) in the database at the end of the window, leaving out runs whose process died",
        crate::monitor::outcomes::active_workflow_count(conn, plan.scope, plan.health_at_us)?
            as f64,
    );
    Ok(())
}

/// System gauges: the latest sample in the window.
fn register_system(
    registry: &mut Registry,
    conn: &Connection,
    plan: &Plan,
) -> Result<(), ExportError> {
    let Some(s) = system_samples_series(conn, plan.rate_window, plan.scope)?
        .last()
        .cloned()
    else {
        return Ok(());
    };
    gauge(
        registry,
        "multiagents_system_cpu_usage_ratio",
        "Whole-machine CPU use at the latest sample, 0-1",
        s.cpu_usage_percent / 100.0,
    );
    gauge(
        registry,
        "multiagents_system_memory_usage_ratio",
        "Whole-machine memory use at the latest sample, 0-1",
        s.memory_usage_percent / 100.0,
    );
    gauge(
        registry,
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
        registry,
        "multiagents_process_cpu_usage_cores",
        "CPU use of the recording process at the latest sample, in cores: 1 is one core fully busy, above 1 on several",
        s.process_cpu_percent / 100.0,
    );
    gauge(
        registry,
        "multiagents_process_resident_memory_bytes",
        "Resident memory of the recording process at the latest sample",
        s.process_rss_bytes as f64,
    );
    gauge(
        registry,
        "multiagents_active_connections",
        "Database connections in use by the recording process at the latest sample",
        s.active_connections as f64,
    );
    gauge(
        registry,
        "multiagents_system_sample_timestamp_seconds",
        "When the latest system sample was taken, Unix time: the age of every multiagents_system_* and multiagents_process_* gauge",
        s.sampled_at_us as f64 / 1e6,
    );
    Ok(())
}

/// Custom metrics: every retained observation of the scope (its run_id
/// selects a run).
fn register_custom(
    registry: &mut Registry,
    conn: &Connection,
    plan: &Plan,
    options: &ExportOptions,
) -> Result<(), ExportError> {
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
    // Histograms: the names observed (the summaries' query lists them),
    // each in the buckets its configuration gives.
    let mut names: Vec<String> =
        crate::monitor::custom::histogram_summaries(conn, custom_window, plan.scope)?
            .into_iter()
            .map(|h| h.name)
            .collect();
    names.dedup();
    for name in names {
        let bounds = options
            .custom_buckets
            .get(&name)
            .map_or(crate::config::DEFAULT_HISTOGRAM_BUCKETS, Vec::as_slice);
        let mut family = Histograms::default();
        for h in histogram_buckets(conn, &name, bounds, custom_window, plan.scope)? {
            // Cumulative from the query; the encoder wants each bucket's own.
            let mut below = 0;
            let mut buckets: Vec<(f64, u64)> = h
                .buckets
                .iter()
                .map(|&(le, cumulative)| {
                    let own = cumulative.saturating_sub(below);
                    below = below.max(cumulative);
                    (le, own)
                })
                .collect();
            buckets.push((f64::INFINITY, h.count.saturating_sub(below)));
            family.series.insert(
                h.labels.into_iter().collect(),
                HistogramSeries {
                    sum: h.sum,
                    count: h.count,
                    buckets,
                },
            );
        }
        registry.register(
            format!("{CUSTOM_PREFIX}{name}"),
            format!(
                "Custom histogram {name}: its observations, in the buckets of metrics_collection.custom_metrics (default 0.005 to 10)"
            ),
            family,
        );
    }
    Ok(())
}

/// The database file and its write-ahead log, as they are now.
fn register_file(registry: &mut Registry, conn: &Connection) {
    let Some(path) = conn.path().filter(|p| !p.is_empty()) else {
        return;
    };
    let size = |p: &str| std::fs::metadata(p).map_or(0, |m| m.len());
    gauge(
        registry,
        "multiagents_database_size_bytes",
        "Size of the SQLite database file (without its WAL)",
        size(path) as f64,
    );
    gauge(
        registry,
        "multiagents_database_wal_size_bytes",
        "Size of the database's write-ahead log (-wal file); 0 when there is none",
        size(&format!("{path}-wal")) as f64,
    );
}

/// The recording process's writer and orchestrator, when the export runs
/// in it.
fn register_live(registry: &mut Registry, live: Option<&Live>) {
    gauge(
        registry,
        "multiagents_writer_stats_available",
        "1 when this exposition comes from the recording process and includes its in-memory figures (multiagents_writer_*, multiagents_in_flight_workflows); 0 when it reads a file another process writes: writer queue depth, producer waits, commit times, rows written and in-flight workflows are then absent, known only to that process",
        if live.is_some() { 1.0 } else { 0.0 },
    );
    let Some(live) = live else {
        return;
    };
    let stats = live.writer.stats();
    gauge(
        registry,
        "multiagents_in_flight_workflows",
        "Workflows the recording process has started and not yet ended, now",
        live.in_flight() as f64,
    );
    gauge(
        registry,
        "multiagents_writer_queue_depth",
        "Records and requests queued for the writer thread and not yet taken (the backlog)",
        live.writer.queue_depth() as f64,
    );
    gauge(
        registry,
        "multiagents_writer_queue_capacity",
        "Queue entries the writer holds before producers wait",
        live.writer.queue_capacity() as f64,
    );
    counter(
        registry,
        "multiagents_writer_producer_waits",
        "Times a producer found the writer's queue full and waited (nothing is dropped)",
        stats.producer_waits as f64,
    );
    counter(
        registry,
        "multiagents_writer_producer_wait_seconds",
        "Time producers spent waiting for room in the writer's queue",
        stats.producer_wait_us_total as f64 / 1e6,
    );
    gauge(
        registry,
        "multiagents_writer_producer_wait_max_seconds",
        "Longest single wait of a producer since the writer started",
        stats.producer_wait_us_max as f64 / 1e6,
    );
    counter(
        registry,
        "multiagents_writer_records",
        "Records committed by the writer",
        stats.records_committed as f64,
    );
    let rows = Family::<Labels, Counter>::default();
    rows.get_or_create(&labels([("operation", "insert")]))
        .inc_by(stats.rows_inserted);
    rows.get_or_create(&labels([("operation", "update")]))
        .inc_by(stats.rows_updated);
    registry.register(
        "multiagents_writer_rows_written",
        "Workflow and event rows the writer inserted or updated",
        rows,
    );
    counter(
        registry,
        "multiagents_writer_commit_retries",
        "Commits retried after an error (e.g. another process held the write lock)",
        stats.commit_retries as f64,
    );
    counter(
        registry,
        "multiagents_writer_busy_seconds",
        "Time the writer thread spent applying and committing batches",
        stats.busy_us as f64 / 1e6,
    );
    counter(
        registry,
        "multiagents_writer_checkpoints",
        "WAL checkpoints the writer's checkpointer ran",
        stats.checkpoints as f64,
    );
    let mut commits = Histograms::default();
    commits.series.insert(
        Vec::new(),
        HistogramSeries {
            sum: stats.commit_us_total as f64 / 1e6,
            count: stats.commit_buckets.iter().sum(),
            buckets: COMMIT_BOUNDS_US
                .iter()
                .map(|&b| b as f64 / 1e6)
                .chain([f64::INFINITY])
                .zip(stats.commit_buckets)
                .collect(),
        },
    );
    registry.register(
        "multiagents_writer_commit_seconds",
        "Time of each commit of a batch (waiting for the write lock included)",
        commits,
    );
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
