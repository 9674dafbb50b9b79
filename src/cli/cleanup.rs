//! `multiagents cleanup`: retention on demand, and closing runs whose
//! process died. Not a run itself: it logs in `maintenance_log`.

use clap::Args;
use multiagents::clock;
use multiagents::store::{RetentionCutoffs, Store, maintenance};
use multiagents::window;

use super::format::{self, Format};
use super::output;
use super::{Globals, Outcome};

/// Arguments of `multiagents cleanup`.
#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Delete rows older than this (e.g. 2h, 30m) instead of the configured
    /// retention. Rollups keep their own 30-day horizon. Range: 1ms to 36500d.
    #[arg(long, allow_hyphen_values = true, value_parser = window::parse_window_option)]
    older_than: Option<std::time::Duration>,
    /// Text for people, JSON for programs.
    #[arg(short = 'f', long, default_value = "text", value_parser = format::formats(format::TEXT_JSON))]
    format: Format,
}

/// Runs `multiagents cleanup`.
pub async fn run(globals: &Globals, args: CleanupArgs) -> anyhow::Result<Outcome> {
    // Refuse a missing, empty or older file rather than create or migrate
    // one to clean.
    Store::open_existing(&globals.db)?;
    let now = clock::now_us();
    let cutoffs = match args.older_than {
        Some(age) => RetentionCutoffs::older_than(age, now),
        None => RetentionCutoffs::from_config(&globals.config, now),
    };
    let db = globals.db.clone();
    let command =
        multiagents::transport::redact_command_line(&std::env::args().collect::<Vec<_>>());
    let cleaned =
        tokio::task::spawn_blocking(move || maintenance::cleanup(&db, cutoffs, &command)).await?;
    let cleaned = cleaned?;
    let report = &cleaned.retention;
    match args.format {
        Format::Json => output::print_json(&cleaned)?,
        _ => {
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
            for run in &cleaned.closed_runs {
                output::print(&format!(
                    "closed run {} as crashed ({}): {} workflows and {} events in flight recorded as cancelled, {} firing alerts resolved",
                    run.run_id,
                    run.reason,
                    run.workflows_cancelled,
                    run.events_cancelled,
                    run.alerts_resolved
                ))?;
            }
        }
    }
    Ok(Outcome::Ok)
}
