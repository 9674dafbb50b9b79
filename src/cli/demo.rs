//! `multiagents demo`: the seed's demonstrations on the default database.

use clap::Args;
use multiagents::demo::{DemoOptions, run_demo_with};

use super::{Globals, Outcome};

/// Arguments of `multiagents demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Use the seed's full durations (about two and a half minutes) instead
    /// of the quick ones (under half a minute).
    #[arg(long)]
    full: bool,
    /// Seed of the workers' randomness; the same seed reproduces a run.
    /// Range: 0 to 18446744073709551615 (any 64-bit unsigned number).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// After Ctrl-C or SIGTERM, how long workflows in flight get to finish
    /// before they are stopped and recorded as cancelled ("interrupted");
    /// a second signal stops at once. Range: 1ms to 30d.
    #[arg(long, default_value = "10s", value_parser = multiagents::window::parse_run_length)]
    grace: std::time::Duration,
    #[command(flatten)]
    remote: super::remote::RedisArgs,
}

/// Runs `multiagents demo`.
pub async fn run(globals: &Globals, args: DemoArgs) -> anyhow::Result<Outcome> {
    let remote = args
        .remote
        .connect(&multiagents::demo::demo_worker_names())
        .await?;
    let options = DemoOptions {
        remote,
        db: globals.db.clone(),
        config: globals.config.clone(),
        seed: args.seed,
        full: args.full,
        command: multiagents::transport::redact_command_line(&std::env::args().collect::<Vec<_>>()),
    };
    // Before the session starts, so that a signal during startup is handled.
    let signals = super::signals::install(args.grace)?;
    let mut out = std::io::stdout();
    let summary = run_demo_with(options, &mut out, signals.interrupt.clone(), args.grace).await?;
    let db = globals.db.display();
    match &summary.interrupted {
        Some(closed) => println!(
            "\n⏹ Demo stopped ({}): {} workflows started in run {}; of the {} in flight, {} finished within the grace period and {} were recorded as cancelled (\"interrupted\"). Run {} closed as {}.",
            closed.reason,
            summary.workflows,
            summary.run_id,
            closed.in_flight_at_stop,
            closed.finished_in_grace,
            closed.cancelled,
            closed.run_id,
            closed.status
        ),
        None => println!(
            "\n✅ Demo finished: {} workflows recorded in run {}.",
            summary.workflows, summary.run_id
        ),
    }
    println!("Database: {db}");
    println!("Explore it:");
    println!("  multiagents --db {db} query workers --run latest");
    println!("  multiagents --db {db} query errors --run latest");
    println!("  multiagents --db {db} query events --run latest --format json");
    println!("  sqlite3 {db} 'SELECT * FROM executions LIMIT 10'");
    Ok(match signals.exit_code() {
        Some(code) => Outcome::Interrupted(code),
        None => Outcome::Ok,
    })
}
