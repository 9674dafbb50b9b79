//! `multiagents query …`: monitoring questions answered from the database,
//! live or long after the run.
//!
//! Every windowed question is anchored at `--until` (default: the end of the
//! run given with `--run`, else now), so the same command on a copied
//! database gives the same answer days later. With `--run` and no
//! `--window`, the window is the whole run.
//!
//! Each question is answered in two steps that never mix: [`answers`]
//! computes it (a value: the figures, and for windowed questions the run,
//! window and provenance around them), then [`tables`] draws it for people
//! or serde writes it as JSON for programs. Adding a question means one
//! function in each, and one line in [`run`].

mod answers;
mod scope;
mod tables;

use std::time::Duration;

use clap::{Args, Subcommand};
use multiagents::runs::RunSelector;
use multiagents::store::Store;
use multiagents::window;

use super::output;
use super::{Globals, Outcome};
use scope::Until;

/// Arguments of `multiagents query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Table for people, JSON for programs; CSV for `query series`.
    #[arg(long, value_enum, global = true, default_value_t = QueryFormat::Table)]
    format: QueryFormat,
    /// Length of the window, e.g. 30s, 5m, 2h (default: 5m, or the whole run
    /// with --run). Range: 1ms to 36500d.
    #[arg(long, global = true, allow_hyphen_values = true, value_parser = window::parse_window_option)]
    window: Option<Duration>,
    /// End of the window: a time like 2026-11-29T05:00:00Z, `now`, or `run-end`.
    #[arg(long, global = true, allow_hyphen_values = true, value_parser = scope::parse_until)]
    until: Option<Until>,
    /// Only this run: `latest` or a run id (see `query runs`).
    #[arg(long, global = true, allow_hyphen_values = true)]
    run: Option<RunSelector>,
    /// Read every raw row for exact percentiles. Without it, windows of 10
    /// minutes or more read their whole minutes from the per-minute rollups
    /// and sketches: counts exact, percentiles within 1 %.
    #[arg(long, global = true)]
    exact: bool,
    #[command(subcommand)]
    question: Question,
}

#[derive(Debug, Subcommand)]
enum Question {
    /// Event metrics: totals by type and status, success and error rates, latency, throughput.
    Events,
    /// Every lifecycle stage of one transaction, in order.
    Trace {
        /// The transaction id.
        transaction_id: String,
    },
    /// Error patterns grouped by error type.
    Errors {
        /// Only this worker's errors.
        #[arg(long)]
        worker: Option<String>,
    },
    /// Performance summary of every worker.
    Workers,
    /// Performance of one worker.
    Worker {
        /// The worker's name.
        name: String,
    },
    /// Health of every worker, judged by the configured thresholds at the window's end.
    Health,
    /// System resource figures over the window.
    System,
    /// Custom metrics: counter totals, latest gauges, histograms, hourly order value.
    Metrics,
    /// Alerts fired in the window, and those still firing.
    Alerts,
    /// Throughput, error rate and p50/p95 latency over time: one row per
    /// bucket of the window (1 s up to 10 minutes, 10 s up to an hour, whole
    /// minutes from the rollups beyond; --exact reads raw rows at any span).
    Series,
    /// Worker hosts (`multiagents worker`): executions, errors, p50/p95 and
    /// last heartbeat per host, and the executions run in process.
    Hosts,
    /// The recorded runs, newest first.
    Runs {
        /// How many runs to list. Range: 1 to 1000000.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
        limit: i64,
    },
}

/// Runs `multiagents query`: computes the answer, then prints it.
pub async fn run(globals: &Globals, args: QueryArgs) -> anyhow::Result<Outcome> {
    let store = Store::open_existing(&globals.db)?;
    // Queries take milliseconds; they run on this thread, which the
    // command owns.
    let conn = store.reader()?;
    let format = args.format;
    if let Question::Runs { limit } = args.question {
        // Not windowed: no scope to resolve.
        return show(format, &answers::runs(&conn, limit)?, |l| tables::runs(l));
    }
    let asked = answers::Asked::new(&store, &conn, globals, &args)?;
    match &args.question {
        Question::Runs { .. } => Ok(Outcome::Ok),
        Question::Events => show(format, &asked.events()?, tables::events),
        Question::Trace { transaction_id } => {
            show(format, &asked.trace(transaction_id)?, |t| tables::trace(t))
        }
        Question::Errors { worker } => {
            show(format, &asked.errors(worker.as_deref())?, tables::errors)
        }
        Question::Workers => show(format, &asked.workers()?, tables::workers),
        Question::Worker { name } => show(format, &asked.worker(name)?, tables::worker),
        Question::Health => show(format, &asked.health(args.window)?, tables::health),
        Question::System => show(format, &asked.system()?, tables::system),
        Question::Metrics => show(format, &asked.metrics()?, tables::metrics),
        Question::Alerts => show(format, &asked.alerts()?, tables::alerts),
        Question::Hosts => show(format, &asked.hosts()?, tables::hosts),
        Question::Series => {
            let answer = asked.series()?;
            if format == QueryFormat::Csv {
                // print_exact adds the last newline.
                let csv = answer.body.series.to_csv();
                output::print_exact(csv.trim_end_matches('\n'))?;
                return Ok(Outcome::Ok);
            }
            show(format, &answer, tables::series)
        }
    }
}

/// How `query` prints its answer: the common formats, and CSV for the one
/// question that is a table of numbers (`query series`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum QueryFormat {
    /// Aligned columns.
    Table,
    /// One JSON document on stdout.
    Json,
    /// Comma-separated values with a header line (`query series` only).
    Csv,
}

/// Prints a computed answer: as JSON, or as the table its renderer draws.
fn show<T: serde::Serialize>(
    format: QueryFormat,
    answer: &T,
    table: impl FnOnce(&T) -> String,
) -> anyhow::Result<Outcome> {
    match format {
        QueryFormat::Json => output::print_json(answer)?,
        QueryFormat::Table => output::print(&table(answer))?,
        QueryFormat::Csv => anyhow::bail!("--format csv is only for `query series`"),
    }
    Ok(Outcome::Ok)
}
