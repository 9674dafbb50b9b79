//! `multiagents report`: one run's summary as text tables, JSON or a
//! self-contained HTML page with charts.

use std::path::PathBuf;

use clap::Args;
use multiagents::clock;
use multiagents::export::{html, report};
use multiagents::output_path::OutputPath;
use multiagents::runs::RunSelector;
use multiagents::store::Store;

use super::format::{self, Format};
use super::{Globals, Outcome, output};

/// Arguments of `multiagents report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run to report on: `latest` or a run id (see `query runs`).
    #[arg(short = 'r', long, default_value = "latest")]
    run: RunSelector,
    /// Text for people, JSON for programs (the library's `RunReport`), HTML
    /// for one self-contained page with SVG charts (no external references).
    #[arg(short = 'f', long, default_value = "text", value_parser = format::formats(format::TEXT_JSON_HTML))]
    format: Format,
    /// Write to this file instead of stdout, atomically (a failure leaves
    /// no half-written file). Never the database, its -wal/-shm, another
    /// SQLite file, a symlink, FIFO, device, directory or read-only file.
    #[arg(short = 'o', long)]
    out: Option<PathBuf>,
    /// Replace the --out file if it already exists (a regular, writable,
    /// non-SQLite file only).
    #[arg(long, requires = "out")]
    force: bool,
    /// Read every raw row for exact percentiles. Without it, a run of 10
    /// minutes or more reads its whole minutes from the per-minute rollups
    /// and sketches: counts exact, percentiles within 1 %.
    #[arg(long)]
    exact: bool,
}

/// Runs `multiagents report`.
pub async fn run(globals: &Globals, args: ReportArgs) -> anyhow::Result<Outcome> {
    // Before any work: a refused --out costs nothing and changes nothing.
    let out = args
        .out
        .as_deref()
        .map(|path| OutputPath::check(path, Some(&globals.db), args.force))
        .transpose()?;
    let store = Store::open_existing(&globals.db)?;
    let thresholds = multiagents::monitor::HealthThresholds::from_config(&globals.config);
    let selector = args.run;
    let format = args.format;
    let precision = if args.exact {
        multiagents::monitor::Precision::Exact
    } else {
        multiagents::monitor::Precision::Auto
    };
    let text = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let conn = store.reader()?;
        let report =
            report::build_report_with(&conn, selector, &thresholds, clock::now_us(), precision)?;
        Ok(match format {
            // Text is for people and terminals, in a file too (`cat`):
            // control characters from the database are shown escaped.
            Format::Text => {
                multiagents::terminal::escape_text(&report::render_text(&report)).into_owned()
            }
            Format::Json => serde_json::to_string_pretty(&report)?,
            Format::Html => html::render_html(&report)?,
            Format::Csv => anyhow::bail!("--format csv is not available for `report`"),
        })
    })
    .await??;
    match out {
        Some(out) => {
            let mut bytes = text.into_bytes();
            if !bytes.ends_with(b"\n") {
                bytes.push(b'\n');
            }
            out.write(&bytes)?;
        }
        // Text was escaped above; JSON and HTML stay exact.
        None => output::print_exact(text.trim_end_matches('\n'))?,
    }
    Ok(Outcome::Ok)
}
