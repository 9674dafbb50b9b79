//! `multiagents demo`: the seed's demonstrations on the default database.

use clap::Args;
use multiagents::demo::{DemoOptions, run_demo};

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
}

/// Runs `multiagents demo`.
pub async fn run(globals: &Globals, args: DemoArgs) -> anyhow::Result<Outcome> {
    let options = DemoOptions {
        db: globals.db.clone(),
        config: globals.config.clone(),
        seed: args.seed,
        full: args.full,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let mut out = std::io::stdout();
    let summary = run_demo(options, &mut out).await?;
    let db = globals.db.display();
    println!(
        "\n✅ Demo finished: {} workflows recorded in run {}.",
        summary.workflows, summary.run_id
    );
    println!("Database: {db}");
    println!("Explore it:");
    println!("  multiagents --db {db} query workers --run latest");
    println!("  multiagents --db {db} query errors --run latest");
    println!("  multiagents --db {db} query events --run latest --format json");
    println!("  sqlite3 {db} 'SELECT * FROM executions LIMIT 10'");
    Ok(Outcome::Ok)
}
