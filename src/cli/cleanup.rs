//! `multiagents cleanup`: retention on demand.

use clap::Args;
use multiagents::clock;
use multiagents::store::{RetentionCutoffs, RunInfo, Store, WriterOptions};
use multiagents::window;

use super::output::{self, Format};
use super::{Globals, Outcome};

/// Arguments of `multiagents cleanup`.
#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Delete rows older than this (e.g. 2h, 30m) instead of the configured
    /// retention. Rollups keep their own 30-day horizon. Range: 1ms to 36500d.
    #[arg(long, allow_hyphen_values = true, value_parser = window::parse_window_option)]
    older_than: Option<std::time::Duration>,
    /// Table for people, JSON for programs.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Runs `multiagents cleanup`.
pub async fn run(globals: &Globals, args: CleanupArgs) -> anyhow::Result<Outcome> {
    // Refuse a missing file rather than create an empty one to clean.
    Store::open_existing(&globals.db)?;
    let run = RunInfo::from_env(globals.config.to_json().to_string());
    let (_store, writer) = Store::open(&globals.db, &run, WriterOptions::default())?;
    let now = clock::now_us();
    let cutoffs = match args.older_than {
        Some(age) => RetentionCutoffs::older_than(age, now),
        None => RetentionCutoffs::from_config(&globals.config, now),
    };
    let report = writer.run_retention(cutoffs).await;
    writer.shutdown().await?;
    let report = report?;
    match args.format {
        Format::Json => output::print_json(&report)?,
        Format::Table => {
            let mut table = output::table(&["table", "rows deleted"]);
            for (name, n) in [
                ("workflows", report.workflows),
                ("events", report.events),
                ("system_samples", report.system_samples),
                ("custom_metrics", report.custom_metrics),
                ("alerts", report.alerts),
                ("rollups", report.rollups),
            ] {
                table.add_row(vec![name.to_string(), n.to_string()]);
            }
            output::print(&table.to_string())?;
        }
    }
    Ok(Outcome::Ok)
}
