//! `multiagents report`: one run's summary as text tables, JSON or a
//! self-contained HTML page with charts.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use multiagents::clock;
use multiagents::export::{html, report, write_atomically};
use multiagents::runs::RunSelector;
use multiagents::store::Store;

use super::{Globals, Outcome, output};

/// How the report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReportFormat {
    /// Aligned tables.
    Text,
    /// One JSON document (the library's `RunReport`).
    Json,
    /// One self-contained HTML page with SVG charts (no external references).
    Html,
}

/// Arguments of `multiagents report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run to report on: `latest` or a run id (see `query runs`).
    #[arg(long, default_value = "latest")]
    run: RunSelector,
    /// Text for people, JSON for programs, HTML for a page with charts.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    format: ReportFormat,
    /// Write to this file (atomically: a failure leaves no half-written
    /// file) instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs `multiagents report`.
pub async fn run(globals: &Globals, args: ReportArgs) -> anyhow::Result<Outcome> {
    let store = Store::open_existing(&globals.db)?;
    let thresholds = multiagents::session::health_thresholds(&globals.config);
    let selector = args.run;
    let format = args.format;
    let text = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let conn = store.reader()?;
        let report = report::build_report(&conn, selector, &thresholds, clock::now_us())?;
        Ok(match format {
            ReportFormat::Text => report::render_text(&report),
            ReportFormat::Json => serde_json::to_string_pretty(&report)?,
            ReportFormat::Html => html::render_html(&report)?,
        })
    })
    .await??;
    match args.out {
        Some(path) => {
            let mut bytes = text.into_bytes();
            if !bytes.ends_with(b"\n") {
                bytes.push(b'\n');
            }
            write_atomically(&path, &bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => output::print(text.trim_end_matches('\n'))?,
    }
    Ok(Outcome::Ok)
}
