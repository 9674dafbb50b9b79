//! `multiagents query …`: monitoring questions answered from the database.

use clap::{Args, Subcommand};
use multiagents::runs;
use multiagents::store::Store;

use super::output::{self, Format};
use super::{Globals, Outcome};

/// Arguments of `multiagents query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Table for people, JSON for programs.
    #[arg(long, value_enum, global = true, default_value_t = Format::Table)]
    format: Format,
    #[command(subcommand)]
    question: Question,
}

#[derive(Debug, Subcommand)]
enum Question {
    /// The recorded runs, newest first.
    Runs {
        /// How many runs to list.
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

/// Runs `multiagents query`.
pub async fn run(globals: &Globals, args: QueryArgs) -> anyhow::Result<Outcome> {
    let store = Store::open_existing(&globals.db)?;
    let conn = store.reader()?;
    match args.question {
        Question::Runs { limit } => {
            let list = runs::list_runs(&conn, limit)?;
            match args.format {
                Format::Json => output::print_json(&list)?,
                Format::Table => {
                    let mut table = output::table(&[
                        "run",
                        "started",
                        "ended",
                        "workflows",
                        "unfinished",
                        "version",
                        "host",
                        "command",
                    ]);
                    for r in &list {
                        table.add_row(vec![
                            r.run_id.to_string(),
                            r.started_at.clone(),
                            output::or_dash(r.ended_at.as_deref()),
                            r.workflows.to_string(),
                            r.unfinished.to_string(),
                            r.version.clone(),
                            r.host.clone(),
                            r.command.clone(),
                        ]);
                    }
                    output::print(&table.to_string())?;
                }
            }
        }
    }
    Ok(Outcome::Ok)
}
