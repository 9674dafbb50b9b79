//! `multiagents export prometheus`: the Prometheus text exposition of a
//! database on stdout.

use clap::{Args, Subcommand};
use multiagents::clock;
use multiagents::export::prometheus::{self, ExportOptions};
use multiagents::runs::RunSelector;
use multiagents::store::Store;
use multiagents::window;

use super::{Globals, Outcome, output};

/// Arguments of `multiagents export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// Prometheus text exposition (format 0.0.4): counters over the retained
    /// data, rates and health over the window.
    Prometheus {
        /// Window of rates, averages, health and system gauges (e.g. 5m, 30s).
        #[arg(long, value_parser = window::parse_window, default_value = "5m")]
        window: std::time::Duration,
        /// One run (`latest` or an id) instead of every run in the file:
        /// counters from its own rollups (kept after retention), rates at its end.
        #[arg(long)]
        run: Option<RunSelector>,
    },
}

/// Runs `multiagents export`.
pub async fn run(globals: &Globals, args: ExportArgs) -> anyhow::Result<Outcome> {
    match args.what {
        What::Prometheus { window, run } => {
            let store = Store::open_existing(&globals.db)?;
            let options = ExportOptions {
                window,
                run,
                thresholds: multiagents::session::health_thresholds(&globals.config),
                now_us: clock::now_us(),
            };
            let text =
                tokio::task::spawn_blocking(move || prometheus::export(&store, &options)).await??;
            // The exposition ends with its own newline.
            output::print(text.trim_end_matches('\n'))?;
        }
    }
    Ok(Outcome::Ok)
}
