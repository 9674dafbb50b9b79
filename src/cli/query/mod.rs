//! `multiagents query …`: monitoring questions answered from the database,
//! live or long after the run.
//!
//! Every windowed question is anchored at `--until` (default: the end of the
//! run given with `--run`, else now), so the same command on a copied
//! database gives the same answer days later. With `--run` and no
//! `--window`, the window is the whole run. Questions that are not windowed
//! (`trace`, `runs`) do not take these options at all, and `--exact` is
//! only on the questions whose long windows read sketches.
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
use multiagents::monitor::sketch::Precision;
use multiagents::runs::RunSelector;
use multiagents::store::Store;
use multiagents::window;

use super::format::{self, Format};
use super::output::{self, OutArgs};
use super::{Globals, Outcome};
use scope::Until;

/// Arguments of `multiagents query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    #[command(subcommand)]
    question: Question,
}

/// The window and run a windowed question is asked about (only the
/// questions that are windowed take these).
#[derive(Debug, Args)]
struct ScopeArgs {
    /// Length of the window, e.g. 30s, 5m, 2h (default: 5m, or the whole run
    /// with --run). Range: 1ms to 36500d.
    #[arg(short = 'w', long, allow_hyphen_values = true, value_parser = window::parse_window_option)]
    window: Option<Duration>,
    /// End of the window: a time like 2026-11-29T05:00:00Z, `now`, or `run-end`.
    #[arg(long, allow_hyphen_values = true, value_parser = scope::parse_until)]
    until: Option<Until>,
    /// Only this run: `latest` or a run id (see `query runs`).
    #[arg(short = 'r', long, allow_hyphen_values = true)]
    run: Option<RunSelector>,
}

/// `--exact`, for the questions whose long windows read sketches.
#[derive(Debug, Args)]
struct ExactArg {
    /// Read every raw row for exact percentiles. Without it, windows of 10
    /// minutes or more read their whole minutes from the per-minute rollups
    /// and sketches: counts exact, percentiles within 1 %.
    #[arg(long)]
    exact: bool,
}

impl ExactArg {
    fn precision(&self) -> Precision {
        if self.exact {
            Precision::Exact
        } else {
            Precision::Auto
        }
    }
}

/// How and where an answer is printed.
#[derive(Debug, Args)]
struct Print {
    /// Text for people, JSON for programs.
    #[arg(short = 'f', long, default_value = "text", value_parser = format::formats(format::TEXT_JSON))]
    format: Format,
    #[command(flatten)]
    out: OutArgs,
}

/// How and where `query series` is printed: also CSV, one line per bucket.
#[derive(Debug, Args)]
struct PrintRows {
    /// Text for people, JSON for programs, CSV (one line per bucket) for a
    /// spreadsheet.
    #[arg(short = 'f', long, default_value = "text", value_parser = format::formats(format::TEXT_JSON_CSV))]
    format: Format,
    #[command(flatten)]
    out: OutArgs,
}

#[derive(Debug, Subcommand)]
enum Question {
    /// Event metrics: totals by type and status, success and error rates, latency, throughput.
    Events {
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        exact: ExactArg,
        #[command(flatten)]
        print: Print,
    },
    /// Every lifecycle stage of one transaction, in order (of any run, at
    /// any time: not windowed).
    Trace {
        /// The transaction id.
        transaction_id: String,
        #[command(flatten)]
        print: Print,
    },
    /// Error patterns grouped by error type.
    Errors {
        /// Only this worker's errors.
        #[arg(long)]
        worker: Option<String>,
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        exact: ExactArg,
        #[command(flatten)]
        print: Print,
    },
    /// Performance summary of every worker.
    Workers {
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        exact: ExactArg,
        #[command(flatten)]
        print: Print,
    },
    /// Performance of one worker.
    Worker {
        /// The worker's name.
        name: String,
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        exact: ExactArg,
        #[command(flatten)]
        print: Print,
    },
    /// Health of every worker, judged by the configured thresholds at the
    /// window's end (--window: the performance window judged).
    Health {
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        print: Print,
    },
    /// System resource figures over the window.
    System {
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        print: Print,
    },
    /// Custom metrics: counter totals, latest gauges, histograms, hourly order value.
    Metrics {
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        print: Print,
    },
    /// Alerts fired in the window, and those still firing.
    Alerts {
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        print: Print,
    },
    /// Throughput, error rate and p50/p95 latency over time: one row per
    /// bucket of the window (1 s up to 10 minutes, 10 s up to an hour, whole
    /// minutes from the rollups beyond; --exact reads raw rows at any span).
    Series {
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        exact: ExactArg,
        #[command(flatten)]
        print: PrintRows,
    },
    /// Worker hosts (`multiagents worker`): executions, errors, p50/p95 and
    /// last heartbeat per host, and the executions run in process.
    Hosts {
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        print: Print,
    },
    /// The recorded runs, newest first (not windowed).
    Runs {
        /// How many runs to list. Range: 1 to 1000000.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
        limit: i64,
        #[command(flatten)]
        print: Print,
    },
}

/// Runs `multiagents query`: computes the answer, then prints it.
pub async fn run(globals: &Globals, args: QueryArgs) -> anyhow::Result<Outcome> {
    let db = &globals.db;
    // Before any work: a refused --out costs nothing and changes nothing.
    let (format, out) = match &args.question {
        Question::Series { print, .. } => (print.format, print.out.check(db)?),
        Question::Events { print, .. }
        | Question::Trace { print, .. }
        | Question::Errors { print, .. }
        | Question::Workers { print, .. }
        | Question::Worker { print, .. }
        | Question::Health { print, .. }
        | Question::System { print, .. }
        | Question::Metrics { print, .. }
        | Question::Alerts { print, .. }
        | Question::Hosts { print, .. }
        | Question::Runs { print, .. } => (print.format, print.out.check(db)?),
    };
    let show = Show { format, out };
    let store = Store::open_existing(db)?;
    // Queries take milliseconds; they run on this thread, which the
    // command owns.
    let conn = store.reader()?;
    let asked = |scope: &ScopeArgs, precision: Precision| {
        answers::Asked::new(&store, &conn, globals, scope, precision)
    };
    let auto = Precision::Auto;
    match &args.question {
        // Not windowed: no scope to resolve.
        Question::Runs { limit, .. } => {
            show.answer(&answers::runs(&conn, *limit)?, |l| tables::runs(l))
        }
        Question::Trace { transaction_id, .. } => show
            .answer(&answers::trace(&store, transaction_id)?, |t| {
                tables::trace(t)
            }),
        Question::Events { scope, exact, .. } => {
            show.answer(&asked(scope, exact.precision())?.events()?, tables::events)
        }
        Question::Errors {
            worker,
            scope,
            exact,
            ..
        } => show.answer(
            &asked(scope, exact.precision())?.errors(worker.as_deref())?,
            tables::errors,
        ),
        Question::Workers { scope, exact, .. } => show.answer(
            &asked(scope, exact.precision())?.workers()?,
            tables::workers,
        ),
        Question::Worker {
            name, scope, exact, ..
        } => show.answer(
            &asked(scope, exact.precision())?.worker(name)?,
            tables::worker,
        ),
        Question::Health { scope, .. } => {
            show.answer(&asked(scope, auto)?.health(scope.window)?, tables::health)
        }
        Question::System { scope, .. } => {
            show.answer(&asked(scope, auto)?.system()?, tables::system)
        }
        Question::Metrics { scope, .. } => {
            show.answer(&asked(scope, auto)?.metrics()?, tables::metrics)
        }
        Question::Alerts { scope, .. } => {
            show.answer(&asked(scope, auto)?.alerts()?, tables::alerts)
        }
        Question::Hosts { scope, .. } => show.answer(&asked(scope, auto)?.hosts()?, tables::hosts),
        Question::Series { scope, exact, .. } => {
            let answer = asked(scope, exact.precision())?.series()?;
            if show.format == Format::Csv {
                let csv = answer.body.series.to_csv();
                output::emit(show.out, Format::Csv, &csv)?;
                return Ok(Outcome::Ok);
            }
            show.answer(&answer, tables::series)
        }
    }
}

/// Where and how a computed answer is printed.
struct Show {
    format: Format,
    out: Option<multiagents::output_path::OutputPath>,
}

impl Show {
    /// Prints a computed answer: as JSON, or as the table its renderer draws.
    fn answer<T: serde::Serialize>(
        self,
        answer: &T,
        table: impl FnOnce(&T) -> String,
    ) -> anyhow::Result<Outcome> {
        let text = match self.format {
            Format::Json => serde_json::to_string_pretty(answer)?,
            Format::Text => table(answer),
            // The parser of each question lets through only what it renders.
            other => anyhow::bail!("--format {} is not available here", other.name()),
        };
        output::emit(self.out, self.format, &text)?;
        Ok(Outcome::Ok)
    }
}
