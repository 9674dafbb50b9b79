//! System resource monitoring: the seed's `MetricsCollector`.
//!
//! A sample is whole-machine CPU and memory, load averages, this process's
//! CPU and resident memory, database connections in use and workflows in
//! flight. A background task records one every `collection_interval_seconds`;
//! windowed summaries and series are read back in SQL.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::error::MonitorError;
use super::scope::{RunScope, WindowParams};
use crate::clock;
use crate::schedule::{self, Next, Schedule};
use crate::store::{Record, Store, SystemSample, Writer};
use crate::window::TimeWindow;

/// Where the collector reads how many workflows are in flight. The
/// orchestrator owns that number; the collector only asks for it.
pub type ActiveWorkflowsSource = Arc<dyn Fn() -> i64 + Send + Sync>;

/// A source that always reports no active workflows, for a collector used
/// without an orchestrator.
pub fn no_active_workflows() -> ActiveWorkflowsSource {
    Arc::new(|| 0)
}

/// A source reading a counter the orchestrator increments and decrements.
pub fn active_workflows_from(counter: Arc<AtomicI64>) -> ActiveWorkflowsSource {
    Arc::new(move || counter.load(Ordering::Relaxed))
}

/// What sysinfo needs to keep between samples: CPU figures are differences
/// between two refreshes, so one `System` lives as long as the collector.
struct Probe {
    system: System,
    pid: Pid,
    /// When CPU times were last read. sysinfo ignores a CPU refresh that
    /// comes sooner than `MINIMUM_CPU_UPDATE_INTERVAL` after the previous one.
    last_refresh: Instant,
}

impl Probe {
    fn refresh(&mut self) {
        // Refreshing our process with CPU also refreshes the global CPU
        // times (sysinfo does it to compute the process share), so machine
        // and process figures cover the same interval.
        self.system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[self.pid]),
            true,
            ProcessRefreshKind::nothing().with_cpu().with_memory(),
        );
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        self.last_refresh = Instant::now();
    }
}

struct CollectorInner {
    probe: Mutex<Probe>,
    store: Store,
    active_workflows: ActiveWorkflowsSource,
    /// Where on-demand samples are recorded, if anywhere.
    recorder: Option<Writer>,
}

/// Samples the machine and this process (the seed's `MetricsCollector`).
///
/// Cheap to clone; clones share one sysinfo state, so successive samples
/// from any clone measure CPU over the time since the previous one.
#[derive(Clone)]
pub struct MetricsCollector {
    inner: Arc<CollectorInner>,
    /// The runs [`MetricsCollector::get_system_metrics`] summarizes: a
    /// session's collector reads its own run only, so two processes
    /// recording into one file never mix their samples.
    scope: RunScope,
}

impl std::fmt::Debug for MetricsCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsCollector")
            .field("store", &self.inner.store)
            .field("scope", &self.scope)
            .finish()
    }
}

/// A value sysinfo reports as `f32`, made storable: NaN (e.g. a zero-length
/// interval) would become NULL in SQLite and fail the writer's batch.
fn finite(value: f64) -> f64 {
    if value.is_finite() { value } else { 0.0 }
}

fn bytes(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl MetricsCollector {
    /// A collector reading connections from `store` and in-flight workflows
    /// from `active_workflows`.
    ///
    /// It reads CPU times once now, so that the first sample already
    /// measures an interval (see [`MetricsCollector::sample_blocking`]).
    pub fn new(
        store: Store,
        active_workflows: ActiveWorkflowsSource,
    ) -> Result<Self, MonitorError> {
        let system = System::new().map_err(|e| MonitorError::System(e.to_string()))?;
        let pid = sysinfo::get_current_pid().map_err(|e| MonitorError::System(e.to_string()))?;
        let mut probe = Probe {
            system,
            pid,
            last_refresh: Instant::now(),
        };
        probe.refresh();
        Ok(MetricsCollector {
            inner: Arc::new(CollectorInner {
                probe: Mutex::new(probe),
                store,
                active_workflows,
                recorder: None,
            }),
            scope: RunScope::AllRuns,
        })
    }

    /// A collector like [`MetricsCollector::new`] that also records every
    /// on-demand sample ([`MetricsCollector::collect_system_metrics`])
    /// through `writer`, as the background sampler records its own. A
    /// session uses it when the configuration records system samples.
    pub fn recording(
        store: Store,
        active_workflows: ActiveWorkflowsSource,
        writer: Writer,
    ) -> Result<Self, MonitorError> {
        let collector = Self::new(store, active_workflows)?;
        let inner = Arc::into_inner(collector.inner)
            .ok_or_else(|| MonitorError::System("a new collector is not shared yet".to_string()))?;
        Ok(MetricsCollector {
            inner: Arc::new(CollectorInner {
                recorder: Some(writer),
                ..inner
            }),
            scope: collector.scope,
        })
    }

    /// The same collector summarizing only the runs in `scope` (a session
    /// passes its own run).
    pub fn with_scope(mut self, scope: RunScope) -> Self {
        self.scope = scope;
        self
    }

    /// The store this collector reads and summarizes.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Takes a sample stamped `sampled_at_us`. Blocking: reads `/proc`, and
    /// if the previous CPU reading is younger than sysinfo's
    /// `MINIMUM_CPU_UPDATE_INTERVAL` (200 ms on Linux) it first sleeps the
    /// rest of that interval — otherwise sysinfo would skip the CPU refresh
    /// and report the previous figure (or 0 on the first sample).
    pub fn sample_blocking(&self, sampled_at_us: i64) -> SystemSample {
        // A panic while sampling leaves the sysinfo state usable: the next
        // refresh overwrites it.
        let mut probe = self.inner.probe.lock().unwrap_or_else(|e| e.into_inner());
        let since = probe.last_refresh.elapsed();
        if since < sysinfo::MINIMUM_CPU_UPDATE_INTERVAL {
            std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL - since);
        }
        probe.refresh();
        let system = &probe.system;
        let total = system.total_memory();
        let used = system.used_memory();
        let memory_usage_percent = if total == 0 {
            0.0
        } else {
            used as f64 / total as f64 * 100.0
        };
        let load = System::load_average().unwrap_or_else(|e| {
            tracing::debug!(error = %e, "load average unavailable");
            sysinfo::LoadAvg::default()
        });
        let (process_cpu_percent, process_rss_bytes) = match system.process(probe.pid) {
            Some(p) => (f64::from(p.cpu_usage()), bytes(p.memory())),
            None => (0.0, 0),
        };
        SystemSample {
            sampled_at_us,
            cpu_usage_percent: finite(f64::from(system.global_cpu_usage())),
            memory_usage_percent: finite(memory_usage_percent),
            memory_used_bytes: bytes(used),
            memory_total_bytes: bytes(total),
            load_avg_1m: finite(load.one),
            load_avg_5m: finite(load.five),
            load_avg_15m: finite(load.fifteen),
            process_cpu_percent: finite(process_cpu_percent),
            process_rss_bytes,
            active_connections: self.inner.store.active_connections(),
            active_workflows: (self.inner.active_workflows)(),
        }
    }

    /// The seed's `collect_system_metrics()`: a sample taken now, on a
    /// blocking thread so that the runtime is never held up by `/proc` reads
    /// or the first-sample wait. A collector made with
    /// [`MetricsCollector::recording`] also records it, so the summaries
    /// include what was shown.
    pub async fn collect_system_metrics(&self) -> Result<SystemSample, MonitorError> {
        let collector = self.clone();
        let sample =
            tokio::task::spawn_blocking(move || collector.sample_blocking(clock::now_us()))
                .await
                .map_err(|e| MonitorError::Task(e.to_string()))?;
        if let Some(writer) = &self.inner.recorder {
            writer.record(Record::SystemSample(sample.clone())).await?;
        }
        Ok(sample)
    }

    /// The seed's `get_system_metrics(window)`: averages and peaks over the
    /// samples recorded in `window` by the runs of this collector's scope
    /// (see [`MetricsCollector::with_scope`]).
    pub fn get_system_metrics(&self, window: TimeWindow) -> Result<SystemMetrics, MonitorError> {
        let conn = self.inner.store.reader()?;
        system_metrics(&conn, window, self.scope)
    }
}

/// Summary of the system samples in a window (seed keys first).
///
/// With no samples in the window every figure is 0 and `sample_count` says
/// so, the way the seed's `.get(key, 0)` reads an empty result.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SystemMetrics {
    /// Mean whole-machine CPU use, percent.
    pub avg_cpu_usage: f64,
    /// Highest whole-machine CPU use, percent.
    pub peak_cpu_usage: f64,
    /// Mean memory use, percent.
    pub avg_memory_usage: f64,
    /// Highest memory use, percent.
    pub peak_memory_usage: f64,
    /// Mean one-minute load average.
    pub avg_system_load: f64,
    /// Number of samples in the window.
    pub sample_count: i64,
    /// Mean CPU use of the recording process, percent of one core.
    pub avg_process_cpu_percent: f64,
    /// Highest CPU use of the recording process, percent of one core.
    pub peak_process_cpu_percent: f64,
    /// Highest resident memory of the recording process, bytes.
    pub peak_process_rss_bytes: i64,
    /// Most database connections in use at a sample.
    pub peak_active_connections: i64,
    /// Most workflows in flight at a sample.
    pub peak_active_workflows: i64,
}

/// Averages and peaks of the samples in `window` recorded by the runs in
/// `scope` (`queries/system_metrics.sql`).
pub fn system_metrics(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
) -> Result<SystemMetrics, MonitorError> {
    let mut stmt = conn.prepare_cached(crate::sql::queries::SYSTEM_METRICS)?;
    let metrics = stmt.query_row(
        WindowParams::by_run_id(window, scope.run_id()).bind(),
        |row| {
            // Aggregates over no rows are NULL: read them as 0.
            let f = |i: usize| -> rusqlite::Result<f64> {
                Ok(row.get::<_, Option<f64>>(i)?.unwrap_or(0.0))
            };
            let n = |i: usize| -> rusqlite::Result<i64> {
                Ok(row.get::<_, Option<i64>>(i)?.unwrap_or(0))
            };
            Ok(SystemMetrics {
                sample_count: n(0)?,
                avg_cpu_usage: f(1)?,
                peak_cpu_usage: f(2)?,
                avg_memory_usage: f(3)?,
                peak_memory_usage: f(4)?,
                avg_system_load: f(5)?,
                avg_process_cpu_percent: f(6)?,
                peak_process_cpu_percent: f(7)?,
                peak_process_rss_bytes: n(8)?,
                peak_active_connections: n(9)?,
                peak_active_workflows: n(10)?,
            })
        },
    )?;
    Ok(metrics)
}

/// The samples recorded in `window` by the runs in `scope`, oldest first
/// (`queries/system_samples_series.sql`): sparklines and report charts.
pub fn system_samples_series(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
) -> Result<Vec<SystemSample>, MonitorError> {
    let mut stmt = conn.prepare_cached(crate::sql::queries::SYSTEM_SAMPLES_SERIES)?;
    let rows = stmt.query_map(
        WindowParams::by_run_id(window, scope.run_id()).bind(),
        |row| {
            Ok(SystemSample {
                sampled_at_us: row.get(0)?,
                cpu_usage_percent: row.get(1)?,
                memory_usage_percent: row.get(2)?,
                memory_used_bytes: row.get(3)?,
                memory_total_bytes: row.get(4)?,
                load_avg_1m: row.get(5)?,
                load_avg_5m: row.get(6)?,
                load_avg_15m: row.get(7)?,
                process_cpu_percent: row.get(8)?,
                process_rss_bytes: row.get(9)?,
                active_connections: row.get(10)?,
                active_workflows: row.get(11)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One round of the background sampler: take a sample stamped `now_us` and
/// queue it with the writer. Returns the sample.
///
/// The spawn loop calls this; tests call it directly with a fixed clock
/// instead of sleeping.
pub async fn tick(
    collector: &MetricsCollector,
    writer: &Writer,
    now_us: i64,
) -> Result<SystemSample, MonitorError> {
    let sampler = collector.clone();
    let sample = tokio::task::spawn_blocking(move || sampler.sample_blocking(now_us))
        .await
        .map_err(|e| MonitorError::Task(e.to_string()))?;
    writer.record(Record::SystemSample(sample.clone())).await?;
    Ok(sample)
}

/// The interval the sampler really uses: `configured`, raised to sysinfo's
/// minimum CPU interval (200 ms on Linux), since CPU could not be measured
/// over less.
pub fn sampling_interval(configured: Duration) -> Duration {
    configured.max(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL)
}

/// [`tick`] as a scheduled job runs it: a failed sample is logged and the
/// job goes on; a stopped writer ends it ([`Next::Stop`]), since nothing
/// could be recorded any more (said once by whoever watches the writer,
/// `Writer::failed`, unless the writer was merely shut down).
pub async fn scheduled_tick(collector: &MetricsCollector, writer: &Writer, now_us: i64) -> Next {
    let round = tick(collector, writer, now_us).instrument(tracing::info_span!("system_sampler"));
    match round.await {
        Ok(_) => Next::Again,
        Err(MonitorError::Store(e)) => {
            if writer.failure().is_none() {
                tracing::warn!(error = %e, "system sampler stopping: cannot record");
            }
            Next::Stop
        }
        Err(e) => {
            tracing::warn!(error = %e, "system sample failed");
            Next::Again
        }
    }
}

/// Starts the background sampler on its own schedule: a sample every
/// [`sampling_interval`]`(interval)`, the first at once, until `stop` is set
/// to `true` or its sender is dropped (see [`scheduled_tick`] for failures).
/// Missed rounds (a stalled runtime) are skipped rather than bunched up.
/// A session runs the same tick on its one schedule of background jobs.
pub fn spawn_system_sampler(
    collector: MetricsCollector,
    writer: Writer,
    interval: Duration,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let jobs = Schedule::new().every((), sampling_interval(interval), clock::now_us());
    schedule::spawn(jobs, stop, move |(), now_us| {
        let (collector, writer) = (collector.clone(), writer.clone());
        async move { scheduled_tick(&collector, &writer, now_us).await }
    })
}
