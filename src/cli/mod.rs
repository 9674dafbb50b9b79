//! Command-line interface: one subcommand per file, each a clap struct with
//! a `run` that asks the library and renders the answer.
//!
//! Exit codes: 0 success; 1 the command worked and found a problem (a
//! regression, a failing health check); 2 an error. Errors print one line on
//! stderr, never a panic or a backtrace. A closed stdout (`… | head`) ends
//! the command quietly.

#[cfg(feature = "bench")]
mod bench;
mod cleanup;
mod compare;
mod dashboard;
mod demo;
mod docs;
mod export;
mod format;
mod load_test;
mod maintenance;
mod merge;
#[cfg(test)]
mod option_ranges;
mod output;
mod query;
mod remote;
mod report;
mod serve;
mod signals;
#[cfg(feature = "bench")]
mod soak;
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use multiagents::config::{LogLevel, LoggerKind, MonitoringConfig};

/// Runs named async workers in workflows and records everything in SQLite.
#[derive(Debug, Parser)]
#[command(name = "multiagents", version, about, long_about = None)]
pub struct Cli {
    /// The SQLite database file to record into or read from [default:
    /// storage.database_path from --config, else multiagents.db].
    #[arg(short = 'd', long, global = true, env = "MULTIAGENTS_DB", help_heading = GLOBAL)]
    db: Option<PathBuf>,
    /// Monitoring configuration (the seed's YAML layout); defaults apply without it.
    #[arg(short = 'c', long, global = true, env = "MULTIAGENTS_CONFIG", help_heading = GLOBAL)]
    config: Option<PathBuf>,
    /// Log level: trace, debug, info, warn or error (beats the configuration and RUST_LOG).
    #[arg(long, global = true, value_parser = parse_log_level, help_heading = GLOBAL)]
    log_level: Option<LogLevel>,
    #[command(subcommand)]
    command: Command,
}

/// The help heading of the options every command takes, so that each
/// command's own options stand apart in its `--help`.
const GLOBAL: &str = "Global options";

fn parse_log_level(s: &str) -> Result<LogLevel, String> {
    s.parse::<LogLevel>().map_err(|_| {
        format!("unknown log level {s:?} (expected trace, debug, info, warn or error)")
    })
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the seed's monitoring demonstrations and record them (quick by default).
    Demo(demo::DemoArgs),
    /// Answer monitoring questions about a database, live or after the run.
    Query(query::QueryArgs),
    /// Delete rows older than the configured retention (or --older-than) and print counts per table.
    Cleanup(cleanup::CleanupArgs),
    /// Live terminal dashboard of a database (q quits); --once prints one snapshot.
    Dashboard(dashboard::DashboardArgs),
    /// Start workflows at a steady rate for a while and report the achieved rate, success and latency.
    LoadTest(load_test::LoadTestArgs),
    /// Compare two recorded runs per worker and workflow; exit 1 when anything regressed.
    Compare(compare::CompareArgs),
    /// Measure the hot path's figures against references from the same run.
    #[cfg(feature = "bench")]
    Bench(Box<bench::BenchArgs>),
    /// Steady load for crash tests: prints what it reports as durable.
    #[cfg(feature = "bench")]
    #[command(hide = true)]
    Soak(soak::SoakArgs),
    /// Print metrics for other tools (`export prometheus`).
    Export(export::ExportArgs),
    /// Serve GET /metrics (Prometheus) and GET /health over HTTP, on loopback by default.
    Serve(serve::ServeArgs),
    /// Summarize a run: workflows, workers, errors, alerts, system, throughput (text, JSON or HTML).
    Report(report::ReportArgs),
    /// Check the database's integrity (read-only); exit 1 when it is damaged.
    Check(maintenance::CheckArgs),
    /// Write a consistent copy of a (possibly live) database to a new file.
    Snapshot(maintenance::SnapshotArgs),
    /// Migrate the database to this version's schema without recording a run.
    Upgrade(maintenance::UpgradeArgs),
    /// Serve the demo's workers to orchestrators elsewhere (`demo --redis`, `load-test --redis`) over Redis Streams.
    Worker(worker::WorkerArgs),
    /// Copy the runs of several files (one per host) into one for analysis: OUT IN...
    Merge(merge::MergeArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(docs::CompletionsArgs),
    /// Print the manual page (roff) of multiagents or of one of its commands.
    Man(docs::ManArgs),
}

/// What a command concluded, beyond "it ran".
#[allow(
    dead_code,
    reason = "Problem is for commands that judge (compare, health checks)"
)]
pub enum Outcome {
    /// All good: exit 0.
    Ok,
    /// The command worked and found a problem: exit 1.
    Problem,
    /// A signal stopped the command, which closed its run and printed its
    /// summary: exit 130 (SIGINT) or 143 (SIGTERM).
    Interrupted(u8),
}

/// Settings every command may need.
pub struct Globals {
    /// `--db`.
    pub db: PathBuf,
    /// The loaded (or default) configuration.
    pub config: MonitoringConfig,
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Parses the command line, runs the command, and returns its exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            // clap formats help, version and usage errors itself.
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Problem) => ExitCode::from(1),
        Ok(Outcome::Interrupted(code)) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // Errors may quote the database (names, messages): no raw controls.
            eprintln!(
                "multiagents: {}",
                multiagents::terminal::escape(&one_line(&e))
            );
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, without repeating a cause that the
/// message already contains.
fn one_line(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    text.replace('\n', " ")
}

fn run(cli: Cli) -> anyhow::Result<Outcome> {
    // Documentation of the command line itself: no database, configuration
    // or logging involved.
    match &cli.command {
        Command::Completions(args) => return docs::completions(args),
        Command::Man(args) => return docs::man(args, cli.db.as_deref()),
        _ => {}
    }
    let config = match &cli.config {
        Some(path) => MonitoringConfig::load(path)?,
        None => MonitoringConfig::default(),
    };
    // Without a configuration file the console stays quiet unless asked:
    // commands print their answers on stdout and problems on stderr.
    let level = cli.log_level.or(if cli.config.is_none() {
        Some(LogLevel::Warn)
    } else {
        None
    });
    let db = cli
        .db
        .or_else(|| config.storage.database_path.clone())
        .unwrap_or_else(|| PathBuf::from("multiagents.db"));
    // The log file is appended to: never the database or another SQLite file.
    if !matches!(config.logging.default_logger, LoggerKind::Console) {
        multiagents::output_path::check_append(&config.logging.file_path, Some(&db))
            .context("logging.file_path")?;
    }
    let _logging = multiagents::logging::init_logging(&config.logging, level)
        .context("cannot start logging")?;
    let globals = Globals { db, config };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Demo(args) => demo::run(&globals, args).await,
            Command::Query(args) => query::run(&globals, args).await,
            Command::Cleanup(args) => cleanup::run(&globals, args).await,
            Command::Dashboard(args) => dashboard::run(&globals, args).await,
            Command::LoadTest(args) => load_test::run(&globals, args).await,
            Command::Compare(args) => compare::run(&globals, args).await,
            #[cfg(feature = "bench")]
            Command::Bench(args) => bench::run(&globals, *args).await,
            #[cfg(feature = "bench")]
            Command::Soak(args) => soak::run(&globals, args).await,
            Command::Export(args) => export::run(&globals, args).await,
            Command::Serve(args) => serve::run(&globals, args).await,
            Command::Report(args) => report::run(&globals, args).await,
            Command::Check(args) => maintenance::check(&globals, args).await,
            Command::Snapshot(args) => maintenance::snapshot(&globals, args).await,
            Command::Upgrade(args) => maintenance::upgrade(&globals, args).await,
            Command::Worker(args) => worker::run(&globals, args).await,
            Command::Merge(args) => merge::run(&globals, args).await,
            Command::Completions(_) | Command::Man(_) => Ok(Outcome::Ok),
        }
    })
}
