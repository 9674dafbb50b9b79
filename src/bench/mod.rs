//! Measured figures of the hot path (`multiagents bench`).
//!
//! Every figure is measured next to a reference taken in the same run, on
//! the same machine, and judged by the ratio of the two: the machine is
//! shared and noisy, so absolute numbers from different runs do not compare,
//! ratios mostly do. Nothing here asserts on time; the command reports.
//!
//! One file per figure. To add a figure (query speed, say): write a module
//! with a `measure(&BenchOptions, &Progress) -> BenchResult<Vec<Figure>>`,
//! add a [`Suite`] variant, and list it in [`Suite::ALL`].

mod commits;
pub mod dataset;
mod day;
mod distributed;
pub mod duckdb;
mod footprint;
mod ingest;
mod memory;
mod overhead;
pub mod peer;
mod queries;
mod retention;
mod scrapes;
mod throughput;
mod wal;
mod workload;

use std::path::{Path, PathBuf};

use serde::Serialize;

/// What a measurement returns. A benchmark reports and nobody matches on
/// its failures, so the error is [`anyhow::Error`]: the step that failed and
/// its causes, like the binary's own errors (the harness sits at that edge).
pub type BenchResult<T> = anyhow::Result<T>;

pub use peer::PeerFigure;

/// The Python original's throughput as DESIGN.md measured it on this
/// machine (workflows/s), used as the reference when `--peer` is not given.
pub const DOCUMENTED_PEER_WORKFLOWS_PER_S: f64 = 165.0;

/// A group of figures measured together. `bench` without `--only` runs
/// [`Suite::DEFAULT`]; [`Suite::ALL`] fixes the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Suite {
    /// Steady RSS over the last workflows of a few and of many.
    Memory,
    /// No-op workflows/s, recorded and not.
    Throughput,
    /// The seed's fast workload, recorded and not.
    Overhead,
    /// Rows/s through the writer against a plain rusqlite loop.
    Ingest,
    /// The writer with group commit against one transaction per row.
    Commits,
    /// Producer waits while retention deletes old rows.
    Retention,
    /// Every query file through our API vs the sqlite3 shell, whole-hour
    /// summaries from rollups vs raw rows, percentiles vs DuckDB, bytes per
    /// execution.
    Queries,
    /// The day-scale dataset (24 × the hour's executions over 24 h): its
    /// size and ingest rate, 24-hour windows through the public API, every
    /// query on it vs on the hour. Not in the default run: generating it
    /// takes longer than the rest together (it is cached afterwards).
    Day,
    /// WAL peak size under load with a dashboard and scrapes; the writer's
    /// longest stall after a long reader transaction ends.
    Wal,
    /// Parallel `GET /metrics` of `serve` during full load: errors, p50,
    /// p99, shared answers against each request computing alone.
    Scrapes,
    /// No-op workflows/s with every step on two worker-host processes over
    /// Redis (a `redis-server` of its own), against the Python original and
    /// in process; the latency a remote step adds at light load. Not in
    /// the default run: it needs `redis-server` and starts processes.
    Distributed,
}

impl Suite {
    /// Every suite, in the order they run. Memory runs first so that the
    /// heap of the other figures does not hide its growth.
    pub const ALL: &'static [Suite] = &[
        Suite::Memory,
        Suite::Throughput,
        Suite::Overhead,
        Suite::Ingest,
        Suite::Commits,
        Suite::Retention,
        Suite::Queries,
        Suite::Day,
        Suite::Wal,
        Suite::Scrapes,
        Suite::Distributed,
    ];

    /// What `bench` runs without `--only`: every suite but [`Suite::Day`]
    /// and [`Suite::Distributed`].
    pub const DEFAULT: &'static [Suite] = &[
        Suite::Memory,
        Suite::Throughput,
        Suite::Overhead,
        Suite::Ingest,
        Suite::Commits,
        Suite::Retention,
        Suite::Queries,
        Suite::Wal,
        Suite::Scrapes,
    ];
}

/// Sizes and switches of a benchmark run.
#[derive(Debug, Clone, Serialize)]
pub struct BenchOptions {
    /// Directory for the temporary databases (removed afterwards).
    pub dir: PathBuf,
    /// No-op workflows per throughput measurement.
    pub workflows: usize,
    /// Workflows in flight at once in the no-op measurements.
    pub in_flight: usize,
    /// Workflows per side of the recording-overhead measurement.
    pub overhead_workflows: usize,
    /// Workflows in flight in the recording-overhead measurement.
    pub overhead_in_flight: usize,
    /// Time scale of the demo workers in the overhead measurement (1.0: the
    /// seed's 10-50 ms per fast step).
    pub overhead_time_scale: f64,
    /// Rows each ingest side writes.
    pub ingest_rows: usize,
    /// Tasks sending records to the writer at once.
    pub producers: usize,
    /// Workflows after which memory is read the first time.
    pub memory_baseline_workflows: usize,
    /// Workflows after which memory is read the second time.
    pub memory_workflows: usize,
    /// Expired rows retention deletes while ingest continues.
    pub retention_rows: usize,
    /// The peer's figure, when it was measured (`--peer`).
    pub peer: Option<PeerFigure>,
    /// Executions (event rows) of the generated query dataset.
    pub query_executions: usize,
    /// Seed of the generated query dataset.
    pub query_seed: u64,
    /// Where generated query datasets are cached between runs.
    pub query_cache_dir: PathBuf,
    /// Timed batches per side of each query figure (the median is reported).
    pub query_batches: usize,
    /// About how long one batch of executions takes, ms.
    pub query_target_ms: f64,
    /// Hours the day-scale dataset spans.
    pub day_hours: u32,
    /// Executions of the day-scale dataset (the hour's density over
    /// `day_hours` by default).
    pub day_executions: usize,
    /// The DuckDB reference script (`None`: the DuckDB figures are skipped).
    pub duckdb_script: Option<PathBuf>,
    /// Workflows per second recorded in the WAL measurement.
    pub wal_rate: u64,
    /// How long the WAL-peak load runs.
    pub wal_load: std::time::Duration,
    /// Load before and after the long reader.
    pub wal_settle: std::time::Duration,
    /// How long the long reader holds its transaction.
    pub wal_reader_hold: std::time::Duration,
    /// Parallel scrapes per round of the scrape figures.
    pub scrapes: usize,
    /// Rounds of parallel scrapes per side.
    pub scrape_rounds: usize,
    /// No-op workflows recorded before the scrapes start (what /metrics
    /// summarises).
    pub scrape_prefill_workflows: usize,
    /// No-op 3-step workflows per side of the distributed throughput (after
    /// a warm-up of a tenth as many).
    pub distributed_workflows: usize,
    /// Workflows in flight in the distributed throughput.
    pub distributed_in_flight: usize,
    /// Steps each worker host runs at once (`multiagents worker
    /// --concurrency`).
    pub host_concurrency: usize,
    /// Single no-op steps per side of the added-latency figures.
    pub light_steps: usize,
    /// Their start rate, per second.
    pub light_rps: f64,
    /// The executable whose `worker` subcommand serves the hosts (`None`:
    /// this one).
    pub worker_exe: Option<PathBuf>,
}

impl BenchOptions {
    /// The default sizes: a few minutes on 2 cores.
    pub fn new(dir: PathBuf) -> Self {
        BenchOptions {
            dir,
            workflows: 100_000,
            in_flight: 5_000,
            overhead_workflows: 10_000,
            overhead_in_flight: 200,
            overhead_time_scale: 1.0,
            ingest_rows: 1_000_000,
            producers: 4,
            memory_baseline_workflows: 10_000,
            memory_workflows: 1_000_000,
            retention_rows: 1_000_000,
            peer: None,
            query_executions: 1_000_000,
            query_seed: 42,
            query_cache_dir: std::env::temp_dir().join("multiagents-bench-cache"),
            query_batches: 5,
            query_target_ms: 100.0,
            day_hours: 24,
            day_executions: 24_000_000,
            duckdb_script: duckdb::find_script(),
            wal_rate: 5_000,
            wal_load: std::time::Duration::from_secs(40),
            wal_settle: std::time::Duration::from_secs(10),
            wal_reader_hold: std::time::Duration::from_secs(30),
            scrapes: 200,
            scrape_rounds: 5,
            scrape_prefill_workflows: 50_000,
            distributed_workflows: 50_000,
            distributed_in_flight: 2_000,
            host_concurrency: 256,
            light_steps: 400,
            light_rps: 20.0,
            worker_exe: None,
        }
    }

    /// Tiny sizes that finish in seconds (the smoke test).
    pub fn quick(dir: PathBuf) -> Self {
        BenchOptions {
            workflows: 2_000,
            in_flight: 500,
            overhead_workflows: 200,
            overhead_in_flight: 50,
            overhead_time_scale: 0.1,
            ingest_rows: 20_000,
            memory_baseline_workflows: 500,
            memory_workflows: 2_000,
            retention_rows: 20_000,
            query_executions: 20_000,
            query_batches: 3,
            query_target_ms: 10.0,
            // The hour's density (20,000 an hour) over two hours.
            day_hours: 2,
            day_executions: 40_000,
            // The reference may have to install DuckDB first: only when
            // asked for (--duckdb-script).
            duckdb_script: None,
            wal_rate: 1_000,
            wal_load: std::time::Duration::from_secs(2),
            wal_settle: std::time::Duration::from_secs(1),
            wal_reader_hold: std::time::Duration::from_secs(2),
            scrapes: 40,
            scrape_rounds: 1,
            scrape_prefill_workflows: 1_000,
            distributed_workflows: 1_000,
            distributed_in_flight: 200,
            host_concurrency: 64,
            light_steps: 40,
            ..BenchOptions::new(dir)
        }
    }

    fn db_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.db"))
    }
}

/// What a figure must reach.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Goal {
    /// Information only.
    None,
    /// measured / reference at least this.
    RatioAtLeast {
        /// The bound.
        min: f64,
    },
    /// measured / reference at most this.
    RatioAtMost {
        /// The bound.
        max: f64,
    },
    /// The measured value itself at most this (in its unit).
    AtMost {
        /// The bound.
        max: f64,
    },
}

impl Goal {
    /// Whether the figure meets it (`None` for information).
    pub fn judge(self, measured: f64, ratio: Option<f64>) -> Option<bool> {
        match self {
            Goal::None => None,
            Goal::RatioAtLeast { min } => ratio.map(|r| r >= min),
            Goal::RatioAtMost { max } => ratio.map(|r| r <= max),
            Goal::AtMost { max } => Some(measured <= max),
        }
    }
}

impl std::fmt::Display for Goal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Goal::None => f.write_str("(info)"),
            Goal::RatioAtLeast { min } => write!(f, "ratio >= {min}"),
            Goal::RatioAtMost { max } => write!(f, "ratio <= {max}"),
            Goal::AtMost { max } => write!(f, "<= {max}"),
        }
    }
}

/// One measured figure and its reference from the same run.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// Stable name, for comparing runs.
    pub name: String,
    /// What was measured, for people.
    pub description: String,
    /// The measured value.
    pub measured: f64,
    /// Its unit.
    pub unit: String,
    /// The reference measured in the same run (or documented, see
    /// `reference_label`).
    pub reference: Option<f64>,
    /// What the reference is.
    pub reference_label: String,
    /// measured / reference.
    pub ratio: Option<f64>,
    /// What the figure must reach.
    pub goal: Goal,
    /// Whether it did (`None` for information).
    pub met: Option<bool>,
    /// Everything else measured on the way (sizes, writer statistics, ...).
    pub details: serde_json::Value,
}

impl Figure {
    /// A figure judged by its goal.
    #[allow(
        clippy::too_many_arguments,
        reason = "a plain constructor; each argument is one column of the table"
    )]
    pub fn new(
        name: &str,
        description: &str,
        measured: f64,
        unit: &str,
        reference: Option<(f64, &str)>,
        goal: Goal,
        details: serde_json::Value,
    ) -> Self {
        let ratio = reference.and_then(|(r, _)| (r != 0.0).then(|| measured / r));
        Figure {
            name: name.to_string(),
            description: description.to_string(),
            measured,
            unit: unit.to_string(),
            reference: reference.map(|(r, _)| r),
            reference_label: reference.map_or(String::new(), |(_, l)| l.to_string()),
            ratio,
            goal,
            met: goal.judge(measured, ratio),
            details,
        }
    }
}

/// The result of a whole run, as written to `--json-out`.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// When the run started (ISO-8601).
    pub started_at: String,
    /// Crate version.
    pub version: String,
    /// Host name.
    pub host: String,
    /// CPUs the process may use.
    pub cpus: usize,
    /// The sizes used.
    pub options: BenchOptions,
    /// Suites that ran.
    pub suites: Vec<Suite>,
    /// The figures, in the order measured.
    pub figures: Vec<Figure>,
    /// Wall time of the whole run, seconds.
    pub elapsed_s: f64,
}

/// Receives progress lines (the CLI prints them on stderr).
pub type Progress<'a> = &'a (dyn Fn(&str) + Sync);

/// Runs the chosen suites and returns their figures.
pub async fn run(
    options: &BenchOptions,
    suites: &[Suite],
    progress: Progress<'_>,
) -> BenchResult<BenchReport> {
    let started = std::time::Instant::now();
    let started_at = crate::clock::format_iso(crate::clock::now_us());
    std::fs::create_dir_all(&options.dir)?;
    let mut figures = Vec::new();
    for suite in Suite::ALL.iter().filter(|s| suites.contains(s)) {
        progress(&format!("measuring {suite:?} ..."));
        let measured = match suite {
            Suite::Memory => memory::measure(options, progress).await?,
            Suite::Throughput => throughput::measure(options, progress).await?,
            Suite::Overhead => overhead::measure(options, progress).await?,
            Suite::Ingest => ingest::measure(options, progress).await?,
            Suite::Commits => commits::measure(options, progress).await?,
            Suite::Retention => retention::measure(options, progress).await?,
            Suite::Queries => queries::measure(options, progress).await?,
            Suite::Day => day::measure(options, progress).await?,
            Suite::Wal => wal::measure(options, progress).await?,
            Suite::Scrapes => scrapes::measure(options, progress).await?,
            Suite::Distributed => distributed::measure(options, progress).await?,
        };
        figures.extend(measured);
    }
    Ok(BenchReport {
        started_at,
        version: env!("CARGO_PKG_VERSION").to_string(),
        host: sysinfo::System::host_name().unwrap_or_else(|_| "unknown".into()),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        options: options.clone(),
        suites: Suite::ALL
            .iter()
            .copied()
            .filter(|s| suites.contains(s))
            .collect(),
        figures,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

/// Removes a database file and its WAL companions.
fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_os_string();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

/// Per second, guarding against a zero duration.
fn per_s(count: usize, elapsed: std::time::Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_judge_ratios_and_values() {
        assert_eq!(
            Goal::RatioAtLeast { min: 0.95 }.judge(1.0, Some(0.96)),
            Some(true)
        );
        assert_eq!(
            Goal::RatioAtLeast { min: 0.95 }.judge(1.0, Some(0.9)),
            Some(false)
        );
        assert_eq!(
            Goal::RatioAtMost { max: 1.1 }.judge(1.0, Some(1.2)),
            Some(false)
        );
        assert_eq!(Goal::AtMost { max: 50.0 }.judge(49.0, None), Some(true));
        assert_eq!(Goal::None.judge(1.0, Some(1.0)), None);
    }

    #[test]
    fn a_figure_computes_its_ratio() {
        let f = Figure::new(
            "x",
            "x",
            50.0,
            "/s",
            Some((100.0, "ref")),
            Goal::RatioAtLeast { min: 0.4 },
            serde_json::Value::Null,
        );
        assert_eq!(f.ratio, Some(0.5));
        assert_eq!(f.met, Some(true));
    }
}
