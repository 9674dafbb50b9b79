//! `multiagents check`, `snapshot` and `upgrade`: looking after the database
//! file itself. None of them records a run; `check` and `snapshot` open the
//! database read-only.

use std::path::PathBuf;

use clap::Args;
use multiagents::store::{self, Store};

use super::format::{self, Format};
use super::output;
use super::{Globals, Outcome};

/// Arguments of `multiagents check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Text for people, JSON for programs.
    #[arg(short = 'f', long, default_value = "text", value_parser = format::formats(format::TEXT_JSON))]
    format: Format,
}

/// Runs `multiagents check`: exit 0 when the file is sound, 1 when damaged.
pub async fn check(globals: &Globals, args: CheckArgs) -> anyhow::Result<Outcome> {
    let db = globals.db.clone();
    let report = tokio::task::spawn_blocking(move || store::check_integrity(&db)).await??;
    match args.format {
        Format::Json => output::print_json(&report)?,
        _ => {
            let mut text = String::new();
            if report.is_ok() {
                text.push_str(&format!(
                    "{}: ok — integrity check passed (schema version {}, {} runs, {} bytes)",
                    report.path.display(),
                    output::or_dash(report.schema_version),
                    output::or_dash(report.runs),
                    report.size_bytes
                ));
            } else {
                text.push_str(&format!(
                    "{}: DAMAGED — {} problem(s) found; do not record into it. Copy what can be read with `multiagents snapshot` or the sqlite3 shell's `.recover`.",
                    report.path.display(),
                    report.problems.len()
                ));
                for problem in &report.problems {
                    text.push_str("\n  ");
                    text.push_str(&problem.replace(|c: char| c.is_control(), " "));
                }
            }
            output::print(&text)?;
        }
    }
    Ok(if report.is_ok() {
        Outcome::Ok
    } else {
        Outcome::Problem
    })
}

/// Arguments of `multiagents snapshot`.
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// The new file to write; it must not exist.
    out: PathBuf,
}

/// Runs `multiagents snapshot`.
pub async fn snapshot(globals: &Globals, args: SnapshotArgs) -> anyhow::Result<Outcome> {
    // The same rules as every output file, before any work; the store
    // then creates the file exclusively, so a late arrival is refused too.
    multiagents::output_path::check_new(&args.out, Some(&globals.db))?;
    let db = globals.db.clone();
    let report = tokio::task::spawn_blocking(move || store::snapshot(&db, &args.out)).await??;
    output::print(&format!(
        "{}: consistent copy of {} ({} runs, {} bytes)",
        report.path.display(),
        globals.db.display(),
        report.runs,
        report.size_bytes
    ))?;
    Ok(Outcome::Ok)
}

/// Arguments of `multiagents upgrade`.
#[derive(Debug, Args)]
pub struct UpgradeArgs {}

/// Runs `multiagents upgrade`.
pub async fn upgrade(globals: &Globals, _args: UpgradeArgs) -> anyhow::Result<Outcome> {
    let db = globals.db.clone();
    let (from, to) = tokio::task::spawn_blocking(move || Store::upgrade(&db)).await??;
    let text = if from == to {
        format!(
            "{}: already at schema version {to}; nothing to do",
            globals.db.display()
        )
    } else {
        format!(
            "{}: migrated from schema version {from} to {to}",
            globals.db.display()
        )
    };
    output::print(&text)?;
    Ok(Outcome::Ok)
}
