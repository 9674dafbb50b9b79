//! `multiagents bench`: the hot path's figures, each beside a reference
//! measured in the same run, as a table and a JSON file.

use std::path::PathBuf;

use clap::Args;
use multiagents::bench::{self, BenchOptions, Suite, peer};
use multiagents::output_path::{OutputPath, OutputPathError};

use super::format::{self, Format};
use super::output;
use super::{Globals, Outcome};

/// Arguments of `multiagents bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Tiny sizes that finish in seconds (figures are then only indicative).
    #[arg(long)]
    quick: bool,
    /// Run only these suites (repeat or comma-separate); default: all but
    /// `day` (the day-scale dataset takes minutes to generate the first time)
    /// and `distributed` (it starts a redis-server and two worker hosts).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Suite>,
    /// No-op workflows per throughput measurement (default 100000). Range: 1 to 10000000.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000_000))]
    workflows: Option<usize>,
    /// No-op workflows in flight at once (default 5000). Range: 1 to 1000000.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    in_flight: Option<usize>,
    /// No-op workflows per side of the distributed throughput (default
    /// 50000; 1000 with --quick). Range: 1 to 10000000.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000_000))]
    distributed_workflows: Option<usize>,
    /// Fast-workload workflows per side of the recording-overhead figure (default 10000). Range: 1 to 1000000.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    overhead_workflows: Option<usize>,
    /// Fast-workload workflows in flight (default 200). Range: 1 to 100000.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    overhead_in_flight: Option<usize>,
    /// Rows per side of the writer-ingest figure (default 1000000). Range: 1 to 100000000.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000_000))]
    ingest_rows: Option<usize>,
    /// Producer tasks sending records in the ingest and retention figures (default 4). Range: 1 to 256.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=256))]
    producers: Option<usize>,
    /// Workflows after which memory is read first (default 10000). Range: 1 to 10000000.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000_000))]
    memory_baseline_workflows: Option<usize>,
    /// Workflows after which memory is read again (default 1000000). Range: 1 to 100000000.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000_000))]
    memory_workflows: Option<usize>,
    /// Expired rows retention deletes while ingest continues (default 1000000). Range: 1 to 100000000.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000_000))]
    retention_rows: Option<usize>,
    /// Executions (event rows) of the generated query-speed dataset (default 1000000). Range: 1000 to 100000000.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1_000..=100_000_000))]
    query_executions: Option<usize>,
    /// Hours of the day-scale dataset of `--only day` (default 24; 2 with
    /// --quick). Range: 1 to 168.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=168))]
    day_hours: Option<u32>,
    /// Executions of the day-scale dataset (default 24000000; 40000 with
    /// --quick). Range: 1000 to 1000000000.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1_000..=1_000_000_000))]
    day_executions: Option<usize>,
    /// The DuckDB reference script (default: shared/reference/setup_duckdb_reference.sh
    /// in the nearest ancestor of the current directory or of the source
    /// checkout that has it; not run with --quick unless given).
    #[arg(long, conflicts_with = "no_duckdb")]
    duckdb_script: Option<PathBuf>,
    /// Skip the DuckDB reference (its figures then say skipped).
    #[arg(long)]
    no_duckdb: bool,
    /// Parallel GET /metrics per round of the scrape figures (default 200).
    /// Range: 1 to 10000.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    scrapes: Option<usize>,
    /// Seed of the generated query-speed dataset (default 42). Range: 0 to
    /// 18446744073709551615.
    #[arg(long)]
    query_seed: Option<u64>,
    /// Where generated query-speed datasets are cached between runs (default:
    /// multiagents-bench-cache under the system's temp dir; delete to regenerate).
    #[arg(long)]
    query_cache_dir: Option<PathBuf>,
    /// Measure the Python original with `../shared/peer/setup_and_run.sh` and
    /// use its figure as the throughput reference (installs it on first use).
    #[arg(long)]
    peer: bool,
    /// The peer script, if not at its default place.
    #[arg(long, requires = "peer")]
    peer_script: Option<PathBuf>,
    /// Workflows the peer runs. Range: 1 to 1000000.
    #[arg(long, default_value_t = 1000, requires = "peer", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    peer_workflows: usize,
    /// Where to write the results as JSON. An earlier results file is
    /// replaced; any other existing file only with --force (never a SQLite
    /// file, symlink, FIFO, device, directory or read-only file).
    #[arg(long, default_value = "bench-results.json")]
    json_out: PathBuf,
    /// Replace the --json-out file even if it is not an earlier results file.
    #[arg(long)]
    force: bool,
    /// Where the temporary databases go: a new directory is made inside it
    /// and removed afterwards, so nothing already there is touched (default:
    /// the system's temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Exit with status 1 when a goal is not met.
    #[arg(long)]
    fail_on_miss: bool,
    /// Text for people, JSON for programs (the JSON file is written either way).
    #[arg(short = 'f', long, default_value = "text", value_parser = format::formats(format::TEXT_JSON))]
    format: Format,
}

fn options(args: &BenchArgs, dir: PathBuf) -> BenchOptions {
    let mut o = if args.quick {
        BenchOptions::quick(dir)
    } else {
        BenchOptions::new(dir)
    };
    let set = |field: &mut usize, value: Option<usize>| {
        if let Some(v) = value {
            *field = v;
        }
    };
    set(&mut o.workflows, args.workflows);
    set(&mut o.in_flight, args.in_flight);
    set(&mut o.overhead_workflows, args.overhead_workflows);
    set(&mut o.overhead_in_flight, args.overhead_in_flight);
    set(&mut o.ingest_rows, args.ingest_rows);
    set(&mut o.producers, args.producers);
    set(
        &mut o.memory_baseline_workflows,
        args.memory_baseline_workflows,
    );
    set(&mut o.memory_workflows, args.memory_workflows);
    set(&mut o.retention_rows, args.retention_rows);
    set(&mut o.query_executions, args.query_executions);
    set(&mut o.scrapes, args.scrapes);
    set(&mut o.distributed_workflows, args.distributed_workflows);
    set(&mut o.day_executions, args.day_executions);
    if let Some(hours) = args.day_hours {
        o.day_hours = hours;
    }
    if let Some(script) = &args.duckdb_script {
        o.duckdb_script = Some(script.clone());
    }
    if args.no_duckdb {
        o.duckdb_script = None;
    }
    if let Some(seed) = args.query_seed {
        o.query_seed = seed;
    }
    if let Some(dir) = &args.query_cache_dir {
        o.query_cache_dir = dir.clone();
    }
    o
}

/// Whether `path` holds the results of an earlier `bench` (the default
/// --json-out is rewritten by every run, so it needs no --force). Only
/// called once [`OutputPath`] found a regular, writable, non-SQLite file.
fn is_earlier_results(path: &std::path::Path) -> bool {
    let Ok(text) = std::fs::read(path) else {
        return false;
    };
    serde_json::from_slice::<serde_json::Value>(&text).is_ok_and(|v| {
        v.get("figures").is_some_and(serde_json::Value::is_array)
            && v.get("elapsed_s").is_some()
            && v.get("suites").is_some()
    })
}

fn number(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// Runs `multiagents bench`.
pub async fn run(_globals: &Globals, args: BenchArgs) -> anyhow::Result<Outcome> {
    // Before minutes of measuring: the results must have somewhere to go.
    let json_out = match OutputPath::check(&args.json_out, None, args.force) {
        Err(OutputPathError::Exists { .. }) if is_earlier_results(&args.json_out) => {
            OutputPath::check(&args.json_out, None, true)?
        }
        checked => checked?,
    };
    let parent = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&parent)
        .map_err(|e| anyhow::anyhow!("--dir {}: cannot create it: {e}", parent.display()))?;
    let dir = tempfile::Builder::new()
        .prefix("multiagents-bench-")
        .tempdir_in(&parent)
        .map_err(|e| {
            anyhow::anyhow!(
                "--dir {}: cannot make a directory in it: {e}",
                parent.display()
            )
        })?;
    let mut opts = options(&args, dir.path().to_path_buf());
    if args.peer {
        let script = args
            .peer_script
            .clone()
            .unwrap_or_else(peer::default_script);
        eprintln!(
            "measuring the peer: {} {}",
            script.display(),
            args.peer_workflows
        );
        let workflows = args.peer_workflows;
        let found =
            tokio::task::spawn_blocking(move || peer::run_peer(&script, workflows)).await??;
        match found {
            Some(figure) => {
                eprintln!("peer: {:.1} workflows/s", figure.workflows_per_s);
                opts.peer = Some(figure);
            }
            None => eprintln!(
                "note: the peer script is missing; the throughput reference is the documented {} workflows/s",
                bench::DOCUMENTED_PEER_WORKFLOWS_PER_S
            ),
        }
    }
    let suites: Vec<Suite> = if args.only.is_empty() {
        Suite::DEFAULT.to_vec()
    } else {
        args.only.clone()
    };
    let progress = |line: &str| eprintln!("{line}");
    let report = bench::run(&opts, &suites, &progress).await;
    drop(dir);
    let report = report?;
    json_out.write(serde_json::to_string_pretty(&report)?.as_bytes())?;
    match args.format {
        Format::Json => output::print_json(&report)?,
        _ => {
            let mut table = output::table(&[
                "figure",
                "measured",
                "reference (same run)",
                "ratio",
                "goal",
                "met",
            ]);
            for f in &report.figures {
                table.add_row(vec![
                    f.name.clone(),
                    format!("{} {}", number(f.measured), f.unit),
                    match f.reference {
                        Some(r) => format!("{} ({})", number(r), f.reference_label),
                        None => "-".into(),
                    },
                    output::or_dash(f.ratio.map(number)),
                    f.goal.to_string(),
                    match f.met {
                        Some(true) => "met".into(),
                        Some(false) => "NOT MET".into(),
                        None => "-".into(),
                    },
                ]);
            }
            output::print(&table.to_string())?;
            output::print(&format!(
                "{} figures in {:.0} s; JSON written to {}",
                report.figures.len(),
                report.elapsed_s,
                args.json_out.display()
            ))?;
        }
    }
    let missed = report.figures.iter().any(|f| f.met == Some(false));
    Ok(if missed && args.fail_on_miss {
        Outcome::Problem
    } else {
        Outcome::Ok
    })
}
