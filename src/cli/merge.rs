//! `multiagents merge OUT IN...`: the recordings of several files (one per
//! host's orchestrator) copied into one for offline analysis. Not a run:
//! it logs in OUT's `maintenance_log`. The rules are the library's
//! (`multiagents::store::merge`).

use std::path::PathBuf;

use clap::Args;
use multiagents::interrupt::Interrupt;
use multiagents::store::merge::{self, MergeError, MergeOptions, MergeReport, SourceReport};
use tokio::signal::unix::{SignalKind, signal};

use super::format::{self, Format};
use super::output;
use super::{Globals, Outcome};

/// Arguments of `multiagents merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The file to merge into: created when missing, otherwise a
    /// multiagents database at this version's schema (--db is not used).
    out: PathBuf,
    /// The files to copy runs from, read-only (at most 10). Runs already in
    /// OUT are skipped.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Text for people, JSON for programs.
    #[arg(short = 'f', long, default_value = "text", value_parser = format::formats(format::TEXT_JSON))]
    format: Format,
}

/// Runs `multiagents merge`: SIGINT or SIGTERM stops it with OUT as it was
/// (exit 130 or 143).
pub async fn run(_globals: &Globals, args: MergeArgs) -> anyhow::Result<Outcome> {
    let interrupt = Interrupt::new();
    let code = watch_signals(interrupt.clone())?;
    let options = MergeOptions {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        interrupt: Some(interrupt),
    };
    let (out, inputs) = (args.out.clone(), args.inputs.clone());
    let merged = tokio::task::spawn_blocking(move || merge::merge(&out, &inputs, &options)).await?;
    let report = match merged {
        Ok(report) => report,
        Err(e @ MergeError::Interrupted { .. }) => {
            eprintln!(
                "multiagents: {}",
                multiagents::terminal::escape(&e.to_string())
            );
            let code = code.load(std::sync::atomic::Ordering::Acquire);
            return Ok(Outcome::Interrupted(if code == 0 { 130 } else { code }));
        }
        Err(e) => return Err(e.into()),
    };
    match args.format {
        Format::Json => output::print_json(&report)?,
        _ => output::print(&render(&report))?,
    }
    Ok(Outcome::Ok)
}

/// Triggers `interrupt` on the first SIGINT or SIGTERM; the returned cell
/// holds the exit code that signal stands for (0 until one arrives).
fn watch_signals(
    interrupt: Interrupt,
) -> anyhow::Result<std::sync::Arc<std::sync::atomic::AtomicU8>> {
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let code = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(0));
    let cell = std::sync::Arc::clone(&code);
    tokio::spawn(async move {
        let (name, value) = tokio::select! {
            _ = int.recv() => ("SIGINT", 130),
            _ = term.recv() => ("SIGTERM", 143),
        };
        cell.store(value, std::sync::atomic::Ordering::Release);
        interrupt.trigger(format!("{name} received"));
    });
    Ok(code)
}

/// The report for people: one paragraph per input.
fn render(report: &MergeReport) -> String {
    let mut text = format!(
        "{}: {} run(s) added, {} skipped (already there){}",
        report.out.display(),
        report.runs_added(),
        report.runs_skipped(),
        if report.created { "; file created" } else { "" }
    );
    for source in &report.sources {
        text.push('\n');
        text.push_str(&render_source(source));
    }
    text
}

fn render_source(source: &SourceReport) -> String {
    let path = source.path.display();
    let mut lines = Vec::new();
    if source.runs_added.is_empty() {
        lines.push(format!("{path}: nothing added"));
    } else {
        let runs: Vec<String> = source
            .runs_added
            .iter()
            .map(|r| format!("{} (was {})", r.run_id, r.source_run_id))
            .collect();
        let count = |table: &str| source.rows.get(table).copied().unwrap_or(0);
        lines.push(format!(
            "{path}: added run(s) {}: {} workflows, {} events, {} system samples, {} custom metric observations, {} alerts",
            runs.join(", "),
            count("workflows"),
            count("event_rows"),
            count("system_samples"),
            count("custom_metrics"),
            count("alerts"),
        ));
    }
    if !source.runs_skipped.is_empty() {
        let runs: Vec<String> = source
            .runs_skipped
            .iter()
            .map(|r| r.source_run_id.to_string())
            .collect();
        lines.push(format!(
            "  skipped {} run(s) already in OUT (its run(s) {})",
            source.runs_skipped.len(),
            runs.join(", ")
        ));
    }
    for run in &source.runs_added {
        if let Some(why) = &run.closed_as_crashed {
            lines.push(format!(
                "  run {} had not been closed ({why}): closed as crashed, its workflows and events in flight recorded as cancelled",
                run.run_id
            ));
        }
    }
    if source.unattributed_rows_left > 0 {
        lines.push(format!(
            "  {} rollup rows of no run (from before schema version 4) not copied: some of its runs were already in OUT",
            source.unattributed_rows_left
        ));
    }
    lines.join("\n")
}
