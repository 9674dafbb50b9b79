//! `multiagents export prometheus`: the Prometheus text exposition of a
//! database on stdout or into a file (`--out`, e.g. for node_exporter's
//! textfile collector).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use multiagents::clock;
use multiagents::export::prometheus::{self, ExportOptions};
use multiagents::output_path::OutputPath;
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
        /// Window of rates, averages, health and system gauges (e.g. 5m,
        /// 30s). Range: 1ms to 36500d.
        #[arg(short = 'w', long, value_parser = window::parse_window_option, default_value = "5m")]
        window: std::time::Duration,
        /// One run (`latest` or an id) instead of every run in the file:
        /// counters from its own rollups (kept after retention), rates at its end.
        #[arg(short = 'r', long)]
        run: Option<RunSelector>,
        /// Write to this file instead of stdout, atomically (scrapers never
        /// see half a file). Never the database, its -wal/-shm, another
        /// SQLite file, a symlink, FIFO, device, directory or read-only file.
        #[arg(short = 'o', long)]
        out: Option<PathBuf>,
        /// Replace the --out file if it already exists (a regular, writable,
        /// non-SQLite file only).
        #[arg(long, requires = "out")]
        force: bool,
    },
}

/// Runs `multiagents export`.
pub async fn run(globals: &Globals, args: ExportArgs) -> anyhow::Result<Outcome> {
    match args.what {
        What::Prometheus {
            window,
            run,
            out,
            force,
        } => {
            // Before any work: a refused --out costs nothing and changes nothing.
            let out = out
                .as_deref()
                .map(|path| OutputPath::check(path, Some(&globals.db), force))
                .transpose()?;
            let store = Store::open_existing(&globals.db)?;
            let options = ExportOptions {
                window,
                run,
                now_us: clock::now_us(),
                ..ExportOptions::from_config(&globals.config)
            };
            let text =
                tokio::task::spawn_blocking(move || prometheus::export(&store, &options)).await??;
            match out {
                Some(out) => out.write(text.as_bytes())?,
                // The exposition ends with its own newline.
                None => output::print_exact(text.trim_end_matches('\n'))?,
            }
        }
    }
    Ok(Outcome::Ok)
}
